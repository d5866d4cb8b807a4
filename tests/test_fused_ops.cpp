// The fused CPU kernels (model/cpu_kernels.h, model/fused_ops.h,
// train/token_loss.h) against another implementation: the composed ATen
// formulas in float64 (HF's RMSNorm, silu(gate)·up, cross_entropy), values and
// gradients; their exponential against std::exp; their results the same bits
// on one thread and on several; their input errors.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "model/cpu_kernels.h"
#include "model/fused_ops.h"
#include "train/batch_source.h"
#include "train/token_loss.h"
#include "util/error.h"

#include <QtTest>
#include <functional>
#include <cmath>
#include <limits>

#include "test_support.h"

using namespace dmoe;

namespace {

// max |a − b| / max |b|, with b the float64 reference: the error on the
// tensor's own scale (elementwise ratios blow up where a gradient cancels to ~0).
double maxRelativeDiff(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor ref = b.to(torch::kFloat64);
  return (a.to(torch::kFloat64) - ref).abs().max().item<double>() / ref.abs().max().item<double>();
}

// The autograd node that made t: the fused path must really have run.
bool madeBy(const torch::Tensor& t, const char* function) {
  return t.grad_fn() && t.grad_fn()->name().find(function) != std::string::npos;
}

// Restores LibTorch's thread count when a test ends.
struct ThreadsGuard {
  int saved = torch::get_num_threads();
  ~ThreadsGuard() { torch::set_num_threads(saved); }
};

struct NormCase {
  std::int64_t rows, width;
  bool unitOffset;
};

}  // namespace

class TestFusedOps : public QObject {
  Q_OBJECT

