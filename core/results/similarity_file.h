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

// Split-half reliability (similarity.split_half): each language's continual
// slice split by alternate documents into halves a and b, each fingerprinted
// as the whole is (methods/fingerprint_diagnostics.h computes these).
struct SplitHalf {
  // The halves' cosine matrix over the layer set, 2n × 2n: row 2i is language
  // i's half a, row 2i + 1 its half b.
  SimilarityMatrix halves;
  std::vector<double> reliability;   // per language: cos(half a, half b)
  std::vector<bool> ownHalfNearest;  // per language: each of its halves' most similar other half is its own
  std::vector<double> layerReliability;  // per layer of the layer set: the languages' mean reliability
  // Do the pairs' similarities repeat between halves? Pearson r over pairs
  // i < j of cos(aᵢ, aⱼ) against cos(bᵢ, bⱼ) (disjoint data), each less its
  // per-language fit (an offset and a share of a common direction), and its
  // permutation p (languages of the b side relabelled; a Mantel test). NaN
  // with fewer than 6 languages.
  double structureR = 0, structureP = 0;
  std::int64_t permutations = 0;

  int ownHalfNearestCount() const;
  double medianReliability() const;
};

// How well the matrix matches one labelling of the languages (families, scripts).
struct FamilyScore {
  std::string labelling;            // its name, e.g. "family"
  std::vector<std::string> labels;  // per language
  // Mean cosine of the pairs with the same label, of the pairs with different
  // labels, and their difference; NaN when either kind of pair is absent.
  double within = 0, across = 0, gap = 0;
  // Share of label permutations whose gap is at least the observed one,
  // (count + 1)/(permutations + 1).
  double pValue = 0;
  std::int64_t permutations = 0;
  // ARI of the average-linkage tree cut into as many clusters as the labelling
  // has classes, against the labelling.
  double clusterAri = 0;
  // Languages with a relative (same label) whose most similar other language is
  // one, out of the languages that have a relative; and how many a matrix of
  // ties broken at random would get on average (Σ relatives/(n − 1)).
  int relativesOnTop = 0, withRelatives = 0;
  double relativesOnTopByChance = 0;
};

struct SimilarityResult {
  std::string source = "weights";  // the fingerprint: weights | activations
  std::vector<std::string> languages;
  std::vector<std::int64_t> layers;
  SimilarityMatrix combined;               // cosine of the concatenation over `layers`
  std::vector<SimilarityMatrix> perLayer;  // one per entry of `layers`
  std::optional<SketchCheck> sketch;       // set in sketch mode
  // For display, added by the similarity stage (empty when absent, e.g. a CSV):
  std::vector<std::string> labels;         // one per language
  std::vector<int> clusterOrder;           // average-linkage leaf order, top to bottom
  std::vector<ClusterMerge> dendrogram;    // scipy numbering, n − 1 merges
  // The diagnostics (absent in a CSV and in files from before them):
  std::optional<SplitHalf> splitHalf;
  std::vector<FamilyScore> families;       // one per labelling of similarity.labelling

  // What the diagnostics say, in a few sentences for people (the report and
  // the Similarity tab say the same): whether the fingerprints are reliable
  // (naming the languages whose halves do not find each other), whether they
  // show shared structure, and, when they do not, that groups built on them
  // will be arbitrary. Empty without diagnostics.
  std::string reading() const;
  // Whether the reading is a warning: the fingerprints are unreliable, or
  // they were tested and show no shared structure (groups will be arbitrary).
  bool readingWarns() const;

  // The label of language i (its id when there are no labels).
  const std::string& label(size_t i) const { return labels.empty() ? languages[i] : labels[i]; }

  // {"method": "exact"|"sketch", "source", "languages", "layers", "matrix", "per_layer":
  //  [{"layer", "matrix"}], "sketch"?, "labels"?, "cluster_order"?, "dendrogram"?,
  //  "split_half"?: {"halves", "reliability", "own_half_nearest",
  //  "layer_reliability", "structure_r", "structure_p", "permutations"},
  //  "families"?: [{"labelling", "labels", "within", "across", "gap", "p_value",
  //  "permutations", "cluster_ari", "relatives_on_top", "with_relatives",
  //  "relatives_on_top_by_chance"}], "reading"?}. NaN is written as null.
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
