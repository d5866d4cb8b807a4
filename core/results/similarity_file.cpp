#include "results/similarity_file.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "results/json_reader.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

Json matrixToJson(const SimilarityMatrix& m) {
  Json rows = Json::array();
  for (const auto& row : m) rows.push_back(row);
  return rows;
}

std::string csvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

std::string shortest(double value) {
  char text[32];
  const auto end = std::to_chars(text, text + sizeof text, value).ptr;
  return std::string(text, end);
}

std::optional<SketchCheck> readSketch(const JsonReader& in) {
  if (!in.root().contains("sketch")) return std::nullopt;
  const Json& s = in.root()["sketch"];
  auto field = [&](const char* key) -> const Json& { return in.at(s, key, "/sketch"); };
  const std::string p = "/sketch/";
  const std::int64_t seed = in.integer(field("seed"), p + "seed");
  return SketchCheck{in.integer(field("dim"), p + "dim"), static_cast<std::uint64_t>(seed),
                     in.integer(field("pairs"), p + "pairs"), in.number(field("max_abs_error"), p + "max_abs_error"),
                     in.number(field("mean_abs_error"), p + "mean_abs_error"),
                     in.number(field("expected_std_error"), p + "expected_std_error")};
}

std::vector<int> readClusterOrder(const JsonReader& in, size_t n) {
  if (!in.root().contains("cluster_order")) return {};
  const std::vector<std::int64_t> order = in.integers(in.root()["cluster_order"], "/cluster_order");
  const std::string permutation = "a permutation of 0.." + std::to_string(n) + "−1";
  if (order.size() != n) in.fail("/cluster_order", permutation);
  std::vector<bool> seen(n, false);
  for (std::int64_t leaf : order) {
    if (leaf < 0 || leaf >= std::int64_t(n) || seen[size_t(leaf)]) in.fail("/cluster_order", permutation);
    seen[size_t(leaf)] = true;
  }
  return std::vector<int>(order.begin(), order.end());
}

// Children are leaves or earlier merges (scipy numbering).
std::vector<ClusterMerge> readDendrogram(const JsonReader& in, size_t n) {
  if (!in.root().contains("dendrogram")) return {};
  const Json& merges = in.root()["dendrogram"];
  if (!merges.is_array() || (n > 0 && merges.size() != n - 1))
    in.fail("/dendrogram", std::to_string(n > 0 ? n - 1 : 0) + " merges");
  std::vector<ClusterMerge> out;
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string path = "/dendrogram/" + std::to_string(i);
    const std::int64_t limit = std::int64_t(n + i);
    auto cluster = [&](const char* key) {
      const std::int64_t c = in.integer(in.at(merges[i], key, path), path + "/" + key);
      if (c < 0 || c >= limit) in.fail(path + "/" + key, "a cluster below " + std::to_string(limit));
      return static_cast<int>(c);
    };
    ClusterMerge m;
    m.left = cluster("left");
    m.right = cluster("right");
    m.height = in.number(in.at(merges[i], "height", path), path + "/height");
    m.size = static_cast<int>(in.integer(in.at(merges[i], "size", path), path + "/size"));
    out.push_back(m);
  }
  return out;
}

}  // namespace

Json SimilarityResult::toJson() const {
  Json json{{"method", sketch ? "sketch" : "exact"}, {"languages", languages}, {"layers", layers}, {"matrix", matrixToJson(combined)}};
  Json layerMatrices = Json::array();
  for (size_t l = 0; l < perLayer.size(); ++l)
    layerMatrices.push_back(Json{{"layer", layers[l]}, {"matrix", matrixToJson(perLayer[l])}});
  json["per_layer"] = std::move(layerMatrices);
  if (sketch) {
    const SketchCheck& s = *sketch;
    json["sketch"] = Json{{"dim", s.dim},
                          {"seed", s.seed},
                          {"pairs", s.pairs},
                          {"max_abs_error", s.maxAbsError},
                          {"mean_abs_error", s.meanAbsError},
                          {"expected_std_error", s.expectedStdError}};
  }
  if (!labels.empty()) json["labels"] = labels;
  if (!clusterOrder.empty()) {  // the display order and its tree come together
    json["cluster_order"] = clusterOrder;
    Json merges = Json::array();
    for (const ClusterMerge& m : dendrogram)
      merges.push_back({{"left", m.left}, {"right", m.right}, {"height", m.height}, {"size", m.size}});
    json["dendrogram"] = std::move(merges);
  }
  return json;
}

