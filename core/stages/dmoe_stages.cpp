// The train, eval and baselines stages: thin wrappers that point the
// shared DMoE code (stages/dmoe_variant.h) at the pipeline's groups, or at
// the baselines' (random groups; the dense base trained on the same budget).
#include <cmath>

#include "checkpoint/hf_checkpoint.h"
#include "stages/stage_folder.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "stages/dmoe_variant.h"
#include "stages/stage_inputs.h"
#include "train/heldout_perplexity.h"
#include "model/load_model.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

void runTrain(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  reporter.finished(trainVariant(project, mainVariant(project), reporter, force) ? "done" : "skipped");
}

namespace {

Json evaluationSettings(const Project& project) {
  return Json{{"window", project.evaluation.window},
              {"max_documents_per_language", project.evaluation.max_documents_per_language}};
}

}  // namespace

bool evaluateInto(const Project& project, const fs::path& dir, const fs::path& modelDir, const Json& modelIdentity,
                  Reporter& reporter, bool force) {
  StageFolder folder(dir, Json{{"evaluation", evaluationSettings(project)},
                               {"model", modelIdentity},
                               {"heldout", shardsFingerprint(project, project.allLanguages())}});
  const fs::path file = RunLayout::perplexityIn(dir);
  return folder.run(force, reporter, "perplexities", file, [&] {
    const Json table = evaluateModel(project, modelDir, reporter);  // every process of a job scores its languages
    if (isMainProcess()) writeFileAtomic(file, dumpJson(table, 1) + "\n");
    reporter.artifact(file, "perplexity");
    return Json::object();
  });
}

void runEval(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  const fs::path file = RunLayout::perplexityIn(runs.evalDir());
  // A mixture-of-experts base (a lifelong LayerMoE project's) has no DMoE trained on it: only the base is scored.
  const bool mixtureBase = baseIsMixtureOfExperts(project);
  Json inputs{{"evaluation", evaluationSettings(project)},
              {"base_model", baseModelFingerprint(project)},
              {"heldout", shardsFingerprint(project, project.allLanguages())}};
  if (!mixtureBase) inputs["model"] = StageFolder::fingerprint(runs.trainDir(), "dmoe train");
  StageFolder folder(runs.evalDir(), inputs);
  const bool done = folder.run(force, reporter, "evaluation", file, [&] {
    Json table = Json::object();
    if (mixtureBase) {
      table["base"] = evaluateModel(project, baseModelDir(project), reporter).at("soft");
      reporter.log("average PPL: base " + std::to_string(table["base"].value("average", 0.0)) +
                   " (already a mixture of experts, learned router; no DMoE is built on it)");
    } else {
      table = evaluateModel(project, RunLayout::modelIn(runs.trainDir()), reporter);
      table["base"] = evaluateModel(project, baseModelDir(project), reporter).at("dense");
      reporter.log("average PPL: base " + std::to_string(table["base"].value("average", 0.0)) + ", DMoE " +
                   std::to_string(table["soft"].value("average", 0.0)) + " (learned router), " +
                   std::to_string(table["hard"].value("average", 0.0)) + " (group oracle)");
    }
    if (isMainProcess()) writeFileAtomic(file, dumpJson(table, 1) + "\n");
    reporter.artifact(file, "perplexity");
    reporter.result("eval", table);
    return Json::object();
  });
  reporter.finished(done ? "done" : "skipped");
}

