// The shared trainer and the sequence sampler: learning-rate schedules,
// learning, freezing, gradient accumulation, clipping, metrics, evaluation
// during training, and resume equal to an uninterrupted run; seeded, language-weighted window sampling.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "bigram_lm.h"
#include "train/sequence_sampler.h"
#include "runtime/device.h"
#include "train/stationarity.h"
#include "train/trainer.h"
#include "util/atomic_file.h"

#include <QtTest>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <cmath>
#include <filesystem>

#include "test_support.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

TrainingSettings settings(std::int64_t steps, double lr, const std::string& schedule = "constant") {
  TrainingSettings s = settingsDefaults<TrainingSettings>("/deviation");  // Adam's β and ε, no router losses
  s.steps = steps;
  s.learning_rate = lr;
  s.schedule = schedule;
  s.warmup_fraction = 0;
  s.weight_decay = 0;
  s.grad_clip = 0;
  s.seq_len = 8;
  s.batch_sequences = 4;
  s.micro_batch = 4;
  s.seed = 7;
  return s;
}

// The same rows over and over, taken cyclically `rows` at a time.
class FixedSource : public BatchSource {
 public:
  explicit FixedSource(TrainBatch batch) : batch_(std::move(batch)) {}
  TrainBatch next(std::int64_t rows) override {
    torch::Tensor index = torch::arange(position_, position_ + rows) % batch_.inputIds.size(0);
    position_ += rows;
    return {batch_.inputIds.index_select(0, index), batch_.labels.index_select(0, index),
            batch_.sources.index_select(0, index)};
  }
  Json state() const override { return {{"position", position_}}; }
  void restore(const Json& state) override { position_ = state.at("position"); }

 private:
  TrainBatch batch_;
  std::int64_t position_ = 0;
};

// 4 rows × 8 positions over a vocabulary of 16; rows 0 and 1 have masked labels,
// so rows carry different numbers of scored tokens.
TrainBatch maskedBatch() {
  torch::Tensor ids = (torch::arange(32) * 5 % 16).reshape({4, 8});
  torch::Tensor labels = (ids + 1) % 16;
  labels.index_put_({0, torch::indexing::Slice(0, 6)}, kIgnoreLabel);
  labels.index_put_({1, torch::indexing::Slice(0, 3)}, kIgnoreLabel);
  return {ids, labels, torch::zeros({4}, torch::kInt64)};
}

std::vector<std::uint32_t> syntheticTokens(std::size_t n, std::uint32_t vocab, std::uint32_t salt) {
  std::vector<std::uint32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::uint32_t>((i * 7 + i / 3 + salt) % vocab);
  return t;
}

TrainerOptions options(const fs::path& runDir, TrainingSettings s) {
  TrainerOptions o;
  o.settings = s;
  o.runDir = runDir;
  return o;
}

// A bigram LM with one more parameter that takes part only in batches whose
// first column holds token 15, as an expert idle under hard routing would.
class SometimesIdleLMImpl : public test::BigramLMImpl {
 public:
  SometimesIdleLMImpl() : test::BigramLMImpl(16, 8, 5) { extra = register_parameter("extra", torch::full({8}, 0.5)); }
  torch::Tensor hiddenStates(const torch::Tensor& inputIds) override {
    torch::Tensor h = test::BigramLMImpl::hiddenStates(inputIds);
    return (inputIds.select(1, 0) == 15).any().item<bool>() ? h * extra : h;
  }
  torch::Tensor extra;
};

// Trains until the loss term's call after `calls` (a crash inside a step, after
// the checkpoints before it); true when it crashed so.
bool crashesAfter(std::shared_ptr<CausalLMImpl> model, BatchSource& data, TrainerOptions o, int calls) {
  NullSink sink;
  Trainer crashing(std::move(model), data, std::move(o), Reporter(sink, "train"));
  int seen = 0;
  crashing.addLossTerm({"crash", [&](const TrainBatch&, const torch::Tensor& logits) {
                          if (++seen > calls) throw std::runtime_error("simulated crash");
                          return logits.sum() * 0.0;
                        }});
  try {
    crashing.run();
  } catch (const std::runtime_error& e) {
    return std::string(e.what()) == "simulated crash";
  }
  return false;
}

double l2(const std::vector<torch::Tensor>& tensors) {
  double sum = 0;
  for (const torch::Tensor& t : tensors) sum += t.to(torch::kFloat64).pow(2).sum().item<double>();
  return std::sqrt(sum);
}

}  // namespace

