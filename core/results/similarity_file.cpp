#include "results/similarity_file.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

#include "results/json_reader.h"
#include "util/atomic_file.h"
#include "util/csv.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

Json matrixToJson(const SimilarityMatrix& m) {
  Json rows = Json::array();
  for (const auto& row : m) rows.push_back(row);
  return rows;
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

Json splitHalfToJson(const SplitHalf& h) {
  Json nearest = Json::array();
  for (bool b : h.ownHalfNearest) nearest.push_back(b);
  return Json{{"halves", matrixToJson(h.halves)},
              {"reliability", h.reliability},
              {"own_half_nearest", nearest},
              {"layer_reliability", h.layerReliability},
              {"structure_r", numberOrNull(h.structureR)},
              {"structure_p", numberOrNull(h.structureP)},
              {"permutations", h.permutations}};
}

std::optional<SplitHalf> readSplitHalf(const JsonReader& in, size_t n, size_t layers) {
  if (!in.root().contains("split_half")) return std::nullopt;
  const Json& j = in.root()["split_half"];
  const std::string p = "/split_half";
  auto field = [&](const char* key) -> const Json& { return in.at(j, key, p); };
  SplitHalf h;
  h.halves = in.matrix(field("halves"), p + "/halves", 2 * n, 2 * n);
  h.reliability = in.numbers(field("reliability"), p + "/reliability", n);
  const Json& nearest = field("own_half_nearest");
  if (!nearest.is_array() || nearest.size() != n) in.fail(p + "/own_half_nearest", std::to_string(n) + " booleans");
  for (size_t i = 0; i < n; ++i) h.ownHalfNearest.push_back(in.boolean(nearest[i], p + "/own_half_nearest/" + std::to_string(i)));
  h.layerReliability = in.numbers(field("layer_reliability"), p + "/layer_reliability", layers);
  h.structureR = in.numberOrNull(field("structure_r"), p + "/structure_r");
  h.structureP = in.numberOrNull(field("structure_p"), p + "/structure_p");
  h.permutations = in.integer(field("permutations"), p + "/permutations");
  return h;
}

Json familyToJson(const FamilyScore& f) {
  return Json{{"labelling", f.labelling},
              {"labels", f.labels},
              {"within", numberOrNull(f.within)},
              {"across", numberOrNull(f.across)},
              {"gap", numberOrNull(f.gap)},
              {"p_value", numberOrNull(f.pValue)},
              {"permutations", f.permutations},
              {"cluster_ari", numberOrNull(f.clusterAri)},
              {"relatives_on_top", f.relativesOnTop},
              {"with_relatives", f.withRelatives},
              {"relatives_on_top_by_chance", f.relativesOnTopByChance}};
}

std::vector<FamilyScore> readFamilies(const JsonReader& in, size_t n) {
  if (!in.root().contains("families")) return {};
  const Json& all = in.root()["families"];
  if (!all.is_array()) in.fail("/families", "a list of family scores");
  std::vector<FamilyScore> out;
  for (size_t k = 0; k < all.size(); ++k) {
    const std::string p = "/families/" + std::to_string(k);
    auto field = [&](const char* key) -> const Json& { return in.at(all[k], key, p); };
    FamilyScore f;
    f.labelling = in.string(field("labelling"), p + "/labelling");
    f.labels = in.strings(field("labels"), p + "/labels");
    if (f.labels.size() != n) in.fail(p + "/labels", std::to_string(n) + " labels, one per language");
    f.within = in.numberOrNull(field("within"), p + "/within");
    f.across = in.numberOrNull(field("across"), p + "/across");
    f.gap = in.numberOrNull(field("gap"), p + "/gap");
    f.pValue = in.numberOrNull(field("p_value"), p + "/p_value");
    f.permutations = in.integer(field("permutations"), p + "/permutations");
    f.clusterAri = in.numberOrNull(field("cluster_ari"), p + "/cluster_ari");
    f.relativesOnTop = static_cast<int>(in.integer(field("relatives_on_top"), p + "/relatives_on_top"));
    f.withRelatives = static_cast<int>(in.integer(field("with_relatives"), p + "/with_relatives"));
    f.relativesOnTopByChance = in.number(field("relatives_on_top_by_chance"), p + "/relatives_on_top_by_chance");
    out.push_back(std::move(f));
  }
  return out;
}

// "p = 0.123", "p < 0.001".
std::string pText(double p) {
  const std::string text = pValueText(p);
  return "p " + (text[0] == '<' ? text : "= " + text);
}

}  // namespace

