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

#include "util/json.h"

namespace dmoe {

struct ProbeTable {
  std::string model;                              // the trained DMoE's fingerprint (empty: not recorded)
  std::vector<std::vector<std::string>> experts;  // member languages of expert e
  struct Row {
    std::string language;
    std::vector<double> ppl;  // one per expert
    std::int64_t best = 0;    // the expert adaptation copies (lowest PPL)
    std::int64_t documents = 0;
  };
  std::vector<Row> rows;  // in the file's order

  // {model?, experts: [[ids]], languages: {id: {ppl_per_expert, best_expert, documents?}}};
  // errors name the file and the JSON path; missing: "run `dmoe probe` first".
  static ProbeTable read(const std::filesystem::path& file);
  Json toJson() const;
  // {id: {ppl_per_expert, best_expert, documents}}: the "languages" object (also adaptation.json's "probe").
  static Json rowsJson(const std::vector<Row>& rows);
  // Reads rowsJson's object: `experts` PPLs per row (0: any number), the best one of them.
  static std::vector<Row> rowsFromJson(const class JsonReader& in, const Json& languages, const std::string& path,
                                       size_t experts);
};

}  // namespace dmoe
