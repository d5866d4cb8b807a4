// The LayerMoE expansion and its two training stages (`dmoe layermoe train`,
// SPEC §2.3), for the allocation of `dmoe layermoe allocate` and, when
// /layermoe/uniform_ablation is on, for the uniform allocation of the same
// number of new experts (the paper's ablation), each in its own folder:
//
//   <runs_dir>/layermoe/<layer-wise|uniform>/
//     stage1/ stage2/   the trainer's runs (checkpoints; an interrupted run resumes)
//     model/            the expanded, trained model (a DMoE checkpoint with experts_per_layer)
//     expansion.json    what was added and trained (results/expansion_file.h)
//     eval/perplexity.json  held-out PPL of every old and new language (learned router)
//
// Expansion: every layer with N_i ≥ 2 becomes an MoE layer whose expert 0 is
// the base FFN (frozen throughout) and experts 1…N_i−1 copies of it; router
// xavier-normal, no bias, one fp32 softmax over all N_i, top-k capped at N_i.
// Stage 1: new-language windows only; new experts and routers train; LM +
// w·balance. Stage 2: new-language windows plus old-language replay (an
// expected replay_fraction of stage 1's tokens); routers only, and the
// classifiers of /layermoe/classifier_layers, added now (untrained in stage 1
// they would only add noise); LM + w·LPR + w·classify.
// After both: every tensor that was to stay frozen is compared with its value
// before (the base's for shared weights and expert 0, stage 1's end for the
// new experts); a difference is a bug and an error.
#include <algorithm>
#include <map>
#include <optional>
#include <set>

#include "checkpoint/hf_checkpoint.h"
#include "methods/layer_allocation.h"
#include "model/dmoe_model.h"
#include "model/load_model.h"
#include "results/allocation_file.h"
#include "results/expansion_file.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "stages/dmoe_variant.h"
#include "stages/stage_folder.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "train/heldout_perplexity.h"
#include "train/router_losses.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// What an expansion adds to: the base's layout (none for a dense base) and the
// generation of every old language (all 0 for a dense base; lifelong, SPEC
// 2.1: each as the expanded base records it).
struct Lineage {
  std::optional<MoeLayout> previous;
  std::int64_t newest = 1;                    // the generation the new languages become
  std::vector<std::int64_t> oldGenerations;   // per /languages entry
  std::vector<std::int64_t> previousExperts;  // per layer: experts before (1 = dense)
};

Lineage lineageOf(const Project& project) {
  const fs::path dir = baseModelDir(project);
  const std::string source = (dir / "config.json").string();
  const ModelConfig config = readModelConfig(HfCheckpoint::open(dir));  // checked against its weights first
  Lineage out;
  out.previous = readMoeLayout(config, source);
  out.previousExperts = expertsPerModelLayer(out.previous, config.num_hidden_layers, source);
  if (!out.previous) {
    out.oldGenerations.assign(project.languages.size(), 0);
    return out;
  }
  const MoeLayout& p = *out.previous;
  if (!p.originalExpert)
    throw InputError(project.file.string() + " /base_model/path: " + dir.string() +
                     " is a DMoE model (one expert per language group); LayerMoE expands a dense model or a LayerMoE model");
  if (p.generations.empty())
    throw InputError(project.file.string() + " /base_model/path: " + source +
                     " does not record the languages of its generations (saved by an older version): train that "
                     "expansion again before expanding it further");
  out.newest = static_cast<std::int64_t>(p.generations.size());
  for (size_t i = 0; i < project.languages.size(); ++i) {
    const std::int64_t g = p.generationOf(project.languages[i].id);
    if (g < 0)
      throw InputError(project.file.string() + " /languages/" + std::to_string(i) + ": '" + project.languages[i].id +
                       "' is not a language the base model learned (" + source +
                       " /dmoe/generations); a further expansion's old languages are those it learned");
    out.oldGenerations.push_back(g);
  }
  for (size_t j = 0; j < project.new_languages.size(); ++j)
    if (p.generationOf(project.new_languages[j].id) >= 0)
      throw InputError(project.file.string() + " /new_languages/" + std::to_string(j) + ": '" +
                       project.new_languages[j].id + "' is a language the base model has already learned (" + source + ")");
  return out;
}

