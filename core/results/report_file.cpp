#include "results/report_file.h"

#include <cmath>
#include <set>

#include "results/json_reader.h"

namespace dmoe {

namespace {

std::optional<std::int64_t> countOrNone(const JsonReader& in, const Json& parameters, const char* key) {
  if (!parameters.is_object() || !parameters.contains(key)) return std::nullopt;
  return in.integer(parameters[key], std::string("/merge/parameters/") + key);
}

}  // namespace

RunReport RunReport::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe run");
  const Json& root = in.root();
  RunReport report;
  const Json& rows = in.at(root, "perplexity", "");
  if (!rows.is_array()) in.fail("/perplexity", "a list of {method, ppl, average}");
  for (size_t i = 0; i < rows.size(); ++i) {
    const std::string at = "/perplexity/" + std::to_string(i);
    report.perplexity.push_back(
        {in.string(in.at(rows[i], "method", at), at + "/method"), in.numberOrNull(in.at(rows[i], "average", at), at + "/average")});
  }
  if (root.contains("precision") && !root["precision"].is_null()) {
    if (!root["precision"].is_object()) in.fail("/precision", "an object {stage: precision}");
    for (const auto& [stage, precision] : root["precision"].items())
      report.precision[stage] = in.string(precision, "/precision/" + jsonPointerToken(stage));
  }
  const Json merge = root.value("merge", Json());
  const Json parameters = merge.is_object() ? merge.value("parameters", Json()) : Json();
  report.parametersTotal = countOrNone(in, parameters, "total");
  report.parametersActive = countOrNone(in, parameters, "active");
  return report;
}

double RunReport::average(const std::string& method) const {
  for (const Method& m : perplexity)
    if (m.name == method) return m.average;
  return NAN;
}

std::string RunReport::precisionSummary() const {
  std::set<std::string> seen;
  for (const auto& [stage, precision] : precision.items()) seen.insert(precision.get<std::string>());
  if (seen.empty()) return "";
  return seen.size() == 1 ? *seen.begin() : "mixed";
}

}  // namespace dmoe
