// layermoe/similarity/layer_similarity.json (written by the LayerMoE
// similarity stage, SPEC §2.1): per layer, how alike the new languages' FFN
// inputs are to each other and to the old languages'. Read by the allocation,
// the Layers view and the report.
//
//   {"languages": [ids, old then new], "new": [bool per language],
//    "tokens": [tokens measured per language], "layers": L,
//    "new_new": [L], "new_old": [L], "similarity": [L] (S_i),
//    "pairs": [L][languages][languages]}   (null where there is no number)
//
// Not here: the measurement (stages) or the formulas (methods/layer_similarity.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

struct LayerSimilarity {
  std::vector<std::string> languages;  // the old languages, then the new
  std::vector<bool> isNew;
  std::vector<std::int64_t> tokens;  // tokens measured per language
  // pairs[i][a][b] = S_i(a, b) = m_a · m_b, m the mean unit FFN input at layer i;
  // the diagonal is |m_a|², how consistent one language is with itself.
  std::vector<std::vector<std::vector<double>>> pairs;
  // Per layer: means over new–new pairs (NaN with one new language), over
  // new–old pairs, and S_i.
  std::vector<double> newNew, newOld, combined;

  std::size_t layers() const { return combined.size(); }
  // Errors name `source` and the JSON path; every list is checked against the languages and layers.
  static LayerSimilarity fromJson(const Json& json, const std::string& source);
  // Missing: "run `dmoe layermoe similarity` first".
  static LayerSimilarity read(const std::filesystem::path& file);
  Json toJson() const;
};

}  // namespace dmoe
