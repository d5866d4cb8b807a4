// The Hugging Face tensor names of each model family, kept in one table per
// family (templates with `N` for the layer index), and the hub BLOOM alias.
// These names are also the registered parameter names of our modules
// (tests/test_model.cpp checks that), so loading and saving map name for name.
// Torch-free: the checkpoint reader and `dmoe inspect` use it without a model.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dmoe {

// One entry of a family table. `N` in `name` stands for the layer index.
struct WeightNameTemplate {
  enum class When { Always, Untied, QkvBias };  // Untied: only without tied embeddings; QkvBias: Qwen2
  const char* name;
  When when = When::Always;
};

// Llama / Qwen2 / Gemma (model_type "llama", "qwen2", "gemma").
const std::vector<WeightNameTemplate>& llamaWeightNames();
// BLOOM (model_type "bloom"), canonical `transformer.` names; lm_head is always tied.
const std::vector<WeightNameTemplate>& bloomWeightNames();

// Every tensor name of a model: its family table with N expanded for layers
// 0..numLayers-1, entries whose condition does not hold left out. Names
// without N come once, in table order; per-layer names layer by layer.
// Throws InputError for an unknown model type.
std::vector<std::string> expandWeightNames(const std::string& modelType, std::int64_t numLayers,
                                           bool tiedEmbeddings);

// Hub BLOOM checkpoints often omit the `transformer.` prefix: "h.3.mlp.dense_h_to_4h.weight"
// → "transformer.h.3.mlp.dense_h_to_4h.weight". Canonical names and lm_head pass unchanged.
std::string canonicalBloomName(const std::string& name);

}  // namespace dmoe
