// The DMoE building blocks against hand-checkable answers: the MoE FFN's soft
// and hard routing (model/moe_feed_forward.h), upcycling and the on-disk
// layout (model/dmoe_model.h), the router losses (train/router_losses.h) and
// the ε layer selection with its parameter counts (methods/layer_selection.h).
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "checkpoint/hf_checkpoint.h"
#include "methods/layer_allocation.h"
#include "methods/layer_selection.h"
#include "model/dmoe_model.h"
#include "model/moe_feed_forward.h"
#include "model/model_family.h"
#include "stages/dmoe_variant.h"
#include "model/load_model.h"
#include "train/router_losses.h"
#include "test_support.h"
#include "util/error.h"

#include <QTemporaryDir>
#include <QtTest>
#include <limits>
#include <algorithm>
#include <cmath>

using namespace dmoe;

namespace {

// D=8, L=3, H=2, V=13, F=12: tiny Llama.
ModelConfig tinyConfig() {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 13;
  c.hidden_size = 8;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 2;
  c.intermediate_size = 12;
  c.max_position_embeddings = 16;
  c.hidden_act = "silu";
  return c.completed("tiny llama");
}

MoeLayout layoutOf(std::vector<std::int64_t> layers, std::int64_t experts, std::int64_t topK) {
  MoeLayout l;
  l.layers = std::move(layers);
  l.numExperts = experts;
  l.topK = topK;
  for (std::int64_t e = 0; e < experts; ++e) l.expertLanguages.push_back({"lang" + std::to_string(e)});
  return l;
}

torch::Tensor someTokens() { return torch::tensor({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, torch::kInt64).view({2, 6}); }

double maxDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Two different experts A, B of the tiny config.
std::vector<std::shared_ptr<FeedForwardImpl>> twoExperts() {
  torch::manual_seed(11);
  std::vector<std::shared_ptr<FeedForwardImpl>> experts{buildFeedForward(tinyConfig()), buildFeedForward(tinyConfig())};
  torch::NoGradGuard noGrad;
  for (auto& e : experts)
    for (auto& p : e->parameters()) p.mul_(25.0);  // std 0.5: outputs of order 1, so differences show
  return experts;
}

}  // namespace

class TestMoe : public QObject {
  Q_OBJECT

 private slots:
  // Soft routing over identical experts: the renormalised weights sum to 1, so
  // every MoE layer computes exactly the dense FFN and the logits are the dense model's.
  void softRoutingOverIdenticalExpertsIsTheDenseModel() {
    torch::manual_seed(1);
    auto model = buildCausalLM(tinyConfig());
    torch::NoGradGuard noGrad;
    const torch::Tensor dense = model->forward(someTokens());
    torch::manual_seed(2);
    upcycle(*model, layoutOf({0, 2}, 3, 2));
    const torch::Tensor moe = model->forward(someTokens());
    qInfo("max |logit diff| soft MoE vs dense: %.3g", maxDiff(dense, moe));
    QVERIFY(maxDiff(dense, moe) < 1e-5);
    QCOMPARE(moeLayers(*model).size(), size_t{2});
  }

  // Registered names: dense FFN names replaced by the Qwen3-MoE ones in MoE layers only.
  void mergedNamesFollowQwenMoe() {
    auto model = buildCausalLM(tinyConfig());
    upcycle(*model, layoutOf({1}, 2, 2));
    std::vector<std::string> expected;
    for (const std::string& name : expandWeightNames("llama", 3, /*tiedEmbeddings=*/false)) {
      if (name.rfind("model.layers.1.mlp.", 0) != 0) {
        expected.push_back(name);
        continue;
      }
      const std::string leaf = name.substr(std::string("model.layers.1.mlp.").size());
      for (int e = 0; e < 2; ++e) expected.push_back("model.layers.1.mlp.experts." + std::to_string(e) + "." + leaf);
    }
    expected.push_back("model.layers.1.mlp.gate.weight");
    std::vector<std::string> actual;
    for (const auto& p : model->named_parameters()) actual.push_back(p.key());
    std::sort(expected.begin(), expected.end());
    std::sort(actual.begin(), actual.end());
    QCOMPARE(actual, expected);
    QCOMPARE(model->named_parameters().find("model.layers.1.mlp.gate.weight")->sizes().vec(),
             (std::vector<std::int64_t>{2, 8}));
  }

