// The adapt stage (`dmoe adapt`, SPEC §1.8): the project's new_languages
// (those adaptation.languages selects; all by default) added to the trained
// DMoE without touching what it already knows.
//
//  1. Probe (stages/expert_probe.h): each new language's PPL with every expert
//     forced, on the first documents of its training split; c = argmin. New
//     languages with the same nearest expert form one new group.
//  2. One new expert per new group in every MoE layer, a copy of expert c; the
//     router gains a row equal to row c.
//  3. Train only the new experts and their router rows (adaptation settings,
//     hard routing of each new language to its expert, L_CLM + α·L_RC). The
//     old router rows are frozen by a gradient mask and kept out of weight
//     decay, so AdamW leaves them exactly as they were.
//  4. Check: every old tensor (shared weights, old experts, old router rows)
//     is bit-identical afterwards (a violation is an error, not a warning), the
//     old languages' hard-routed PPL is unchanged; report the learned-router
//     PPL change of all languages.
// Output <runs_dir>/adapt/: train/ (the trainer's run), model/, adaptation.json.
#include <cmath>
#include <limits>
#include <map>

#include "checkpoint/hf_checkpoint.h"
#include "results/adaptation_file.h"
#include "stages/stage_folder.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "stages/dmoe_variant.h"
#include "stages/expert_probe.h"
#include "stages/stage_inputs.h"
#include "corpus/token_cache.h"
#include "corpus/token_shard.h"
#include "train/autocast_guard.h"
#include "train/heldout_perplexity.h"
#include "model/load_model.h"
#include "train/router_losses.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// Share of a language's held-out tokens (evaluation.max_documents_per_language
// documents, each up to evaluation.window tokens, else the model's context) whose top-1 learned-router choice
// is `expert`, over every MoE layer. Leaves the model with soft routing.
double top1Share(const Project& project, CausalLMImpl& model, const std::string& languageId, std::int64_t expert) {
  const auto moe = moeLayers(model);
  routingOf(model)->soft();
  TokenShard shard(tokenShardFile(project, languageId, "heldout"));
  std::int64_t documents = shard.documentCount();
  if (project.evaluation.max_documents_per_language > 0)
    documents = std::min(documents, project.evaluation.max_documents_per_language);
  const torch::Device device = model.parameters().front().device();
  const std::int64_t modelContext = model.config().max_position_embeddings;
  const std::int64_t context = project.evaluation.window > 0 ? std::min(project.evaluation.window, modelContext) : modelContext;
  torch::NoGradGuard noGrad;
  const bool wasTraining = model.is_training();
  model.eval();
  torch::Tensor hits = torch::zeros({}, torch::TensorOptions().dtype(torch::kInt64).device(device));
  std::int64_t routed = 0;
  for (std::int64_t d = 0; d < documents; ++d) {
    const TokenSpan doc = shard.document(d);
    const std::int64_t length = std::min<std::int64_t>(static_cast<std::int64_t>(doc.size), context);
    if (length == 0) continue;
    torch::Tensor ids = torch::empty({1, length}, torch::kInt64);
    std::copy(doc.begin(), doc.begin() + length, ids.data_ptr<std::int64_t>());
    {
      Bf16Autocast autocast(device);
      model.forward(ids.to(device));
    }
    for (const auto& layer : moe) hits += (layer->lastRouterLogits.argmax(-1) == expert).sum();
    routed += length * static_cast<std::int64_t>(moe.size());
  }
  if (wasTraining) model.train();
  return routed > 0 ? static_cast<double>(hits.item<std::int64_t>()) / static_cast<double>(routed) : 0.0;
}

std::map<std::string, double> pplByLanguage(const HeldoutPerplexity& table) {
  std::map<std::string, double> out;
  for (const LanguagePerplexity& l : table.languages)
    if (l.total.tokens > 0) out[l.id] = l.total.perplexity();
  return out;
}

