#include "analysis_files.h"

#include <limits>

#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

namespace fs = std::filesystem;

namespace dmoe::views {

namespace {

// Reads and checks one JSON file; every accessor names the file and the JSON path.
class Reader {
 public:
  explicit Reader(const fs::path& file) : file_(file.string()) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw InputError(file_ + " is missing");
    root_ = Json::parse(readFile(file), nullptr, false);
    if (root_.is_discarded()) throw InputError(file_ + ": not valid JSON");
    if (!root_.is_object()) throw InputError(file_ + ": expected a JSON object");
  }
  const Json& root() const { return root_; }

  [[noreturn]] void fail(const std::string& path, const std::string& expected) const {
    throw InputError(file_ + ": " + path + ": expected " + expected);
  }
  const Json& at(const Json& object, const std::string& key, const std::string& path) const {
    if (!object.is_object() || !object.contains(key)) fail(path + "/" + key, "a value (it is missing)");
    return object.at(key);
  }
  // A number, or NaN for null (the stages write null where there is no value).
  double numberOrNull(const Json& j, const std::string& path) const {
    return j.is_null() ? std::numeric_limits<double>::quiet_NaN() : number(j, path);
  }
  bool boolean(const Json& j, const std::string& path) const {
    if (!j.is_boolean()) fail(path, "true or false");
    return j.get<bool>();
  }
  double number(const Json& j, const std::string& path) const {
    if (!j.is_number()) fail(path, "a number");
    return j.get<double>();
  }
  std::int64_t integer(const Json& j, const std::string& path) const {
    if (!j.is_number_integer()) fail(path, "an integer");
    return j.get<std::int64_t>();
  }
  std::string string(const Json& j, const std::string& path) const {
    if (!j.is_string()) fail(path, "a string");
    return j.get<std::string>();
  }
  std::vector<std::string> strings(const Json& j, const std::string& path) const {
    if (!j.is_array()) fail(path, "a list of strings");
    std::vector<std::string> out;
    for (size_t i = 0; i < j.size(); ++i) out.push_back(string(j[i], path + "/" + std::to_string(i)));
    return out;
  }
  std::vector<double> numbers(const Json& j, const std::string& path, size_t size) const {
    if (!j.is_array() || j.size() != size) fail(path, "a list of " + std::to_string(size) + " numbers");
    std::vector<double> out;
    for (size_t i = 0; i < j.size(); ++i) out.push_back(number(j[i], path + "/" + std::to_string(i)));
    return out;
  }
  std::vector<std::int64_t> integers(const Json& j, const std::string& path) const {
    if (!j.is_array()) fail(path, "a list of integers");
    std::vector<std::int64_t> out;
    for (size_t i = 0; i < j.size(); ++i) out.push_back(integer(j[i], path + "/" + std::to_string(i)));
    return out;
  }
  Matrix matrix(const Json& j, const std::string& path, size_t rows, size_t columns) const {
    if (!j.is_array() || j.size() != rows) fail(path, std::to_string(rows) + " rows");
    Matrix out;
    for (size_t r = 0; r < rows; ++r) out.push_back(numbers(j[r], path + "/" + std::to_string(r), columns));
    return out;
  }
  // Labels when present and of the right length, else the ids.
  std::vector<std::string> labels(const std::vector<std::string>& ids) const {
    if (!root_.contains("labels")) return ids;
    std::vector<std::string> out = strings(root_["labels"], "/labels");
    if (out.size() != ids.size()) fail("/labels", "one label per language (" + std::to_string(ids.size()) + ")");
    return out;
  }

 private:
  std::string file_;
  Json root_;
};

const char* const kModuleKinds[] = {"ffn", "attention", "norms", "all"};

}  // namespace

fs::path deviationFile(const fs::path& runsDir) { return runsDir / "deviation" / "deviation.json"; }
fs::path selectionFile(const fs::path& runsDir) { return runsDir / "select-layers" / "selection.json"; }
fs::path similarityFile(const fs::path& runsDir) { return runsDir / "similarity" / "similarity.json"; }
fs::path groupsFile(const fs::path& runsDir) { return runsDir / "group" / "groups.json"; }
fs::path probeFile(const fs::path& runsDir) { return runsDir / "probe" / "probe.json"; }
fs::path adaptationFile(const fs::path& runsDir) { return runsDir / "adapt" / "adaptation.json"; }

std::string missingArtifactMessage(const std::string& stage, const std::string& what) {
  return "Run `dmoe " + stage + "` (Stages menu) to see " + what + ".";
}

std::string unreadableArtifactMessage(const std::string& stage, const std::string& error) {
  return error + "\nRun `dmoe " + stage + "` again (Stages menu).";
}

std::int64_t GroupsData::expertOf(const std::string& language) const {
  for (const Group& g : groups)
    for (const std::string& l : g.languages)
      if (l == language) return g.expert;
  return -1;
}

