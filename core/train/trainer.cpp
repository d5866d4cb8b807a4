// The shared trainer (see the header for the contract).
#include "train/trainer.h"

#include <algorithm>
#include <cfloat>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include "runtime/cancellation.h"
#include "runtime/distributed.h"
#include "train/autocast_guard.h"
#include "train/token_loss.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/owned_paths.h"

namespace fs = std::filesystem;

namespace dmoe {

double lrAt(const TrainingSettings& s, std::int64_t step) {
  if (s.schedule != "constant" && s.schedule != "linear" && s.schedule != "cosine")
    throw InputError("training schedule: expected \"constant\", \"linear\" or \"cosine\", got \"" + s.schedule + "\"");
  const double peak = s.learning_rate;
  const std::int64_t warmup = std::llround(s.warmup_fraction * static_cast<double>(s.steps));
  if (step < warmup) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup);
  const double decaySteps = static_cast<double>(std::max<std::int64_t>(1, s.steps - warmup));
  const double p = std::clamp(static_cast<double>(step - warmup) / decaySteps, 0.0, 1.0);
  if (s.schedule == "constant") return peak;
  if (s.schedule == "linear") return peak * (1.0 - p);
  return peak * 0.5 * (1.0 + std::cos(M_PI * p));  // cosine
}

std::function<bool(const std::string&)> namesMatching(const std::string& pattern) {
  try {
    std::regex re(pattern, std::regex::ECMAScript);
    return [re](const std::string& name) { return std::regex_match(name, re); };
  } catch (const std::regex_error& e) {
    throw InputError("trainable parameter pattern '" + pattern + "' is not a valid regular expression: " + e.what());
  }
}


namespace {

std::string stepDirName(std::int64_t step) { return "step-" + std::to_string(step); }

std::int64_t stepOfDirName(const std::string& name) {
  if (name.rfind("step-", 0) != 0 || name.size() == 5) return -1;
  for (std::size_t i = 5; i < name.size(); ++i)
    if (name[i] < '0' || name[i] > '9') return -1;
  return std::stoll(name.substr(5));
}

void writeBytes(const fs::path& file, const std::vector<char>& bytes) {
  writeFileAtomic(file, std::string_view(bytes.data(), bytes.size()));
}

std::string shortNumber(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", v);
  return text;
}

}  // namespace

struct Trainer::State {
  std::shared_ptr<CausalLMImpl> model;
  BatchSource* data = nullptr;
  TrainerOptions options;
  Reporter reporter;
  torch::Device device{torch::kCPU};
  std::vector<torch::Tensor> trainable;
  std::vector<std::string> trainableNames;  // of `trainable`, in its order
  std::unique_ptr<torch::optim::AdamW> optimizer;
  std::vector<LossTerm> terms;
  std::int64_t step = 0;  // optimizer steps done
  std::int64_t resumedFrom = 0;
  // On the device: the first step whose loss, a loss term or gradient norm was
  // not finite; 0 while none was. Updated without a host sync, read where the trainer reads anyway.
  torch::Tensor firstNonFiniteStep;
  std::int64_t weightsCheckedAt = -1;  // the step after which the weights were last found finite

  State(std::shared_ptr<CausalLMImpl> m, BatchSource& d, TrainerOptions o, Reporter r)
      : model(std::move(m)), data(&d), options(std::move(o)), reporter(std::move(r)), device(options.device) {}

  Json resolvedSettings() const {
    return Json{{"training", toJson(options.settings)},
                {"device", options.device},
                {"trainable", options.trainableDescription},
                {"trainable_parameters", trainableCount()},
                {"log_every", options.logEvery},
                {"stage", options.extraSettings}};
  }

  std::int64_t trainableCount() const {
    std::int64_t n = 0;
    for (const torch::Tensor& p : trainable) n += p.numel();
    return n;
  }

  // "/base_model/pretrain/learning_rate in p.dmoe.json", or "learning_rate of the training settings".
  std::string settingPath(const std::string& key) const {
    if (options.settingsPointer.empty()) return key + " of the training settings";
    return options.settingsPointer + "/" + key +
           (options.projectFile.empty() ? "" : " in " + options.projectFile.string());
  }

