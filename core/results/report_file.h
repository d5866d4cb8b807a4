// report/report.json (written by the report stage, stages/report.cpp): what a
// finished run's comparison needs of it — each method's average held-out
// PPL, the precision each stage computed in, and the DMoE's parameter
// counts. Read by the sweep's tables (results/sweep_table.h).
//
// Not here: writing the report, the per-language PPLs, the groups, the
// adaptation or the fingerprints it also holds (their own files in results/).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

// The method names of report.json's "perplexity" rows.
inline constexpr const char* kBaseMethod = "Base";
inline constexpr const char* kDenseContinueMethod = "+Pre-train (dense-continue)";
inline constexpr const char* kRandomGroupsMethod = "DMoE, random groups";
inline constexpr const char* kDmoeMethod = "DMoE";
inline constexpr const char* kOracleRoutingMethod = "DMoE, group-oracle routing";

struct RunReport {
  struct Method {
    std::string name;
    double average = 0;  // mean of the languages' PPL; NaN where the file has null
  };
  std::vector<Method> perplexity;             // in the file's order
  Json precision = Json::object();            // {stage folder: "fp32" | "bf16"}
  std::optional<std::int64_t> parametersTotal, parametersActive;  // the merge's counts, when recorded

  // Errors name the file and the JSON path; missing: "run `dmoe run` first".
  static RunReport read(const std::filesystem::path& file);
  // The average of `method`, NaN when the report has no such row.
  double average(const std::string& method) const;
  // "fp32" or "bf16" when every stage computed in it, "mixed" otherwise, "" when none is recorded.
  std::string precisionSummary() const;
};

}  // namespace dmoe