// Probe, copy, train and check (SPEC 1.8) into <runs_dir>/adapt for the new languages `newIds`.
void adaptInto(const Project& project, const std::vector<std::string>& newIds, Reporter& reporter) {
  const RunLayout runs = project.layout();
  const fs::path dir = runs.adaptDir();
  const fs::path trainedDir = RunLayout::modelIn(runs.trainDir());

  const std::string device = resolveDevice(project.device);
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(trainedDir, device);
  MoeLayout layout = *readMoeLayout(model->config(), (trainedDir / "config.json").string());
  const std::shared_ptr<Routing> routing = routingOf(*model);
  const auto moe = moeLayers(*model);
  const std::int64_t oldExperts = layout.numExperts;

  // ---- before: old languages hard and soft, new languages soft
  auto evaluate = [&](const std::string& name, bool hard) {
    Reporter r = reporter.forStage(reporter.stage() + ":" + name);
    if (!hard) {
      routing->soft();
      return evaluateHeldoutPerplexity(project, *model, r);
    }
    return evaluateHeldoutPerplexity(project, *model, r, [&](const Language& l) { return routeLanguageHard(*model, layout, l.id); });
  };
  const HeldoutPerplexity hardBefore = evaluate("hard-before", true), softBefore = evaluate("soft-before", false);

  // ---- 1. probe
  AdaptationResult out;
  out.probe = probeExperts(project, *model, layout, newIds, reporter);
  std::map<std::int64_t, std::vector<std::string>> newGroups;  // nearest expert → new languages
  for (const ProbeTable::Row& p : out.probe) newGroups[p.best].push_back(p.language);

  // ---- 2. one new expert per new group, copied from its nearest expert
  Json added = Json::array();
  std::map<std::string, std::int64_t> expertOfNew;
  for (const auto& [source, languages] : newGroups) {
    const std::int64_t index = layout.numExperts++;
    for (const auto& layer : moe) layer->addExpert(copyFeedForward(*layer->expert(source), model->config()), source);
    layout.expertLanguages.push_back(languages);
    for (const std::string& id : languages) expertOfNew[id] = index;
    out.newExperts.push_back({index, source, languages, std::numeric_limits<double>::quiet_NaN(), {}});
    added.push_back({{"expert", index}, {"copied_from", source}, {"languages", languages}});
  }
  std::map<std::string, torch::Tensor> frozen;  // every old value, to prove it unchanged
  for (const auto& p : model->named_parameters(true)) {
    if (expertOfTensorName(p.key()) >= oldExperts) continue;
    frozen[p.key()] = (isRouterTensorName(p.key()) ? p.value().narrow(0, 0, oldExperts) : p.value()).detach().cpu().clone();
  }

  // ---- 3. train the new experts and router rows only
  const TrainingSettings settings = cappedToContext(project.adaptation, model->config().max_position_embeddings);
  LanguageShards shards = openShards(project, newIds);
  SequenceSampler sampler(shards.streams(), settings.seq_len, static_cast<std::uint64_t>(settings.seed));
  std::vector<std::int64_t> streamExpert;
  for (const std::string& id : newIds) streamExpert.push_back(expertOfNew.at(id));
  for (const auto& layer : moe)
    layer->gate->weight.register_hook([oldExperts](torch::Tensor grad) {
      grad = grad.clone();
      grad.narrow(0, 0, oldExperts).zero_();  // old router rows learn nothing
      return grad;
    });
  TrainerOptions options = stageTrainerOptions(project, settings, dir / "train", device);
  options.settingsPointer = "/adaptation";
  options.trainable = [&](const std::string& name) { return isRouterTensorName(name) || expertOfTensorName(name) >= oldExperts; };
  options.trainableDescription = "new experts (index ≥ " + std::to_string(oldExperts) + ") and router rows";
  options.decays = [&](const std::string& name) { return !isRouterTensorName(name) && expertOfTensorName(name) >= oldExperts; };
  options.beforeForward = [&](const TrainBatch& batch) { routing->hardRows(rowExperts(batch, streamExpert)); };
  options.evaluateEvery = project.evaluation.every_steps;  // the new languages, each on its new expert
  options.evaluate = heldoutEvaluation(project, *model, newIds, [&](const Language& l) {
    return routeLanguageHard(*model, layout, l.id);
  });
  options.extraSettings = {{"stage", "adapt"}, {"new_experts", added}};
  Reporter trainReporter = reporter.forStage(reporter.stage() + ":train");
  TrainResult result;
  {
    Trainer trainer(model, sampler, options, trainReporter);
    if (settings.router_loss_weight > 0)
      trainer.addLossTerm(routerLossTerm(moe, streamExpert, settings.router_loss_weight));
    result = trainer.run();
  }

  // ---- 4. checks
  std::int64_t checked = 0;
  for (const auto& p : model->named_parameters(true)) {
    auto it = frozen.find(p.key());
    if (it == frozen.end()) continue;
    const torch::Tensor now = (isRouterTensorName(p.key()) ? p.value().narrow(0, 0, oldExperts) : p.value()).detach().cpu();
    if (!torch::equal(now, it->second))
      throw std::logic_error("adaptation changed frozen tensor '" + p.key() + "' (a bug: please report it)");
    ++checked;
  }
  const HeldoutPerplexity hardAfter = evaluate("hard-after", true), softAfter = evaluate("soft-after", false);
  // SPEC 1.8 step 3: the new router rows trained away from the rows they copied,
  // so the learned router tells the new expert from its source.
  for (AdaptationResult::NewExpert& expert : out.newExperts) {
    double rowDistance = 0;
    for (const auto& layer : moe)
      rowDistance = std::max(rowDistance, (layer->gate->weight[expert.expert] - layer->gate->weight[expert.copiedFrom])
                                              .abs().max().item<double>());
    expert.routerRowMaxAbsDiff = rowDistance;
    Json shares = Json::object();
    for (const std::string& id : expert.languages) {
      expert.top1Share.emplace_back(id, top1Share(project, *model, id, expert.expert));
      shares[id] = expert.top1Share.back().second;
    }
    reporter.log("new expert " + std::to_string(expert.expert) + ": router row moved up to " + std::to_string(rowDistance) +
                 " from row " + std::to_string(expert.copiedFrom) + "; learned-router top-1 share " + shares.dump());
  }
  const auto hb = pplByLanguage(hardBefore), ha = pplByLanguage(hardAfter), sb = pplByLanguage(softBefore),
             sa = pplByLanguage(softAfter);
  constexpr double kNone = std::numeric_limits<double>::quiet_NaN();
  auto at = [&](const std::map<std::string, double>& m, const std::string& id) { return m.count(id) ? m.at(id) : kNone; };
  bool oldUnchanged = true;
  for (const Language& l : project.allLanguages()) {
    const bool isNew = expertOfNew.count(l.id) > 0;
    if (!isNew && hb.count(l.id) && ha.count(l.id) && hb.at(l.id) != ha.at(l.id)) oldUnchanged = false;
    out.rows.push_back({l.id, l.label(), isNew, at(hb, l.id), at(ha, l.id), at(sb, l.id), at(sa, l.id)});
  }
  if (!oldUnchanged) throw std::logic_error("adaptation changed an old language's hard-routed PPL (a bug: please report it)");
  reporter.log("checked " + std::to_string(checked) + " frozen tensors: bit-identical; old languages' hard-routed PPL unchanged");
  out.frozenTensorsChecked = checked;
  out.frozenBitIdentical = true;
  out.oldHardUnchanged = oldUnchanged;
  if (!result.losses.empty()) out.finalLoss = result.losses.back();
  out.softAverageBefore = softBefore.average;
  out.softAverageAfter = softAfter.average;
  out.newSoftAverageBefore = softBefore.newAverage;
  out.newSoftAverageAfter = softAfter.newAverage;
  out.newHardAverageAfter = hardAfter.newAverage;

  routing->soft();
  SaveOptions save;
  save.tokenizerSource = trainedDir;
  const Json report = out.toJson();
  if (isMainProcess()) {  // of a job, every process trained and measured the same; rank 0 writes
    saveStateDict(*model, RunLayout::modelIn(dir), moeConfigJson(model->config(), layout), save);
    writeFileAtomic(runs.adaptationFile(), dumpJson(report, 1) + "\n");
  }
  reporter.artifact(RunLayout::modelIn(dir), "model");
  reporter.artifact(runs.adaptationFile(), "adaptation");
  reporter.result("adaptation", report);
}

}  // namespace

void runAdapt(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const std::vector<std::string> newIds = languageIds(project.adaptationLanguages());
  if (newIds.empty()) {
    reporter.log("the project lists no new_languages: nothing to adapt");
    reporter.finished("skipped");
    return;
  }
  const RunLayout runs = project.layout();
  const fs::path dir = runs.adaptDir();
  StageFolder folder(dir, Json{{"adaptation", toJson(project.adaptation)},
                               {"languages", newIds},
                               {"evaluation", {{"window", project.evaluation.window},
                                               {"max_documents_per_language", project.evaluation.max_documents_per_language}}},
                               {"model", StageFolder::fingerprint(runs.trainDir(), "dmoe train")},
                               {"shards", shardsFingerprint(project, project.allLanguages())}});
  const bool done = folder.run(force, reporter, "adaptation", runs.adaptationFile(), [&] {
    adaptInto(project, newIds, reporter);
    return Json::object();
  });
  reporter.finished(done ? "done" : "skipped");
}

}  // namespace dmoe