  std::string stepOf(std::int64_t n) const {
    return "step " + std::to_string(n) + " of " + std::to_string(options.settings.steps);
  }

  // AdamW multiplies float tensors by lr / (1 − β1) (its first step, the
  // largest) and by 1 − lr · weight_decay: LibTorch throws on a factor beyond
  // float's range without naming a setting.
  void checkAdamFitsFloat() const {
    const TrainingSettings& t = options.settings;
    auto refuse = [&](const std::string& what, double value) {
      throw InputError("training settings: " + what + " = " + shortNumber(value) + " is beyond float's range (" +
                       shortNumber(FLT_MAX) + "), in which AdamW applies it; lower the learning rate");
    };
    const double firstStep = t.learning_rate / (1.0 - t.adam_beta1);
    if (!(std::abs(firstStep) <= FLT_MAX))
      refuse(settingPath("learning_rate") + " " + shortNumber(t.learning_rate) + " / (1 − adam_beta1 " +
                 shortNumber(t.adam_beta1) + ")", firstStep);
    const double decay = t.learning_rate * t.weight_decay;
    if (!(std::abs(decay) <= FLT_MAX))
      refuse(settingPath("learning_rate") + " " + shortNumber(t.learning_rate) + " × weight_decay " +
                 shortNumber(t.weight_decay), decay);
    // Settings built in code rather than read from a project (the schema refuses these) could hold zeros:
    // ε = 0 makes the update of a weight whose gradient was always zero 0/0 = NaN.
    if (!(t.adam_eps > 0) || !(t.adam_beta1 >= 0 && t.adam_beta1 < 1) || !(t.adam_beta2 >= 0 && t.adam_beta2 < 1))
      throw InputError("training settings: AdamW needs adam_eps > 0 and adam_beta1, adam_beta2 in [0, 1) (" +
                       settingPath("adam_eps") + " " + shortNumber(t.adam_eps) + ", adam_beta1 " +
                       shortNumber(t.adam_beta1) + ", adam_beta2 " + shortNumber(t.adam_beta2) + ")");
  }

  [[noreturn]] void diverged(const std::string& what) const {
    const TrainingSettings& t = options.settings;
    throw InputError("training diverged: " + what + " (" + options.runDir.string() +
                     "); nothing from that step on is saved. Look at the learning rate (" +
                     shortNumber(t.learning_rate) + ", " + settingPath("learning_rate") +
                     "): lower it, or warm up longer (" + settingPath("warmup_fraction") +
                     "); the gradient clipping (" + shortNumber(t.grad_clip) + ", " + settingPath("grad_clip") +
                     "); and the precision (" + (computesInBf16(options.device) ? "bf16" : "fp32") + ", /precision).");
  }

  // Notes `step` in firstNonFiniteStep when it is the first whose loss, loss
  // terms or gradient norm hold a NaN or ±inf: on the device, no host sync.
  void recordNonFinite(const torch::Tensor& stepLoss, const std::vector<torch::Tensor>& stepTerms,
                       const torch::Tensor& gradNorm) {
    std::vector<torch::Tensor> values{stepLoss.reshape({1}).to(torch::kFloat32), gradNorm.reshape({1}).to(torch::kFloat32)};
    for (const torch::Tensor& term : stepTerms)
      if (term.defined()) values.push_back(term.reshape({1}).to(torch::kFloat32));
    const torch::Tensor first = torch::isfinite(torch::cat(values)).all().logical_not().logical_and(firstNonFiniteStep == 0);
    firstNonFiniteStep.masked_fill_(first, step);
  }

  // Throws when a step so far was not finite (reads the record back: a host sync).
  void stopIfDiverged() const {
    const std::int64_t first = firstNonFiniteStep.item<std::int64_t>();
    if (first > 0) diverged("the loss, a loss term or the gradient norm is not finite at " + stepOf(first));
  }