DeviationData readDeviation(const fs::path& file) {
  const Reader in(file);
  const Json& root = in.root();
  DeviationData d;
  d.languages = in.strings(in.at(root, "languages", ""), "/languages");
  d.labels = in.labels(d.languages);
  d.layers = in.integer(in.at(root, "layers", ""), "/layers");
  if (d.layers < 0) in.fail("/layers", "a layer count ≥ 0");
  const Json& modules = in.at(root, "modules", "");
  for (const char* kind : kModuleKinds)
    d.modules[kind] = in.matrix(in.at(modules, kind, "/modules"), std::string("/modules/") + kind, d.languages.size(),
                                static_cast<size_t>(d.layers));
  if (root.contains("stationarity") && !root["stationarity"].is_null()) {
    const Json& s = root["stationarity"];
    d.stationarity = DeviationData::Stationarity{
        in.numberOrNull(in.at(s, "r", "/stationarity"), "/stationarity/r"),
        s.contains("r_orthogonal") ? in.numberOrNull(s["r_orthogonal"], "/stationarity/r_orthogonal")
                                   : std::numeric_limits<double>::quiet_NaN(),
        in.integers(in.at(s, "layers", "/stationarity"), "/stationarity/layers")};
  }
  return d;
}

LayerSelectionData readLayerSelection(const fs::path& file) {
  const Reader in(file);
  const Json& root = in.root();
  LayerSelectionData s;
  const Json& scores = in.at(root, "scores", "");
  if (!scores.is_array()) in.fail("/scores", "a list of numbers");
  s.scores = in.numbers(scores, "/scores", scores.size());
  s.normalized = in.numbers(in.at(root, "normalized", ""), "/normalized", s.scores.size());
  s.epsilon = in.number(in.at(root, "epsilon", ""), "/epsilon");
  s.mode = in.string(in.at(root, "mode", ""), "/mode");
  if (s.mode != "threshold" && s.mode != "top-fraction") in.fail("/mode", "\"threshold\" or \"top-fraction\"");
  s.layers = in.integers(in.at(root, "layers", ""), "/layers");
  for (size_t i = 0; i < s.layers.size(); ++i)
    if (s.layers[i] < 0 || s.layers[i] >= std::int64_t(s.scores.size()))
      in.fail("/layers/" + std::to_string(i), "a layer below " + std::to_string(s.scores.size()));
  return s;
}

SimilarityData readSimilarity(const fs::path& file) {
  const Reader in(file);
  const Json& root = in.root();
  SimilarityData s;
  s.method = root.contains("method") ? in.string(root["method"], "/method") : "exact";
  s.languages = in.strings(in.at(root, "languages", ""), "/languages");
  s.labels = in.labels(s.languages);
  const size_t n = s.languages.size();
  s.layers = in.integers(in.at(root, "layers", ""), "/layers");
  s.matrix = in.matrix(in.at(root, "matrix", ""), "/matrix", n, n);
  const Json& perLayer = in.at(root, "per_layer", "");
  if (!perLayer.is_array() || perLayer.size() != s.layers.size())
    in.fail("/per_layer", "one entry per layer (" + std::to_string(s.layers.size()) + ")");
  for (size_t l = 0; l < perLayer.size(); ++l) {
    const std::string path = "/per_layer/" + std::to_string(l);
    if (in.integer(in.at(perLayer[l], "layer", path), path + "/layer") != s.layers[l])
      in.fail(path + "/layer", std::to_string(s.layers[l]) + " (the order of /layers)");
    s.perLayer.push_back(in.matrix(in.at(perLayer[l], "matrix", path), path + "/matrix", n, n));
  }
  s.clusterOrder = in.integers(in.at(root, "cluster_order", ""), "/cluster_order");
  std::vector<bool> seen(n, false);
  if (s.clusterOrder.size() != n) in.fail("/cluster_order", "a permutation of 0.." + std::to_string(n) + "−1");
  for (std::int64_t leaf : s.clusterOrder) {
    if (leaf < 0 || leaf >= std::int64_t(n) || seen[size_t(leaf)])
      in.fail("/cluster_order", "a permutation of 0.." + std::to_string(n) + "−1");
    seen[size_t(leaf)] = true;
  }
  const Json& merges = in.at(root, "dendrogram", "");
  if (!merges.is_array() || (n > 0 && merges.size() != n - 1))
    in.fail("/dendrogram", std::to_string(n > 0 ? n - 1 : 0) + " merges");
  for (size_t i = 0; i < merges.size(); ++i) {
    const std::string path = "/dendrogram/" + std::to_string(i);
    DendrogramMerge m;
    m.left = in.integer(in.at(merges[i], "left", path), path + "/left");
    m.right = in.integer(in.at(merges[i], "right", path), path + "/right");
    m.height = in.number(in.at(merges[i], "height", path), path + "/height");
    m.size = in.integer(in.at(merges[i], "size", path), path + "/size");
    // Children are leaves or earlier merges (scipy numbering).
    const std::int64_t limit = std::int64_t(n + i);
    if (m.left < 0 || m.left >= limit) in.fail(path + "/left", "a cluster below " + std::to_string(limit));
    if (m.right < 0 || m.right >= limit) in.fail(path + "/right", "a cluster below " + std::to_string(limit));
    s.dendrogram.push_back(m);
  }
  return s;
}

