// similarity/similarity.{json,csv} (written by the similarity stage, SPEC
// §1.2): the language × language cosine matrix over the layer set, one per
// layer, the sketch's check, and for display the labels, the average-linkage
// order and its dendrogram. Also reads similarity matrices made elsewhere as
// CSV (the published BLOOM-560M one), so `dmoe group --similarity`, the
// published-answer tests, the group stage and the GUI share one reader.
//
// Not here: computing the matrix (methods/similarity.h) or the clustering
// (methods/clustering.h); results/ depends on nothing but util/.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

using SimilarityMatrix = std::vector<std::vector<double>>;  // symmetric, unit diagonal, in [−1, 1]

// One merge of the average-linkage dendrogram (methods/clustering.h makes them).
struct ClusterMerge {
  int left = 0, right = 0;  // cluster ids, left < right
  double height = 0;        // average distance between the two clusters' members
  int size = 0;             // leaves in the merged cluster
};

// How far the sketch's combined cosines are from exact ones on the checked pairs.
struct SketchCheck {
  std::int64_t dim = 0;
  std::uint64_t seed = 0;
  std::int64_t pairs = 0;  // pairs checked
  double maxAbsError = 0, meanAbsError = 0;
  // The theoretical standard error (1 − cos²)/√k of a k-dim Gaussian sketch's
  // cosine (a count sketch's is at most that, to first order), the largest over the checked
  // pairs (1/√k when none were checked).
  double expectedStdError = 0;
};

struct SimilarityResult {
  std::vector<std::string> languages;
  std::vector<std::int64_t> layers;
  SimilarityMatrix combined;               // cosine of the concatenation over `layers`
  std::vector<SimilarityMatrix> perLayer;  // one per entry of `layers`
  std::optional<SketchCheck> sketch;       // set in sketch mode
  // For display, added by the similarity stage (empty when absent, e.g. a CSV):
  std::vector<std::string> labels;         // one per language
  std::vector<int> clusterOrder;           // average-linkage leaf order, top to bottom
  std::vector<ClusterMerge> dendrogram;    // scipy numbering, n − 1 merges

  // The label of language i (its id when there are no labels).
  const std::string& label(size_t i) const { return labels.empty() ? languages[i] : labels[i]; }

  // {"method": "exact"|"sketch", "languages", "layers", "matrix", "per_layer":
  //  [{"layer", "matrix"}], "sketch"?, "labels"?, "cluster_order"?, "dendrogram"?}.
  Json toJson() const;
  // The inverse; the display fields are checked when present (labels one per
  // language, the order a permutation, merges of earlier clusters). Errors
  // name `source` and the JSON path.
  static SimilarityResult fromJson(const Json& json, const std::string& source);

  // The combined matrix: a header row "language,<id>,<id>,...", then one row
  // per language starting with its id. Numbers round-trip (shortest form).
  std::string toCsv() const;
  // The inverse, also for matrices made elsewhere: any first header cell; rows
  // in the header's order; finite values, symmetric within 1e-6, diagonal 1
  // within 1e-6. `layers` and `perLayer` stay empty. Errors name `source`, the
  // line and the column.
  static SimilarityResult fromCsv(const std::string& text, const std::string& source);

  // The similarity stage's similarity.json; missing: "run `dmoe similarity` first".
  static SimilarityResult read(const std::filesystem::path& file);
  // A matrix file a user imports: *.csv (fromCsv) or *.json (fromJson, e.g. a
  // similarity.json). Throws InputError naming the file.
  static SimilarityResult importFile(const std::filesystem::path& file);
};

}  // namespace dmoe