  // stopIfDiverged, and throws when a trainable weight is not finite after
  // this step (one host read; once per step): before anything is saved.
  void stopIfNotFinite() {
    stopIfDiverged();
    if (weightsCheckedAt == step) return;
    std::vector<torch::Tensor> finite;
    for (const torch::Tensor& p : trainable) finite.push_back(torch::isfinite(p.detach()).all());
    const torch::Tensor ok = torch::stack(finite).cpu();
    for (std::size_t i = 0; i < trainable.size(); ++i)
      if (!ok[static_cast<std::int64_t>(i)].item<bool>())
        diverged("the weights are not finite after " + stepOf(step) + " (" + trainableNames[i] + ")");
    weightsCheckedAt = step;
  }

  // The run's checkpoints folder, the trainer's own (util/owned_paths.h):
  // marked when made (or first used), so that only folders inside it are ever removed.
  fs::path checkpointsFolder() const {
    const fs::path checkpoints = options.runDir / "checkpoints";
    if (!isMade(checkpoints)) markMade(checkpoints, "checkpoints");
    return checkpoints;
  }

  // A failed save (full disk, …) removes the incomplete folder and throws.
  void saveCheckpoint(const Json& settings) {
    const fs::path dir = checkpointsFolder() / stepDirName(step);
    removeMade(dir);  // a stale, incomplete save of the same step
    try {
      writeCheckpoint(dir, settings);
    } catch (...) {
      try {
        removeMade(dir);
      } catch (const std::exception&) {
        // the save's own error is the one to report
      }
      throw;
    }
    reporter.artifact(dir, "checkpoint");
    pruneCheckpoints();
  }

  // The one just saved and the newest checkpointsKept − 1 complete ones before
  // it stay; older ones are removed, oldest first (a crash in between leaves
  // more, never fewer). Ones after it (a damaged newer one a resume skipped)
  // are left: the next resume names them and falls back.
  void pruneCheckpoints() {
    if (options.checkpointsKept <= 0) return;
    std::vector<fs::path> all;
    for (fs::path& dir : Trainer::completeCheckpoints(options.runDir))
      if (stepOfDirName(dir.filename().string()) <= step) all.push_back(std::move(dir));
    for (size_t i = all.size(); i-- > static_cast<size_t>(options.checkpointsKept);) {
      try {
        removeMade(all[i] / "complete");  // first: a half-removed folder is never taken for a checkpoint
        removeMade(all[i]);
      } catch (const std::exception& e) {
        reporter.warning("cannot remove the old checkpoint " + all[i].string() + ": " + e.what());
      }
    }
  }

