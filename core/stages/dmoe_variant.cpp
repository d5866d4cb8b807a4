// Train one DMoE variant, and what the variants share (see the header).
#include "stages/dmoe_variant.h"

#include "checkpoint/hf_checkpoint.h"
#include "stages/stage_folder.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "stages/stage_inputs.h"
#include "train/group_batch_source.h"
#include "train/heldout_perplexity.h"
#include "model/load_model.h"
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
  v.groups = LanguageGroups::readPartition(runs.groupsFile(), languageIds(project.languages));
  v.init = project.merge.init;
  return v;
}

std::int64_t dmoeTrainingTokens(const Project& project, std::int64_t context) {
  auto tokens = [&](const TrainingSettings& s) { return s.steps * s.batch_sequences * std::min(s.seq_len, context); };
  return tokens(project.train.stage1) + tokens(project.train.stage2);
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
  if (layout->expertLanguages.empty()) return out;  // LayerMoE: no expert belongs to a language
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

LossTerm balanceLossTerm(std::vector<std::shared_ptr<MoeFeedForwardImpl>> moe, double weight) {
  return {"balance_loss", [moe = std::move(moe), weight](const TrainBatch&, const torch::Tensor&) {
            torch::Tensor total;
            for (const auto& layer : moe) {
              torch::Tensor l = switchBalanceLoss(layer->lastRouterLogits, layer->lastTopExperts);
              total = total.defined() ? total + l : l;
            }
            return weight * total / static_cast<double>(moe.size());
          }};
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

// Stage 1 then stage 2 into <trainDir>/{stage1,stage2,model}; returns what the manifest records.
Json trainStages(const Project& project, const DmoeVariant& variant, Reporter& reporter) {
  const fs::path modelDir = RunLayout::modelIn(variant.trainDir);
  const std::string device = resolveDevice(project.device);
  const fs::path mergedDir = RunLayout::modelIn(variant.mergeDir);
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(mergedDir, device);
  const MoeLayout layout = *readMoeLayout(model->config(), (mergedDir / "config.json").string());
  const std::shared_ptr<Routing> routing = routingOf(*model);
  const auto moe = moeLayers(*model);
  const std::int64_t context = model->config().max_position_embeddings;

  // ---- stage 1: hard routing by group, group-pure batches, L_CLM + α·L_RC
  const TrainingSettings s1 = cappedToContext(project.train.stage1, context);
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
  TrainerOptions o1 = stageTrainerOptions(project, s1, RunLayout::trainingStageIn(variant.trainDir, 1), device);
  o1.settingsPointer = "/train/stage1";
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
  const TrainingSettings s2 = cappedToContext(project.train.stage2, context);
  LanguageShards all = openShards(project, languageIds(project.languages));
  SequenceSampler mixed(all.streams(), s2.seq_len, static_cast<std::uint64_t>(s2.seed));
  routing->soft();
  TrainerOptions o2 = stageTrainerOptions(project, s2, RunLayout::trainingStageIn(variant.trainDir, 2), device);
  o2.settingsPointer = "/train/stage2";
  o2.evaluateEvery = project.evaluation.every_steps;
  o2.evaluate = learnedRouterEvaluation;
  o2.extraSettings = {{"stage", "dmoe-stage2"}, {"variant", variant.name}, {"routing", "soft top-k"}, {"layout", layout.toJson()}};
  Reporter r2 = reporter.forStage(reporter.stage() + ":stage2");
  TrainResult result2;
  {
    Trainer trainer(model, mixed, o2, r2);
    if (s2.balance_loss_weight > 0) trainer.addLossTerm(balanceLossTerm(moe, s2.balance_loss_weight));
    result2 = trainer.run();
  }
  SaveOptions save;
  save.tokenizerSource = mergedDir;
  if (isMainProcess()) saveStateDict(*model, modelDir, moeConfigJson(model->config(), layout), save);
  reporter.artifact(modelDir, "model");
  reporter.result("train", Json{{"variant", variant.name}, {"model", modelDir.string()},
                                {"final_loss", result2.losses.empty() ? Json() : Json(result2.losses.back())}});
  return Json{{"tokens", dmoeTrainingTokens(project, context)}};
}

}  // namespace

bool trainVariant(const Project& project, const DmoeVariant& variant, Reporter& reporter, bool force) {
  StageFolder folder(variant.trainDir, Json{{"stage1", toJson(project.train.stage1)},
                                            {"stage2", toJson(project.train.stage2)},
                                            {"merge", StageFolder::fingerprint(variant.mergeDir, "dmoe merge")},
                                            {"shards", shardsFingerprint(project, project.languages)}});
  const fs::path modelDir = RunLayout::modelIn(variant.trainDir);
  // An interrupted run of the same inputs resumes from its checkpoints.
  return folder.run(force, reporter, "trained DMoE", modelDir,
                    [&] { return trainStages(project, variant, reporter); });
}

}  // namespace dmoe