class TestTrainer : public QObject {
  Q_OBJECT
 private slots:
  void learningRateSchedules() {
    TrainingSettings s = settings(100, 1e-3, "cosine");
    s.warmup_fraction = 0.1;  // W = 10 steps
    QCOMPARE(lrAt(s, 0), 1e-4);   // (0 + 1) / 10 of the peak
    QCOMPARE(lrAt(s, 4), 5e-4);
    QCOMPARE(lrAt(s, 9), 1e-3);   // warm-up ends at the peak
    QCOMPARE(lrAt(s, 10), 1e-3);  // decay starts at the peak
    QVERIFY(std::abs(lrAt(s, 55) - 5e-4) < 1e-15);  // cosine midpoint: half the peak
    QVERIFY(std::abs(lrAt(s, 100)) < 1e-15);
    s.schedule = "linear";
    QVERIFY(std::abs(lrAt(s, 55) - 5e-4) < 1e-15);
    QVERIFY(std::abs(lrAt(s, 91) - 1e-4) < 1e-15);
    QCOMPARE(lrAt(s, 100), 0.0);  // linear ends at 0
    s.schedule = "constant";
    QCOMPARE(lrAt(s, 99), 1e-3);
    s.schedule = "step";
    QVERIFY_THROWS_EXCEPTION(InputError, lrAt(s, 0));
  }

  void lossFallsOnARepeatedBatchAndMetricsAreWritten() {
    QTemporaryDir tmp;
    fs::path run = fs::path(tmp.path().toStdString()) / "run";
    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 1);
    FixedSource data(maskedBatch());
    CollectingSink sink;
    TrainingSettings s = settings(40, 0.05);
    s.grad_clip = 1.0;
    Trainer trainer(model, data, options(run, s), Reporter(sink, "train"));
    TrainResult r = trainer.run();
    QCOMPARE(r.losses.size(), size_t{40});
    QVERIFY2(r.losses.front() > 2.0, std::to_string(r.losses.front()).c_str());  // ≈ ln 16 at random init
    QVERIFY2(r.losses.back() < 0.2 * r.losses.front(), std::to_string(r.losses.back()).c_str());

