// A causal LM from a Hugging Face checkpoint folder: config.json, checked
// against the weights' safetensors headers and the memory available before
// anything is allocated (readModelConfig) → the family's module
// (buildCausalLM) → every tensor loaded by name (hf_checkpoint.h).
// What stages that start from a saved model (eval-ppl, deviation, merge) call.
// A config.json with a "dmoe" section gives a DMoE model (model/dmoe_model.h);
// a qwen2_moe or mixtral one, that Hugging Face mixture (model/hub_moe.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>

#include "checkpoint/hf_checkpoint.h"
#include "model/causal_lm.h"
#include "util/system_memory.h"

namespace dmoe {

// The checkpoint's config.json (ModelConfig::fromHfJson and its MoE layouts),
// checked against the safetensors headers — every family, the DMoE/LayerMoE
// "dmoe" layout, Qwen2-MoE and Mixtral — before a model is built from it:
//   the layer count = the highest layer index of the tensor names + 1;
//   vocab_size and hidden_size = the embedding's [V, D];
//   each FFN weight (dense, expert, shared expert) [F, D] or [D, F], F the width its key gives;
//   each MoE layer's expert count = the experts its tensor names hold;
// then the model's fp32 bytes against `availableBytes` (MemAvailable; < 0: unknown, not checked).
// InputError naming config.json, the key and the tensor that disagrees.
ModelConfig readModelConfig(const HfCheckpoint& checkpoint, std::int64_t availableBytes = availableRamBytes());

// Throws InputError naming the folder and every missing, unexpected or mis-shaped tensor.
std::shared_ptr<CausalLMImpl> loadCausalLM(const std::filesystem::path& dir, const std::string& device = "cpu");

}  // namespace dmoe