  // Hard routing: row b's tokens go through expert rowExpert[b] only, weight 1.
  void hardRoutingSelectsTheRowsExpert() {
    auto experts = twoExperts();
    auto routing = std::make_shared<Routing>();
    MoeFeedForwardImpl moe(experts, 8, 2, 0.02, routing);
    torch::NoGradGuard noGrad;
    const torch::Tensor x = torch::randn({3, 4, 8});
    routing->hardRows({1, 0, 1});
    const torch::Tensor out = moe.forward(x);
    QVERIFY(maxDiff(out[0], experts[1]->forward(x[0])) < 1e-6);
    QVERIFY(maxDiff(out[1], experts[0]->forward(x[1])) < 1e-6);
    QVERIFY(maxDiff(out[2], experts[1]->forward(x[2])) < 1e-6);
    QVERIFY(maxDiff(experts[0]->forward(x[0]), experts[1]->forward(x[0])) > 1e-3);  // the experts do differ
    routing->hardAll(0);
    QVERIFY(maxDiff(moe.forward(x), experts[0]->forward(x)) < 1e-6);
    QCOMPARE(moe.lastRouterLogits.sizes().vec(), (std::vector<std::int64_t>{12, 2}));  // logits kept for L_RC
    routing->hardRows({0, 5, 0});
    QVERIFY(test::inputErrorOf([&] { moe.forward(x); }).find("expert 5 of row 1 does not exist") != std::string::npos);
  }

  // Soft routing, hand-set router: with E = 2 and k = 2, out = p0·A(x) + p1·B(x),
  // p = softmax(router logits); with k = 1 the larger-probability expert alone.
  void softRoutingWeightsAreTheRenormalisedProbabilities() {
    auto experts = twoExperts();
    auto routing = std::make_shared<Routing>();
    MoeFeedForwardImpl moe(experts, 8, 2, 0.02, routing);
    torch::NoGradGuard noGrad;
    moe.gate->weight.zero_();
    moe.gate->weight[0][0] = 1.0;  // logit of expert 0 = x[..., 0], of expert 1 = 0
    const torch::Tensor x = torch::randn({1, 5, 8});
    const torch::Tensor p0 = torch::sigmoid(x.select(-1, 0)).unsqueeze(-1);  // softmax of (x0, 0)
    const torch::Tensor expected = p0 * experts[0]->forward(x) + (1 - p0) * experts[1]->forward(x);
    QVERIFY(maxDiff(moe.forward(x), expected) < 1e-5);

    MoeFeedForwardImpl top1(experts, 8, 1, 0.02, routing);
    top1.gate->weight.copy_(moe.gate->weight);
    const torch::Tensor pick0 = (x.select(-1, 0) > 0).unsqueeze(-1).to(torch::kFloat32);
    QVERIFY(maxDiff(top1.forward(x), pick0 * experts[0]->forward(x) + (1 - pick0) * experts[1]->forward(x)) < 1e-5);
    QCOMPARE(top1.topK(), std::int64_t{1});
    MoeFeedForwardImpl capped(experts, 8, 5, 0.02, routing);
    QCOMPARE(capped.topK(), std::int64_t{2});  // k capped at E
  }

  // L_RC: two tokens, logits (0, ln 3) → p = (1/4, 3/4). Label 1: −ln(3/4); label 0: −ln(1/4).
  // A second layer with zero logits: ln 2 per token. Mean over tokens, then layers.
  void routerClassificationLossKnownValues() {
    const torch::Tensor layer1 = torch::tensor({0.0, std::log(3.0), 0.0, std::log(3.0)}).view({2, 2});
    const torch::Tensor layer2 = torch::zeros({2, 2});
    const torch::Tensor labels = torch::tensor({1, 0}, torch::kInt64);
    const double l1 = (-std::log(0.75) - std::log(0.25)) / 2;
    QVERIFY(std::abs(routerClassificationLoss({layer1}, labels).item<double>() - l1) < 1e-6);
    QVERIFY(std::abs(routerClassificationLoss({layer1, layer2}, labels).item<double>() - (l1 + std::log(2.0)) / 2) < 1e-6);
    // An ignored label (-100) drops the token: only −ln(3/4) remains.
    QVERIFY(std::abs(routerClassificationLoss({layer1}, torch::tensor({1, -100}, torch::kInt64)).item<double>() +
                     std::log(0.75)) < 1e-6);
  }

