// select-layers/selection.json (written by the select-layers stage, SPEC
// §1.4): the layer scores, ε, the chosen layers and the parameter counts of
// the DMoE model they imply. Read by the similarity stage ("selected" layer
// set), merge, the report and the GUI's deviation tab and ε panel.
//
// Not here: scoring and choosing (methods/layer_selection.h, stages/stages.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

// Parameters of the DMoE model a selection implies (methods/layer_selection.h counts them).
struct ParameterCounts {
  std::int64_t total = 0, active = 0;
};

struct LayerSelection {
  std::vector<double> scores, normalized;
  double epsilon = 0;
  std::string mode;                  // "threshold" | "top-fraction"
  std::vector<std::int64_t> layers;  // chosen, ascending
  std::int64_t experts = 0, topK = 0, hiddenSize = 0;
  std::int64_t baseParameters = 0, ffnParameters = 0;
  ParameterCounts counts;

  // {scores, normalized, epsilon, mode, layers, experts, top_k, hidden_size,
  //  parameters: {base, ffn_per_layer, total, active}}
  Json toJson() const;
  // Errors name `source` and the JSON path (a layer outside the scores, an unknown mode, …).
  static LayerSelection fromJson(const Json& json, const std::string& source);
  // Missing: "run `dmoe select-layers` first".
  static LayerSelection read(const std::filesystem::path& file);
};

}  // namespace dmoe