// dense-continue: the base trained on the mixed data (languages ∝ tokens) with
// train.stage2's optimiser settings for as many steps as give the DMoE's
// token budget (stage 1 + stage 2).
static bool runDenseContinue(const Project& project, Reporter& reporter, bool force) {
  const RunLayout runs(project.layout().baselineDir(RunLayout::kDenseContinue));
  const std::string device = resolveDevice(project.device);
  const fs::path baseDir = baseModelDir(project);
  const ModelConfig config = readModelConfig(HfCheckpoint::open(baseDir));  // checked against its weights first
  TrainingSettings settings = cappedToContext(project.train.stage2, config.max_position_embeddings);
  const std::int64_t budget = dmoeTrainingTokens(project, config.max_position_embeddings);
  const std::int64_t perStep = settings.batch_sequences * settings.seq_len;
  settings.steps = (budget + perStep - 1) / perStep;
  settings.balance_loss_weight = 0;
  settings.router_loss_weight = 0;

  StageFolder folder(runs.trainDir(), Json{{"training", toJson(settings)},
                                          {"base_model", baseModelFingerprint(project)},
                                          {"shards", shardsFingerprint(project, project.languages)}});
  const fs::path modelDir = RunLayout::modelIn(runs.trainDir());
  Reporter r = reporter.forStage(reporter.stage() + ":" + RunLayout::kDenseContinue);
  const bool computed = folder.run(force, reporter, "dense-continue model", modelDir, [&] {
    std::shared_ptr<CausalLMImpl> model = loadCausalLM(baseDir, device);
    LanguageShards all = openShards(project, languageIds(project.languages));
    SequenceSampler mixed(all.streams(), settings.seq_len, static_cast<std::uint64_t>(settings.seed));
    TrainerOptions options = stageTrainerOptions(project, settings, runs.trainDir(), device);
    options.settingsPointer = "/train";
    options.evaluateEvery = project.evaluation.every_steps;
    options.evaluate = heldoutEvaluation(project, *model, languageIds(project.languages));
    options.extraSettings = {{"stage", RunLayout::kDenseContinue}, {"token_budget", budget}};
    Trainer(model, mixed, options, r).run();
    SaveOptions save;
    save.tokenizerSource = baseDir;
    if (isMainProcess()) saveStateDict(*model, modelDir, model->config().toHfJson(), save);
    return Json{{"tokens", settings.steps * perStep}, {"dmoe_tokens", budget}};
  });
  return evaluateInto(project, runs.evalDir(), modelDir, StageFolder::fingerprint(runs.trainDir(), "dmoe baselines"), r,
                      force) ||
         computed;
}

// A DMoE variant whose groups come from `method` ("random") or whose experts
// start from per-group fine-tunes ("branch-train-mix" init).
static bool runVariantBaseline(const Project& project, const std::string& name, const std::string& groupMethod,
                               const std::string& init, Reporter& reporter, bool force) {
  const fs::path dir = project.layout().baselineDir(name);
  const RunLayout runs(dir);
  DmoeVariant v;
  v.name = name;
  v.mergeDir = runs.mergeDir();
  v.trainDir = runs.trainDir();
  v.groups = groupMethod == "group-stage"
                 ? LanguageGroups::readPartition(project.layout().groupsFile(), languageIds(project.languages))
                                          : computeGroups(project, groupMethod);
  v.groupsFingerprint = hashHex(v.groups.toJson().dump());
  v.init = init;
  Reporter r = reporter.forStage(reporter.stage() + ":" + name);
  // The groups and the merged model on rank 0 alone (a merge does not split); training and evaluation split.
  bool computed = false;
  runOnMain("merging the " + name + " baseline", [&] {
    fs::create_directories(dir);
    writeFileAtomicIfChanged(dir / "groups.json", dumpJson(v.groups.toJson(), 2) + "\n");
    computed = mergeVariant(project, v, r, force);
  });
  computed = agreeWithMain(computed);
  computed = trainVariant(project, v, r, force) || computed;
  return evaluateInto(project, runs.evalDir(), RunLayout::modelIn(v.trainDir), StageFolder::fingerprint(v.trainDir, "dmoe baselines"),
                      r, force) ||
         computed;
}

void runBaselines(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const BaselineSettings& b = project.baselines;
  if (!b.dense_continue && !b.random_groups && !b.branch_train_mix) {
    reporter.log("no baseline is enabled in /baselines");
    reporter.finished("skipped");
    return;
  }
  // Each baseline has its own manifests and skips by itself when up to date.
  bool computed = false;
  if (b.dense_continue) computed = runDenseContinue(project, reporter, force) || computed;
  if (b.random_groups)
    computed = runVariantBaseline(project, RunLayout::kRandomGroups, "random", project.merge.init, reporter, force) || computed;
  if (b.branch_train_mix)
    computed = runVariantBaseline(project, RunLayout::kBranchTrainMix, "group-stage", "branch-train-mix", reporter, force) || computed;
  reporter.finished(computed ? "done" : "skipped");
}

}  // namespace dmoe
