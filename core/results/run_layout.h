// Where every stage's folder and result file lives under a project's runs
// folder: the one place their names are spelled. The stages write there, the
// report, the CLI and the GUI read there.
//
//   corpus/stats.json  tokenizer/  tokens/<language>/  pretrain/{model}/  — foundation
//   deviation/deviation.json  select-layers/selection.json
//   similarity/similarity.{json,csv}  group/groups.json                  — analysis
//   merge/model/  train/{stage1,stage2,model}/  eval/perplexity.json     — the DMoE
//   baselines/<name>/  probe/probe.json  adapt/adaptation.json  report/report.{md,json}  routing/<model>.json
//   layermoe/similarity/layer_similarity.json  layermoe/allocate/allocation.json — LayerMoE
//
// A RunLayout over an empty root gives the paths relative to the runs folder
// (the Runs view's run ids). Not here: what the files hold (results/*_file.h) or when a folder is
// current (stages/stage_folder.h); routing files are named by their model (results/routing_file.h).
#pragma once
#include <filesystem>
#include <string>

namespace dmoe {

class RunLayout {
 public:
  explicit RunLayout(std::filesystem::path runsDir) : root_(std::move(runsDir)) {}
  const std::filesystem::path& root() const { return root_; }

  // <runs_dir>/<stage>: a stage's folder by its pipeline name.
  std::filesystem::path stage(const std::string& name) const { return root_ / name; }

  std::filesystem::path corpusStatsFile() const { return stage("corpus") / "stats.json"; }
  std::filesystem::path tokenizerDir() const { return stage("tokenizer"); }
  std::filesystem::path tokensDir(const std::string& language) const { return stage("tokens") / language; }
  std::filesystem::path pretrainDir() const { return stage("pretrain"); }

  std::filesystem::path deviationDir() const { return stage("deviation"); }
  std::filesystem::path deviationFile() const { return deviationDir() / "deviation.json"; }
  std::filesystem::path selectionDir() const { return stage("select-layers"); }
  std::filesystem::path selectionFile() const { return selectionDir() / "selection.json"; }
  std::filesystem::path similarityDir() const { return stage("similarity"); }
  std::filesystem::path similarityFile() const { return similarityDir() / "similarity.json"; }
  std::filesystem::path similarityCsvFile() const { return similarityDir() / "similarity.csv"; }
  std::filesystem::path groupDir() const { return stage("group"); }
  std::filesystem::path groupsFile() const { return groupDir() / "groups.json"; }

  std::filesystem::path mergeDir() const { return stage("merge"); }
  std::filesystem::path trainDir() const { return stage("train"); }
  std::filesystem::path evalDir() const { return stage("eval"); }
  // The baselines (/baselines), by folder name; each folder holds the DMoE's layout (merge/, train/, eval/).
  static constexpr const char* kDenseContinue = "dense-continue";
  static constexpr const char* kRandomGroups = "random-groups";
  static constexpr const char* kBranchTrainMix = "branch-train-mix";
  // <runs_dir>/baselines/<name>, name one of the three above.
  std::filesystem::path baselineDir(const std::string& name) const { return stage("baselines") / name; }
  std::filesystem::path probeFile() const { return stage("probe") / "probe.json"; }
  std::filesystem::path adaptDir() const { return stage("adapt"); }
  std::filesystem::path adaptationFile() const { return adaptDir() / "adaptation.json"; }
  // LayerMoE (SPEC 2): <runs_dir>/layermoe/<step> (similarity, allocate).
  std::filesystem::path layermoeDir(const std::string& step) const { return stage("layermoe") / step; }
  std::filesystem::path layerSimilarityFile() const { return layermoeDir("similarity") / "layer_similarity.json"; }
  std::filesystem::path allocationFile() const { return layermoeDir("allocate") / "allocation.json"; }
  // <runs_dir>/layermoe/<allocation> (layer-wise | uniform): one trained expansion (stages/layermoe_train.cpp).
  static std::filesystem::path expansionIn(const std::filesystem::path& dir) { return dir / "expansion.json"; }
  std::filesystem::path reportDir() const { return stage("report"); }
  std::filesystem::path reportFile() const { return reportDir() / "report.md"; }

  // Inside a training stage's folder: the saved model, and the files of an evaluation folder.
  static std::filesystem::path modelIn(const std::filesystem::path& dir) { return dir / "model"; }
  // Inside a DMoE training folder (train/, a baseline's train/): stage 1's or stage 2's run.
  static std::filesystem::path trainingStageIn(const std::filesystem::path& trainDir, int stage) {
    return trainDir / ("stage" + std::to_string(stage));
  }
  static std::filesystem::path perplexityIn(const std::filesystem::path& evalDir) { return evalDir / "perplexity.json"; }

 private:
  std::filesystem::path root_;
};

}  // namespace dmoe
