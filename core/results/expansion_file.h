// <runs_dir>/layermoe/<allocation>/expansion.json: one LayerMoE expansion of
// the base (SPEC §2.3) as `dmoe layermoe train` built and trained it — the
// experts per layer, what it added, the training tokens, and the check that
// every frozen tensor came out bit-identical. Its held-out PPL lies beside it
// in eval/perplexity.json (the common perplexity table).
//
// Not here: the allocation's derivation (results/allocation_file.h) or the
// model itself (model/, a DMoE checkpoint folder with experts_per_layer).
#pragma once
#include <cstdint>
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include "results/selection_file.h"  // ParameterCounts
#include "util/json.h"

namespace dmoe {

struct LayerMoeExpansion {
  std::string allocation;             // layer-wise | uniform
  std::vector<std::int64_t> experts;  // N_i per layer of the base (1 = no new expert there)
  std::int64_t generation = 1;        // the new languages' generation: 1, or 2… for a lifelong expansion
  std::vector<std::int64_t> previousExperts;  // lifelong: the base's experts per layer (1 = dense); else empty
  std::int64_t baseParameters = 0;
  std::int64_t baseActiveParameters = -1;  // per token (below the total for a mixture-of-experts base); −1 = not recorded
  ParameterCounts parameters;         // of the expanded model (active: per token)
  std::int64_t stage1Tokens = 0, stage2Tokens = 0;
  double replayShare = 0;             // expected share of old-language windows in stage 2
  std::int64_t frozenTensorsChecked = 0;
  bool frozenBitIdentical = false;
  double stage1FinalLoss = std::numeric_limits<double>::quiet_NaN();
  double stage2FinalLoss = std::numeric_limits<double>::quiet_NaN();
  // Held-out PPL averages (learned router) after stage 1, before the review:
  // what stage 2 starts from (the final ones are in eval/perplexity.json).
  double stage1OldAverage = std::numeric_limits<double>::quiet_NaN();
  double stage1NewAverage = std::numeric_limits<double>::quiet_NaN();

  std::int64_t newExperts() const;
  // Errors name `source` and the JSON path.
  static LayerMoeExpansion fromJson(const Json& json, const std::string& source);
  // Missing: "run `dmoe layermoe train` first".
  static LayerMoeExpansion read(const std::filesystem::path& file);
  Json toJson() const;
};

}  // namespace dmoe
