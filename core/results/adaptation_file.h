// adapt/adaptation.json (written by the adapt stage, SPEC §1.8): the new
// experts, every language's PPL before and after with the hard and the
// learned router, and the checks that the old experts stayed bit-identical.
// Read by the GUI's adaptation wizard.
//
// Not here: the adaptation itself (stages/stages.h runAdapt).
#pragma once
#include <cstdint>
#include <limits>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "results/probe_file.h"
#include "util/json.h"

namespace dmoe {

struct AdaptationResult {
  struct NewExpert {
    std::int64_t expert = 0, copiedFrom = 0;
    std::vector<std::string> languages;
    // After training (SPEC 1.8 step 3); NaN / empty until measured or in files without them.
    double routerRowMaxAbsDiff = std::numeric_limits<double>::quiet_NaN();  // max |row − source row| over MoE layers
    std::vector<std::pair<std::string, double>> top1Share;  // language → share of its held-out tokens routed top-1 here
  };
  struct Row {
    std::string language, label;
    bool isNew = false;
    // NaN where the stage had no number (a language without held-out text, or unrouted when hard).
    double hardBefore = 0, hardAfter = 0, softBefore = 0, softAfter = 0;
  };
  std::vector<ProbeTable::Row> probe;  // the probe that chose each new expert's source
  std::vector<NewExpert> newExperts;
  std::int64_t frozenTensorsChecked = 0;
  bool frozenBitIdentical = false, oldHardUnchanged = false;
  double finalLoss = std::numeric_limits<double>::quiet_NaN();  // the adaptation run's last loss
  std::vector<Row> rows;
  double softAverageBefore = 0, softAverageAfter = 0;  // old languages, learned router
  // New languages: before (learned router), after (learned router; own expert).
  double newSoftAverageBefore = 0, newSoftAverageAfter = 0, newHardAverageAfter = 0;

  // Errors name the file and the JSON path; missing: "run `dmoe adapt` first".
  static AdaptationResult read(const std::filesystem::path& file);
  // The file: {probe, new_experts, frozen_tensors_checked, frozen_bit_identical,
  // old_hard_ppl_unchanged, final_loss, languages, soft_average_before/after,
  // new_soft_average_before/after, new_hard_average_after}; NaN is written as null.
  Json toJson() const;
};

}  // namespace dmoe