GroupsData readGroups(const fs::path& file) {
  const Reader in(file);
  const Json& root = in.root();
  GroupsData g;
  g.method = root.contains("method") ? in.string(root["method"], "/method") : "";
  g.methodUsed = root.contains("method_used") ? in.string(root["method_used"], "/method_used") : g.method;
  const Json& groups = in.at(root, "groups", "");
  if (!groups.is_array()) in.fail("/groups", "a list of groups");
  for (size_t i = 0; i < groups.size(); ++i) {
    const std::string path = "/groups/" + std::to_string(i);
    GroupsData::Group group;
    group.expert = groups[i].contains("expert") ? in.integer(groups[i]["expert"], path + "/expert") : std::int64_t(i);
    group.languages = in.strings(in.at(groups[i], "languages", path), path + "/languages");
    // A one-language group has no pair: the stage may write null (NaN).
    group.minSimilarity = in.numberOrNull(in.at(groups[i], "min_similarity", path), path + "/min_similarity");
    g.groups.push_back(std::move(group));
  }
  return g;
}

ProbeData readProbe(const fs::path& file) {
  const Reader in(file);
  const Json& root = in.root();
  ProbeData p;
  const Json& experts = in.at(root, "experts", "");
  if (!experts.is_array()) in.fail("/experts", "a list of expert member lists");
  for (size_t e = 0; e < experts.size(); ++e) p.experts.push_back(in.strings(experts[e], "/experts/" + std::to_string(e)));
  const Json& languages = in.at(root, "languages", "");
  if (!languages.is_object()) in.fail("/languages", "an object of languages");
  for (const auto& [id, entry] : languages.items()) {
    const std::string path = "/languages/" + id;
    ProbeData::Row row;
    row.language = id;
    row.ppl = in.numbers(in.at(entry, "ppl_per_expert", path), path + "/ppl_per_expert", p.experts.size());
    row.best = in.integer(in.at(entry, "best_expert", path), path + "/best_expert");
    if (row.best < 0 || row.best >= std::int64_t(p.experts.size()))
      in.fail(path + "/best_expert", "an expert below " + std::to_string(p.experts.size()));
    row.documents = entry.contains("documents") ? in.integer(entry["documents"], path + "/documents") : 0;
    p.rows.push_back(std::move(row));
  }
  return p;
}

AdaptationData readAdaptation(const fs::path& file) {
  const Reader in(file);
  const Json& root = in.root();
  AdaptationData a;
  const Json& added = in.at(root, "new_experts", "");
  if (!added.is_array()) in.fail("/new_experts", "a list of new experts");
  for (size_t i = 0; i < added.size(); ++i) {
    const std::string path = "/new_experts/" + std::to_string(i);
    a.newExperts.push_back({in.integer(in.at(added[i], "expert", path), path + "/expert"),
                            in.integer(in.at(added[i], "copied_from", path), path + "/copied_from"),
                            in.strings(in.at(added[i], "languages", path), path + "/languages")});
  }
  const Json& languages = in.at(root, "languages", "");
  if (!languages.is_array()) in.fail("/languages", "a list of languages");
  for (size_t i = 0; i < languages.size(); ++i) {
    const std::string path = "/languages/" + std::to_string(i);
    const Json& l = languages[i];
    AdaptationData::Row row;
    row.language = in.string(in.at(l, "language", path), path + "/language");
    row.label = l.contains("label") ? in.string(l["label"], path + "/label") : row.language;
    row.isNew = in.boolean(in.at(l, "new", path), path + "/new");
    row.hardBefore = in.numberOrNull(in.at(l, "hard_before", path), path + "/hard_before");
    row.hardAfter = in.numberOrNull(in.at(l, "hard_after", path), path + "/hard_after");
    row.softBefore = in.numberOrNull(in.at(l, "soft_before", path), path + "/soft_before");
    row.softAfter = in.numberOrNull(in.at(l, "soft_after", path), path + "/soft_after");
    a.rows.push_back(std::move(row));
  }
  a.frozenTensorsChecked = in.integer(in.at(root, "frozen_tensors_checked", ""), "/frozen_tensors_checked");
  a.frozenBitIdentical = in.boolean(in.at(root, "frozen_bit_identical", ""), "/frozen_bit_identical");
  a.oldHardUnchanged = in.boolean(in.at(root, "old_hard_ppl_unchanged", ""), "/old_hard_ppl_unchanged");
  a.softAverageBefore = in.numberOrNull(in.at(root, "soft_average_before", ""), "/soft_average_before");
  a.softAverageAfter = in.numberOrNull(in.at(root, "soft_average_after", ""), "/soft_average_after");
  a.newSoftAverageBefore = in.numberOrNull(in.at(root, "new_soft_average_before", ""), "/new_soft_average_before");
  a.newHardAverageAfter = in.numberOrNull(in.at(root, "new_hard_average_after", ""), "/new_hard_average_after");
  return a;
}

}  // namespace dmoe::views
