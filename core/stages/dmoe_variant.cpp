// Merge and train one DMoE variant (see the header).
#include "stages/dmoe_variant.h"

#include "checkpoint/hf_checkpoint.h"
#include "pipeline/stage_folder.h"
#include "runtime/device.h"
#include "stages/stage_inputs.h"
#include "train/group_batch_source.h"
#include "train/heldout_perplexity.h"
#include "train/load_model.h"
#include "train/router_losses.h"
#include "train/trainer.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

DmoeVariant mainVariant(const Project& project) {
  const RunLayout runs = project.layout();
  DmoeVariant v;
  v.name = "dmoe";
  v.mergeDir = runs.mergeDir();
  v.trainDir = runs.trainDir();
  v.groupsFingerprint = StageFolder::fingerprint(runs.groupDir(), "dmoe group");
  v.groups = LanguageGroups::read(runs.groupsFile());
  v.init = project.merge.init;
  return v;
}

std::int64_t dmoeTrainingTokens(const Project& project, std::int64_t context) {
  auto tokens = [&](const TrainingSettings& s) { return s.steps * s.batch_sequences * std::min(s.seq_len, context); };
  return tokens(project.train_stage1) + tokens(project.train_stage2);
}

Json evaluateModel(const Project& project, const fs::path& modelDir, Reporter& reporter) {
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(modelDir, resolveDevice(project.device));
  const auto layout = readMoeLayout(model->config(), (modelDir / "config.json").string());
  if (!layout) {
    Reporter r = reporter.forStage(reporter.stage() + ":dense");
    return Json{{"dense", evaluateHeldoutPerplexity(project, *model, r).toJson()}};
  }
  Json out = Json::object();
  routingOf(*model)->soft();
  Reporter soft = reporter.forStage(reporter.stage() + ":soft");
  out["soft"] = evaluateHeldoutPerplexity(project, *model, soft).toJson();
  Reporter hard = reporter.forStage(reporter.stage() + ":hard");
  out["hard"] = evaluateHeldoutPerplexity(project, *model, hard, [&](const Language& l) {
                  return routeLanguageHard(*model, *layout, l.id);
                }).toJson();
  routingOf(*model)->soft();
  return out;
}

std::vector<std::int64_t> rowExperts(const TrainBatch& batch, const std::vector<std::int64_t>& streamExpert) {
  std::vector<std::int64_t> experts;
  const auto* sources = batch.sources.data_ptr<std::int64_t>();  // CPU tensor: no device sync
  for (std::int64_t r = 0; r < batch.sources.size(0); ++r) experts.push_back(streamExpert[static_cast<size_t>(sources[r])]);
  return experts;
}

LossTerm routerLossTerm(std::vector<std::shared_ptr<MoeFeedForwardImpl>> moe, std::vector<std::int64_t> streamExpert,
                        double weight) {
  return {"router_loss", [moe = std::move(moe), streamExpert = std::move(streamExpert), weight](
                             const TrainBatch& batch, const torch::Tensor& logits) {
            torch::Tensor labels = torch::tensor(rowExperts(batch, streamExpert), torch::kInt64)
                                       .unsqueeze(1)
                                       .expand({batch.inputIds.size(0), batch.inputIds.size(1)})
                                       .reshape({-1})
                                       .to(logits.device(), /*non_blocking=*/true);
            std::vector<torch::Tensor> routerLogits;
            for (const auto& layer : moe) routerLogits.push_back(layer->lastRouterLogits);
            return weight * routerClassificationLoss(routerLogits, labels);
          }};
}