  // Switch balance E·Σ fₑPₑ with Σ fₑ = k (SPEC 1.6, HF Mixtral): exactly k when
  // balanced (1 for top-1, 2 for top-2); unbalanced top-1 example by hand:
  // logits (2,0), (1,0), both sent to expert 0 → f = (1,0), P₀ = (σ(2)+σ(1))/2,
  // loss = 2·P₀ = σ(2)+σ(1); ∂/∂logit[0][0] = 2·½·σ(2)(1−σ(2)) ≠ 0.
  void balanceLossIsKWhenBalancedAndHasGradientOtherwise() {
    const torch::Tensor balanced = switchBalanceLoss(torch::zeros({4, 2}), torch::tensor({0, 1, 0, 1}, torch::kInt64).view({4, 1}));
    QVERIFY(std::abs(balanced.item<double>() - 1.0) < 1e-6);
    const torch::Tensor top2 = switchBalanceLoss(torch::zeros({3, 3}), torch::tensor({0, 1, 1, 2, 2, 0}, torch::kInt64).view({3, 2}));
    // top-2 over 3 experts: f = (2/3, 2/3, 2/3), P = (1/3, 1/3, 1/3) → 3 · 3 · 2/9 = 2
    QVERIFY2(std::abs(top2.item<double>() - 2.0) < 1e-6, std::to_string(top2.item<double>()).c_str());

    auto sigmoid = [](double v) { return 1 / (1 + std::exp(-v)); };
    torch::Tensor logits = torch::tensor({2.0, 0.0, 1.0, 0.0}).view({2, 2}).requires_grad_(true);
    torch::Tensor loss = switchBalanceLoss(logits, torch::tensor({0, 0}, torch::kInt64).view({2, 1}));
    QVERIFY(std::abs(loss.item<double>() - (sigmoid(2) + sigmoid(1))) < 1e-6);
    loss.backward();
    const double expected = sigmoid(2) * (1 - sigmoid(2));
    QVERIFY(std::abs(logits.grad()[0][0].item<double>() - expected) < 1e-6);

    // Padding (mask false) counts in neither f nor P: the balanced batch plus an
    // unbalanced padded token is still exactly 1.
    const torch::Tensor padded = switchBalanceLoss(torch::tensor({0.0, 0.0, 0.0, 0.0, 5.0, 0.0}).view({3, 2}),
                                                   torch::tensor({0, 1, 0}, torch::kInt64).view({3, 1}),
                                                   torch::tensor({true, true, false}));
    QVERIFY(std::abs(padded.item<double>() - 1.0) < 1e-6);
  }

  // A saved DMoE folder loads back (layout from config.json) with identical logits.
  void mergedModelRoundTripsThroughDisk() {
    QTemporaryDir tmp;
    torch::manual_seed(3);
    auto model = buildCausalLM(tinyConfig());
    MoeLayout layout = layoutOf({0, 1}, 2, 1);
    upcycle(*model, layout);
    {
      torch::NoGradGuard noGrad;
      for (auto& p : model->named_parameters()) p.value().add_(torch::randn_like(p.value()) * 0.01);  // experts now differ
    }
    const std::filesystem::path dir = std::filesystem::path(tmp.path().toStdString()) / "dmoe";
    saveStateDict(*model, dir, moeConfigJson(model->config(), layout));
    auto loaded = loadCausalLM(dir);
    torch::NoGradGuard noGrad;
    model->eval();
    QCOMPARE(maxDiff(model->forward(someTokens()), loaded->forward(someTokens())), 0.0);
    routingOf(*model)->hardAll(1);
    QVERIFY(routeLanguageHard(*loaded, layout, "lang1"));
    QCOMPARE(maxDiff(model->forward(someTokens()), loaded->forward(someTokens())), 0.0);
    const auto read = readMoeLayout(loaded->config(), "test");
    QVERIFY(read.has_value());
    QCOMPARE(read->layers, layout.layers);
    QCOMPARE(read->expertOf("lang1"), std::int64_t{1});
  }