Json SimilarityResult::toJson() const {
  Json json{{"method", sketch ? "sketch" : "exact"}, {"source", source}, {"languages", languages}, {"layers", layers}, {"matrix", matrixToJson(combined)}};
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
  if (splitHalf) json["split_half"] = splitHalfToJson(*splitHalf);
  if (!families.empty()) {
    json["families"] = Json::array();
    for (const FamilyScore& f : families) json["families"].push_back(familyToJson(f));
  }
  const std::string text = reading();
  if (!text.empty()) json["reading"] = text;
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
  if (json.contains("source")) {
    r.source = in.string(json["source"], "/source");
    if (r.source != "weights" && r.source != "activations") in.fail("/source", "\"weights\" or \"activations\"");
  }
  r.splitHalf = readSplitHalf(in, n, r.layers.size());
  r.families = readFamilies(in, n);
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

int SplitHalf::ownHalfNearestCount() const {
  return static_cast<int>(std::count(ownHalfNearest.begin(), ownHalfNearest.end(), true));
}

double SplitHalf::medianReliability() const {
  if (reliability.empty()) return std::nan("");
  std::vector<double> sorted = reliability;
  std::sort(sorted.begin(), sorted.end());
  const size_t m = sorted.size() / 2;
  return sorted.size() % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

// The thresholds the reading uses, each declared once with its reason:
//  - reliable: both halves of at least 90 % of the languages find each other
//    first (issue 33's target: a matrix that cannot tell a language from its
//    own other half cannot tell relatives apart either);
//  - shared structure: p < 0.05, the conventional level, Bonferroni-corrected
//    over the tests made (the halves' pair pattern and each labelling's
//    within − across gap), so adding labellings does not make structure
//    easier to find by chance.
namespace {
constexpr double kReliableShare = 0.9;
constexpr double kSignificance = 0.05;

// What the diagnostics decide, before any wording.
struct Verdict {
  bool split = false;         // split halves measured
  bool reliable = true;       // no split half: not known to be unreliable
  bool pairsTested = false;   // the labelling-free test could be made (n ≥ 4)
  bool pairsRepeat = false;
  std::vector<std::string> labellingsTested;
  bool labellingMatches = false;
  double level = kSignificance;  // the corrected per-test level
  bool structure() const { return pairsRepeat || labellingMatches; }
  bool tested() const { return pairsTested || !labellingsTested.empty(); }
};

Verdict verdictOf(const SimilarityResult& r) {
  Verdict v;
  v.split = r.splitHalf && !r.splitHalf->reliability.empty();
  int tests = 0;
  if (v.split) {
    const SplitHalf& h = *r.splitHalf;
    v.reliable = h.ownHalfNearestCount() >= kReliableShare * static_cast<double>(h.reliability.size());
    v.pairsTested = std::isfinite(h.structureR) && std::isfinite(h.structureP);
    tests += v.pairsTested;
  }
  for (const FamilyScore& f : r.families)
    if (std::isfinite(f.gap)) v.labellingsTested.push_back(f.labelling), ++tests;
  v.level = kSignificance / std::max(1, tests);
  if (v.pairsTested) v.pairsRepeat = r.splitHalf->structureP < v.level;
  for (const FamilyScore& f : r.families)
    if (std::isfinite(f.gap) && f.pValue < v.level) v.labellingMatches = true;
  return v;
}

std::string joinedNames(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + names[i];
  return out;
}
}  // namespace

bool SimilarityResult::readingWarns() const {
  const Verdict v = verdictOf(*this);
  return (v.split && !v.reliable) || (v.tested() && !v.structure());
}

std::string SimilarityResult::reading() const {
  std::vector<std::string> sentences;
  const Verdict v = verdictOf(*this);
  if (v.split) {
    const SplitHalf& h = *splitHalf;
    const int own = h.ownHalfNearestCount(), n = static_cast<int>(h.reliability.size());
    const std::string counts = std::to_string(own) + " of " + std::to_string(n) +
                               " languages (median half–half cosine " + signedDecimals(h.medianReliability(), 3) + ")";
    std::string apart;  // the languages whose halves do not find each other
    for (size_t i = 0; i < h.ownHalfNearest.size() && i < languages.size(); ++i)
      if (!h.ownHalfNearest[i]) apart += (apart.empty() ? "" : ", ") + label(i);
    if (v.reliable)
      sentences.push_back("Fingerprints are reliable: own half nearest for " + counts);
    else if (own * 2 < n)
      sentences.push_back("Fingerprints are unreliable: own half nearest for only " + counts +
                          "; the matrix is mostly sampling noise, and more tokens per deviation step "
                          "(batch_sequences × seq_len) or more steps make it less so");
    else
      sentences.push_back("Fingerprints are not reliable enough: own half nearest for only " + counts + " (not for " +
                          apart + "); more tokens per deviation step (batch_sequences × seq_len) or more steps make "
                          "them more so");
    if (v.pairsTested)
      sentences.push_back(std::string(v.pairsRepeat ? "The pairs' similarities repeat between halves"
                                                    : "The pairs' similarities do not repeat between halves") +
                          " (r = " + fixedDecimals(h.structureR, 2) + ", " + pText(h.structureP) +
                          ", beyond each language's own effect)");
  }
  for (const FamilyScore& f : families) {
    if (!std::isfinite(f.gap)) continue;
    sentences.push_back("By " + f.labelling + ": within − across " + signedDecimals(f.gap, 3) + " (" + pText(f.pValue) +
                        "), relatives on top " + std::to_string(f.relativesOnTop) + " of " + std::to_string(f.withRelatives) +
                        " (chance " + fixedDecimals(f.relativesOnTopByChance, 1) + "), ARI of the tree " +
                        fixedDecimals(f.clusterAri, 2));
  }
  if (v.tested() && !v.structure()) {
    if (v.pairsTested)
      sentences.push_back(v.reliable ? "They tell each language apart but show no structure shared between "
                                       "languages: groups built on them will be arbitrary"
                                     : "No structure shared between languages: groups built on this matrix will "
                                       "be arbitrary");
    else
      sentences.push_back("No structure matching the " + joinedNames(v.labellingsTested) + " labelling" +
                          (v.labellingsTested.size() > 1 ? "s" : "") + ": groups built on this matrix will not follow " +
                          (v.labellingsTested.size() > 1 ? "them" : "it"));
  }
  if (v.tested() && v.level < kSignificance)
    sentences.push_back("Significance at p < " + fixedDecimals(v.level, 4) + " (0.05 over " +
                        std::to_string(static_cast<int>(std::lround(kSignificance / v.level))) + " tests)");
  std::string text;
  for (const std::string& sentence : sentences) text += (text.empty() ? "" : " ") + sentence + ".";
  return text;
}

}  // namespace dmoe