bool routeLanguageHard(CausalLMImpl& model, const MoeLayout& layout, const std::string& languageId) {
  const std::int64_t expert = layout.expertOf(languageId);
  if (expert < 0) return false;
  routingOf(model)->hardAll(expert);
  return true;
}

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
  const TrainingSettings settings = cappedToContext(project.train_stage1, model->config().max_position_embeddings);
  const size_t groups = variant.groups.groups.size();
  std::vector<std::vector<std::shared_ptr<FeedForwardImpl>>> experts(layers.size());
  for (size_t g = 0; g < groups; ++g) {
    restoreWeights(*model, base);
    LanguageShards shards = openShards(project, variant.groups.groups[g]);
    SequenceSampler sampler(shards.streams(0.3), settings.seq_len, static_cast<std::uint64_t>(settings.seed));
    TrainerOptions options;
    options.settings = settings;
    options.runDir = variant.mergeDir / ("branch-" + std::to_string(g));
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

}  // namespace

bool mergeVariant(const Project& project, const DmoeVariant& variant, Reporter& reporter, bool force) {
  MergeSettings m = project.merge;
  m.init = variant.init;
  Json inputs{{"settings", {{"init", m.init}, {"top_k", m.top_k}, {"router_init_std", m.router_init_std},
                            {"seed", project.train_stage1.seed}}},
              {"base_model", baseModelFingerprint(project)},
              {"selection", StageFolder::fingerprint(project.layout().selectionDir(), "dmoe select-layers")},
              {"groups", variant.groupsFingerprint}};
  if (m.init == "branch-train-mix") {
    inputs["branch_training"] = toJson(project.train_stage1);
    inputs["shards"] = shardsFingerprint(project, project.languages);
  }
  StageFolder folder(variant.mergeDir, inputs);
  const fs::path modelDir = RunLayout::modelIn(variant.mergeDir);
  if (!force && folder.upToDate() && fs::exists(modelDir / "config.json")) {
    reporter.log("merged model is up to date: " + modelDir.string());
    return false;
  }
  folder.begin(force, reporter);

  const LayerSelection selection = LayerSelection::read(project.layout().selectionFile());
  if (selection.layers.empty())
    throw InputError(project.file.string() + " /layer_selection/epsilon: ε = " + std::to_string(selection.epsilon) +
                     " (" + selection.mode + ") expands no layer; lower ε (see `dmoe select-layers`)");
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
  torch::manual_seed(static_cast<std::uint64_t>(project.train_stage1.seed));  // the router initialisation
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
  std::string summary = variant.name + ": " + std::to_string(layout.layers.size()) + " MoE layers × " +
                        std::to_string(layout.numExperts) + " experts (" + m.init + ")";
  reporter.log(summary);
  reporter.result("merge", Json{{"variant", variant.name}, {"model", modelDir.string()}, {"layout", layout.toJson()}});
  folder.complete({{"layout", layout.toJson()}});
  return true;
}

