// The merge stage (`dmoe merge`, SPEC §1.5): the base model with the
// selected layers' FFNs turned into one expert per group plus a router —
// experts upcycled (copies of the base FFN) or, for the Branch-Train-Mix
// baseline, the FFNs of the base fine-tuned on each group's data, with the
// non-expert tensors averaged over those fine-tunes. Writes <mergeDir>/model/.
#include "checkpoint/hf_checkpoint.h"
#include "methods/layer_selection.h"
#include "model/load_model.h"
#include "runtime/device.h"
#include "stages/dmoe_variant.h"
#include "stages/stage_folder.h"
#include "stages/stage_inputs.h"
#include "train/trainer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

void restoreWeights(CausalLMImpl& model, const std::map<std::string, torch::Tensor>& snapshot) {
  torch::NoGradGuard noGrad;
  for (auto& p : model.named_parameters(true)) p.value().copy_(snapshot.at(p.key()));
}

// Branch-Train-Mix initialisation (SPEC 1.5): expert g of every selected
// layer = the FFN of the base fine-tuned on group g's data (train.stage1
// settings, no router). Returns experts[layer position][group] and leaves the
// model's weights at the mean over the G fine-tunes of every tensor (as the
// reference's merge script): the non-expert tensors of the merged model.
std::vector<std::vector<std::shared_ptr<FeedForwardImpl>>> trainGroupExperts(const Project& project,
                                                                             const DmoeVariant& variant,
                                                                             const std::shared_ptr<CausalLMImpl>& model,
                                                                             const std::vector<std::int64_t>& layers,
                                                                             const std::string& device,
                                                                             Reporter& reporter) {
  std::map<std::string, torch::Tensor> base, sum;
  for (const auto& p : model->named_parameters(true)) {
    base[p.key()] = p.value().detach().clone();
    sum[p.key()] = torch::zeros_like(p.value(), torch::kFloat64);
  }
  const TrainingSettings settings = cappedToContext(project.train.stage1, model->config().max_position_embeddings);
  const size_t groups = variant.groups.groups.size();
  std::vector<std::vector<std::shared_ptr<FeedForwardImpl>>> experts(layers.size());
  for (size_t g = 0; g < groups; ++g) {
    restoreWeights(*model, base);
    LanguageShards shards = openShards(project, variant.groups.groups[g]);
    SequenceSampler sampler(shards.streams(0.3), settings.seq_len, static_cast<std::uint64_t>(settings.seed));
    TrainerOptions options;
    options.settings = settings;
    options.runDir = variant.mergeDir / ("branch-" + std::to_string(g));
    options.projectFile = project.file;
    options.settingsPointer = "/train/stage1";
    options.device = device;
    options.checkpoints = false;
    options.extraSettings = {{"stage", "branch-train-mix"}, {"group", variant.groups.groups[g]}};
    Reporter branchReporter = reporter.forStage("merge:branch-" + std::to_string(g));
    Trainer(model, sampler, options, branchReporter).run();
    for (size_t i = 0; i < layers.size(); ++i) experts[i].push_back(copyFeedForward(*model->mlp(layers[i]), model->config()));
    for (const auto& p : model->named_parameters(true)) sum.at(p.key()) += p.value().detach().to(torch::kFloat64);
  }
  std::map<std::string, torch::Tensor> mean;
  for (auto& [key, total] : sum) mean[key] = (total / static_cast<double>(groups)).to(base.at(key).scalar_type());
  restoreWeights(*model, mean);
  return experts;
}

// The merged model of `variant` into <mergeDir>/model; returns what the manifest records.
Json mergeInto(const Project& project, const DmoeVariant& variant, const MergeSettings& m, Reporter& reporter) {
  const fs::path modelDir = RunLayout::modelIn(variant.mergeDir);
  const LayerSelection selection = LayerSelection::read(project.layout().selectionFile());  // ≥ 1 layer (select-layers checks)
  const std::string device = resolveDevice(project.device);
  const fs::path baseDir = baseModelDir(project);
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(baseDir, device);
  if (readMoeLayout(model->config(), (baseDir / "config.json").string()))
    throw InputError((baseDir / "config.json").string() + ": the base model is already a DMoE model; merge starts from a dense one");

  MoeLayout layout;
  layout.layers = selection.layers;
  layout.numExperts = static_cast<std::int64_t>(variant.groups.groups.size());
  layout.topK = m.top_k;
  layout.routerInitStd = m.router_init_std;
  layout.expertLanguages = variant.groups.groups;

  std::vector<std::vector<std::shared_ptr<FeedForwardImpl>>> trained;
  if (m.init == "branch-train-mix") trained = trainGroupExperts(project, variant, model, layout.layers, device, reporter);
  torch::manual_seed(static_cast<std::uint64_t>(m.seed));  // the router initialisation
  upcycle(*model, layout);
  if (!trained.empty()) {
    torch::NoGradGuard noGrad;
    const auto moe = moeLayers(*model);
    for (size_t i = 0; i < moe.size(); ++i)
      for (std::int64_t e = 0; e < layout.numExperts; ++e) {
        auto target = moe[i]->expert(e)->named_parameters(true);
        for (const auto& p : trained[i][static_cast<size_t>(e)]->named_parameters(true)) target[p.key()].copy_(p.value());
      }
  }
  SaveOptions save;
  save.tokenizerSource = baseDir;
  saveStateDict(*model, modelDir, moeConfigJson(model->config(), layout), save);
  reporter.artifact(modelDir, "model");
  const ParameterCounts counts =
      dmoeParameterCounts(selection.baseParameters, selection.ffnParameters, selection.hiddenSize,
                          static_cast<std::int64_t>(layout.layers.size()), layout.numExperts, layout.topK);
  const Json parameters{{"base", selection.baseParameters}, {"total", counts.total}, {"active", counts.active}};
  reporter.log(variant.name + ": " + std::to_string(layout.layers.size()) + " MoE layers × " +
               std::to_string(layout.numExperts) + " experts (" + m.init + "); parameters: base " +
               std::to_string(selection.baseParameters) + ", total " + std::to_string(counts.total) +
               ", active per token " + std::to_string(counts.active) + " (top-" +
               std::to_string(std::min(layout.topK, layout.numExperts)) + ")");
  reporter.result("merge", Json{{"variant", variant.name}, {"model", modelDir.string()}, {"layout", layout.toJson()},
                                {"parameters", parameters}});
  return Json{{"layout", layout.toJson()}, {"parameters", parameters}};
}

}  // namespace

bool mergeVariant(const Project& project, const DmoeVariant& variant, Reporter& reporter, bool force) {
  MergeSettings m = project.merge;
  m.init = variant.init;
  Json inputs{{"settings", {{"init", m.init}, {"top_k", m.top_k}, {"router_init_std", m.router_init_std},
                            {"seed", m.seed}}},
              {"base_model", baseModelFingerprint(project)},
              {"selection", StageFolder::fingerprint(project.layout().selectionDir(), "dmoe select-layers")},
              {"groups", variant.groupsFingerprint}};
  if (m.init == "branch-train-mix") {
    inputs["branch_training"] = toJson(project.train.stage1);
    inputs["shards"] = shardsFingerprint(project, project.languages);
  }
  StageFolder folder(variant.mergeDir, inputs);
  return folder.run(force, reporter, "merged model", RunLayout::modelIn(variant.mergeDir),
                    [&] { return mergeInto(project, variant, m, reporter); });
}

void runMerge(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  reporter.finished(mergeVariant(project, mainVariant(project), reporter, force) ? "done" : "skipped");
}

}  // namespace dmoe
