// Readers of the analysis artifacts the headless pipeline writes under the
// runs folder — deviation/deviation.json, select-layers/selection.json,
// similarity/similarity.json, group/groups.json, probe/probe.json,
// adapt/adaptation.json — into plain structs for the analysis views and the
// adaptation wizard. Qt-free; they only read (the stages own the formats).
// Every error is a dmoe::InputError naming the file and the JSON path.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace dmoe::views {

using Matrix = std::vector<std::vector<double>>;

std::filesystem::path deviationFile(const std::filesystem::path& runsDir);
std::filesystem::path selectionFile(const std::filesystem::path& runsDir);
std::filesystem::path similarityFile(const std::filesystem::path& runsDir);
std::filesystem::path groupsFile(const std::filesystem::path& runsDir);
std::filesystem::path probeFile(const std::filesystem::path& runsDir);
std::filesystem::path adaptationFile(const std::filesystem::path& runsDir);

struct DeviationData {
  std::vector<std::string> languages, labels;
  std::int64_t layers = 0;
  std::map<std::string, Matrix> modules;  // "ffn"|"attention"|"norms"|"all" → [language][layer] norm
  // The stationarity diagnostic r (NaN: null, no gradient), what orthogonal
  // pulls of the same sizes would give (NaN when not recorded) and its layers;
  // absent in files written before the deviation stage recorded it.
  struct Stationarity {
    double r = 0, orthogonal = 0;
    std::vector<std::int64_t> layers;
  };
  std::optional<Stationarity> stationarity;
};

struct LayerSelectionData {
  std::vector<double> scores, normalized;
  double epsilon = 0;
  std::string mode;  // "threshold" | "top-fraction"
  std::vector<std::int64_t> layers;  // the chosen ones, ascending
};

struct DendrogramMerge {
  std::int64_t left = 0, right = 0;  // scipy numbering: leaves 0..n-1, merge i is cluster n+i
  double height = 0;
  std::int64_t size = 0;
};

struct SimilarityData {
  std::string method;
  std::vector<std::string> languages, labels;
  std::vector<std::int64_t> layers;
  Matrix matrix;                         // over the combined layer set
  std::vector<Matrix> perLayer;          // one per entry of `layers`
  std::vector<std::int64_t> clusterOrder;  // leaf indices, top to bottom
  std::vector<DendrogramMerge> dendrogram;
};

struct GroupsData {
  std::string method, methodUsed;
  struct Group {
    std::int64_t expert = 0;
    std::vector<std::string> languages;
    double minSimilarity = 0;
  };
  std::vector<Group> groups;
  // The expert of `language`, or -1 when no group lists it.
  std::int64_t expertOf(const std::string& language) const;
};

// `dmoe probe`: each language's PPL with every expert forced.
struct ProbeData {
  std::vector<std::vector<std::string>> experts;  // member languages of expert e
  struct Row {
    std::string language;
    std::vector<double> ppl;  // one per expert
    std::int64_t best = 0;    // the expert adaptation copies (lowest PPL)
    std::int64_t documents = 0;
  };
  std::vector<Row> rows;  // in the file's order
};

// `dmoe adapt`: the new experts and every language's PPL before and after.
struct AdaptationData {
  struct NewExpert {
    std::int64_t expert = 0, copiedFrom = 0;
    std::vector<std::string> languages;
  };
  struct Row {
    std::string language, label;
    bool isNew = false;
    // NaN where the stage had no number (a language without held-out text, or unrouted when hard).
    double hardBefore = 0, hardAfter = 0, softBefore = 0, softAfter = 0;
  };
  std::vector<NewExpert> newExperts;
  std::vector<Row> rows;
  std::int64_t frozenTensorsChecked = 0;
  bool frozenBitIdentical = false, oldHardUnchanged = false;
  double softAverageBefore = 0, softAverageAfter = 0;        // old languages, learned router
  double newSoftAverageBefore = 0, newHardAverageAfter = 0;  // new languages: before (soft), after (own expert)
};

// Throw dmoe::InputError("<file>: <json path>: expected …") on anything malformed.
DeviationData readDeviation(const std::filesystem::path& file);
LayerSelectionData readLayerSelection(const std::filesystem::path& file);
SimilarityData readSimilarity(const std::filesystem::path& file);
GroupsData readGroups(const std::filesystem::path& file);
ProbeData readProbe(const std::filesystem::path& file);
AdaptationData readAdaptation(const std::filesystem::path& file);

// What a view shows in place of an artifact it cannot have: which stage to run
// ("Run `dmoe deviation` (Stages menu) to see the deviation heatmap."), and why
// when the file exists but is unreadable.
std::string missingArtifactMessage(const std::string& stage, const std::string& what);
std::string unreadableArtifactMessage(const std::string& stage, const std::string& error);

// `read(file)`, or nullopt with `problem` set to one of the messages above.
template <class T>
std::optional<T> loadArtifact(const std::filesystem::path& file, T (*read)(const std::filesystem::path&),
                              const std::string& stage, const std::string& what, std::string& problem) {
  problem.clear();
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    problem = missingArtifactMessage(stage, what);
    return std::nullopt;
  }
  try {
    return read(file);
  } catch (const std::exception& e) {
    problem = unreadableArtifactMessage(stage, e.what());
    return std::nullopt;
  }
}

}  // namespace dmoe::views
