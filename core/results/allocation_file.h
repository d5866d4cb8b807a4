// layermoe/allocate/allocation.json (written by `dmoe layermoe allocate`,
// SPEC §2.2): how many experts each layer gets and why — the S_i it was
// weighed by, δ, the budget and whether it was met exactly. Read by the
// LayerMoE expansion, the Layers view and the report.
//
//   {"allocation": "layer-wise" | "uniform", "budget_source": "setting" |
//    "dmoe-adapt" | "delta", "budget", "exact", "next_above" (−1: none),
//    "delta" (null for uniform), "min_experts", "similarity": [S_i],
//    "experts": [N_i, the frozen original included], "new_experts": Σ(N_i − 1)}
//
// Not here: the allocation rule (methods/layer_allocation.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

struct ExpertAllocation {
  std::string allocation;    // layer-wise | uniform
  std::string budgetSource;  // setting | dmoe-adapt | delta
  std::int64_t budget = 0;
  bool exact = true;
  std::int64_t nextAbove = -1;
  double delta = std::numeric_limits<double>::quiet_NaN();
  std::int64_t minExperts = 2;
  std::vector<double> similarity;
  std::vector<std::int64_t> experts;

  std::int64_t newExperts() const;
  // Errors name `source` and the JSON path; experts and similarity must agree in length.
  static ExpertAllocation fromJson(const Json& json, const std::string& source);
  // Missing: "run `dmoe layermoe allocate` first".
  static ExpertAllocation read(const std::filesystem::path& file);
  Json toJson() const;
};

}  // namespace dmoe
