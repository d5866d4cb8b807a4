// MoeLayout: which layers of a DMoE or LayerMoE model are mixtures of experts
// and how (the "dmoe" object of its config.json; model/dmoe_model.h has the
// format and docs/dmoe-checkpoint.md the details), read, checked and written.
// Torch-free: the GUI reads a base model's layout without LibTorch.
// Not here: building the modules (model/dmoe_model.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "model/model_config.h"
#include "results/groups_file.h"  // expertOf
#include "util/json.h"

namespace dmoe {

struct MoeLayout {
  std::vector<std::int64_t> layers;                       // MoE layers, ascending
  std::int64_t numExperts = 0;                            // E (all MoE layers alike)
  std::int64_t topK = 2;                                  // soft routing's k (capped at E)
  double routerInitStd = 0.02;
  std::vector<std::vector<std::string>> expertLanguages;  // size E: the group each expert serves (DMoE)
  std::vector<std::int64_t> layerExperts;  // LayerMoE: N_i per MoE layer (size = layers); empty = numExperts each
  std::string routerInit = "normal";       // "normal" (N(0, routerInitStd)) | "xavier_normal"
  bool originalExpert = false;             // LayerMoE: expert 0 of every MoE layer is the frozen original FFN
  std::vector<std::int64_t> classifierLayers;  // LayerMoE: MoE layers with a language classifier (ascending)
  std::int64_t classes = 0;                // its classes (language generations: 2 after one expansion)
  std::vector<std::vector<std::string>> generations;       // LayerMoE: the languages of each generation
  std::vector<std::vector<std::int64_t>> expertGenerations;  // per MoE layer, each expert's; empty = the default

  // Experts of the i-th MoE layer (i indexes `layers`).
  std::int64_t expertsIn(size_t i) const { return layerExperts.empty() ? numExperts : layerExperts[i]; }
  // The generation of each expert of the i-th MoE layer: as recorded, else
  // 0 for expert 0 and 1 for the rest with an original expert, else all 0.
  std::vector<std::int64_t> generationsIn(size_t i) const;
  // The generation whose languages include `languageId`, or −1.
  std::int64_t generationOf(const std::string& languageId) const;

  // Index of the expert serving `languageId`, or −1.
  std::int64_t expertOf(const std::string& languageId) const { return dmoe::expertOf(expertLanguages, languageId); }
  Json toJson() const;
  // Throws InputError naming `source` and the key (types, ranges, ascending
  // layers, expert list length = num_experts, a language in two experts).
  static MoeLayout fromJson(const Json& j, const std::string& source);
};

// The layout in config.raw["dmoe"], if any (validated; InputError naming `source`).
std::optional<MoeLayout> readMoeLayout(const ModelConfig& config, const std::string& source);
// config.json of a DMoE model: the dense config with "dmoe" set.
Json moeConfigJson(const ModelConfig& config, const MoeLayout& layout);

// Experts of each of a model's `numLayers` layers under `layout` (1 = dense;
// all 1 without a layout). InputError naming `source` for an MoE layer past
// the model's.
std::vector<std::int64_t> expertsPerModelLayer(const std::optional<MoeLayout>& layout, std::int64_t numLayers,
                                               const std::string& source);

// The MoE layers after a layer-wise expansion with N_i = `experts` of a model
// with `previousExperts` per layer (1 = dense): those already MoE and those
// with N_i ≥ 2, ascending. One rule for the expansion itself
// (model/dmoe_model.h, expandLayerWise) and the checks made before it.
std::vector<std::int64_t> moeLayersAfterExpansion(const std::vector<std::int64_t>& previousExperts,
                                                  const std::vector<std::int64_t>& experts);

// A model folder as a further LayerMoE expansion sees it, from config.json and
// the safetensors headers (no tensor is read): the parameter counts the
// allocation preview starts from (layer_allocation.h, layerMoeParameterCounts).
struct ExpansionBase {
  ModelConfig config;
  std::optional<MoeLayout> layout;            // none: a dense model
  std::vector<std::int64_t> previousExperts;  // per model layer (1 = dense)
  std::int64_t parameters = 0;                // every tensor of the folder's *.safetensors
  std::int64_t activeParameters = 0;          // per token: parameters less the experts beyond top-k
  std::int64_t ffnParameters = 0;             // one expert
};
// InputError naming the folder or file when it cannot be read.
ExpansionBase readExpansionBase(const std::filesystem::path& modelDir, std::int64_t topK);

}  // namespace dmoe
