// probe/probe.json (written by `dmoe probe`, SPEC §1.8 step 1): each probed
// language's held-out PPL with every expert of the trained DMoE forced, and
// its nearest expert. Read by the GUI's adaptation wizard.
//
// Not here: the probe itself (stages/expert_probe.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace dmoe {

struct ProbeTable {
  std::vector<std::vector<std::string>> experts;  // member languages of expert e
  struct Row {
    std::string language;
    std::vector<double> ppl;  // one per expert
    std::int64_t best = 0;    // the expert adaptation copies (lowest PPL)
    std::int64_t documents = 0;
  };
  std::vector<Row> rows;  // in the file's order

  // {experts: [[ids]], languages: {id: {ppl_per_expert, best_expert, documents?}}};
  // errors name the file and the JSON path; missing: "run `dmoe probe` first".
  static ProbeTable read(const std::filesystem::path& file);
};

}  // namespace dmoe
