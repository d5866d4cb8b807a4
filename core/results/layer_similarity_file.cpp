#include "results/layer_similarity_file.h"

#include <cmath>

#include "results/json_reader.h"

namespace dmoe {

namespace {

Json numbersOrNull(const std::vector<double>& values) {
  Json out = Json::array();
  for (double v : values) out.push_back(numberOrNull(v));
  return out;
}

std::vector<double> readNumbersOrNull(const JsonReader& in, const Json& list, const std::string& path, size_t size) {
  if (!list.is_array() || list.size() != size) in.fail(path, "a list of " + std::to_string(size) + " numbers");
  std::vector<double> out;
  for (size_t i = 0; i < size; ++i) out.push_back(in.numberOrNull(list[i], path + "/" + std::to_string(i)));
  return out;
}

}  // namespace

LayerSimilarity LayerSimilarity::fromJson(const Json& json, const std::string& source) {
  const JsonReader in(json, source);
  LayerSimilarity s;
  s.languages = in.strings(in.at(json, "languages", ""), "/languages");
  const size_t n = s.languages.size();
  const Json& fresh = in.at(json, "new", "");
  if (!fresh.is_array() || fresh.size() != n) in.fail("/new", "one true/false per language (" + std::to_string(n) + ")");
  for (size_t a = 0; a < n; ++a) s.isNew.push_back(in.boolean(fresh[a], "/new/" + std::to_string(a)));
  s.tokens = in.integers(in.at(json, "tokens", ""), "/tokens");
  if (s.tokens.size() != n) in.fail("/tokens", "one token count per language (" + std::to_string(n) + ")");
  const std::int64_t layers = in.integer(in.at(json, "layers", ""), "/layers");
  if (layers < 1) in.fail("/layers", "at least one layer");
  const size_t l = static_cast<size_t>(layers);
  s.newNew = readNumbersOrNull(in, in.at(json, "new_new", ""), "/new_new", l);
  s.newOld = readNumbersOrNull(in, in.at(json, "new_old", ""), "/new_old", l);
  s.combined = readNumbersOrNull(in, in.at(json, "similarity", ""), "/similarity", l);
  const Json& pairs = in.at(json, "pairs", "");
  if (!pairs.is_array() || pairs.size() != l) in.fail("/pairs", "one matrix per layer (" + std::to_string(l) + ")");
  for (size_t i = 0; i < l; ++i) {
    const std::string path = "/pairs/" + std::to_string(i);
    if (!pairs[i].is_array() || pairs[i].size() != n) in.fail(path, "one row per language (" + std::to_string(n) + ")");
    std::vector<std::vector<double>> matrix;
    for (size_t a = 0; a < n; ++a) matrix.push_back(readNumbersOrNull(in, pairs[i][a], path + "/" + std::to_string(a), n));
    s.pairs.push_back(std::move(matrix));
  }
  return s;
}

LayerSimilarity LayerSimilarity::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe layermoe similarity");
  return fromJson(in.root(), in.source());
}

Json LayerSimilarity::toJson() const {
  Json fresh = Json::array(), pairsJson = Json::array();
  for (bool b : isNew) fresh.push_back(b);
  for (const auto& matrix : pairs) {
    Json rows = Json::array();
    for (const auto& row : matrix) rows.push_back(numbersOrNull(row));
    pairsJson.push_back(rows);
  }
  return Json{{"languages", languages},         {"new", fresh},
              {"tokens", tokens},               {"layers", layers()},
              {"new_new", numbersOrNull(newNew)}, {"new_old", numbersOrNull(newOld)},
              {"similarity", numbersOrNull(combined)}, {"pairs", pairsJson}};
}

}  // namespace dmoe