using Snapshot = std::map<std::string, torch::Tensor>;

Snapshot snapshot(const CausalLMImpl& model, const std::function<bool(const std::string&)>& keep) {
  Snapshot out;
  for (const auto& p : model.named_parameters(true))
    if (keep(p.key())) out[p.key()] = p.value().detach().cpu().clone();
  return out;
}

// Throws logic_error naming the first tensor that differs from `before`; returns how many were compared.
std::int64_t verifyUnchanged(const CausalLMImpl& model, const Snapshot& before, const std::string& stage) {
  std::int64_t checked = 0;
  for (const auto& p : model.named_parameters(true)) {
    auto it = before.find(p.key());
    if (it == before.end()) continue;
    if (!torch::equal(p.value().detach().cpu(), it->second))
      throw std::logic_error("LayerMoE " + stage + " changed frozen tensor '" + p.key() + "' (a bug: please report it)");
    ++checked;
  }
  return checked;
}

// The names of the parameters of the experts of generation `generation` (the ones this expansion added).
std::set<std::string> expertParameterNames(const CausalLMImpl& model, std::int64_t generation) {
  std::set<const void*> added;
  for (const auto& layer : moeLayers(model))
    for (std::int64_t e = 0; e < layer->numExperts(); ++e)
      if (layer->expertGenerations()[static_cast<size_t>(e)] == generation)
        for (const auto& p : layer->expert(e)->parameters()) added.insert(p.unsafeGetTensorImpl());
  std::set<std::string> names;
  for (const auto& p : model.named_parameters(true))
    if (added.count(p.value().unsafeGetTensorImpl())) names.insert(p.key());
  return names;
}

std::int64_t tokensOf(const TrainingSettings& s) { return s.steps * s.batch_sequences * s.seq_len; }

// Stage 2's windows: new languages first (streams 0…n−1), then the old ones,
// weighted so that old windows are an expected `replayShare` of all.
std::vector<TokenStream> reviewStreams(const LanguageShards& fresh, const LanguageShards& old, double replayShare) {
  std::vector<TokenStream> streams;
  auto add = [&](const LanguageShards& shards, double share) {
    if (share <= 0) return;
    std::vector<TokenStream> part = shards.streams();
    double total = 0;
    for (const TokenStream& s : part) total += s.weight;
    for (TokenStream& s : part) {
      s.weight = share * s.weight / total;
      streams.push_back(s);
    }
  };
  add(fresh, 1.0 - replayShare);
  add(old, replayShare);
  return streams;
}

// Per token of the batch, flattened [B·T] int64 on `device`: the generation of its row's stream.
torch::Tensor tokenGenerations(const TrainBatch& batch, const torch::Tensor& streamGeneration, const torch::Device& device) {
  return streamGeneration.index_select(0, batch.sources)
      .unsqueeze(1)
      .expand({batch.inputIds.size(0), batch.inputIds.size(1)})
      .reshape({-1})
      .to(device, /*non_blocking=*/true);
}

// The trainer term weight · LPR: tokens of generations before `newest` are reviewed.
LossTerm lprLossTerm(std::vector<std::shared_ptr<MoeFeedForwardImpl>> moe, torch::Tensor streamGeneration,
                     std::int64_t newest, double weight) {
  std::vector<torch::Tensor> expertGenerations;  // on the model's device once: no copy per micro-batch
  for (const auto& layer : moe)
    expertGenerations.push_back(torch::tensor(layer->expertGenerations(), torch::kInt64).to(layer->gate->weight.device()));
  return {"lpr_loss", [moe = std::move(moe), expertGenerations = std::move(expertGenerations),
                       streamGeneration = std::move(streamGeneration), newest,
                       weight](const TrainBatch& batch, const torch::Tensor& logits) {
            const torch::Tensor generation = tokenGenerations(batch, streamGeneration, logits.device());
            std::vector<torch::Tensor> routerLogits;
            for (const auto& layer : moe) routerLogits.push_back(layer->lastRouterLogits);
            return weight * lprLoss(routerLogits, expertGenerations, generation, newest);
          }};
}