  void writeCheckpoint(const fs::path& dir, const Json& settings) {
    fs::create_directories(dir);
    c10::Dict<std::string, torch::Tensor> weights;
    for (const auto& p : model->named_parameters(true)) weights.insert(p.key(), p.value().detach().cpu());
    for (const auto& b : model->named_buffers(true)) weights.insert(b.key(), b.value().detach().cpu());
    writeBytes(dir / "model.pt", torch::pickle_save(weights));
    // Serialised in memory, then written like every other file: torch::save to a
    // path finishes its archive in a destructor and aborts the process when the disk is full.
    std::ostringstream optimizerBytes;
    torch::save(*optimizer, optimizerBytes);
    writeFileAtomic(dir / "optimizer.pt", optimizerBytes.str());
    torch::Tensor rng;
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      rng = gen.get_state();
    }
    writeBytes(dir / "rng.pt", torch::pickle_save(rng));
    writeFileAtomic(dir / "trainer_state.json",
                    dumpJson(Json{{"step", step}, {"seed", options.settings.seed}, {"data", data->state()}}, 2));
    writeFileAtomic(dir / "settings.json", dumpJson(settings, 2));
    writeFileAtomic(dir / "complete", "");  // last: only now is the checkpoint usable
  }

  // The newest checkpoint that reads; a damaged one (truncated, …) is named in
  // a warning and the one before it tried. Every load sets the whole state, so
  // a failed one leaves nothing behind once an earlier one loads.
  void resumeFromNewestReadable() {
    const std::vector<fs::path> all = Trainer::completeCheckpoints(options.runDir);
    std::string problems;
    for (const fs::path& dir : all) {
      try {
        loadCheckpoint(dir);
        return;
      } catch (const std::exception& e) {
        std::string what = e.what();
        what = what.substr(0, what.find('\n'));  // c10::Error appends a stack trace
        reporter.warning(dir.string() + " cannot be read (" + what + "): trying the checkpoint before it");
        problems += "\n  " + dir.string() + ": " + what;
      }
    }
    if (!all.empty())
      throw InputError("no checkpoint of " + options.runDir.string() + " can be read:" + problems +
                       "\nremove the folder (or run with --force) to start this stage over");
  }

  void loadCheckpoint(const fs::path& dir) {
    loadModelWeights(*model, dir);
    torch::load(*optimizer, (dir / "optimizer.pt").string(), device);
    std::string bytes = readFile(dir / "rng.pt");
    torch::Tensor rng = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toTensor();
    {
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      gen.set_state(rng);
    }
    Json state;
    try {
      state = readJsonFile(dir / "trainer_state.json");
      step = state.at("step").get<std::int64_t>();
    } catch (const Json::exception& e) {
      throw InputError((dir / "trainer_state.json").string() + ": expected {\"step\": n, \"data\": {...}}: " + e.what());
    }
    data->restore(state.at("data"));
    resumedFrom = step;
  }

  // metrics.jsonl keeps only the steps the checkpoint covers; the resumed run appends the rest.
  // Also returns the kept steps' logged losses into `result` (a resumed run's final loss is then known
  // even when no step is left to run).
  void truncateMetrics(const fs::path& file, TrainResult& result) const {
    if (!fs::exists(file)) return;
    std::istringstream in(readFile(file));
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      Json j = Json::parse(line, nullptr, false);
      if (j.is_discarded() || j.value("step", std::int64_t{0}) > step) continue;
      kept += line + '\n';
      if (j.contains("loss") && j["loss"].is_number()) {
        result.losses.push_back(j["loss"].get<double>());
        result.loggedSteps.push_back(j["step"].get<std::int64_t>());
      }
    }
    if (isMainProcess()) writeFileAtomic(file, kept);
  }

  // TrainerOptions::evaluate in eval mode without gradients; train mode again afterwards, also on a throw.
  Json evaluateHeldout() {
    struct TrainModeAgain {
      CausalLMImpl& model;
      ~TrainModeAgain() { model.train(); }
    } again{*model};
    torch::NoGradGuard noGrad;
    model->eval();
    return options.evaluate();
  }

  [[noreturn]] void stopCancelled(const Json& settings, bool checkpointSaved) {
    if (options.checkpoints && !checkpointSaved) {
      stopIfNotFinite();
      if (isMainProcess()) saveCheckpoint(settings);  // a resume continues exactly here
    }
    // No process ends before it is complete (their exit would make the launcher stop rank 0 mid-save).
    barrier("saving the cancelled run's checkpoint", /*cancellable=*/false);
    reporter.log("cancelled after step " + std::to_string(step) +
                 (options.checkpoints ? "; checkpoint saved, a resume continues from it" : ""));
    throw Cancelled();
  }

  // Global L2 norm of the trainable gradients, computed and applied on the device.
  torch::Tensor clipGradients() {
    std::vector<torch::Tensor> norms;
    for (const torch::Tensor& p : trainable)
      if (p.grad().defined()) norms.push_back(p.grad().detach().to(torch::kFloat32).norm());
    if (norms.empty()) return torch::scalar_tensor(0.0, torch::TensorOptions().device(device));
    torch::Tensor total = torch::stack(norms).norm();
    if (options.settings.grad_clip > 0) {
      torch::Tensor coef = (options.settings.grad_clip / (total + 1e-6)).clamp_max(1.0);
      for (const torch::Tensor& p : trainable)
        if (p.grad().defined()) p.grad().detach().mul_(coef.to(p.grad().dtype()));
    }
    return total;
  }

  // The rows [first, end) of each step's global batch this process computes.
  std::pair<std::int64_t, std::int64_t> ownRows() const {
    const std::int64_t rows = options.settings.batch_sequences, n = processCount(), r = processRank();
    return {rows * r / n, rows * (r + 1) / n};
  }

  // Several processes: the step's gradients, loss and loss terms summed over
  // them (each computed its rows' share of the global-batch mean, so the sum
  // is the one-process value), in one bucketed all-reduce that also carries
  // which parameters got a gradient anywhere and whether any process was
  // cancelled. A parameter no process touched keeps no gradient (AdamW skips
  // it, as in one process). One host read per step: those flags. Returns
  // whether any process was cancelled (then this one is too): all stop after
  // the same step, whenever their signals came.
  bool sumOverProcesses(torch::Tensor& stepLoss, std::vector<torch::Tensor>& stepTerms) {
    const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
    std::vector<torch::Tensor> grads, stats{stepLoss.reshape({1}).to(torch::kFloat32)};
    std::vector<float> present;
    for (torch::Tensor& p : trainable) {
      present.push_back(p.grad().defined() ? 1.0F : 0.0F);
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
      grads.push_back(p.grad());
    }
    for (torch::Tensor& term : stepTerms)
      stats.push_back(term.defined() ? term.reshape({1}).to(torch::kFloat32) : torch::zeros({1}, options));
    stats.push_back(torch::full({1}, cancelRequested() ? 1.0F : 0.0F, options));
    torch::Tensor flags = torch::tensor(present, torch::kFloat32).to(device);
    torch::Tensor statVector = torch::cat(stats);
    std::vector<torch::Tensor> all = grads;
    all.push_back(flags);
    all.push_back(statVector);
    allReduceSum(all);
    const torch::Tensor touched = flags.to(torch::kCPU);  // the one host read
    const float* any = touched.data_ptr<float>();
    for (size_t i = 0; i < trainable.size(); ++i)
      if (any[i] == 0.0F) trainable[i].mutable_grad().reset();
    stepLoss = statVector[0];
    for (size_t i = 0; i < stepTerms.size(); ++i) stepTerms[i] = statVector[static_cast<std::int64_t>(i) + 1];
    if (statVector[-1].item<float>() == 0) return false;
    if (!cancelRequested()) requestCancel(SIGTERM);  // another process was: this exits as cancelled too
    return true;
  }
};

