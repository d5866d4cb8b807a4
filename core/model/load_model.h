// A causal LM from a Hugging Face checkpoint folder: config.json → the family's
// module (buildCausalLM) → every tensor loaded by name (hf_checkpoint.h).
// What stages that start from a saved model (eval-ppl, deviation, merge) call.
// A config.json with a "dmoe" section gives a DMoE model (model/dmoe_model.h);
// a qwen2_moe or mixtral one, that Hugging Face mixture (model/hub_moe.h).
#pragma once
#include <filesystem>
#include <memory>

#include "model/causal_lm.h"

namespace dmoe {

// Throws InputError naming the folder and every missing, unexpected or mis-shaped tensor.
std::shared_ptr<CausalLMImpl> loadCausalLM(const std::filesystem::path& dir, const std::string& device = "cpu");

}  // namespace dmoe