  void layoutErrorsNameTheKey() {
    Json j = layoutOf({2, 1}, 2, 2).toJson();
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("cfg /dmoe/moe_layers: must be ascending") != std::string::npos);
    j = layoutOf({1}, 2, 2).toJson();
    j["experts"] = Json::array({Json::array({"fr"}), Json::array({"fr"})});
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("'fr' is served by two experts") != std::string::npos);
    j["experts"] = Json::array({Json::array({"fr"})});
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("lists 1 experts, num_experts is 2") != std::string::npos);
    auto model = buildCausalLM(tinyConfig());
    QVERIFY(test::inputErrorOf([&] { upcycle(*model, layoutOf({3}, 2, 2)); }).find("layer 3 does not exist") != std::string::npos);
  }

  // LayerMoE (SPEC 2.3): N_i experts per layer, all copies of the layer's FFN
  // (so the model's output is still the dense one), a xavier-normal router
  // of shape [N_i, D], and the layout round-trips through disk.
  void layerMoeLayoutHasExpertsPerLayer() {
    QTemporaryDir tmp;
    torch::manual_seed(5);
    auto model = buildCausalLM(tinyConfig());
    torch::NoGradGuard noGrad;
    const torch::Tensor dense = model->forward(someTokens());
    MoeLayout layout;
    layout.layers = {0, 2};
    layout.layerExperts = {4, 2};
    layout.numExperts = 4;
    layout.routerInit = "xavier_normal";
    layout.originalExpert = true;
    upcycle(*model, layout);
    const auto moe = moeLayers(*model);
    QCOMPARE(moe.size(), size_t{2});
    QCOMPARE(moe[0]->numExperts(), std::int64_t{4});
    QCOMPARE(moe[1]->numExperts(), std::int64_t{2});
    QCOMPARE(moe[0]->gate->weight.sizes().vec(), (std::vector<std::int64_t>{4, 8}));
    QVERIFY(maxDiff(model->forward(someTokens()), dense) < 1e-5);
    const std::filesystem::path dir = std::filesystem::path(tmp.path().toStdString()) / "layermoe";
    saveStateDict(*model, dir, moeConfigJson(model->config(), layout));
    auto loaded = loadCausalLM(dir);
    QCOMPARE(maxDiff(model->forward(someTokens()), loaded->forward(someTokens())), 0.0);
    const auto read = readMoeLayout(loaded->config(), "test");
    QCOMPARE(read->layerExperts, layout.layerExperts);
    QVERIFY(read->originalExpert && read->expertLanguages.empty());
    QCOMPARE(read->routerInit, std::string("xavier_normal"));

    // Xavier-normal: std √(2 / (fan_in + fan_out)); on a [64, 4096] router the sample std is within 2 %.
    torch::nn::Linear wide(torch::nn::LinearOptions(4096, 64).bias(false));
    torch::nn::init::xavier_normal_(wide->weight);
    QVERIFY(std::abs(wide->weight.std().item<double>() / std::sqrt(2.0 / (4096 + 64)) - 1) < 0.02);

    Json j = layout.toJson();
    j["experts_per_layer"] = {4};
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("cfg /dmoe/experts_per_layer: lists 1 counts for 2") != std::string::npos);
    j["experts_per_layer"] = {4, 1};
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("at least 2 experts") != std::string::npos);
    j["experts_per_layer"] = {3, 2};
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("/dmoe/num_experts: must be the largest") != std::string::npos);
  }

  // LPR by hand: old tokens 0 and 2, token 1 new (its huge logits must not count).
  // Layer a, 2 experts: −log ½ = 0.693147, −log ¾ = 0.287682 → mean 0.490415.
  // Layer b, 3 experts: −log ⅓ = 1.098612, −log ⅕ = 1.609438 → mean 1.354025.
  // LPR = (0.490415 + 1.354025) / 2 = 0.922220. One softmax: a second one would change it.
  void lprLossKnownValues() {
    const double l3 = std::log(3.0), l2 = std::log(2.0);
    const torch::Tensor a = torch::tensor({0.0, 0.0, -50.0, 50.0, l3, 0.0}).view({3, 2});
    const torch::Tensor b = torch::tensor({0.0, 0.0, 0.0, -50.0, 9.0, 9.0, 0.0, l2, l2}).view({3, 3});
    const std::vector<torch::Tensor> generations{torch::tensor({0, 1}), torch::tensor({0, 1, 1})};
    const torch::Tensor tokens = torch::tensor({0, 1, 0});  // generations: old, new, old
    const double expected = (0.5 * (std::log(2.0) + std::log(4.0 / 3.0)) + 0.5 * (std::log(3.0) + std::log(5.0))) / 2;
    QVERIFY(std::abs(expected - 0.922220) < 1e-6);
    QVERIFY(std::abs(lprLoss({a, b}, generations, tokens, 1).item<double>() - expected) < 1e-6);
    QCOMPARE(lprLoss({a, b}, generations, torch::tensor({1, 1, 1}), 1).item<double>(), 0.0);  // no old token
    // The gradient pushes expert 0's logit up for old tokens only: ∂/∂z₀ = (p₀ − 1) / (2 tokens · 2 layers).
    torch::Tensor z = a.clone().requires_grad_(true);
    lprLoss({z, b}, generations, tokens, 1).backward();
    QVERIFY(std::abs(z.grad()[0][0].item<double>() - (0.5 - 1) / 4) < 1e-6);
    QCOMPARE(z.grad()[1][0].item<double>(), 0.0);
  }

  // Lifelong LPR by hand: one layer, experts of generations 0, 1, 2, 2; tokens
  // of generations 0, 1 and 2 (the newest, not reviewed).
  // Token 0, logits 0,0,0,0: −log p₀ = −log ¼ = 1.386294.
  // Token 1, logits 0,0,ln2,ln2: −log (p₀ + p₁) = −log (2/6) = 1.098612.
  // LPR = (1.386294 + 1.098612) / 2 = 1.242453; the first expansion's tokens
  // are not pushed to expert 0 alone (that would be −log ⅙ = 1.791759).
  void lprLossLifelongKnownValues() {
    const double l2 = std::log(2.0);
    const torch::Tensor c = torch::tensor({0.0, 0.0, 0.0, 0.0, 0.0, 0.0, l2, l2, -40.0, 9.0, 40.0, 40.0}).view({3, 4});
    const torch::Tensor loss = lprLoss({c}, {torch::tensor({0, 1, 2, 2})}, torch::tensor({0, 1, 2}), 2);
    QVERIFY(std::abs(loss.item<double>() - 1.242453) < 1e-6);
    // The one-round loss is this one with the old tokens of generation 0: bit-identical to −log_softmax[0].
    const torch::Tensor old = lprLoss({c}, {torch::tensor({0, 1, 1, 1})}, torch::tensor({0, 1, 1}), 1);
    QCOMPARE(old.item<float>(), -torch::log_softmax(c, -1)[0][0].item<float>());
  }

  // SPEC 2.3's classifier: its input at position t is the mean of positions
  // 0…t (hand values), so changing a later token leaves every earlier
  // position's class logits as they were, through the whole model; in eval
  // mode class 0 sends a token to expert 0 alone, in train mode it steers nothing.
  void classifierSeesNoFutureTokenAndRoutesClassZeroToTheOriginal() {
    const torch::Tensor x = torch::tensor({1.0, 10.0, 3.0, 20.0, 5.0, 60.0}).view({1, 3, 2});
    QVERIFY(torch::equal(causalRunningMean(x), torch::tensor({1.0, 10.0, 2.0, 15.0, 3.0, 30.0}).view({1, 3, 2})));

    torch::manual_seed(9);
    auto model = buildCausalLM(tinyConfig());
    MoeLayout layout = layoutOf({1, 2}, 3, 2);
    layout.classifierLayers = {2};
    layout.classes = 2;
    upcycle(*model, layout);
    model->eval();
    torch::NoGradGuard noGrad;
    const auto moe = moeLayers(*model);
    QVERIFY(!moe[0]->classifier && moe[1]->classes() == 2);
    torch::Tensor tokens = someTokens();
    model->forward(tokens);
    const torch::Tensor before = moe[1]->lastClassLogits.view({2, 6, 2}).clone();
    tokens[0][4] = 7;  // a later token of row 0
    model->forward(tokens);
    const torch::Tensor after = moe[1]->lastClassLogits.view({2, 6, 2});
    QVERIFY(maxDiff(after[0].narrow(0, 0, 4), before[0].narrow(0, 0, 4)) < 1e-6);
    QVERIFY(maxDiff(after[0].narrow(0, 4, 2), before[0].narrow(0, 4, 2)) > 1e-6);

    auto routing = std::make_shared<Routing>();
    MoeFeedForwardImpl layer(twoExperts(), 8, 2, 0.02, routing);
    layer.addClassifier(2);
    layer.classifier->weight.zero_();  // tied logits: argmax is class 0 for every token
    const torch::Tensor h = torch::randn({1, 4, 8});
    layer.eval();
    QCOMPARE(maxDiff(layer.forward(h), layer.expert(0)->forward(h)), 0.0);
    // Expert 0 alone: the second slot is empty, not expert 1 run with weight 0.
    QVERIFY(torch::equal(layer.lastTopExperts, torch::tensor({0, -1}, torch::kInt64).repeat({4, 1})));
    layer.train();
    QVERIFY(maxDiff(layer.forward(h), layer.expert(0)->forward(h)) > 1e-4);  // top-2 mixture
    QVERIFY(test::inputErrorOf([&] { layer.addClassifier(2); }).find("already has a classifier") != std::string::npos);
  }

  // Lifelong routing (SPEC 2.3): with experts of generations 0, 1, 2 a class-1
  // token competes among experts 0 and 1 only, even when the router prefers
  // expert 2; a classifier of 2 classes in such a layer (stage 1 of a second
  // expansion, before it grows) does not decide; growing keeps its rows.
  void classifierRestrictsRoutingToEarlierGenerations() {
    torch::manual_seed(4);
    auto experts = twoExperts();
    experts.push_back(buildFeedForward(tinyConfig()));
    {
      torch::NoGradGuard noGrad;
      for (auto& p : experts.back()->parameters()) p.mul_(25.0);
    }
    auto routing = std::make_shared<Routing>();
    MoeFeedForwardImpl layer(experts, 8, 2, 0.02, routing);
    layer.setExpertGenerations({0, 1, 2});
    QVERIFY(test::inputErrorOf([&] { layer.setExpertGenerations({0, 1}); }).find("2 expert generations for 3") != std::string::npos);
    torch::NoGradGuard noGrad;
    layer.gate->weight.zero_();
    layer.gate->weight[2].fill_(10.0);  // positive inputs: expert 2 by far the router's favourite
    const torch::Tensor h = torch::rand({1, 4, 8}) + 0.1;
    const torch::Tensor half = 0.5 * (experts[0]->forward(h) + experts[1]->forward(h));
    const torch::Tensor top2 = [&] {  // experts 2 and (tied 0, 1) → 2 with weight ≈ 1
      layer.eval();
      return layer.forward(h).clone();
    }();
    QVERIFY(maxDiff(top2, half) > 1e-3);

    layer.addClassifier(2);
    layer.classifier->weight.zero_();
    layer.classifier->weight[1].fill_(1.0);  // class 1 for every token
    layer.eval();
    QCOMPARE(maxDiff(layer.forward(h), top2), 0.0);  // 2 classes, 3 generations: it does not decide
    const torch::Tensor kept = layer.classifier->weight.clone();
    layer.growClassifier(3);
    QCOMPARE(layer.classes(), std::int64_t{3});
    QVERIFY(torch::equal(layer.classifier->weight.narrow(0, 0, 2), kept));
    layer.classifier->weight[2].zero_();
    QVERIFY(maxDiff(layer.forward(h), half) < 1e-5);  // class 1: experts 0 and 1, tied: ½ each
    layer.classifier->weight[2].fill_(2.0);           // class 2: every expert competes again
    QCOMPARE(maxDiff(layer.forward(h), top2), 0.0);
    QVERIFY(test::inputErrorOf([&] { layer.growClassifier(3); }).find("cannot grow it to 3") != std::string::npos);

    // k = 3, but class 1 allows experts 0 and 1 only: the third slot is empty
    // (−1), not expert 2 dispatched with weight 0 — its weights are NaN here,
    // so a 0-weight dispatch would turn the output NaN.
    for (auto& p : experts[2]->parameters()) p.fill_(std::numeric_limits<float>::quiet_NaN());
    MoeFeedForwardImpl wide(experts, 8, 3, 0.02, routing);
    wide.setExpertGenerations({0, 1, 2});
    wide.gate->weight.copy_(layer.gate->weight);
    wide.addClassifier(3);
    wide.classifier->weight.zero_();
    wide.classifier->weight[1].fill_(1.0);
    wide.eval();
    const torch::Tensor restricted = wide.forward(h);
    QVERIFY(!restricted.isnan().any().item<bool>());
    QVERIFY(maxDiff(restricted, half) < 1e-5);
    QVERIFY((wide.lastTopExperts.select(1, 2) == -1).all().item<bool>());
    QVERIFY((wide.lastTopExperts.narrow(1, 0, 2) >= 0).all().item<bool>());
  }

  // A first layer-wise expansion of a dense model, then a second (lifelong)
  // one: every existing expert and router row stays as it was, the new experts
  // copy expert 0 (the original FFN), layers become MoE where N_i ≥ 2, the
  // layout records each expert's generation and survives its JSON; the
  // parameter count formula matches the model.
  void expandLayerWiseTwice() {
    torch::manual_seed(6);
    auto model = buildCausalLM(tinyConfig());
    const torch::Tensor dense1 = model->mlp(1)->parameters().front().detach().clone();
    const MoeLayout first = expandLayerWise(*model, std::nullopt, {1, 3, 2}, 2, {"en", "de"}, {"el"});
    QCOMPARE(first.layers, (std::vector<std::int64_t>{1, 2}));
    QCOMPARE(first.layerExperts, (std::vector<std::int64_t>{3, 2}));
    QCOMPARE(first.numExperts, std::int64_t{3});
    QCOMPARE(first.expertGenerations, (std::vector<std::vector<std::int64_t>>{{0, 1, 1}, {0, 1}}));
    QCOMPARE(first.generations, (std::vector<std::vector<std::string>>{{"en", "de"}, {"el"}}));
    QCOMPARE(first.generationOf("el"), std::int64_t{1});
    QCOMPARE(first.generationOf("fr"), std::int64_t{-1});
    const MoeLayout reread = MoeLayout::fromJson(first.toJson(), "cfg");
    QCOMPARE(reread.toJson(), first.toJson());

    auto moe = moeLayers(*model);
    QVERIFY(torch::equal(moe[0]->expert(0)->parameters().front(), dense1));
    {
      torch::NoGradGuard noGrad;  // stage 1 would move the new experts: make them differ from expert 0
      for (auto& p : moe[0]->expert(1)->parameters()) p.add_(1.0);
    }
    std::int64_t before = 0;
    for (const auto& p : model->parameters()) before += p.numel();
    const torch::Tensor router1 = moe[0]->gate->weight.detach().clone();
    const torch::Tensor expert1 = moe[0]->expert(1)->parameters().front().detach().clone();
    const MoeLayout second = expandLayerWise(*model, first, {2, 2, 1}, 2, {}, {"sr"});
    QCOMPARE(second.layers, (std::vector<std::int64_t>{0, 1, 2}));
    QCOMPARE(second.layerExperts, (std::vector<std::int64_t>{2, 4, 2}));
    QCOMPARE(second.expertGenerations, (std::vector<std::vector<std::int64_t>>{{0, 2}, {0, 1, 1, 2}, {0, 1}}));
    QCOMPARE(second.generations.size(), size_t{3});
    moe = moeLayers(*model);
    QCOMPARE(moe.size(), size_t{3});
    QVERIFY(moe[0]->routing() == moe[1]->routing() && moe[1]->routing() == moe[2]->routing());
    QVERIFY(torch::equal(moe[1]->gate->weight.narrow(0, 0, 3), router1));
    QVERIFY(torch::equal(moe[1]->expert(1)->parameters().front(), expert1));
    QVERIFY(torch::equal(moe[1]->expert(3)->parameters().front(), dense1));  // a copy of expert 0, not of expert 1
    QVERIFY(!torch::equal(moe[1]->gate->weight[3], moe[1]->gate->weight[0]));

    std::int64_t after = 0;
    for (const auto& p : model->parameters()) after += p.numel();
    std::int64_t ffn = 0;
    for (const auto& p : moe[0]->expert(0)->parameters()) ffn += p.numel();
    const ParameterCounts counts = layerMoeParameterCounts(before, ffn, 8, {2, 2, 1}, 2, {1, 3, 2}, before - ffn);
    QCOMPARE(counts.total, after);
    // layer 0 gains an expert and a 2-row router (active +1 FFN), layer 1 an expert and a row (k = 2 already met)
    QCOMPARE(counts.active, before - ffn + ffn + 2 * 8 + 8);

    QVERIFY(test::inputErrorOf([&] { expandLayerWise(*model, second, {2, 2, 2}, 1, {}, {"bg"}); }).find("k = 2") != std::string::npos);
    MoeLayout groups = second;
    groups.originalExpert = false;
    QVERIFY(test::inputErrorOf([&] { expandLayerWise(*model, groups, {2, 2, 2}, 2, {}, {"bg"}); }).find("DMoE model") != std::string::npos);
    QVERIFY(test::inputErrorOf([&] { expandLayerWise(*model, second, {1, 1, 1}, 2, {}, {"bg"}); }).find("adds no expert") != std::string::npos);

    Json j = second.toJson();
    j["expert_generations"][1] = {0, 1, 3, 2};
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("/dmoe/expert_generations/1: generation 3") != std::string::npos);
    j["expert_generations"][1] = {0, 1, 2};
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); }).find("lists 3 experts, the layer has 4") != std::string::npos);
    j = second.toJson();
    const auto generations = static_cast<std::int64_t>(second.generations.size());
    j["classifier_layers"] = {second.layers.front()};
    j["classes"] = generations;  // one class per generation: fine
    QCOMPARE(MoeLayout::fromJson(j, "cfg").classes, generations);
    j["classes"] = generations + 1;
    QVERIFY(test::inputErrorOf([&] { MoeLayout::fromJson(j, "cfg"); })
                .find("/dmoe/classes: " + std::to_string(generations + 1) + " classes for " + std::to_string(generations) +
                      " generations") != std::string::npos);
  }

  // SPEC 1.8 step 2: the new expert copies expert c, the router gains row c.
  void addExpertCopiesExpertAndRouterRow() {
    auto experts = twoExperts();
    auto routing = std::make_shared<Routing>();
    MoeFeedForwardImpl moe(experts, 8, 2, 0.02, routing);
    moe.addExpert(copyFeedForward(*moe.expert(1), tinyConfig()), 1);
    QCOMPARE(moe.numExperts(), std::int64_t{3});
    QVERIFY(torch::equal(moe.gate->weight[2], moe.gate->weight[1]));
    torch::NoGradGuard noGrad;
    const torch::Tensor x = torch::randn({1, 3, 8});
    routing->hardAll(2);
    QCOMPARE(maxDiff(moe.forward(x), experts[1]->forward(x)), 0.0);
  }

  // SPEC 1.4 on a given score vector: scores (1, 3, 2, 5) → s = (0, 0.5, 0.25, 1).
  void epsilonSelectionInBothModes() {
    const std::vector<double> s = normalizedScores(layerScores({{0, 2, 1, 4}, {2, 4, 3, 6}}));
    QCOMPARE(s, (std::vector<double>{0, 0.5, 0.25, 1}));
    QCOMPARE(selectLayers(s, 0.5, "threshold"), (std::vector<std::int64_t>{1, 3}));
    QCOMPARE(selectLayers(s, 0.6, "threshold"), (std::vector<std::int64_t>{3}));
    QCOMPARE(selectLayers(s, 0.0, "threshold"), (std::vector<std::int64_t>{0, 1, 2, 3}));
    QCOMPARE(selectLayers(s, 0.5, "top-fraction"), (std::vector<std::int64_t>{1, 3}));     // ⌈2⌉ = 2
    QCOMPARE(selectLayers(s, 0.6, "top-fraction"), (std::vector<std::int64_t>{1, 2, 3}));  // ⌈2.4⌉ = 3
    QCOMPARE(selectLayers(s, 0.0, "top-fraction"), (std::vector<std::int64_t>{}));
    QCOMPARE(normalizedScores({2, 2, 2}), (std::vector<double>{1, 1, 1}));  // all equal: all equally specific
    QVERIFY(test::inputErrorOf([&] { selectLayers(s, 0.5, "top-k"); }).find("unknown mode 'top-k'") != std::string::npos);
  }

  // Counts by formula: base 1000, P_ffn 100, D 8, 2 layers, E 3, k 2:
  // total 1000 + 2·(2·100 + 24) = 1448; active 1000 + 2·(1·100 + 24) = 1248.
  // And against a real merged model of the tiny config.
  void parameterCountsOfAKnownConfig() {
    ParameterCounts c = dmoeParameterCounts(1000, 100, 8, 2, 3, 2);
    QCOMPARE(c.total, std::int64_t{1448});
    QCOMPARE(c.active, std::int64_t{1248});
    auto model = buildCausalLM(tinyConfig());
    auto count = [](const torch::nn::Module& m) {
      std::int64_t n = 0;
      for (const auto& p : m.parameters()) n += p.numel();
      return n;
    };
    const std::int64_t base = count(*model), ffn = 3 * 8 * 12;  // gate, up, down: D·F each
    QCOMPARE(count(*model->mlp(0)), ffn);
    upcycle(*model, layoutOf({0, 2}, 4, 2));
    QCOMPARE(count(*model), dmoeParameterCounts(base, ffn, 8, 2, 4, 2).total);
  }
};

QTEST_GUILESS_MAIN(TestMoe)
#include "test_moe.moc"