namespace {

// Rows [first, end) of the global batch that `batch` (rows [at, at + B)) shares with; undefined when none.
TrainBatch rowsOf(const TrainBatch& batch, std::int64_t at, std::pair<std::int64_t, std::int64_t> own) {
  const std::int64_t from = std::max(at, own.first), to = std::min(at + batch.inputIds.size(0), own.second);
  if (from >= to) return {};
  if (from == at && to == at + batch.inputIds.size(0)) return batch;
  auto rows = [&](const torch::Tensor& t) { return t.defined() ? t.narrow(0, from - at, to - from) : t; };
  return {rows(batch.inputIds), rows(batch.labels), rows(batch.sources)};
}

}  // namespace

Trainer::Trainer(std::shared_ptr<CausalLMImpl> model, BatchSource& data, TrainerOptions options, Reporter reporter)
    : s_(std::make_unique<State>(std::move(model), data, std::move(options), std::move(reporter))) {
  const TrainingSettings& t = s_->options.settings;
  if (t.steps < 0 || t.batch_sequences < 1 || t.micro_batch < 1 || s_->options.logEvery < 1)
    throw InputError("training settings: steps ≥ 0, batch_sequences ≥ 1, micro_batch ≥ 1 and log_every ≥ 1 are required");
  lrAt(t, 0);  // rejects an unknown schedule before any work
  s_->checkAdamFitsFloat();

  std::vector<torch::Tensor> decay, noDecay;
  for (const auto& p : s_->model->named_parameters(true)) {
    bool train = !s_->options.trainable || s_->options.trainable(p.key());
    p.value().set_requires_grad(train);
    if (!train) continue;
    s_->trainable.push_back(p.value());
    s_->trainableNames.push_back(p.key());
    const bool decays = s_->options.decays ? s_->options.decays(p.key()) : p.value().dim() >= 2;
    (decays ? decay : noDecay).push_back(p.value());
  }
  if (t.batch_sequences < processCount())
    throw InputError("training settings: batch_sequences " + std::to_string(t.batch_sequences) +
                     " is smaller than the job's " + std::to_string(processCount()) +
                     " processes; each process needs at least one row of the batch");
  if (s_->trainable.empty())
    throw InputError("trainable parameters: the pattern '" + s_->options.trainableDescription +
                     "' matches no parameter of the model");
  auto groupOptions = [&](double weightDecay) {
    auto o = std::make_unique<torch::optim::AdamWOptions>(t.learning_rate);
    o->betas({t.adam_beta1, t.adam_beta2}).eps(t.adam_eps).weight_decay(weightDecay);
    return o;
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  if (!decay.empty()) groups.emplace_back(decay, groupOptions(t.weight_decay));
  if (!noDecay.empty()) groups.emplace_back(noDecay, groupOptions(0.0));
  s_->optimizer = std::make_unique<torch::optim::AdamW>(groups, torch::optim::AdamWOptions(t.learning_rate));

  fs::path checkpoints = s_->options.runDir / "checkpoints";
  if (s_->options.resume) {
    s_->resumeFromNewestReadable();
  } else if (fs::exists(checkpoints) && !fs::is_empty(checkpoints)) {
    throw InputError(checkpoints.string() + ": the run folder already has checkpoints; resume it or start over (--force)");
  }
  // Every process starts from rank 0's weights (as DDP does), whatever each loaded or initialised.
  std::vector<torch::Tensor> state;
  for (const auto& p : s_->model->named_parameters(true)) state.push_back(p.value().detach());
  for (const auto& b : s_->model->named_buffers(true)) state.push_back(b.value());
  broadcastFromMain(state);
}

Trainer::~Trainer() = default;

TrainerOptions stageTrainerOptions(const Project& project, const TrainingSettings& settings, fs::path runDir,
                                   std::string device) {
  TrainerOptions options;
  options.settings = settings;
  options.runDir = std::move(runDir);
  options.device = std::move(device);
  options.resume = true;
  options.checkpointsKept = project.checkpoints_kept;
  options.projectFile = project.file;
  return options;
}

void Trainer::addLossTerm(LossTerm term) { s_->terms.push_back(std::move(term)); }

fs::path Trainer::latestCheckpoint(const fs::path& runDir) {
  const std::vector<fs::path> all = completeCheckpoints(runDir);
  return all.empty() ? fs::path() : all.front();
}

std::vector<fs::path> Trainer::completeCheckpoints(const fs::path& runDir) {
  std::vector<std::pair<std::int64_t, fs::path>> found;
  const fs::path dir = runDir / "checkpoints";
  if (!fs::is_directory(dir)) return {};
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::int64_t step = stepOfDirName(entry.path().filename().string());
    if (step >= 0 && fs::exists(entry.path() / "complete")) found.emplace_back(step, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  for (auto& [step, path] : found) out.push_back(std::move(path));
  return out;
}

void Trainer::loadModelWeights(torch::nn::Module& model, const fs::path& checkpointDir) {
  fs::path file = checkpointDir / "model.pt";
  std::string bytes = readFile(file);
  c10::impl::GenericDict saved = torch::pickle_load(std::vector<char>(bytes.begin(), bytes.end())).toGenericDict();
  torch::NoGradGuard noGrad;
  std::vector<std::string> missing;
  std::size_t matched = 0;
  auto assign = [&](const std::string& name, torch::Tensor target) {
    auto it = saved.find(name);
    if (it == saved.end()) return missing.push_back(name);
    torch::Tensor value = it->value().toTensor();
    if (value.sizes() != target.sizes())
      throw InputError(file.string() + ": tensor '" + name + "' has shape " + c10::str(value.sizes()) +
                       ", the model expects " + c10::str(target.sizes()));
    target.copy_(value);
    ++matched;
  };
  for (const auto& p : model.named_parameters(true)) assign(p.key(), p.value());
  for (const auto& b : model.named_buffers(true)) assign(b.key(), b.value());
  if (!missing.empty() || matched != saved.size()) {
    std::string message = file.string() + ": weights do not match the model;";
    if (!missing.empty()) message += " missing: " + missing.front() + (missing.size() > 1 ? " and others" : "") + ";";
    if (matched != saved.size()) message += " " + std::to_string(saved.size() - matched) + " unexpected tensor(s)";
    throw InputError(message);
  }
}

TrainResult Trainer::run() {
  State& s = *s_;
  const TrainingSettings& t = s.options.settings;
  const bool writes = isMainProcess();  // of several processes, rank 0 writes the run folder
  const Json settings = s.resolvedSettings();
  const fs::path runFolder = fs::absolute(s.options.runDir);
  fs::path metricsFile = s.options.runDir / "metrics.jsonl";
  TrainResult result;
  s.truncateMetrics(metricsFile, result);
  std::ofstream metrics;
  if (writes) {
    if (s.options.checkpoints) s.checkpointsFolder();
    else fs::create_directories(s.options.runDir);
    writeFileAtomic(s.options.runDir / "settings.json", dumpJson(settings, 2));
    metrics.open(metricsFile, std::ios::app | std::ios::binary);
    if (!metrics) throw std::runtime_error("cannot open " + metricsFile.string() + " for appending");
  }

  result.resumedFrom = s.resumedFrom;
  s.reporter.log("training " + std::to_string(s.trainableCount()) + " parameters for " + std::to_string(t.steps) +
                 " steps on " + s.options.device + (s.resumedFrom ? ", resumed at step " + std::to_string(s.step) : ""));
  s.model->train();

  auto windowStart = std::chrono::steady_clock::now();
  std::int64_t windowSteps = 0, windowTokens = 0;
  torch::Tensor windowLoss;  // sum of step losses since the last log line, on the device
  std::vector<torch::Tensor> windowTerms(s.terms.size());
  const auto deviceLong = torch::TensorOptions().dtype(torch::kInt64).device(s.device);
  const auto ownRows = s.ownRows();
  s.firstNonFiniteStep = torch::zeros({}, deviceLong);

  while (s.step < t.steps) {
    const double lr = lrAt(t, s.step);
    for (auto& group : s.optimizer->param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(lr);
    // Gradients set to none, not zeros (PyTorch 2's default): no fill before
    // and no accumulation pass in the first backward. A parameter that took no
    // part in this step (an idle expert under hard routing) keeps no gradient,
    // so AdamW leaves it and its moments untouched, in an uninterrupted run and
    // after a resume alike.
    for (torch::Tensor& p : s.trainable) p.mutable_grad().reset();

    // Every process draws the whole global batch (the same windows: the source
    // is seeded) and computes its own rows of it.
    std::vector<TrainBatch> micro;
    std::int64_t scored = 0;
    for (std::int64_t rows = 0; rows < t.batch_sequences;) {
      TrainBatch drawn = s.data->next(std::min(t.micro_batch, t.batch_sequences - rows));
      scored += (drawn.labels != kIgnoreLabel).sum().item<std::int64_t>();  // CPU tensor: no device sync
      windowTokens += drawn.inputIds.numel();
      TrainBatch own = rowsOf(drawn, rows, ownRows);
      rows += drawn.inputIds.size(0);
      if (own.inputIds.defined()) micro.push_back(std::move(own));
    }
    torch::Tensor stepLoss = torch::scalar_tensor(0.0, torch::TensorOptions().device(s.device));
    std::vector<torch::Tensor> stepTerms(s.terms.size());
    for (const TrainBatch& mb : micro) {
      torch::Tensor inputs = mb.inputIds.to(s.device, torch::kInt64, /*non_blocking=*/true);
      torch::Tensor labels = mb.labels.to(deviceLong, /*non_blocking=*/true);
      torch::Tensor loss;
      if (s.options.beforeForward) s.options.beforeForward(mb);
      {
        Bf16Autocast autocast(s.device);
        torch::Tensor logits = s.model->forward(inputs);
        torch::Tensor lm = tokenLossSum(logits, labels);
        loss = lm / static_cast<double>(std::max<std::int64_t>(1, scored));
        stepLoss += loss.detach();
        const double share = static_cast<double>(mb.inputIds.size(0)) / static_cast<double>(t.batch_sequences);
        for (std::size_t i = 0; i < s.terms.size(); ++i) {
          torch::Tensor term = s.terms[i].compute(mb, logits) * share;
          loss = loss + term;
          stepTerms[i] = stepTerms[i].defined() ? stepTerms[i] + term.detach() : term.detach();
        }
      }
      loss.backward();
    }
    // Several processes stop on the flag their all-reduce carried, one process on its own.
    const bool cancelled = processCount() > 1 ? s.sumOverProcesses(stepLoss, stepTerms) : false;
    for (std::size_t i = 0; i < s.terms.size(); ++i)
      if (stepTerms[i].defined()) windowTerms[i] = windowTerms[i].defined() ? windowTerms[i] + stepTerms[i] : stepTerms[i];
    torch::Tensor gradNorm = s.clipGradients();
    s.optimizer->step();
    ++s.step;
    s.recordNonFinite(stepLoss, stepTerms, gradNorm);
    ++windowSteps;
    windowLoss = windowLoss.defined() ? windowLoss + stepLoss : stepLoss;

    const bool last = s.step == t.steps;
    const bool evaluates = s.options.evaluateEvery > 0 && s.options.evaluate &&
                           (s.step % s.options.evaluateEvery == 0 || last);
    if (s.step % s.options.logEvery == 0 || last || evaluates) {
      s.stopIfDiverged();  // the host sync of a logged step
      const double loss = windowLoss.item<double>() / static_cast<double>(windowSteps);
      const double seconds =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - windowStart).count();
      Json m{{"step", s.step},
             {"loss", loss},
             {"lr", lr},
             {"grad_norm", gradNorm.item<double>()},
             {"tokens_per_s", static_cast<double>(windowTokens) / std::max(seconds, 1e-9)},
             {"step_time_s", seconds / static_cast<double>(windowSteps)}};
      for (std::size_t i = 0; i < s.terms.size(); ++i)
        m[s.terms[i].name] = windowTerms[i].item<double>() / static_cast<double>(windowSteps);
      if (evaluates) {
        try {
          s.stopIfNotFinite();  // the evaluation scores the weights after this step
          const auto evaluationStart = std::chrono::steady_clock::now();
          const Json ppl = s.evaluateHeldout();
          m["eval_s"] = std::chrono::duration<double>(std::chrono::steady_clock::now() - evaluationStart).count();
          double sum = 0;
          int n = 0;
          for (const auto& [id, value] : ppl.items()) {
            if (!value.is_number()) continue;
            if (!std::isfinite(value.get<double>()))
              s.diverged("the held-out perplexity of " + id + " is not finite at " + s.stepOf(s.step));
            sum += value.get<double>(), ++n;
          }
          m["eval_ppl"] = ppl;
          m["eval_ppl_mean"] = n ? Json(sum / n) : Json();
        } catch (const Cancelled&) {
          // The step's line is still written (without the evaluation) and its checkpoint saved
          // below, where the flag stops the run: a resume then has every step's line.
        }
      }
      s.reporter.metrics(s.step, m, runFolder);
      if (writes) metrics << dumpJson(m) << '\n' << std::flush;
      s.reporter.progress(s.step, t.steps, "steps");
      result.losses.push_back(loss);
      result.loggedSteps.push_back(s.step);
      windowStart = std::chrono::steady_clock::now();
      windowSteps = windowTokens = 0;
      windowLoss = torch::Tensor();
      for (torch::Tensor& term : windowTerms) term = torch::Tensor();
    }
    const bool checkpointDue = s.options.checkpoints && (last || (t.checkpoint_every > 0 && s.step % t.checkpoint_every == 0));
    if (checkpointDue) s.stopIfNotFinite();  // every process, before rank 0 saves
    if (checkpointDue && writes) s.saveCheckpoint(settings);
    if (processCount() > 1 ? cancelled : cancelRequested()) s.stopCancelled(settings, checkpointDue);
  }
  s.stopIfNotFinite();  // what the caller saves next is finite
  s.model->eval();
  barrier("the end of training");  // rank 0's last checkpoint is complete for every process
  result.steps = s.step;
  result.finalCheckpoint = latestCheckpoint(s.options.runDir);
  return result;
}

}  // namespace dmoe
