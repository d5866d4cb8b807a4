#include "results/routing_file.h"

#include <algorithm>

#include "results/json_reader.h"
#include "results/run_layout.h"
#include "util/atomic_file.h"
#include "util/hash.h"

namespace dmoe {

namespace {

// [layers][languages][experts of that layer]
std::vector<std::vector<std::vector<double>>> readShares(const JsonReader& in, const Json& json, const std::string& key,
                                                         const std::vector<std::int64_t>& experts, size_t languages) {
  const Json& all = in.at(json, key, "");
  const std::string path = "/" + key;
  if (!all.is_array() || all.size() != experts.size()) in.fail(path, "one table per MoE layer (" + std::to_string(experts.size()) + ")");
  std::vector<std::vector<std::vector<double>>> out;
  for (size_t l = 0; l < experts.size(); ++l)
    out.push_back(in.matrix(all[l], path + "/" + std::to_string(l), languages, static_cast<size_t>(experts[l])));
  return out;
}

// An absolute, canonical folder path without a trailing separator.
std::filesystem::path folderPath(const std::filesystem::path& dir) {
  std::filesystem::path p = std::filesystem::weakly_canonical(std::filesystem::absolute(dir)).lexically_normal();
  return p.has_filename() ? p : p.parent_path();
}

// `modelDir` relative to `runsDir`, or empty when it lies outside.
std::filesystem::path insideRuns(const std::filesystem::path& runsDir, const std::filesystem::path& modelDir) {
  const auto model = folderPath(modelDir);
  const auto runs = folderPath(runsDir);
  const std::filesystem::path relative = model.lexically_relative(runs);
  if (relative.empty() || *relative.begin() == ".." || relative == ".") return {};
  return relative;
}

}  // namespace

std::string routingModelName(const std::filesystem::path& runsDir, const std::filesystem::path& modelDir) {
  const std::filesystem::path relative = insideRuns(runsDir, modelDir);
  return relative.empty() ? folderPath(modelDir).string() : relative.generic_string();
}

std::filesystem::path routingFileFor(const std::filesystem::path& runsDir, const std::filesystem::path& modelDir) {
  std::filesystem::path relative = insideRuns(runsDir, modelDir);
  std::string name;
  if (relative.empty()) {
    const auto absolute = folderPath(modelDir);
    name = "external-" + absolute.filename().string() + "-" + hashHex(absolute.generic_string()).substr(0, 8);
  } else {
    if (relative.filename() == "model" && relative.has_parent_path()) relative = relative.parent_path();
    name = relative.generic_string();
    std::replace(name.begin(), name.end(), '/', '-');
  }
  return RunLayout(runsDir).stage("routing") / (name + ".json");
}

std::vector<std::filesystem::path> mixtureModelDirs(const std::filesystem::path& runsDir) {
  namespace fs = std::filesystem;
  std::vector<fs::path> dirs;
  std::error_code error;
  fs::recursive_directory_iterator it(runsDir, fs::directory_options::skip_permission_denied, error), end;
  for (; !error && it != end; it.increment(error)) {
    const fs::path& path = it->path();
    const std::string name = path.filename().string();
    std::error_code entryError;  // a dangling link or unreadable entry is skipped, not the end of the scan
    if (!it->is_directory(entryError)) continue;
    if (name == "checkpoints" || name == "tokens" || it.depth() >= 3) it.disable_recursion_pending();
    if (name != "model" || !fs::exists(path / "config.json", entryError)) continue;
    try {
      const Json config = Json::parse(readFile(path / "config.json"));
      if (config.is_object() && config.contains("dmoe")) dirs.push_back(path);
    } catch (const std::exception&) {  // an unreadable config: not offered; `dmoe routing` would name its problem
    }
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

std::vector<std::filesystem::path> routingFiles(const std::filesystem::path& runsDir) {
  std::vector<std::filesystem::path> files;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator(RunLayout(runsDir).stage("routing"), error))
    if (entry.is_regular_file() && entry.path().extension() == ".json") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  return files;
}

RoutingTable RoutingTable::fromJson(const Json& json, const std::string& source) {
  const JsonReader in(json, source);
  RoutingTable t;
  t.model = in.string(in.at(json, "model", ""), "/model");
  t.layers = in.integers(in.at(json, "layers", ""), "/layers");
  t.experts = in.integers(in.at(json, "experts", ""), "/experts");
  if (t.experts.size() != t.layers.size()) in.fail("/experts", "one expert count per MoE layer (" + std::to_string(t.layers.size()) + ")");
  for (size_t l = 0; l < t.experts.size(); ++l)
    if (t.experts[l] < 1) in.fail("/experts/" + std::to_string(l), "at least 1");
  t.languages = in.strings(in.at(json, "languages", ""), "/languages");
  t.labels = in.labels(t.languages);
  const Json& fresh = in.at(json, "new", "");
  if (!fresh.is_array() || fresh.size() != t.languages.size())
    in.fail("/new", "one true/false per language (" + std::to_string(t.languages.size()) + ")");
  for (size_t a = 0; a < fresh.size(); ++a) t.isNew.push_back(in.boolean(fresh[a], "/new/" + std::to_string(a)));
  t.tokens = in.integers(in.at(json, "tokens", ""), "/tokens");
  if (t.tokens.size() != t.languages.size())
    in.fail("/tokens", "one token count per language (" + std::to_string(t.languages.size()) + ")");
  if (json.contains("original_expert")) t.originalExpert = in.boolean(json.at("original_expert"), "/original_expert");
  t.top1 = readShares(in, json, "top1", t.experts, t.languages.size());
  t.probability = readShares(in, json, "probability", t.experts, t.languages.size());
  if (json.contains("classifier_original")) {
    const Json& all = json.at("classifier_original");
    if (!all.is_array() || all.size() != t.layers.size())
      in.fail("/classifier_original", "one entry (null or a share per language) per MoE layer (" + std::to_string(t.layers.size()) + ")");
    for (size_t l = 0; l < all.size(); ++l) {
      const std::string path = "/classifier_original/" + std::to_string(l);
      t.classifierOriginal.push_back(all[l].is_null() ? std::vector<double>() : in.numbers(all[l], path, t.languages.size()));
      for (size_t a = 0; a < t.classifierOriginal.back().size(); ++a)
        if (!(t.classifierOriginal.back()[a] >= 0 && t.classifierOriginal.back()[a] <= 1))
          in.fail(path + "/" + std::to_string(a), "a share between 0 and 1");
    }
  }
  return t;
}

RoutingTable RoutingTable::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe routing");
  return fromJson(in.root(), in.source());
}

Json RoutingTable::toJson() const {
  Json fresh = Json::array();
  for (bool b : isNew) fresh.push_back(b);
  Json j{{"model", model},   {"layers", layers}, {"experts", experts}, {"languages", languages},
         {"labels", labels}, {"new", fresh},     {"tokens", tokens},   {"top1", top1},
         {"probability", probability}};
  if (originalExpert) j["original_expert"] = true;  // absent = false (DMoE models, older files)
  if (!classifierOriginal.empty()) {
    Json shares = Json::array();
    for (const std::vector<double>& row : classifierOriginal) shares.push_back(row.empty() ? Json() : Json(row));
    j["classifier_original"] = shares;
  }
  return j;
}

}  // namespace dmoe
