// routing/<model>.json (written by `dmoe routing`, one file per measured
// model): where a trained mixture of experts sends each language's held-out
// tokens, per MoE layer. Read by the Routing tab, which offers every file.
//
//   {"model": the model folder (relative to the runs folder when inside it), "layers": [MoE layer indices], "experts":
//    [experts per MoE layer], "languages": [ids], "labels": [...], "new":
//    [bool], "tokens": [held-out tokens routed per language],
//    "original_expert": true for a LayerMoE model (expert 0 = the frozen original FFN; absent = false),
//    "top1": [layer][language][expert]        share of tokens whose first expert is that one (the router's
//                                             largest probability, or expert 0 where a classifier chose class 0),
//    "probability": [layer][language][expert] mean router probability (before any classifier decision),
//    "classifier_original": [layer] null or [language] — only for a model with LayerMoE classifiers: on a
//                                             layer with one, the share of tokens it sends to expert 0 alone}
// Each language's row sums to 1 in both (a language without tokens: zeros).
//
// Not here: the measurement (stages/routing_stats.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

struct RoutingTable {
  std::string model;
  std::vector<std::int64_t> layers, experts;
  std::vector<std::string> languages, labels;
  std::vector<bool> isNew;
  std::vector<std::int64_t> tokens;
  bool originalExpert = false;  // LayerMoE: expert 0 of every layer is the frozen original FFN
  // [MoE layer][language][expert]
  std::vector<std::vector<std::vector<double>>> top1, probability;
  // [MoE layer][language]: share the classifier sends to expert 0 alone; an empty row = no classifier on that
  // layer; empty = no classifier anywhere.
  std::vector<std::vector<double>> classifierOriginal;

  static RoutingTable fromJson(const Json& json, const std::string& source);
  // Missing: "run `dmoe routing` first".
  static RoutingTable read(const std::filesystem::path& file);
  Json toJson() const;
};

// The file for `modelDir`: <runs_dir>/routing/<name>.json, name = the folder's
// path relative to the runs folder, "/" → "-", without a final "model"
// (train/model → train.json, layermoe/layer-wise/model → layermoe-layer-wise.json);
// a folder outside the runs folder: external-<folder name>-<8 hex digits of
// its absolute path's hash>.json, so two models never share a file.
std::filesystem::path routingFileFor(const std::filesystem::path& runsDir, const std::filesystem::path& modelDir);
// `modelDir` as routing files record it: relative to the runs folder when inside it, else absolute.
std::string routingModelName(const std::filesystem::path& runsDir, const std::filesystem::path& modelDir);
// The trained or merged mixtures of experts under the runs folder that
// `dmoe routing` can measure: every folder named "model" at most four levels
// down whose config.json has a "dmoe" layout (train/model, adapt/model,
// layermoe/<allocation>/model, baselines/<name>/train/model, …), sorted;
// checkpoints and token caches are not searched.
std::vector<std::filesystem::path> mixtureModelDirs(const std::filesystem::path& runsDir);
// The routing files under <runs_dir>/routing, sorted by name (none: empty).
std::vector<std::filesystem::path> routingFiles(const std::filesystem::path& runsDir);

}  // namespace dmoe