 private slots:
  void fastExpFollowsStdExp() {
    double worst = 0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
      const double exact = std::exp(static_cast<double>(x));
      worst = std::max(worst, std::fabs(kernels::fastExp(x) - exact) / exact);
    }
    qInfo("fastExp on [-87, 88]: max relative error %.3g", worst);
    QVERIFY(worst < 4e-7);
    QCOMPARE(kernels::fastExp(0.0f), 1.0f);
    QCOMPARE(kernels::fastExp(-std::numeric_limits<float>::infinity()), 0.0f);
    QCOMPARE(kernels::fastExp(-100.0f), 0.0f);
    QVERIFY(std::isfinite(kernels::fastExp(1000.0f)) && kernels::fastExp(1000.0f) > 1e38f);
    QVERIFY(std::isnan(kernels::fastExp(std::numeric_limits<float>::quiet_NaN())));
  }

  // Widths with and without an 8-lane tail; row counts across the 64-row
  // weight-gradient blocks; both scale conventions.
  void rmsNormEqualsTheComposedFormula_data() {
    QTest::addColumn<int>("rows");
    QTest::addColumn<int>("width");
    QTest::addColumn<bool>("unitOffset");
    QTest::newRow("llama 130x192") << 130 << 192 << false;
    QTest::newRow("llama 3x13") << 3 << 13 << false;
    QTest::newRow("gemma 70x24") << 70 << 24 << true;
    QTest::newRow("one row of 5") << 1 << 5 << false;
  }
  void rmsNormEqualsTheComposedFormula() {
    QFETCH(int, rows);
    QFETCH(int, width);
    QFETCH(bool, unitOffset);
    torch::manual_seed(rows * 100 + width);
    const torch::Tensor x0 = torch::randn({2, rows, width}, torch::kFloat64) * 3;
    const torch::Tensor w0 = torch::randn({width}, torch::kFloat64) * 0.5 + (unitOffset ? 0.0 : 1.0);
    const torch::Tensor g = torch::randn({2, rows, width}, torch::kFloat64);
    // float64 tensors take the composed path (the fused one is CPU fp32 only).
    torch::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
    rmsNorm(x, w, 1e-5, unitOffset).backward(g);
    torch::Tensor xf = x0.to(torch::kFloat32).requires_grad_(), wf = w0.to(torch::kFloat32).requires_grad_();
    const torch::Tensor y = rmsNorm(xf, wf, 1e-5, unitOffset);
    y.backward(g.to(torch::kFloat32));
    torch::NoGradGuard noGrad;
    const double dy = maxRelativeDiff(y, rmsNorm(x0, w0, 1e-5, unitOffset));
    const double dx = maxRelativeDiff(xf.grad(), x.grad());
    const double dw = maxRelativeDiff(wf.grad(), w.grad());
    qInfo("max relative diff vs float64: y %.3g, dx %.3g, dw %.3g", dy, dx, dw);
    QVERIFY2(madeBy(y, "RmsNormFunction"), y.grad_fn()->name().c_str());
    QVERIFY(dy < 2e-6 && dx < 2e-6 && dw < 2e-6);
  }

  void swiGluEqualsTheComposedFormula() {
    torch::manual_seed(7);
    // Large magnitudes too: the sigmoid's saturation on both sides.
    torch::Tensor a0 = torch::randn({2, 37, 51}, torch::kFloat64) * 4;
    a0.index_put_({0, 0, torch::indexing::Slice(0, 4)}, torch::tensor({-120.0, -30.0, 30.0, 120.0}, torch::kFloat64));
    const torch::Tensor b0 = torch::randn({2, 37, 51}, torch::kFloat64);
    const torch::Tensor g = torch::randn({2, 37, 51}, torch::kFloat64);
    torch::Tensor a = a0.clone().requires_grad_(), b = b0.clone().requires_grad_();
    const torch::Tensor reference = gatedActivation(a, b, "silu");  // float64: composed
    reference.backward(g);
    torch::Tensor af = a0.to(torch::kFloat32).requires_grad_(), bf = b0.to(torch::kFloat32).requires_grad_();
    const torch::Tensor h = gatedActivation(af, bf, "silu");
    h.backward(g.to(torch::kFloat32));
    const double dh = maxRelativeDiff(h, reference.detach()), da = maxRelativeDiff(af.grad(), a.grad()),
                 db = maxRelativeDiff(bf.grad(), b.grad());
    qInfo("max relative diff vs float64: h %.3g, da %.3g, db %.3g", dh, da, db);
    QVERIFY2(madeBy(h, "SwiGluFunction"), h.grad_fn()->name().c_str());
    QVERIFY(dh < 2e-6 && da < 2e-6 && db < 2e-6);
    // NaN stays NaN.
    const torch::Tensor nan = torch::full({4}, std::numeric_limits<float>::quiet_NaN());
    QVERIFY(torch::isnan(gatedActivation(nan, torch::ones({4}), "silu")).all().item<bool>());
  }

  // Grouped-query heads (4 query heads on 2 KV heads) and an ALiBi-like bias;
  // float64 takes the composed softmax, fp32 the fused causal one.
  void causalAttentionEqualsTheComposedFormula() {
    torch::manual_seed(9);
    const torch::Tensor q0 = torch::randn({2, 4, 19, 8}, torch::kFloat64) * 2;
    const torch::Tensor k0 = torch::randn({2, 2, 19, 8}, torch::kFloat64) * 2;
    const torch::Tensor v0 = torch::randn({2, 2, 19, 8}, torch::kFloat64);
    const torch::Tensor bias = torch::randn({1, 4, 1, 19}, torch::kFloat64);
    const torch::Tensor g = torch::randn({2, 4, 19, 8}, torch::kFloat64);
    for (const bool withBias : {false, true}) {
      torch::Tensor q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_(), v = v0.clone().requires_grad_();
      const torch::Tensor reference = causalAttention(q, k, v, withBias ? bias : torch::Tensor());
      reference.backward(g);
      torch::Tensor qf = q0.to(torch::kFloat32).requires_grad_(), kf = k0.to(torch::kFloat32).requires_grad_(),
                    vf = v0.to(torch::kFloat32).requires_grad_();
      const torch::Tensor out = causalAttention(qf, kf, vf, withBias ? bias.to(torch::kFloat32) : torch::Tensor());
      out.backward(g.to(torch::kFloat32));
      const double d0 = maxRelativeDiff(out, reference.detach()), dq = maxRelativeDiff(qf.grad(), q.grad()),
                   dk = maxRelativeDiff(kf.grad(), k.grad()), dv = maxRelativeDiff(vf.grad(), v.grad());
      qInfo("bias %d: max relative diff vs float64: out %.3g, dq %.3g, dk %.3g, dv %.3g", withBias, d0, dq, dk, dv);
      QVERIFY(d0 < 2e-6 && dq < 2e-6 && dk < 2e-6 && dv < 2e-6);
      // Causality: the first position sees only itself, so its output is its own value row.
      QVERIFY(torch::allclose(out.select(2, 0), vf.detach().repeat_interleave(2, 1).select(2, 0), 1e-6, 1e-6));
    }
  }

  void tokenLossEqualsCrossEntropy() {
    torch::manual_seed(3);
    const std::int64_t v = 301;  // a tail after the 8-lane blocks
    const torch::Tensor logits0 = torch::randn({3, 50, v}, torch::kFloat64) * 5;
    torch::Tensor labels = torch::randint(0, v, {3, 50}, torch::kInt64);
    labels.index_put_({1, torch::indexing::Slice(10, 30)}, kIgnoreLabel);  // 20 positions not scored
    torch::Tensor logits = logits0.clone().requires_grad_();
    const torch::Tensor reference = torch::nn::functional::cross_entropy(
        logits.reshape({-1, v}), labels.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).reduction(torch::kSum));
    (reference * 0.25).backward();
    torch::Tensor lf = logits0.to(torch::kFloat32).requires_grad_();
    const torch::Tensor loss = tokenLossSum(lf, labels);
    (loss * 0.25).backward();
    const double dl = std::fabs(loss.item<double>() - reference.item<double>()) / reference.item<double>();
    const double dg = maxRelativeDiff(lf.grad(), logits.grad());
    qInfo("loss %.6f vs %.6f (relative %.3g); gradient max relative diff %.3g", loss.item<double>(),
          reference.item<double>(), dl, dg);
    QCOMPARE(loss.scalar_type(), torch::kFloat32);
    QVERIFY2(madeBy(loss, "TokenLossFunction"), loss.grad_fn()->name().c_str());
    QVERIFY(dl < 1e-6 && dg < 2e-6);
    QCOMPARE(lf.grad()[1].narrow(0, 10, 20).abs().max().item<float>(), 0.0f);  // unscored rows get no gradient
  }

  void resultsAreTheSameBitsOnOneThreadAndOnSeveral() {
    ThreadsGuard guard;
    torch::manual_seed(11);
    // Odd sizes: 517 × 67 = 34,639 elements, so the chunks end inside the 8-lane blocks.
    const torch::Tensor x0 = torch::randn({517, 67}), w0 = torch::randn({67});
    const torch::Tensor logits0 = torch::randn({517, 97});
    const torch::Tensor labels = torch::randint(0, 97, {517}, torch::kInt64);
    const torch::Tensor q0 = torch::randn({3, 4, 37, 8}), kv0 = torch::randn({3, 2, 37, 8});
    auto run = [&](int threads) {
      torch::set_num_threads(threads);
      torch::Tensor x = x0.clone().requires_grad_(), w = w0.clone().requires_grad_();
      torch::Tensor l = logits0.clone().requires_grad_();
      torch::Tensor q = q0.clone().requires_grad_(), kv = kv0.clone().requires_grad_();
      (rmsNorm(x, w, 1e-6, false).sum() + gatedActivation(x, x * 2, "silu").sum() + tokenLossSum(l, labels) +
       causalAttention(q, kv, kv * 0.5).sum())
          .backward();
      return std::vector<torch::Tensor>{x.grad(), w.grad(), l.grad(), q.grad(), kv.grad()};
    };
    const auto one = run(1), two = run(4);
    for (std::size_t i = 0; i < one.size(); ++i) QVERIFY(torch::equal(one[i], two[i]));
  }

  // create_graph through a fused node throws with the node's name; the
  // composed float64 path of RMSNorm and SwiGLU gives their second derivatives.
  void doubleBackwardIsRefusedByName() {
    torch::manual_seed(4);
    auto secondOrder = [](const torch::Tensor& x, const std::function<torch::Tensor(const torch::Tensor&)>& f) {
      torch::Tensor input = x.clone().requires_grad_();
      const torch::Tensor first = torch::autograd::grad({f(input).sum()}, {input}, {}, true, /*create_graph=*/true)[0];
      return torch::autograd::grad({first.pow(2).sum()}, {input})[0];
    };
    const torch::Tensor x = torch::randn({6, 16}), w = torch::randn({16});
    const torch::Tensor labels = torch::randint(0, 16, {6}, torch::kInt64);
    const std::vector<std::pair<std::string, std::function<torch::Tensor(const torch::Tensor&)>>> nodes{
        {"RmsNormFunction", [&](const torch::Tensor& t) { return rmsNorm(t, w.to(t.scalar_type()), 1e-6, false); }},
        {"SwiGluFunction", [&](const torch::Tensor& t) { return gatedActivation(t, t * 0.5, "silu"); }},
        {"TokenLossFunction", [&](const torch::Tensor& t) { return tokenLossSum(t, labels); }}};
    for (const auto& [node, f] : nodes) {
      std::string error;
      try {
        secondOrder(x, f);
      } catch (const std::exception& e) {
        error = e.what();
      }
      QVERIFY2(error.find(node + ": a backward with create_graph (double backward)") != std::string::npos,
               (node + ": " + error).c_str());
    }
    // float64 takes the composed RMSNorm and SwiGLU (the loss is fused in any CPU dtype): differentiable twice.
    for (std::size_t i = 0; i < 2; ++i)
      QVERIFY(secondOrder(x.to(torch::kFloat64), nodes[i].second).abs().sum().item<double>() > 0);
  }

  void aLabelOutsideTheVocabularyIsAnInputError() {
    const torch::Tensor logits = torch::zeros({2, 3, 5});
    const torch::Tensor labels = torch::tensor(std::vector<std::int64_t>{0, 4, kIgnoreLabel, 2, 5, 1}).view({2, 3});
    const std::string error = test::inputErrorOf([&] { tokenLossSum(logits, labels); });
    QCOMPARE(error, std::string("token loss: label 5 at position 4 is outside the vocabulary [0, 5)"));
    QCOMPARE(test::inputErrorOf([&] { tokenLossSum(logits, labels.narrow(1, 0, 2)); }),
             std::string("token loss: 4 labels for 6 positions of logits"));
    // Zero logits: each of the 5 scored positions costs log 5.
    QVERIFY(std::fabs(tokenLossSum(logits, labels.clamp_max(4)).item<double>() - 5 * std::log(5.0)) < 1e-5);
  }
};

QTEST_GUILESS_MAIN(TestFusedOps)
#include "test_fused_ops.moc"