// The trainer term weight · classify: each classifier's cross-entropy against the
// token's generation (0 the base's languages, … newest the new ones), mean over them.
LossTerm classifyLossTerm(std::vector<std::shared_ptr<MoeFeedForwardImpl>> classified, torch::Tensor streamGeneration,
                          double weight) {
  return {"classify_loss", [classified = std::move(classified), streamGeneration = std::move(streamGeneration),
                            weight](const TrainBatch& batch, const torch::Tensor& logits) {
            const torch::Tensor tag = tokenGenerations(batch, streamGeneration, logits.device());
            std::vector<torch::Tensor> classLogits;
            for (const auto& layer : classified) classLogits.push_back(layer->lastClassLogits);
            return weight * routerClassificationLoss(classLogits, tag);  // the same per-layer cross-entropy
          }};
}

// Before any training: every classifier layer must be an MoE layer of the expansion.
void checkClassifierLayers(const Project& project, const std::vector<std::int64_t>& moeLayers) {
  for (std::int64_t l : project.layermoe.classifier_layers)
    if (std::find(moeLayers.begin(), moeLayers.end(), l) == moeLayers.end())
      throw InputError(project.file.string() + " /layermoe/classifier_layers: layer " + std::to_string(l) +
                       " is not an MoE layer of this expansion (its N_i is 1, or the model has no such layer)");
}

// Stage 2's classifiers, one class per generation (newest + 1): the base's
// classifiers grown by a class (lifelong), and new ones on the layers of
// /layermoe/classifier_layers (checked by checkClassifierLayers); recorded in `layout`.
std::vector<std::shared_ptr<MoeFeedForwardImpl>> addClassifiers(CausalLMImpl& model, MoeLayout& layout,
                                                                const Project& project, std::int64_t newest) {
  // The project's layers in its order (the order of the initial draws, as in one round), then the base's others.
  std::vector<std::int64_t> layers = project.layermoe.classifier_layers;
  for (std::int64_t l : layout.classifierLayers)
    if (std::find(layers.begin(), layers.end(), l) == layers.end()) layers.push_back(l);
  std::vector<std::shared_ptr<MoeFeedForwardImpl>> out;
  for (std::int64_t l : layers) {
    out.push_back(std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(l)));
    if (out.back()->classes() > 0) out.back()->growClassifier(newest + 1);
    else out.back()->addClassifier(newest + 1);
  }
  layout.classifierLayers = layers;
  std::sort(layout.classifierLayers.begin(), layout.classifierLayers.end());
  layout.classes = out.empty() ? 0 : newest + 1;
  return out;
}

struct Expansion {
  std::string allocation;             // layer-wise | uniform: the folder name
  std::vector<std::int64_t> experts;  // N_i per layer
};

// The stream generations of stage 2's windows (reviewStreams' order: the new
// languages, unless the replay is everything, then the old ones), host int64.
torch::Tensor reviewStreamGenerations(const Lineage& lineage, std::size_t newLanguages, double replayShare) {
  std::vector<std::int64_t> g;
  if (replayShare < 1.0) g.assign(newLanguages, lineage.newest);
  if (replayShare > 0) g.insert(g.end(), lineage.oldGenerations.begin(), lineage.oldGenerations.end());
  return torch::tensor(g, torch::kInt64);
}