bool trainVariant(const Project& project, const DmoeVariant& variant, Reporter& reporter, bool force) {
  StageFolder folder(variant.trainDir, Json{{"stage1", toJson(project.train_stage1)},
                                            {"stage2", toJson(project.train_stage2)},
                                            {"merge", StageFolder::fingerprint(variant.mergeDir, "dmoe merge")},
                                            {"shards", shardsFingerprint(project, project.languages)}});
  const fs::path modelDir = RunLayout::modelIn(variant.trainDir);
  if (!force && folder.upToDate() && fs::exists(modelDir / "config.json")) {
    reporter.log("trained DMoE is up to date: " + modelDir.string());
    return false;
  }
  folder.begin(force, reporter);  // an interrupted run of the same inputs resumes from its checkpoints

  const std::string device = resolveDevice(project.device);
  const fs::path mergedDir = RunLayout::modelIn(variant.mergeDir);
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(mergedDir, device);
  const MoeLayout layout = *readMoeLayout(model->config(), (mergedDir / "config.json").string());
  const std::shared_ptr<Routing> routing = routingOf(*model);
  const auto moe = moeLayers(*model);
  const std::int64_t context = model->config().max_position_embeddings;

  // ---- stage 1: hard routing by group, group-pure batches, L_CLM + α·L_RC
  const TrainingSettings s1 = cappedToContext(project.train_stage1, context);
  std::vector<std::vector<TokenStream>> groupStreams;
  std::vector<double> groupWeights;
  std::vector<std::unique_ptr<LanguageShards>> opened;  // kept mapped while the samplers read them
  for (const auto& group : layout.expertLanguages) {
    opened.push_back(std::make_unique<LanguageShards>(openShards(project, group)));
    groupStreams.push_back(opened.back()->streams(0.3));  // within a group ∝ size^0.3
    double tokens = 0;
    for (size_t i = 0; i < group.size(); ++i) tokens += static_cast<double>(opened.back()->tokens(i));
    groupWeights.push_back(tokens);  // groups ∝ their data size
  }
  GroupBatchSource groupBatches(groupStreams, groupWeights, s1.seq_len, static_cast<std::uint64_t>(s1.seed));
  const std::vector<std::int64_t> streamExpert = groupBatches.streamGroup();  // group g is expert g
  TrainerOptions o1;
  o1.settings = s1;
  o1.runDir = variant.trainDir / "stage1";
  o1.device = device;
  o1.resume = true;
  o1.beforeForward = [&](const TrainBatch& batch) { routing->hardRows(rowExperts(batch, streamExpert)); };
  // Held-out PPL with the learned router; beforeForward sets the hard rows again before the next step.
  const auto learnedRouterEvaluation = heldoutEvaluation(project, *model, languageIds(project.languages), [&](const Language&) {
    routing->soft();
    return true;
  });
  o1.evaluateEvery = project.evaluation.every_steps;
  o1.evaluate = learnedRouterEvaluation;
  o1.extraSettings = {{"stage", "dmoe-stage1"}, {"variant", variant.name}, {"routing", "hard"}, {"layout", layout.toJson()}};
  Reporter r1 = reporter.forStage(reporter.stage() + ":stage1");
  {
    Trainer trainer(model, groupBatches, o1, r1);
    if (s1.router_loss_weight > 0) trainer.addLossTerm(routerLossTerm(moe, streamExpert, s1.router_loss_weight));
    trainer.run();
  }

  // ---- stage 2: soft top-k routing on mixed data with the Switch balancing loss
  const TrainingSettings s2 = cappedToContext(project.train_stage2, context);
  LanguageShards all = openShards(project, languageIds(project.languages));
  SequenceSampler mixed(all.streams(), s2.seq_len, static_cast<std::uint64_t>(s2.seed));
  routing->soft();
  TrainerOptions o2;
  o2.settings = s2;
  o2.runDir = variant.trainDir / "stage2";
  o2.device = device;
  o2.resume = true;
  o2.evaluateEvery = project.evaluation.every_steps;
  o2.evaluate = learnedRouterEvaluation;
  o2.extraSettings = {{"stage", "dmoe-stage2"}, {"variant", variant.name}, {"routing", "soft top-k"}, {"layout", layout.toJson()}};
  Reporter r2 = reporter.forStage(reporter.stage() + ":stage2");
  TrainResult result2;
  {
    Trainer trainer(model, mixed, o2, r2);
    if (s2.balance_loss_weight > 0)
      trainer.addLossTerm({"balance_loss", [&](const TrainBatch&, const torch::Tensor&) {
                             torch::Tensor total;
                             for (const auto& layer : moe) {
                               torch::Tensor l = switchBalanceLoss(layer->lastRouterLogits, layer->lastTopExperts);
                               total = total.defined() ? total + l : l;
                             }
                             return s2.balance_loss_weight * total / static_cast<double>(moe.size());
                           }});
    result2 = trainer.run();
  }
  SaveOptions save;
  save.tokenizerSource = mergedDir;
  saveStateDict(*model, modelDir, moeConfigJson(model->config(), layout), save);
  reporter.artifact(modelDir, "model");
  reporter.result("train", Json{{"variant", variant.name}, {"model", modelDir.string()},
                                {"final_loss", result2.losses.empty() ? Json() : Json(result2.losses.back())}});
  folder.complete({{"tokens", dmoeTrainingTokens(project, context)}});
  return true;
}

}  // namespace dmoe