    std::int64_t metricEvents = 0;
    for (const Json& e : sink.events) metricEvents += e.value("event", "") == "metrics";
    QCOMPARE(metricEvents, std::int64_t{40});
    std::istringstream lines(readFile(run / "metrics.jsonl"));
    std::string line;
    std::int64_t n = 0;
    while (std::getline(lines, line)) {
      Json m = Json::parse(line);
      QCOMPARE(m["step"].get<std::int64_t>(), ++n);
      for (const char* key : {"loss", "lr", "grad_norm", "tokens_per_s", "step_time_s"}) QVERIFY(m.contains(key));
    }
    QCOMPARE(n, std::int64_t{40});
    QVERIFY(fs::exists(run / "settings.json"));
    QVERIFY(fs::exists(run / "checkpoints" / "step-40" / "complete"));
    QVERIFY(Trainer::latestCheckpoint(run) == run / "checkpoints" / "step-40");
    // A finished run is never overwritten by accident.
    QVERIFY_THROWS_EXCEPTION(InputError, Trainer(model, data, options(run, s), Reporter(sink, "train")));
  }

  void bf16TrainingKeepsFp32MasterWeightsAndLearns() {
    QTemporaryDir tmp;
    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 1);
    FixedSource data(maskedBatch());
    CollectingSink sink;
    TrainingSettings s = settings(40, 0.05);
    s.grad_clip = 1.0;
    struct Fp32Again {  // the precision is process-wide: back to fp32 however the test ends
      ~Fp32Again() { configurePrecision("fp32", "cpu"); }
    } fp32Again;
    configurePrecision("bf16", "cpu");
    std::vector<torch::ScalarType> logitTypes;
    Trainer trainer(model, data, options(fs::path(tmp.path().toStdString()) / "run", s), Reporter(sink, "train"));
    trainer.addLossTerm({"probe", [&](const TrainBatch&, const torch::Tensor& logits) {
                           logitTypes.push_back(logits.scalar_type());
                           return torch::zeros({});
                         }});
    TrainResult r = trainer.run();
    configurePrecision("fp32", "cpu");
    QCOMPARE(logitTypes.size(), size_t{40});
    QCOMPARE(logitTypes.front(), torch::kBFloat16);  // the head's product ran in bf16
    for (const auto& p : model->named_parameters()) {
      QVERIFY2(p.value().scalar_type() == torch::kFloat32, p.key().c_str());  // master weights
      QVERIFY2(p.value().grad().scalar_type() == torch::kFloat32, p.key().c_str());
    }
    // Optimizer state as saved in the checkpoint: fp32 moments.
    std::vector<torch::Tensor> matrices, vectors;  // the trainer's two groups: decay (≥ 2-D) and not
    for (const torch::Tensor& p : model->parameters()) (p.dim() >= 2 ? matrices : vectors).push_back(p);
    torch::optim::AdamW reloaded({torch::optim::OptimizerParamGroup(matrices), torch::optim::OptimizerParamGroup(vectors)});
    torch::load(reloaded, (fs::path(tmp.path().toStdString()) / "run" / "checkpoints" / "step-40" / "optimizer.pt").string());
    std::size_t moments = 0;
    for (const auto& [key, state] : reloaded.state()) {
      const auto& adam = static_cast<const torch::optim::AdamWParamState&>(*state);
      QCOMPARE(adam.exp_avg().scalar_type(), torch::kFloat32);
      QCOMPARE(adam.exp_avg_sq().scalar_type(), torch::kFloat32);
      ++moments;
    }
    QVERIFY(moments > 0);
    QVERIFY2(r.losses.back() < 0.2 * r.losses.front(),
             (std::to_string(r.losses.front()) + " → " + std::to_string(r.losses.back())).c_str());
    // fp32 again: the same forward computes in fp32.
    QCOMPARE(model->forward(torch::zeros({1, 4}, torch::kInt64)).scalar_type(), torch::kFloat32);
  }

  void logEveryKStepsAveragesTheWindow() {
    QTemporaryDir tmp;
    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 1);
    FixedSource data(maskedBatch());
    NullSink sink;
    TrainerOptions o = options(fs::path(tmp.path().toStdString()), settings(10, 0.05));
    o.logEvery = 4;
    TrainResult r = Trainer(model, data, o, Reporter(sink, "train")).run();
    QVERIFY(r.loggedSteps == (std::vector<std::int64_t>{4, 8, 10}));
  }

  // evaluateEvery 3 of 7 steps: the hook runs after steps 3, 6 and 7, in eval
  // mode without gradients; those lines alone carry eval_ppl; the losses and
  // weights are bit-identical to a run without evaluation.
  void evaluationRunsAtItsStepsAndLeavesTrainingUnchanged() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    std::vector<std::uint32_t> fr = syntheticTokens(500, 16, 0);
    const std::vector<TokenStream> streams{{"fr", fr.data(), 500, 1.0}};
    const TrainingSettings s = settings(7, 0.02, "cosine");
    NullSink quiet;
    auto plainModel = std::make_shared<test::BigramLMImpl>(16, 8, 5);
    SequenceSampler plainData(streams, 8, 99);
    const TrainResult plain = Trainer(plainModel, plainData, options(dir / "plain", s), Reporter(quiet, "train")).run();

    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 5);
    SequenceSampler data(streams, 8, 99);
    TrainerOptions o = options(dir / "evaluated", s);
    o.evaluateEvery = 3;
    std::vector<std::int64_t> calledAfter;  // steps done when the hook ran (4 rows a step)
    bool evalMode = true, noGrad = true;
    o.evaluate = [&] {
      calledAfter.push_back(data.windowsDrawn() / 4);
      evalMode = evalMode && !model->is_training();
      noGrad = noGrad && !torch::GradMode::is_enabled();
      return Json{{"fr", 10.0 * static_cast<double>(calledAfter.size())}, {"de", 20.0}};
    };
    CollectingSink sink;
    Trainer trainer(model, data, o, Reporter(sink, "train"));
    bool trainingMode = true;
    trainer.addLossTerm({"mode", [&](const TrainBatch&, const torch::Tensor& logits) {
                           trainingMode = trainingMode && model->is_training();
                           return logits.sum() * 0.0;
                         }});
    const TrainResult r = trainer.run();
    QVERIFY(calledAfter == (std::vector<std::int64_t>{3, 6, 7}));
    QVERIFY(evalMode && noGrad && trainingMode);
    QCOMPARE(r.losses.size(), plain.losses.size());
    for (size_t i = 0; i < r.losses.size(); ++i) QVERIFY(r.losses[i] == plain.losses[i]);  // exact
    auto pp = plainModel->named_parameters(), pe = model->named_parameters();
    for (const auto& p : pp) QVERIFY2(torch::equal(p.value(), pe[p.key()]), p.key().c_str());

    std::istringstream lines(readFile(dir / "evaluated" / "metrics.jsonl"));
    std::vector<std::int64_t> evaluatedSteps;
    for (std::string line; std::getline(lines, line);) {
      const Json m = Json::parse(line);
      if (!m.contains("eval_ppl")) continue;
      evaluatedSteps.push_back(m["step"].get<std::int64_t>());
      QCOMPARE(m["eval_ppl"]["de"].get<double>(), 20.0);
      QCOMPARE(m["eval_ppl_mean"].get<double>(), (m["eval_ppl"]["fr"].get<double>() + 20.0) / 2);
    }
    QVERIFY(evaluatedSteps == (std::vector<std::int64_t>{3, 6, 7}));
    for (const Json& e : sink.events)
      if (e["event"] == "metrics") QCOMPARE(e["run"].get<std::string>(), fs::absolute(dir / "evaluated").string());

    // An evaluation step is always a logged step.
    auto other = std::make_shared<test::BigramLMImpl>(16, 8, 5);
    SequenceSampler otherData(streams, 8, 99);
    TrainerOptions sparse = options(dir / "sparse", s);
    sparse.logEvery = 5;
    sparse.evaluateEvery = 3;
    sparse.evaluate = [] { return Json{{"fr", 1.0}}; };
    const TrainResult logged = Trainer(other, otherData, sparse, Reporter(quiet, "train")).run();
    QVERIFY(logged.loggedSteps == (std::vector<std::int64_t>{3, 5, 6, 7}));
  }

  void frozenParametersStayBitIdentical() {
    QTemporaryDir tmp;
    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 2);
    torch::Tensor embedBefore = model->embed->weight.clone(), headBefore = model->head->weight.clone();
    FixedSource data(maskedBatch());
    NullSink sink;
    TrainerOptions o = options(fs::path(tmp.path().toStdString()), settings(5, 0.05));
    o.settings.weight_decay = 0.1;  // decay must not touch frozen weights either
    o.trainable = namesMatching(R"(head\..*)");
    Trainer(model, data, o, Reporter(sink, "train")).run();
    QVERIFY(!model->embed->weight.requires_grad());
    QVERIFY(torch::equal(model->embed->weight, embedBefore));
    QVERIFY(!torch::equal(model->head->weight, headBefore));
    QVERIFY_THROWS_EXCEPTION(InputError, namesMatching("head[("));
  }

  void accumulatingTwoMicroBatchesEqualsOneBatch() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    NullSink sink;
    auto oneBatch = std::make_shared<test::BigramLMImpl>(16, 8, 3);
    auto accumulated = std::make_shared<test::BigramLMImpl>(16, 8, 3);
    FixedSource dataA(maskedBatch()), dataB(maskedBatch());
    TrainingSettings s = settings(1, 0.01);
    TrainResult a = Trainer(oneBatch, dataA, options(dir / "a", s), Reporter(sink, "train")).run();
    s.micro_batch = 2;
    TrainResult b = Trainer(accumulated, dataB, options(dir / "b", s), Reporter(sink, "train")).run();
    QVERIFY2(std::abs(a.losses[0] - b.losses[0]) < 1e-6, (std::to_string(a.losses[0]) + " vs " + std::to_string(b.losses[0])).c_str());
    auto pa = oneBatch->parameters(), pb = accumulated->parameters();
    for (std::size_t i = 0; i < pa.size(); ++i) {
      QVERIFY(torch::allclose(pa[i].grad(), pb[i].grad(), 1e-5, 1e-7));
      QVERIFY(torch::allclose(pa[i], pb[i], 1e-5, 1e-7));
    }
  }

  void clippingCapsTheGlobalNorm() {
    // With ε ≫ |g|, an AdamW step moves the weights by lr/ε · g: the update's
    // norm shows the (clipped) gradient norm; the metric shows the pre-clip norm.
    for (double clip : {0.0, 0.01}) {
      QTemporaryDir tmp;
      auto model = std::make_shared<test::BigramLMImpl>(16, 8, 4);
      std::vector<torch::Tensor> before;
      for (const torch::Tensor& p : model->parameters()) before.push_back(p.detach().clone());
      FixedSource data(maskedBatch());
      NullSink sink;
      TrainingSettings s = settings(1, 1e6);
      s.adam_eps = 1e6;
      s.grad_clip = clip;
      Trainer(model, data, options(fs::path(tmp.path().toStdString()), s), Reporter(sink, "train")).run();
      Json m = Json::parse(readFile(fs::path(tmp.path().toStdString()) / "metrics.jsonl"));
      const double preClip = m["grad_norm"].get<double>();
      std::vector<torch::Tensor> moved;
      for (std::size_t i = 0; i < before.size(); ++i) moved.push_back(model->parameters()[i].detach() - before[i]);
      const double expected = clip > 0 ? clip : preClip;
      QVERIFY(preClip > 0.1);
      QVERIFY2(std::abs(l2(moved) - expected) < 1e-3 * expected,
               (std::to_string(l2(moved)) + " vs " + std::to_string(expected)).c_str());
    }
  }

  void resumedRunEqualsUninterruptedRun() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    std::vector<std::uint32_t> fr = syntheticTokens(500, 16, 0), de = syntheticTokens(300, 16, 5);
    auto streams = [&] {
      return std::vector<TokenStream>{{"fr", fr.data(), 500, 1.0}, {"de", de.data(), 300, 2.0}};
    };
    TrainingSettings s = settings(6, 0.02, "cosine");
    s.warmup_fraction = 0.34;
    s.weight_decay = 0.1;
    s.grad_clip = 0.5;
    s.micro_batch = 2;
    s.checkpoint_every = 3;
    NullSink sink;

    auto straight = std::make_shared<test::BigramLMImpl>(16, 8, 5);
    SequenceSampler dataA(streams(), 8, 99);
    TrainResult a = Trainer(straight, dataA, options(dir / "a", s), Reporter(sink, "train")).run();

    // The interrupted run crashes inside step 4 (after the step-3 checkpoint).
    auto first = std::make_shared<test::BigramLMImpl>(16, 8, 5);
    SequenceSampler dataB(streams(), 8, 99);
    QVERIFY(crashesAfter(first, dataB, options(dir / "b", s), 3 * 2));
    QVERIFY(Trainer::latestCheckpoint(dir / "b") == dir / "b" / "checkpoints" / "step-3");

    auto resumedModel = std::make_shared<test::BigramLMImpl>(16, 8, 6);  // different init: the checkpoint decides
    SequenceSampler dataC(streams(), 8, 99);
    TrainerOptions o = options(dir / "b", s);
    o.resume = true;
    TrainResult c = Trainer(resumedModel, dataC, o, Reporter(sink, "train")).run();
    QCOMPARE(c.resumedFrom, std::int64_t{3});
    // The steps before the resume come back from metrics.jsonl: the whole curve, exact.
    QVERIFY(c.loggedSteps == (std::vector<std::int64_t>{1, 2, 3, 4, 5, 6}));
    QVERIFY(c.losses == a.losses);
    // Resumed at the last step (nothing left to run), the final loss is still the run's.
    auto again = std::make_shared<test::BigramLMImpl>(16, 8, 6);
    SequenceSampler dataD(streams(), 8, 99);
    const TrainResult d = Trainer(again, dataD, o, Reporter(sink, "train")).run();
    QCOMPARE(d.resumedFrom, std::int64_t{6});
    QVERIFY(!d.losses.empty() && d.losses.back() == a.losses.back());
    auto pa = straight->named_parameters(), pc = resumedModel->named_parameters();
    for (const auto& p : pa) QVERIFY2(torch::equal(p.value(), pc[p.key()]), p.key().c_str());
    QCOMPARE(dataC.windowsDrawn(), dataA.windowsDrawn());
    // metrics.jsonl holds each step once, in order.
    std::istringstream lines(readFile(dir / "b" / "metrics.jsonl"));
    std::string line;
    std::int64_t n = 0;
    while (std::getline(lines, line)) QCOMPARE(Json::parse(line)["step"].get<std::int64_t>(), ++n);
    QCOMPARE(n, std::int64_t{6});
  }

  // A disk that fills during a checkpoint (a 448 KiB tmpfs: the model's
  // 278 KB fit, the optimizer's 557 KB do not): an ordinary runtime_error
  // naming the cause and the file, no half-written checkpoint left behind. It
  // used to abort the process inside torch::save (exit 134). Needs root.
  void aFullDiskDuringACheckpointIsAnOrdinaryError() {
    if (::geteuid() != 0) QSKIP("needs root to mount a small tmpfs");
    QTemporaryDir tmp;
    const fs::path disk = fs::path(tmp.path().toStdString()) / "disk";
    fs::create_directories(disk);
    if (::mount("tmpfs", disk.c_str(), "tmpfs", 0, "size=448k") != 0)
      QSKIP(qPrintable(QString("cannot mount a tmpfs: ") + std::strerror(errno)));
    struct Unmount {
      fs::path path;
      ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{disk};
    TrainingSettings s = settings(2, 0.01);
    s.checkpoint_every = 1;
    auto model = std::make_shared<test::BigramLMImpl>(4096, 8, 5);
    FixedSource data(maskedBatch());
    NullSink sink;
    Trainer trainer(model, data, options(disk / "run", s), Reporter(sink, "train"));
    std::string error;
    try {
      trainer.run();
    } catch (const std::runtime_error& e) {
      error = e.what();
    }
    QVERIFY2(error.find("No space left on device") != std::string::npos, error.c_str());
    QVERIFY2(error.find((disk / "run/checkpoints/step-1/optimizer.pt").string()) != std::string::npos, error.c_str());
    QVERIFY(!fs::exists(disk / "run/checkpoints/step-1"));  // the incomplete checkpoint is removed
    QVERIFY(Trainer::latestCheckpoint(disk / "run").empty());
  }

  // A diverging run (the weights turned NaN before step 2's forward, as a
  // learning rate of 1e10 does to a real model) stops with an InputError
  // naming the first non-finite step and the settings to look at. The device
  // keeps the record and it is read back at the logging cadence (step 4 of
  // log_every 4), not after every step. Nothing non-finite is written: no
  // metrics line (null), no checkpoint. It used to finish with NaN weights.
  void aNonFiniteLossStopsTheRunNamingTheStepAndTheSettings() {
    QTemporaryDir tmp;
    const fs::path run = fs::path(tmp.path().toStdString()) / "run";
    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 1);
    FixedSource data(maskedBatch());
    NullSink sink;
    TrainerOptions o = options(run, settings(10, 0.05));
    o.logEvery = 4;
    o.projectFile = "/lab/p.dmoe.json";
    o.settingsPointer = "/base_model/pretrain";
    int forwards = 0;
    o.beforeForward = [&](const TrainBatch&) {
      torch::NoGradGuard noGrad;
      if (++forwards == 2) model->gain.fill_(std::nan(""));
    };
    const std::string error = test::inputErrorOf([&] { Trainer(model, data, o, Reporter(sink, "train")).run(); });
    QVERIFY_CONTAINS(error, "not finite at step 2 of 10");
    QVERIFY_CONTAINS(error, "learning rate (0.05, /base_model/pretrain/learning_rate in /lab/p.dmoe.json)");
    QVERIFY_CONTAINS(error, "the precision (fp32, /precision)");
    QCOMPARE(forwards, 4);
    QCOMPARE(readFile(run / "metrics.jsonl"), std::string());
    QVERIFY(Trainer::completeCheckpoints(run).empty());
  }

  // The record is also read before each checkpoint: steps 1 and 2 are saved,
  // the NaN step 3 stops the run before its checkpoint.
  void aCheckpointIsNeverSavedFromANonFiniteStep() {
    QTemporaryDir tmp;
    const fs::path run = fs::path(tmp.path().toStdString()) / "run";
    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 1);
    FixedSource data(maskedBatch());
    NullSink sink;
    TrainingSettings s = settings(6, 0.05);
    s.checkpoint_every = 1;
    TrainerOptions o = options(run, s);
    o.logEvery = 100;
    int forwards = 0;
    o.beforeForward = [&](const TrainBatch&) {
      torch::NoGradGuard noGrad;
      if (++forwards == 3) model->embed->weight.fill_(INFINITY);
    };
    const std::string error = test::inputErrorOf([&] { Trainer(model, data, o, Reporter(sink, "train")).run(); });
    QVERIFY_CONTAINS(error, "not finite at step 3 of 6");
    QVERIFY_CONTAINS(error, "learning rate (0.05, learning_rate of the training settings)");
    QCOMPARE(forwards, 3);
    QCOMPARE(Trainer::latestCheckpoint(run), run / "checkpoints/step-2");
    QVERIFY(!fs::exists(run / "checkpoints/step-3"));
  }

  // A finite loss with a NaN gradient (√x at 0), or a NaN loss term with
  // finite gradients, stops the run as a NaN loss does; the metrics hold
  // the steps before it and never a null.
  void aNonFiniteGradientOrLossTermStopsTheRunToo() {
    for (const bool gradient : {true, false}) {
      QTemporaryDir tmp;
      const fs::path run = fs::path(tmp.path().toStdString()) / "run";
      auto model = std::make_shared<test::BigramLMImpl>(16, 8, 1);
      FixedSource data(maskedBatch());
      NullSink sink;
      TrainerOptions o = options(run, settings(4, 0.05));
      o.checkpoints = false;
      Trainer trainer(model, data, o, Reporter(sink, "train"));
      int calls = 0;
      trainer.addLossTerm({"probe", [&](const TrainBatch&, const torch::Tensor& logits) {
                             const torch::Tensor zero = logits.sum() * 0.0;
                             if (++calls < 2) return zero;
                             return gradient ? zero.sqrt() : zero + std::nan("");
                           }});
      QVERIFY_CONTAINS(test::inputErrorOf([&] { trainer.run(); }), "not finite at step 2 of 4");
      const std::string metrics = readFile(run / "metrics.jsonl");
      QCOMPARE(std::count(metrics.begin(), metrics.end(), '\n'), std::ptrdiff_t{1});
      QVERIFY2(metrics.find("null") == std::string::npos, metrics.c_str());
    }
  }

  // Weights the last optimizer step left non-finite while its loss and
  // gradients were finite (here a parameter no batch uses, as an idle
  // expert's, set to inf before the last step) are never saved: neither as
  // the last checkpoint nor as the model a stage writes after run().
  void weightsLeftNonFiniteByTheLastStepAreNeverSaved() {
    for (const bool checkpoints : {true, false}) {
      QTemporaryDir tmp;
      const fs::path run = fs::path(tmp.path().toStdString()) / "run";
      auto model = std::make_shared<SometimesIdleLMImpl>();
      FixedSource data(maskedBatch());  // no row starts with token 15: `extra` stays idle
      NullSink sink;
      TrainerOptions o = options(run, settings(2, 0.05));
      o.checkpoints = checkpoints;
      int forwards = 0;
      o.beforeForward = [&](const TrainBatch&) {
        torch::NoGradGuard noGrad;
        if (++forwards == 2) model->extra.fill_(INFINITY);
      };
      const std::string error = test::inputErrorOf([&] { Trainer(model, data, o, Reporter(sink, "train")).run(); });
      QVERIFY_CONTAINS(error, "the weights are not finite after step 2 of 2 (extra)");
      QVERIFY(Trainer::completeCheckpoints(run).empty());
    }
  }

  // AdamW multiplies float tensors by lr / (1 − β1) and lr · weight_decay:
  // beyond float's range LibTorch threw "value cannot be converted to type
  // float without overflow" at the first step, naming no setting.
  void aLearningRateAdamCannotApplyInFloatIsRefused() {
    QTemporaryDir tmp;
    auto model = std::make_shared<test::BigramLMImpl>(16, 8, 1);
    FixedSource data(maskedBatch());
    NullSink sink;
    TrainerOptions o = options(fs::path(tmp.path().toStdString()) / "run", settings(2, 1e38));
    o.settingsPointer = "/deviation";
    const std::string error = test::inputErrorOf([&] { Trainer(model, data, o, Reporter(sink, "train")).run(); });
    QVERIFY_CONTAINS(error, "/deviation/learning_rate 1e+38");
    QVERIFY_CONTAINS(error, "beyond float's range");
    o.settings.learning_rate = 1e30;  // 1e31 after the bias correction: fits
    o.settings.weight_decay = 1e10;   // but 1e40 does not
    QVERIFY_CONTAINS(test::inputErrorOf([&] { Trainer(model, data, o, Reporter(sink, "train")); }), "weight_decay");
    o.settings.weight_decay = 0.1;
    o.settings.adam_eps = 0;  // settings built in code from zeros: 0/0 for a weight that never had a gradient
    QVERIFY_CONTAINS(test::inputErrorOf([&] { Trainer(model, data, o, Reporter(sink, "train")); }), "adam_eps 0");
  }

  // Exact resume whatever takes part in a step: the parameter idle in the first
  // step after the resume (step 3) gets no weight decay or momentum update there,
  // as in the uninterrupted run, so both end bit-identical (weight decay on).
  void resumeIsExactWhenAParameterIsIdleInAStep() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    TrainBatch batch = maskedBatch();
    batch.inputIds.index_put_({torch::indexing::Slice(2, 4), 0}, 15);  // rows 2, 3: the extra parameter's
    TrainingSettings s = settings(6, 0.05);
    s.batch_sequences = 2;
    s.micro_batch = 2;  // steps alternate: rows 0–1 (idle), rows 2–3
    s.weight_decay = 0.1;
    s.checkpoint_every = 2;
    NullSink sink;

    auto straight = std::make_shared<SometimesIdleLMImpl>();
    FixedSource dataA(batch);
    Trainer(straight, dataA, options(dir / "a", s), Reporter(sink, "train")).run();

    auto first = std::make_shared<SometimesIdleLMImpl>();
    FixedSource dataB(batch);
    QVERIFY(crashesAfter(first, dataB, options(dir / "b", s), 3));  // inside step 4
    auto resumed = std::make_shared<SometimesIdleLMImpl>();
    FixedSource dataC(batch);
    TrainerOptions o = options(dir / "b", s);
    o.resume = true;
    QCOMPARE(Trainer(resumed, dataC, o, Reporter(sink, "train")).run().resumedFrom, std::int64_t{2});
    QVERIFY(!torch::equal(straight->extra, torch::full({8}, 0.5)));  // it did train
    for (const auto& p : straight->named_parameters())
      QVERIFY2(torch::equal(p.value(), resumed->named_parameters()[p.key()]), p.key().c_str());
  }

  // A damaged newest checkpoint (its optimizer state truncated) is named in a
  // warning and the one before it resumes the run, which still ends as the
  // uninterrupted run does; when none reads, the error lists them.
  void aDamagedCheckpointFallsBackToThePreviousOne() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    TrainingSettings s = settings(6, 0.05);
    s.weight_decay = 0.1;
    s.checkpoint_every = 2;
    NullSink null;
    auto straight = std::make_shared<test::BigramLMImpl>(16, 8, 5);
    FixedSource dataA(maskedBatch());
    Trainer(straight, dataA, options(dir / "a", s), Reporter(null, "train")).run();

    auto first = std::make_shared<test::BigramLMImpl>(16, 8, 5);
    FixedSource dataB(maskedBatch());
    QVERIFY(crashesAfter(first, dataB, options(dir / "b", s), 4));  // inside step 5
    const fs::path newest = dir / "b/checkpoints/step-4";
    QCOMPARE(Trainer::completeCheckpoints(dir / "b"), (std::vector<fs::path>{newest, dir / "b/checkpoints/step-2"}));
    fs::resize_file(newest / "optimizer.pt", 100);

    CollectingSink events;
    auto resumed = std::make_shared<test::BigramLMImpl>(16, 8, 6);
    FixedSource dataC(maskedBatch());
    TrainerOptions o = options(dir / "b", s);
    o.resume = true;
    QCOMPARE(Trainer(resumed, dataC, o, Reporter(events, "train")).run().resumedFrom, std::int64_t{2});
    bool warned = false;
    for (const Json& e : events.events)
      warned = warned || (e.value("event", "") == "warning" &&
                          e.value("message", "").find(newest.string() + " cannot be read (") != std::string::npos);
    QVERIFY(warned);
    for (const auto& p : straight->named_parameters())
      QVERIFY2(torch::equal(p.value(), resumed->named_parameters()[p.key()]), p.key().c_str());

    for (const fs::path& checkpoint : Trainer::completeCheckpoints(dir / "b")) fs::resize_file(checkpoint / "model.pt", 10);
    auto again = std::make_shared<test::BigramLMImpl>(16, 8, 6);
    FixedSource dataD(maskedBatch());
    const std::string error = test::inputErrorOf([&] { Trainer(again, dataD, o, Reporter(null, "train")); });
    QVERIFY2(error.find("no checkpoint of " + (dir / "b").string() + " can be read") != std::string::npos, error.c_str());
    QVERIFY2(error.find("step-6") != std::string::npos && error.find("step-2") != std::string::npos, error.c_str());
  }

  void samplerIsSeededAndLanguageWeighted() {
    std::vector<std::uint32_t> a = syntheticTokens(1000, 50, 0), b = syntheticTokens(400, 50, 3);
    std::vector<TokenStream> streams{{"a", a.data(), 1000, 1.0}, {"b", b.data(), 400, 3.0}};
    SequenceSampler one(streams, 16, 42), two(streams, 16, 42), other(streams, 16, 43);
    TrainBatch whole = one.next(5);
    TrainBatch part1 = two.next(2), part2 = two.next(3);
    QVERIFY(torch::equal(whole.inputIds, torch::cat({part1.inputIds, part2.inputIds})));  // batching does not matter
    QVERIFY(!torch::equal(whole.inputIds, other.next(5).inputIds));                        // the seed does
    // Labels are the inputs shifted by one, inside the source stream.
    for (std::int64_t r = 0; r < 5; ++r) {
      SequenceSampler::Window w = one.windowAt(r);
      const std::uint32_t* tokens = streams[w.stream].tokens + w.start;
      QCOMPARE(whole.sources[r].item<std::int64_t>(), w.stream);
      QCOMPARE(whole.inputIds[r][0].item<std::int64_t>(), std::int64_t{tokens[0]});
      QCOMPARE(whole.labels[r][15].item<std::int64_t>(), std::int64_t{tokens[16]});
    }
    // Stream b has weight 3 of 4: about 3000 of 4000 windows (binomial σ ≈ 27).
    std::int64_t fromB = 0, maxStart = 0;
    for (std::int64_t i = 0; i < 4000; ++i) {
      SequenceSampler::Window w = one.windowAt(i);
      fromB += w.stream;
      if (w.stream == 1) maxStart = std::max(maxStart, w.start);
    }
    QVERIFY2(std::abs(fromB - 3000) < 150, std::to_string(fromB).c_str());
    QVERIFY(maxStart <= 400 - 17);
    one.restore(Json{{"windows_drawn", 2}});
    QVERIFY(torch::equal(one.next(3).inputIds, part2.inputIds));
    std::vector<TokenStream> tooShort{{"tiny", a.data(), 16, 1.0}};
    QVERIFY_THROWS_EXCEPTION(InputError, SequenceSampler(tooShort, 16, 1));
  }

  void stationarityRatioByHand() {
    auto ratio = [](std::vector<std::vector<double>> vectors) {
      StationarityRatio r;
      for (const auto& v : vectors) r.add(torch::tensor(v, torch::kFloat64));
      return std::make_pair(r.r(), r.orthogonal());
    };
    QCOMPARE(ratio({{1, 0}, {-1, 0}}).first, 0.0);  // opposite pulls cancel
    QCOMPARE(ratio({{1, 0}, {2, 0}}).first, 1.0);   // aligned pulls add up
    const auto [r, orthogonal] = ratio({{3, 0}, {0, 4}});  // orthogonal: r = r⊥ = ‖(3,4)‖ / (3 + 4)
    QVERIFY(std::abs(r - 5.0 / 7.0) < 1e-12 && std::abs(orthogonal - 5.0 / 7.0) < 1e-12);
    QVERIFY(std::abs(ratio({{1, 0}, {0, 1}, {-1, 0}, {0, -1}}).second - 0.5) < 1e-12);  // 1/√n for n equal sizes
    QVERIFY(std::isnan(ratio({{0, 0}, {0, 0}}).first));
    QVERIFY(std::isnan(ratio({}).first));
    QVERIFY(std::isnan(ratio({{1, 0}, {NAN, 0}}).first));  // not finite: undefined, not a number that looks valid
  }

  void summedGradientIsTokensTimesTheMeanGradient() {
    auto model = std::make_shared<test::BigramLMImpl>(16, 32, 3);
    const std::vector<torch::Tensor> params{model->head->weight, model->gain};
    const torch::Tensor before = model->head->weight.detach().clone();
    // Stale gradients and train mode: neither read nor changed.
    model->head->weight.mutable_grad() = torch::full_like(model->head->weight, 7.0);
    model->train();

    // maskedBatch: 4 rows × 8 labels, 9 of them masked → 23 scored; micro-batches of 3 and 1.
    FixedSource source(maskedBatch());
    const SummedGradient g = summedGradient(*model, params, source, 4, 3);
    QCOMPARE(g.tokens, std::int64_t{23});
    QCOMPARE(g.gradient.numel(), model->head->weight.numel() + 8);
    QVERIFY(model->is_training());
    QVERIFY(torch::equal(model->head->weight.grad(), torch::full_like(model->head->weight, 7.0)));
    QVERIFY(!model->gain.grad().defined());
    QVERIFY(torch::equal(model->head->weight, before));

    // Independently: the mean NLL of the same scored labels in one batch, by backward(), times 23.
    const TrainBatch batch = maskedBatch();
    model->zero_grad();
    model->head->weight.mutable_grad().reset();
    const torch::Tensor logits = model->forward(batch.inputIds);
    torch::nn::functional::cross_entropy(logits.reshape({-1, 16}), batch.labels.reshape({-1}),
                                         torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel))
        .backward();
    const torch::Tensor expected = torch::cat({model->head->weight.grad().reshape({-1}), model->gain.grad()}) * 23.0;
    const double maxdiff = (g.gradient - expected).abs().max().item<double>();
    QVERIFY2(maxdiff < 1e-5, std::to_string(maxdiff).c_str());

    QVERIFY_THROWS_EXCEPTION(InputError, summedGradient(*model, {}, source, 4, 3));
  }
};

QTEST_GUILESS_MAIN(TestTrainer)
#include "test_trainer.moc"
