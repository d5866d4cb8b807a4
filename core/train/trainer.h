// The one trainer every stage uses (pretraining, deviation fine-tunes, DMoE
// stages, new-language adaptation).
//
// Optimisation: AdamW (torch::optim::AdamW) with two parameter groups as in
// nanoGPT: weight decay on parameters with ≥ 2 dimensions (matrices and
// embeddings), none on vectors (norm gains, biases). Learning rate from
// lrAt(): linear warm-up, then constant, linear or cosine decay to 0.
// A step = batch_sequences rows in micro_batch-row forward/backward passes;
// the loss is the token-weighted mean NLL over the whole step's scored labels
// (so 2 micro-batches of n equal one batch of 2n), plus any extra loss terms.
// Gradients are reset to none before each step (not zeroed): a parameter
// that received no gradient in a step — an expert no token was routed to —
// is skipped by AdamW (no momentum or decay step), in a resumed run as well.
// Global-norm clipping (pre-clip norm reported), computed on the device
// without a host sync. Only parameters accepted by `trainable` get gradients
// and enter the optimizer; the rest are frozen (requires_grad false).
//
// Run folder: settings.json (resolved settings), metrics.jsonl (one JSON per
// logged step, appended and flushed), checkpoints/step-<n>/ with model.pt
// (named parameters and buffers), optimizer.pt, rng.pt, trainer_state.json,
// settings.json and, written last, `complete`. resume = true continues from
// the newest complete checkpoint: on CPU the continued run equals an
// uninterrupted one step for step. Once a checkpoint is complete, it and the
// newest checkpointsKept − 1 complete ones before it stay; older ones are
// deleted, oldest first (a newer, damaged one a resume skipped is left).
//
// Cancellation (runtime/cancellation.h): after each optimizer step a pending
// cancel request saves a checkpoint of that step (when checkpoints are on)
// and throws dmoe::Cancelled.
//
// Several processes (runtime/distributed.h; a torchrun job, outside a
// SoloScope): data parallel. Every process draws the same global batch from
// its (seeded) source and computes rows [r·B/N, (r+1)·B/N) of it, in
// micro_batch-row passes; the gradients, the loss and the loss terms are
// summed over the processes in one bucketed all-reduce after the backward
// passes (not overlapped with them), so one optimizer step on every process
// sees the one-process gradient up to float summation order. Extra loss
// terms are computed on each process's rows, as they are on each
// micro-batch. Rank 0's weights are broadcast at the start; rank 0 alone
// writes settings, metrics and checkpoints; every process resumes from the
// same checkpoint; a cancel on any process stops all after the same step,
// once rank 0's checkpoint is complete. batch_sequences must be at least the
// number of processes.
// Devices: the model must already be on options.device. Where the process's
// precision is bf16 for that device (runtime/device.h: the project's
// `precision`), the forward and backward run under autocast with bf16 compute
// while parameters, grads and optimizer state stay fp32 (master weights);
// otherwise everything is fp32.
// Divergence: a step whose LM loss, a loss term or gradient norm is NaN or
// ±inf is recorded on the device (the first such step, without a host sync)
// and the record is read back at each logged step, before each checkpoint and
// at the end; the trainable weights before each checkpoint, evaluation and
// the end; held-out perplexities (evaluate) as they are logged. Any of
// these stops the run with an InputError naming the step and the settings to
// look at (learning rate, gradient clipping, precision; with their JSON paths
// when projectFile/settingsPointer say where the settings come from). So a
// run() that returns leaves finite weights, and no checkpoint or metrics line
// holds a non-finite value. A learning rate AdamW cannot apply in float
// (lr / (1 − β1), lr · weight_decay) is refused by the constructor.
// Host syncs: one per logged step (the metrics), one per checkpoint, none
// otherwise; several processes add one per step (the all-reduce's flags).
// Metrics events carry the run folder (absolute) as "run"; metrics.jsonl
// lines do not (the file is in that folder).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "model/causal_lm.h"
#include "project/project.h"
#include "train/batch_source.h"