SimilarityResult SimilarityResult::fromJson(const Json& json, const std::string& source) {
  if (!json.is_object()) throw InputError(source + ": expected a JSON object");
  const JsonReader in(json, source);
  SimilarityResult r;
  r.languages = in.strings(in.at(json, "languages", ""), "/languages");
  const size_t n = r.languages.size();
  r.layers = in.integers(in.at(json, "layers", ""), "/layers");
  r.combined = in.matrix(in.at(json, "matrix", ""), "/matrix", n, n);
  const Json& perLayer = in.at(json, "per_layer", "");
  if (!perLayer.is_array() || perLayer.size() != r.layers.size())
    in.fail("/per_layer", "one entry per layer (" + std::to_string(r.layers.size()) + ")");
  for (size_t l = 0; l < perLayer.size(); ++l) {
    const std::string path = "/per_layer/" + std::to_string(l);
    if (in.integer(in.at(perLayer[l], "layer", path), path + "/layer") != r.layers[l])
      in.fail(path + "/layer", std::to_string(r.layers[l]) + " (the order of /layers)");
    r.perLayer.push_back(in.matrix(in.at(perLayer[l], "matrix", path), path + "/matrix", n, n));
  }
  r.sketch = readSketch(in);
  if (json.contains("labels")) r.labels = in.labels(r.languages);
  r.clusterOrder = readClusterOrder(in, n);
  r.dendrogram = readDendrogram(in, n);
  return r;
}

std::string SimilarityResult::toCsv() const {
  std::string csv = "language";
  for (const std::string& language : languages) csv += "," + csvField(language);
  csv += "\n";
  for (size_t i = 0; i < languages.size(); ++i) {
    csv += csvField(languages[i]);
    for (double value : combined[i]) csv += "," + shortest(value);
    csv += "\n";
  }
  return csv;
}

namespace {
std::vector<std::string> splitCsvLine(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cell += c, ++i;
      else if (c == '"') quoted = false;
      else cell += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.push_back(cell);
      cell.clear();
    } else {
      cell += c;
    }
  }
  cells.push_back(cell);
  return cells;
}
}  // namespace

SimilarityResult SimilarityResult::fromCsv(const std::string& text, const std::string& source) {
  std::istringstream in(text);
  std::string line;
  std::int64_t lineNo = 0;
  auto where = [&](size_t column) { return source + ":" + std::to_string(lineNo) + ": column " + std::to_string(column + 1); };
  SimilarityResult result;
  while (std::getline(in, line)) {
    ++lineNo;
    std::vector<std::string> cells = splitCsvLine(line);
    if (lineNo == 1) {
      if (cells.size() < 2) throw InputError(source + ":1: expected a header row \"language,<id>,<id>,...\"");
      result.languages.assign(cells.begin() + 1, cells.end());
      for (size_t c = 1; c < cells.size(); ++c) {
        if (cells[c].empty()) throw InputError(where(c) + ": empty language id in the header");
        if (std::find(cells.begin() + 1, cells.begin() + static_cast<long>(c), cells[c]) != cells.begin() + static_cast<long>(c))
          throw InputError(where(c) + ": language '" + cells[c] + "' appears twice in the header");
      }
      continue;
    }
    if (cells.size() == 1 && cells[0].empty()) continue;  // blank line
    const size_t row = result.combined.size();
    const size_t n = result.languages.size();
    if (row >= n) throw InputError(source + ":" + std::to_string(lineNo) + ": more rows than the header's " + std::to_string(n) + " languages");
    if (cells[0] != result.languages[row])
      throw InputError(where(0) + ": expected the row of '" + result.languages[row] + "', found '" + cells[0] + "'");
    if (cells.size() != n + 1)
      throw InputError(source + ":" + std::to_string(lineNo) + ": expected " + std::to_string(n + 1) + " cells, found " +
                       std::to_string(cells.size()));
    std::vector<double> values;
    for (size_t c = 1; c <= n; ++c) {
      char* end = nullptr;
      const double v = std::strtod(cells[c].c_str(), &end);
      if (cells[c].empty() || *end != '\0' || !std::isfinite(v))
        throw InputError(where(c) + ": expected a finite number, found '" + cells[c] + "'");
      values.push_back(v);
    }
    result.combined.push_back(values);
  }
  const size_t n = result.languages.size();
  if (n == 0) throw InputError(source + ": empty; expected a header row \"language,<id>,<id>,...\" and one row per language");
  if (result.combined.size() != n)
    throw InputError(source + ": expected " + std::to_string(n) + " rows (one per header language), found " +
                     std::to_string(result.combined.size()));
  for (size_t i = 0; i < n; ++i) {
    if (std::abs(result.combined[i][i] - 1.0) > 1e-6)
      throw InputError(source + ": row '" + result.languages[i] + "': the diagonal must be 1, found " + shortest(result.combined[i][i]));
    for (size_t j = 0; j < i; ++j)
      if (std::abs(result.combined[i][j] - result.combined[j][i]) > 1e-6)
        throw InputError(source + ": not symmetric: " + result.languages[i] + "–" + result.languages[j] + " is " +
                         shortest(result.combined[i][j]) + " but " + result.languages[j] + "–" + result.languages[i] +
                         " is " + shortest(result.combined[j][i]));
  }
  return result;
}

SimilarityResult SimilarityResult::read(const fs::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe similarity");
  return fromJson(in.root(), in.source());
}

SimilarityResult SimilarityResult::importFile(const fs::path& file) {
  if (!fs::exists(file)) throw InputError(file.string() + ": no such file");
  if (file.extension() == ".csv") return fromCsv(readFile(file), file.string());
  if (file.extension() == ".json") return fromJson(readJsonFile(file), file.string());
  throw InputError(file.string() + ": expected a similarity matrix as .csv (language,<id>,...) or .json (similarity.json)");
}

}  // namespace dmoe