// The expanded model's parameters (total and per token), from the base's and what the allocation adds.
ParameterCounts expandedParameters(const CausalLMImpl& base, const Lineage& lineage,
                                   const std::vector<std::int64_t>& experts, std::int64_t topK,
                                   std::int64_t& baseParameters, std::int64_t& baseActive) {
  baseParameters = 0;
  for (const auto& p : base.parameters()) baseParameters += p.numel();
  const auto moe = moeLayers(base);
  const std::shared_ptr<FeedForwardImpl> ffn = moe.empty() ? base.mlp(0) : moe.front()->expert(0);
  std::int64_t ffnParameters = 0;
  for (const auto& p : ffn->parameters()) ffnParameters += p.numel();
  baseActive = activeParameters(baseParameters, lineage.previousExperts, topK, ffnParameters);
  return layerMoeParameterCounts(baseParameters, ffnParameters, base.config().hidden_size, experts, topK,
                                 lineage.previousExperts, baseActive);
}

LayerMoeExpansion expandAndTrain(const Project& project, const Expansion& expansion, const Lineage& lineage,
                                 const fs::path& dir, Reporter& reporter) {
  const LayerMoeSettings& s = project.layermoe;
  const std::string device = resolveDevice(project.device);
  const fs::path baseDir = baseModelDir(project);
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(baseDir, device);
  if (static_cast<std::int64_t>(expansion.experts.size()) != model->config().num_hidden_layers)
    throw InputError("the allocation has " + std::to_string(expansion.experts.size()) + " layers, the base model " +
                     std::to_string(model->config().num_hidden_layers) + ": run `dmoe layermoe allocate` again");

  LayerMoeExpansion out;
  out.allocation = expansion.allocation;
  out.experts = expansion.experts;
  out.generation = lineage.newest;
  if (lineage.previous) out.previousExperts = lineage.previousExperts;
  std::int64_t baseActive = 0;
  out.parameters = expandedParameters(*model, lineage, expansion.experts, s.top_k, out.baseParameters, baseActive);
  if (lineage.previous) out.baseActiveParameters = baseActive;

  const std::vector<std::string> newIds = languageIds(project.adaptationLanguages());
  const std::vector<std::string> oldIds = languageIds(project.languages);
  torch::manual_seed(static_cast<std::uint64_t>(s.stage1.seed));  // the router initialisation
  MoeLayout layout = expandLayerWise(*model, lineage.previous, expansion.experts, s.top_k, oldIds, newIds);
  const std::shared_ptr<Routing> routing = routingOf(*model);
  const auto moe = moeLayers(*model);
  std::int64_t actual = 0;
  for (const auto& p : model->parameters()) actual += p.numel();
  if (actual != out.parameters.total)
    throw std::logic_error("LayerMoE: the expanded model has " + std::to_string(actual) + " parameters, the count says " +
                           std::to_string(out.parameters.total) + " (a bug: please report it)");
  reporter.log(expansion.allocation + ": " + std::to_string(layout.layers.size()) + " MoE layers, " +
               std::to_string(out.newExperts()) + " new experts of generation " + std::to_string(out.generation) +
               "; parameters " + std::to_string(out.parameters.total) + " (active per token " +
               std::to_string(out.parameters.active) + ", base " + std::to_string(out.baseParameters) + ")");

  const std::int64_t context = model->config().max_position_embeddings;
  std::vector<std::string> allIds = oldIds;
  allIds.insert(allIds.end(), newIds.begin(), newIds.end());
  const auto learnedRouter = heldoutEvaluation(project, *model, allIds);
  const std::set<std::string> added = expertParameterNames(*model, lineage.newest);
  auto isAdded = [added](const std::string& n) { return added.count(n) > 0; };
  const Snapshot original = snapshot(*model, [&](const std::string& n) {
    return !isAdded(n) && !isRouterTensorName(n) && !isClassifierTensorName(n);
  });
  routing->soft();

  // ---- stage 1: new languages, new experts and routers, LM + w·balance
  const TrainingSettings s1 = cappedToContext(s.stage1, context);
  LanguageShards fresh = openShards(project, newIds);
  SequenceSampler newWindows(fresh.streams(), s1.seq_len, static_cast<std::uint64_t>(s1.seed));
  TrainerOptions o1 = stageTrainerOptions(project, s1, RunLayout::trainingStageIn(dir, 1), device);
  o1.settingsPointer = "/layermoe/stage1";
  o1.trainable = [isAdded](const std::string& n) { return isAdded(n) || isRouterTensorName(n); };
  o1.trainableDescription = "new experts (generation " + std::to_string(lineage.newest) + ") and routers";
  o1.evaluateEvery = project.evaluation.every_steps;
  o1.evaluate = learnedRouter;
  o1.extraSettings = {{"stage", "layermoe-stage1"}, {"allocation", expansion.allocation}, {"layout", layout.toJson()}};
  Reporter r1 = reporter.forStage(reporter.stage() + ":" + expansion.allocation + ":stage1");
  TrainResult result1;
  {
    Trainer trainer(model, newWindows, o1, r1);
    if (s1.balance_loss_weight > 0) trainer.addLossTerm(balanceLossTerm(moe, s1.balance_loss_weight));
    result1 = trainer.run();
  }
  out.stage1Tokens = tokensOf(s1);
  {
    Reporter r = reporter.forStage(reporter.stage() + ":" + expansion.allocation + ":after-stage1");
    routing->soft();
    const HeldoutPerplexity afterStage1 = evaluateHeldoutPerplexity(project, *model, r);
    out.stage1OldAverage = afterStage1.average;
    out.stage1NewAverage = afterStage1.newAverage;
  }
  const Snapshot afterStage1 =
      snapshot(*model, [](const std::string& n) { return !isRouterTensorName(n) && !isClassifierTensorName(n); });

  // ---- stage 2 (review): new languages + old replay, routers (and classifiers) only, LM + w·LPR + w·classify
  const TrainingSettings s2 = cappedToContext(s.stage2, context);
  out.stage2Tokens = tokensOf(s2);
  out.replayShare = out.stage2Tokens > 0 ? std::min(1.0, s.replay_fraction * static_cast<double>(out.stage1Tokens) /
                                                             static_cast<double>(out.stage2Tokens))
                                         : 0.0;
  LanguageShards old = openShards(project, oldIds);
  std::vector<TokenStream> reviewed = reviewStreams(fresh, old, out.replayShare);
  const torch::Tensor streamGeneration = reviewStreamGenerations(lineage, newIds.size(), out.replayShare);
  SequenceSampler reviewWindows(reviewed, s2.seq_len, static_cast<std::uint64_t>(s2.seed));
  TrainerOptions o2 = stageTrainerOptions(project, s2, RunLayout::trainingStageIn(dir, 2), device);
  o2.settingsPointer = "/layermoe/stage2";
  const auto classified = addClassifiers(*model, layout, project, lineage.newest);
  o2.trainable = [](const std::string& n) { return isRouterTensorName(n) || isClassifierTensorName(n); };
  o2.trainableDescription = classified.empty() ? "routers" : "routers and classifiers";
  o2.evaluateEvery = project.evaluation.every_steps;
  o2.evaluate = learnedRouter;
  o2.extraSettings = {{"stage", "layermoe-stage2"},
                      {"allocation", expansion.allocation},
                      {"replay_share", out.replayShare},
                      {"layout", layout.toJson()}};
  Reporter r2 = reporter.forStage(reporter.stage() + ":" + expansion.allocation + ":stage2");
  TrainResult result2;
  {
    Trainer trainer(model, reviewWindows, o2, r2);
    if (s2.router_loss_weight > 0 && out.replayShare > 0)
      trainer.addLossTerm(lprLossTerm(moe, streamGeneration, lineage.newest, s2.router_loss_weight));
    if (!classified.empty() && s.classify_loss_weight > 0)
      trainer.addLossTerm(classifyLossTerm(classified, streamGeneration, s.classify_loss_weight));
    result2 = trainer.run();
  }
  if (!result1.losses.empty()) out.stage1FinalLoss = result1.losses.back();
  if (!result2.losses.empty()) out.stage2FinalLoss = result2.losses.back();

  out.frozenTensorsChecked = verifyUnchanged(*model, original, "training");
  verifyUnchanged(*model, afterStage1, "stage 2");
  out.frozenBitIdentical = true;
  reporter.log(expansion.allocation + ": " + std::to_string(out.frozenTensorsChecked) +
               " frozen tensors bit-identical to the base after both stages; the new experts unchanged by stage 2");

  routing->soft();
  SaveOptions save;
  save.tokenizerSource = baseDir;
  if (isMainProcess()) saveStateDict(*model, RunLayout::modelIn(dir), moeConfigJson(model->config(), layout), save);
  reporter.artifact(RunLayout::modelIn(dir), "model");
  return out;
}