namespace dmoe {

// Learning rate of optimizer step `step` (0-based) of s.steps, W = round(warmup_fraction · steps):
// step < W: peak · (step + 1) / W; then progress p = (step − W) / (steps − W) and
// constant: peak; linear: peak · (1 − p); cosine: peak · (1 + cos πp) / 2.
// Throws InputError for an unknown schedule.
double lrAt(const TrainingSettings& s, std::int64_t step);

// Predicate accepting parameter names (HF names) that fully match the ECMAScript regex.
// Throws InputError naming the pattern if it does not compile.
std::function<bool(const std::string&)> namesMatching(const std::string& pattern);

// An extra loss term computed after each micro-batch's forward pass (e.g. the
// DMoE router losses read what the model stored during forward). Returns a
// scalar already multiplied by its weight; it is added to the LM loss and its
// value is logged as metrics[name] (mean over the step's micro-batches).
struct LossTerm {
  std::string name;
  std::function<torch::Tensor(const TrainBatch& batch, const torch::Tensor& logits)> compute;
};

struct TrainerOptions {
  TrainingSettings settings;
  std::filesystem::path runDir;
  std::string device = "cpu";                         // resolved ("cpu", "cuda:0")
  std::function<bool(const std::string&)> trainable;  // empty = every parameter
  std::string trainableDescription = "all";           // saved in settings.json
  std::int64_t logEvery = 1;                          // metrics every k steps (and the last)
  bool resume = false;
  bool checkpoints = true;                            // false: no checkpoint folders at all (short runs
                                                      // whose caller keeps what it needs, e.g. deviation)
  std::int64_t checkpointsKept = 0;                   // complete checkpoints kept, newest first (0 = all)
  // Weight decay applies to trainable parameters it accepts; empty = those with ≥ 2 dimensions.
  std::function<bool(const std::string&)> decays;
  // Called with each micro-batch before its forward pass (e.g. to set MoE hard routing from batch.sources).
  std::function<void(const TrainBatch&)> beforeForward;
  Json extraSettings = Json::object();                // stage-specific, saved in settings.json
  // Held-out evaluation while training: at every step that is a multiple of
  // evaluateEvery, and at the last step (0 = never), `evaluate` runs with the
  // model in eval mode under NoGradGuard (train mode restored after) and
  // returns {language id: PPL}. That step is always logged, with "eval_ppl"
  // (the object) and "eval_ppl_mean" (mean of its values). It must draw no
  // random numbers, so training is the same with and without it.
  std::int64_t evaluateEvery = 0;
  std::function<Json()> evaluate;
  // Where `settings` come from, for messages: the project file and the JSON
  // pointer of the settings object ("/base_model/pretrain"). Empty: a message
  // names "<key> of the training settings". stageTrainerOptions sets projectFile.
  std::filesystem::path projectFile;
  std::string settingsPointer;
};

struct TrainResult {
  std::int64_t steps = 0;          // optimizer steps done in total (including before a resume)
  std::int64_t resumedFrom = 0;    // 0 when started fresh
  std::vector<double> losses;      // LM loss of each logged step; after a resume, those before it read back from metrics.jsonl
  std::vector<std::int64_t> loggedSteps;  // their step numbers (1-based)
  std::filesystem::path finalCheckpoint;
};

// The options a stage's checkpointed training starts from: its settings, run
// folder and device, resuming from the newest complete checkpoint, keeping
// the project's checkpoints_kept; projectFile is the project's (the stage sets
// settingsPointer).
TrainerOptions stageTrainerOptions(const Project& project, const TrainingSettings& settings,
                                   std::filesystem::path runDir, std::string device);

class Trainer {
 public:
  // Throws InputError for inconsistent settings (a learning rate beyond what
  // AdamW applies in float included), and when the run folder already has
  // checkpoints but resume is false (it never overwrites a run).
  Trainer(std::shared_ptr<CausalLMImpl> model, BatchSource& data, TrainerOptions options, Reporter reporter);
  ~Trainer();

  void addLossTerm(LossTerm term);
  // Trains up to settings.steps, checkpointing every checkpoint_every steps and at the end.
  // InputError when the run diverges (see "Divergence" above).
  TrainResult run();

  // Newest checkpoint folder with a `complete` marker; empty if none.
  static std::filesystem::path latestCheckpoint(const std::filesystem::path& runDir);
  // Every complete checkpoint of the run folder, newest first (a resume tries them in this order).
  static std::vector<std::filesystem::path> completeCheckpoints(const std::filesystem::path& runDir);
  // Loads model.pt of a checkpoint folder into `model` (names must match exactly).
  static void loadModelWeights(torch::nn::Module& model, const std::filesystem::path& checkpointDir);

 private:
  struct State;
  std::unique_ptr<State> s_;
};

}  // namespace dmoe
