// adapt/adaptation.json (written by the adapt stage, SPEC §1.8): the new
// experts, every language's PPL before and after with the hard and the
// learned router, and the checks that the old experts stayed bit-identical.
// Read by the GUI's adaptation wizard.
//
// Not here: the adaptation itself (stages/stages.h runAdapt).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dmoe {

struct AdaptationResult {
  struct NewExpert {
    std::int64_t expert = 0, copiedFrom = 0;
    std::vector<std::string> languages;
  };
  struct Row {
    std::string language, label;
    bool isNew = false;
    // NaN where the stage had no number (a language without held-out text, or unrouted when hard).
    double hardBefore = 0, hardAfter = 0, softBefore = 0, softAfter = 0;
  };
  std::vector<NewExpert> newExperts;
  std::vector<Row> rows;
  std::int64_t frozenTensorsChecked = 0;
  bool frozenBitIdentical = false, oldHardUnchanged = false;
  double softAverageBefore = 0, softAverageAfter = 0;        // old languages, learned router
  double newSoftAverageBefore = 0, newHardAverageAfter = 0;  // new languages: before (soft), after (own expert)

  // Errors name the file and the JSON path; missing: "run `dmoe adapt` first".
  static AdaptationResult read(const std::filesystem::path& file);
};

}  // namespace dmoe
