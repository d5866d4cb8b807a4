#include "results/deviation_file.h"

#include <cmath>
#include <limits>

#include "results/json_reader.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace dmoe {

std::string DeviationTable::Stationarity::reading() const {
  if (!std::isfinite(r)) return {};
  std::string list;
  for (std::int64_t l : layers) list += (list.empty() ? "" : ", ") + std::to_string(l);
  const std::string line =
      "Stationarity of the base on the continual data: r = " + fixedDecimals(r, 2) + " (FFN gradients, layers " + list + ")";
  if (!std::isfinite(orthogonal))
    return line + "; 1 = the continual data pulls every language the same way, near 0 = the pulls cancel.";
  return line + "; independent, orthogonal pulls would give " + fixedDecimals(orthogonal, 2) +
         ". Above that the languages' continual data pulls the base the same way; below it the pulls cancel and "
         "the deviations mostly measure competition between languages.";
}

const std::vector<std::string>& deviationKinds() {
  static const std::vector<std::string> kinds = {"ffn", "attention", "norms", "all"};
  return kinds;
}

namespace {

DeviationTable fromStageLayout(const JsonReader& in) {
  const Json& root = in.root();
  DeviationTable d;
  d.languages = in.strings(in.at(root, "languages", ""), "/languages");
  d.labels = in.labels(d.languages);
  d.layers = in.integer(in.at(root, "layers", ""), "/layers");
  if (d.layers < 0) in.fail("/layers", "a layer count ≥ 0");
  const Json& modules = in.at(root, "modules", "");
  for (const std::string& kind : deviationKinds())
    d.modules[kind] = in.matrix(in.at(modules, kind, "/modules"), "/modules/" + kind, d.languages.size(),
                                static_cast<size_t>(d.layers));
  if (root.contains("stationarity") && !root["stationarity"].is_null()) {
    const Json& s = root["stationarity"];
    d.stationarity = DeviationTable::Stationarity{
        in.numberOrNull(in.at(s, "r", "/stationarity"), "/stationarity/r"),
        s.contains("r_orthogonal") ? in.numberOrNull(s["r_orthogonal"], "/stationarity/r_orthogonal")
                                   : std::numeric_limits<double>::quiet_NaN(),
        in.integers(in.at(s, "layers", "/stationarity"), "/stationarity/layers"), s};
  }
  return d;
}

std::vector<double> layerNorms(const JsonReader& in, const Json& j, const std::string& path) {
  if (!j.is_array() || j.empty()) in.fail(path, "a list of per-layer norms");
  std::vector<double> out;
  for (size_t l = 0; l < j.size(); ++l) {
    if (!j[l].is_number() || !std::isfinite(j[l].get<double>()) || j[l].get<double>() < 0)
      in.fail(path + "/" + std::to_string(l), "a finite norm ≥ 0");
    out.push_back(j[l].get<double>());
  }
  return out;
}

// {lang: {kind: [...]}}, in the file's key order.
DeviationTable fromReferenceLayout(const JsonReader& in) {
  DeviationTable table;
  for (const auto& [language, kinds] : in.root().items()) {
    const std::string path = "/" + language;
    if (!kinds.is_object() || !kinds.contains("ffn")) in.fail(path, "{\"ffn\": [per-layer norms], ...}");
    table.languages.push_back(language);
    for (const auto& [kind, values] : kinds.items()) {
      std::vector<double> layers = layerNorms(in, values, path + "/" + kind);
      if (kind == "ffn") {
        if (table.layers == 0) table.layers = static_cast<std::int64_t>(layers.size());
        if (static_cast<std::int64_t>(layers.size()) != table.layers)
          in.fail(path + "/ffn", std::to_string(table.layers) + " layers like the first language, found " +
                                     std::to_string(layers.size()));
      }
      table.modules[kind].push_back(std::move(layers));
    }
  }
  for (const auto& [kind, rows] : table.modules)
    if (rows.size() != table.languages.size())
      throw InputError(in.source() + ": \"" + kind + "\" is given for " + std::to_string(rows.size()) + " of " +
                       std::to_string(table.languages.size()) + " languages");
  table.labels = table.languages;
  return table;
}

}  // namespace

DeviationTable DeviationTable::fromJson(const Json& json, const std::string& source) {
  if (!json.is_object() || json.empty()) throw InputError(source + ": expected a JSON object of deviation norms");
  const JsonReader in(json, source);
  return json.contains("modules") ? fromStageLayout(in) : fromReferenceLayout(in);
}

DeviationTable DeviationTable::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe deviation");
  return fromJson(in.root(), in.source());
}

DeviationTable DeviationTable::importFile(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) throw InputError(file.string() + ": no such file");
  return fromJson(readJsonFile(file), file.string());
}

}  // namespace dmoe