// One expansion's folder: trained unless up to date, then evaluated. False when nothing was computed.
bool runExpansion(const Project& project, const Expansion& expansion, Reporter& reporter, bool force) {
  const RunLayout runs = project.layout();
  const fs::path dir = runs.layermoeDir(expansion.allocation);
  const LayerMoeSettings& s = project.layermoe;
  const Lineage lineage = lineageOf(project);
  // before the folder of other inputs is cleared
  if (std::all_of(expansion.experts.begin(), expansion.experts.end(), [](std::int64_t n) { return n < 2; }))
    throw InputError("the allocation leaves every layer dense (N_i = 1 everywhere): nothing to expand");
  checkClassifierLayers(project, moeLayersAfterExpansion(lineage.previousExperts, expansion.experts));
  StageFolder folder(dir, Json{{"experts", expansion.experts},
                               {"top_k", s.top_k},
                               {"replay_fraction", s.replay_fraction},
                               {"classifier_layers", s.classifier_layers},
                               {"classify_loss_weight", s.classify_loss_weight},
                               {"stage1", toJson(s.stage1)},
                               {"stage2", toJson(s.stage2)},
                               {"languages", languageIds(project.adaptationLanguages())},
                               {"base_model", baseModelFingerprint(project)},
                               {"shards", shardsFingerprint(project, project.allLanguages())}});
  const fs::path file = RunLayout::expansionIn(dir);
  const bool trained = folder.run(force, reporter, expansion.allocation + " expansion", file, [&] {
    const LayerMoeExpansion result = expandAndTrain(project, expansion, lineage, dir, reporter);
    const Json j = result.toJson();
    if (isMainProcess()) writeFileAtomic(file, dumpJson(j, 1) + "\n");
    reporter.artifact(file, "expansion");
    reporter.result("layermoe-expansion", j);
    return Json::object();
  });
  Reporter r = reporter.forStage(reporter.stage() + ":" + expansion.allocation + ":eval");
  const bool evaluated = evaluateInto(project, dir / "eval", RunLayout::modelIn(dir),
                                      StageFolder::fingerprint(dir, "dmoe layermoe train"), r, force);
  return trained || evaluated;
}

}  // namespace

void runLayerMoeTrain(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  if (!project.adaptation.runs("layermoe")) {
    reporter.log("\"layermoe\" is not among /adaptation/methods: nothing to do");
    reporter.finished("skipped");
    return;
  }
  const ExpertAllocation allocation = ExpertAllocation::read(project.layout().allocationFile());
  std::vector<Expansion> expansions{{allocation.allocation, allocation.experts}};
  if (project.layermoe.uniform_ablation && allocation.allocation != "uniform")
    expansions.push_back({"uniform", uniformAllocation(static_cast<std::int64_t>(allocation.experts.size()),
                                                       allocation.newExperts(), allocation.minExperts)
                                         .experts});
  bool computed = false;
  for (const Expansion& e : expansions) computed = runExpansion(project, e, reporter, force) || computed;
  reporter.finished(computed ? "done" : "skipped");
}

}  // namespace dmoe
