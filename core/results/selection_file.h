// select-layers/selection.json (written by the select-layers stage, SPEC
// §1.4): the layer scores, ε, the chosen layers, and the base model's sizes
// the parameter counts need (hidden size, parameters, one FFN's parameters).
// Read by the similarity stage ("selected" layer set), merge (which counts
// the DMoE's parameters for its E and top-k), the report and the GUI's
// deviation tab and ε panel (its live preview of the counts).
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
  std::int64_t hiddenSize = 0, baseParameters = 0, ffnParameters = 0;  // of the base model

  // {scores, normalized, epsilon, mode, layers, hidden_size, parameters: {base, ffn_per_layer}}
  Json toJson() const;
  // Errors name `source` and the JSON path (a layer outside the scores, an unknown mode, …).
  static LayerSelection fromJson(const Json& json, const std::string& source);
  // Missing: "run `dmoe select-layers` first".
  static LayerSelection read(const std::filesystem::path& file);
};

}  // namespace dmoe
