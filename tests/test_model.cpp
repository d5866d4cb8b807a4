// Model families (model/llama.h, model/bloom.h), their config.json mapping
// (model/causal_lm.h), name tables (model/model_family.h) and the causal
// attention (model/fused_ops.h), checked against hand-computed answers on tiny
// configs. No reference implementation runs here: every expected number is
// written out or follows from a formula stated next to it.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "model/bloom.h"
#include "model/causal_lm.h"
#include "model/fused_ops.h"
#include "model/llama.h"
#include "model/model_family.h"
#include "runtime/device.h"
#include "train/autocast_guard.h"
#include "train/ffn_input_means.h"
#include "test_support.h"
#include "util/error.h"

#include <QtTest>
#include <algorithm>
#include <cmath>
#include <functional>

using namespace dmoe;

namespace {

// D=8, L=2, H=2, V=11, F=12; families differ only where they must.
ModelConfig tinyConfig(const std::string& type) {
  ModelConfig c;
  c.model_type = type;
  c.vocab_size = 11;
  c.hidden_size = 8;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 2;
  c.intermediate_size = type == "bloom" ? 32 : 12;
  c.max_position_embeddings = 16;
  c.hidden_act = type == "gemma" ? "gelu_pytorch_tanh" : "silu";
  c.tie_word_embeddings = type == "bloom" || type == "gemma";
  if (type == "gemma") c.head_dim = 6;  // explicit, ≠ D/H as in real Gemma configs
  return c.completed("tiny " + type);
}

std::shared_ptr<CausalLMImpl> seededModel(const ModelConfig& c) {
  torch::manual_seed(7);
  return buildCausalLM(c);
}

QString joinSorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  QString out;
  for (const auto& n : names) out += QString::fromStdString(n) + "\n";
  return out;
}

std::vector<std::string> parameterNames(const torch::nn::Module& m) {
  std::vector<std::string> names;
  for (const auto& item : m.named_parameters()) names.push_back(item.key());
  return names;
}

bool near(const torch::Tensor& a, const torch::Tensor& b, double tol) {
  return a.sizes() == b.sizes() && torch::allclose(a, b, /*rtol=*/0.0, /*atol=*/tol);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Plain loops: out[i] = Σ_j softmax_j(q_i·k_j/√Dh + bias_j, j ≤ i) v_j for one head.
torch::Tensor naiveHead(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const std::vector<double>& bias) {
  const auto t = q.size(0), dh = q.size(1);
  auto qa = q.accessor<float, 2>(), ka = k.accessor<float, 2>(), va = v.accessor<float, 2>();
  torch::Tensor out = torch::zeros({t, dh});
  auto oa = out.accessor<float, 2>();
  for (int64_t i = 0; i < t; ++i) {
    std::vector<double> w(i + 1);
    double maxScore = -1e300, total = 0;
    for (int64_t j = 0; j <= i; ++j) {
      double s = 0;
      for (int64_t d = 0; d < dh; ++d) s += double(qa[i][d]) * ka[j][d];
      w[j] = s / std::sqrt(double(dh)) + (bias.empty() ? 0.0 : bias[j]);
      maxScore = std::max(maxScore, w[j]);
    }
    for (auto& x : w) total += (x = std::exp(x - maxScore));
    for (int64_t j = 0; j <= i; ++j)
      for (int64_t d = 0; d < dh; ++d) oa[i][d] += float(w[j] / total * va[j][d]);
  }
  return out;
}

const char* kBloom560m = R"({
  "apply_residual_connection_post_layernorm": false, "architectures": ["BloomForCausalLM"],
  "attention_dropout": 0.0, "attention_softmax_in_fp32": true, "bos_token_id": 1, "eos_token_id": 2,
  "hidden_dropout": 0.0, "hidden_size": 1024, "initializer_range": 0.02, "layer_norm_epsilon": 1e-05,
  "masked_softmax_fusion": true, "model_type": "bloom", "n_head": 16, "n_inner": null, "n_layer": 24,
  "offset_alibi": 100, "pad_token_id": 3, "pretraining_tp": 1, "skip_bias_add": true,
  "slow_but_exact": false, "unk_token_id": 0, "use_cache": true, "vocab_size": 250880})";
const char* kLlama2 = R"({
  "architectures": ["LlamaForCausalLM"], "bos_token_id": 1, "eos_token_id": 2, "hidden_act": "silu",
  "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 11008,
  "max_position_embeddings": 4096, "model_type": "llama", "num_attention_heads": 32,
  "num_hidden_layers": 32, "num_key_value_heads": 32, "pretraining_tp": 1, "rms_norm_eps": 1e-05,
  "rope_scaling": null, "tie_word_embeddings": false, "torch_dtype": "float16", "use_cache": true,
  "vocab_size": 32000})";
const char* kQwen2 = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151643, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 131072, "max_window_layers": 24,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24, "num_key_value_heads": 2,
  "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "sliding_window": 131072, "tie_word_embeddings": true,
  "torch_dtype": "bfloat16", "use_cache": true, "use_sliding_window": false, "vocab_size": 151936})";
const char* kGemma2b = R"({
  "architectures": ["GemmaForCausalLM"], "attention_bias": false, "attention_dropout": 0.0,
  "bos_token_id": 2, "eos_token_id": 1, "head_dim": 256, "hidden_act": "gelu", "hidden_size": 2048,
  "initializer_range": 0.02, "intermediate_size": 16384, "max_position_embeddings": 8192,
  "model_type": "gemma", "num_attention_heads": 8, "num_hidden_layers": 18, "num_key_value_heads": 1,
  "pad_token_id": 0, "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 10000.0,
  "torch_dtype": "bfloat16", "vocab_size": 256000})";

}  // namespace

class TestModel : public QObject {
  Q_OBJECT
 private slots:
  void registeredNamesEqualTheFamilyTable_data() {
    QTest::addColumn<QString>("type");
    QTest::addColumn<bool>("tied");
    QTest::newRow("llama untied") << "llama" << false;
    QTest::newRow("llama tied") << "llama" << true;
    QTest::newRow("qwen2 biases") << "qwen2" << false;
    QTest::newRow("gemma") << "gemma" << true;
    QTest::newRow("bloom") << "bloom" << true;
  }
  void registeredNamesEqualTheFamilyTable() {
    QFETCH(QString, type);
    QFETCH(bool, tied);
    ModelConfig c = tinyConfig(type.toStdString());
    c.tie_word_embeddings = tied;
    auto model = buildCausalLM(c);
    const auto expected = expandWeightNames(c.model_type, c.num_hidden_layers, tied);
    QCOMPARE(joinSorted(parameterNames(*model)), joinSorted(expected));
    // Spot checks that the table really differs where the families do.
    const auto has = [&](const std::string& n) { return std::count(expected.begin(), expected.end(), n) == 1; };
    QCOMPARE(has("lm_head.weight"), type != "bloom" && !tied);
    QCOMPARE(has("model.layers.1.self_attn.k_proj.bias"), type == "qwen2");
    QCOMPARE(has("transformer.h.1.self_attention.query_key_value.bias"), type == "bloom");
    QCOMPARE(joinSorted(parameterNames(*model)).count('\n'),
             type == "bloom" ? 3 + 12 * 2 + 2 : 1 + (type == "qwen2" ? 12 : 9) * 2 + 1 + (tied ? 0 : 1));
    // The count from the config alone (the memory check before allocating) equals the built model's.
    std::int64_t built = 0;
    for (const torch::Tensor& p : model->parameters()) built += p.numel();
    QCOMPARE(c.parameterCount(), built);
    std::int64_t ffn = 0;
    for (const torch::Tensor& p : model->mlp(0)->parameters()) ffn += p.numel();
    QCOMPARE(c.ffnParameterCount(), ffn);
  }

  // Module kinds come from the family rows: hand-picked names of each family,
  // the hub BLOOM spelling, and the names a DMoE layer adds.
  void moduleKindsComeFromTheFamilyTable() {
    QCOMPARE(supportedModelTypes(), std::string("llama, qwen2, gemma, bloom, qwen2_moe or mixtral"));
    const ModelFamily& llama = modelFamily("llama");
    auto kindOf = [](const ModelFamily& f, const std::string& name) {
      const ParameterModule m = parameterModule(f, name);
      return std::string(moduleKindName(m.kind)) + "@" + std::to_string(m.layer);
    };
    QCOMPARE(kindOf(llama, "model.layers.3.mlp.up_proj.weight"), std::string("ffn@3"));
    QCOMPARE(kindOf(llama, "model.layers.12.self_attn.o_proj.weight"), std::string("attention@12"));
    QCOMPARE(kindOf(llama, "model.layers.0.post_attention_layernorm.weight"), std::string("norms@0"));
    QCOMPARE(kindOf(llama, "model.norm.weight"), std::string("norms@-1"));
    QCOMPARE(kindOf(llama, "model.embed_tokens.weight"), std::string("embedding@-1"));
    QCOMPARE(kindOf(llama, "lm_head.weight"), std::string("head@-1"));
    QCOMPARE(kindOf(llama, "model.layers.2.mlp.gate.weight"), std::string("router@2"));
    QCOMPARE(kindOf(llama, "model.layers.2.mlp.experts.10.down_proj.weight"), std::string("expert@2"));
    QCOMPARE(kindOf(llama, "model.layers.2.mlp.experts.x.down_proj.weight"), std::string("other@2"));
    QCOMPARE(kindOf(llama, "model.layers.2.mlp.experts.1.dense_4h_to_h.weight"), std::string("other@2"));  // BLOOM's FFN
    QCOMPARE(kindOf(modelFamily("qwen2"), "model.layers.1.self_attn.k_proj.bias"), std::string("attention@1"));
    const ModelFamily& bloom = modelFamily("bloom");
    QCOMPARE(kindOf(bloom, "h.5.mlp.dense_4h_to_h.bias"), std::string("ffn_bias@5"));  // hub spelling
    QCOMPARE(kindOf(bloom, "transformer.h.5.mlp.dense_h_to_4h.weight"), std::string("ffn@5"));
    QCOMPARE(kindOf(bloom, "transformer.h.0.input_layernorm.bias"), std::string("norms@0"));
    QCOMPARE(kindOf(bloom, "transformer.word_embeddings_layernorm.weight"), std::string("norms@-1"));
    QVERIFY(contains(test::inputErrorOf([] { modelFamily("gpt2"); }), "\"gpt2\" is not supported (expected llama, qwen2, gemma, bloom, qwen2_moe or mixtral)"));
    // Every tensor a built model registers has a kind other than "other".
    for (const ModelFamily& f : modelFamilies()) {
      auto model = buildCausalLM(tinyConfig(f.modelType));
      for (const std::string& name : parameterNames(*model))
        QVERIFY2(parameterModule(f, name).kind != ModuleKind::Other, (f.modelType + ": " + name).c_str());
    }
  }

  void shapesFollowTheConfig() {
    ModelConfig c = tinyConfig("gemma");
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    auto params = buildCausalLM(c)->named_parameters();
    QCOMPARE(params["model.layers.0.self_attn.q_proj.weight"].sizes().vec(), (std::vector<int64_t>{4 * 6, 8}));
    QCOMPARE(params["model.layers.0.self_attn.k_proj.weight"].sizes().vec(), (std::vector<int64_t>{2 * 6, 8}));
    QCOMPARE(params["model.layers.0.self_attn.o_proj.weight"].sizes().vec(), (std::vector<int64_t>{8, 4 * 6}));
    QCOMPARE(params["model.layers.0.mlp.down_proj.weight"].sizes().vec(), (std::vector<int64_t>{8, 12}));
    // Gemma's norms hold w of (1 + w): zero is the identity scale.
    QCOMPARE(params["model.norm.weight"].abs().sum().item<float>(), 0.0f);
    auto bloom = buildCausalLM(tinyConfig("bloom"))->named_parameters();
    QCOMPARE(bloom["transformer.h.0.self_attention.query_key_value.weight"].sizes().vec(), (std::vector<int64_t>{24, 8}));
    QCOMPARE(bloom["transformer.h.0.mlp.dense_h_to_4h.weight"].sizes().vec(), (std::vector<int64_t>{32, 8}));
  }

  void hubBloomNamesGetThePrefix() {
    QCOMPARE(canonicalBloomName("h.3.mlp.dense_h_to_4h.weight"), std::string("transformer.h.3.mlp.dense_h_to_4h.weight"));
    QCOMPARE(canonicalBloomName("word_embeddings.weight"), std::string("transformer.word_embeddings.weight"));
    QCOMPARE(canonicalBloomName("transformer.ln_f.bias"), std::string("transformer.ln_f.bias"));
    QCOMPARE(canonicalBloomName("lm_head.weight"), std::string("lm_head.weight"));
    QVERIFY(contains(test::inputErrorOf([] { expandWeightNames("gpt2", 1, true); }), "gpt2"));
  }

  void alibiSlopesMatchHf() {
    // Power of two: 2^-1 … 2^-8.
    const torch::Tensor eight = torch::tensor({0.5, 0.25, 0.125, 0.0625, 0.03125, 0.015625, 0.0078125, 0.00390625},
                                              torch::kFloat32);
    QVERIFY(torch::equal(alibiSlopes(8), eight));
    // 12 heads: the 8-head slopes, then every other slope of the 16-head
    // sequence: 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5.
    const torch::Tensor twelve = torch::cat(
        {eight, torch::tensor({0.70710678, 0.35355339, 0.17677670, 0.08838835}, torch::kFloat32)});
    QVERIFY(near(alibiSlopes(12), twelve, 1e-7));
    // 16 heads (bloom-560m): 2^-0.5, 2^-1, …, 2^-8.
    const torch::Tensor sixteen = alibiSlopes(16);
    QCOMPARE(sixteen.size(0), int64_t{16});
    QVERIFY(std::abs(sixteen[0].item<float>() - 0.70710678f) < 1e-7);
    QCOMPARE(sixteen[1].item<float>(), 0.5f);
    QCOMPARE(sixteen[15].item<float>(), 0.00390625f);
    // 3 heads: [2^-4, 2^-8] from 2 heads, then 2^-2.
    QVERIFY(near(alibiSlopes(3), torch::tensor({0.0625, 0.00390625, 0.25}, torch::kFloat32), 1e-8));
    // The bias is slope · key position, the same for every query row.
    const torch::Tensor bias = alibiBias(alibiSlopes(2), 3, torch::kFloat32);  // slopes [2^-4, 2^-8]
    QCOMPARE(bias.sizes().vec(), (std::vector<int64_t>{1, 2, 1, 3}));
    QVERIFY(near(bias.flatten(), torch::tensor({0.0, 0.0625, 0.125, 0.0, 0.00390625, 0.0078125}, torch::kFloat32), 0));
  }

  void ropeRotatesByPositionTimesFrequency() {
    RotaryEmbedding rope(/*headDim=*/4, /*theta=*/100.0);  // inv_freq = [1, 100^(-2/4)] = [1, 0.1]
    const auto table = rope.table(8, torch::kCPU, torch::kFloat32);
    const torch::Tensor cos = table.first, sin = table.second;
    QCOMPARE(cos.sizes().vec(), (std::vector<int64_t>{8, 4}));
    const torch::Tensor x = torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 1, 1, 4});
    // Position 0: the identity.
    QVERIFY(near(applyRotary(x, cos.narrow(0, 0, 1), sin.narrow(0, 0, 1)), x, 0));
    // Position 3: pairs (x0,x2) turn by 3 rad, (x1,x3) by 0.3 rad (rotate_half convention).
    const double a = 3.0, b = 0.3;
    const torch::Tensor expected = torch::tensor({float(1 * std::cos(a) - 3 * std::sin(a)),
                                                  float(2 * std::cos(b) - 4 * std::sin(b)),
                                                  float(3 * std::cos(a) + 1 * std::sin(a)),
                                                  float(4 * std::cos(b) + 2 * std::sin(b))});
    QVERIFY(near(applyRotary(x, cos.narrow(0, 3, 1), sin.narrow(0, 3, 1)).flatten(), expected, 1e-6));
    // q·k after rotation depends only on the offset between their positions.
    torch::manual_seed(1);
    const torch::Tensor q = torch::randn({1, 1, 1, 4}), k = torch::randn({1, 1, 1, 4});
    auto rotatedDot = [&](int64_t pq, int64_t pk) {
      const torch::Tensor rq = applyRotary(q, cos.narrow(0, pq, 1), sin.narrow(0, pq, 1));
      const torch::Tensor rk = applyRotary(k, cos.narrow(0, pk, 1), sin.narrow(0, pk, 1));
      return (rq * rk).sum().item<double>();
    };
    QVERIFY(std::abs(rotatedDot(5, 2) - rotatedDot(7, 4)) < 1e-5);
    QVERIFY(std::abs(rotatedDot(1, 0) - rotatedDot(6, 5)) < 1e-5);
    QVERIFY(std::abs(rotatedDot(5, 2) - rotatedDot(5, 3)) > 1e-3);  // a different offset differs
    // The table grows on demand and keeps its earlier rows.
    QVERIFY(near(rope.table(12, torch::kCPU, torch::kFloat32).first.narrow(0, 0, 8), cos, 0));
  }

  void normsGiveKnownValues() {
    const torch::Tensor x = torch::tensor({3.0f, 4.0f}).view({1, 2});
    RmsNorm plain(2, 1e-6, false);
    // mean(x²) = 12.5 → x / √12.5 = [0.848528, 1.131371]
    QVERIFY(near(plain(x).flatten(), torch::tensor({0.8485281f, 1.1313708f}), 1e-6));
    {
      torch::NoGradGuard g;
      plain->weight.copy_(torch::tensor({2.0f, 0.5f}));
    }
    QVERIFY(near(plain(x).flatten(), torch::tensor({1.6970563f, 0.5656854f}), 1e-6));
    // Gemma: (1 + w) with w = 0 is the plain norm with w = 1; w = [1, -0.5] scales by [2, 0.5].
    RmsNorm gemma(2, 1e-6, true);
    QVERIFY(near(gemma(x).flatten(), torch::tensor({0.8485281f, 1.1313708f}), 1e-6));
    {
      torch::NoGradGuard g;
      gemma->weight.copy_(torch::tensor({1.0f, -0.5f}));
    }
    QVERIFY(near(gemma(x), plain(x), 1e-7));
    // BLOOM's LayerNorm (built from the config): [1,2,3,4] → (x - 2.5) / √(1.25 + 1e-5).
    ModelConfig c = tinyConfig("bloom");
    c.hidden_size = 4;
    c.intermediate_size = 16;
    c.head_dim = 2;
    auto bloom = std::dynamic_pointer_cast<BloomForCausalLMImpl>(buildCausalLM(c));
    const torch::Tensor ln = bloom->transformer->ln_f(torch::tensor({1.0f, 2.0f, 3.0f, 4.0f}).view({1, 4}));
    QVERIFY(near(ln.flatten(), torch::tensor({-1.3416355f, -0.4472118f, 0.4472118f, 1.3416355f}), 1e-6));
  }

  void futureTokensDoNotChangeEarlierLogits_data() {
    QTest::addColumn<QString>("type");
    QTest::newRow("llama") << "llama";
    QTest::newRow("bloom") << "bloom";
    QTest::newRow("gemma") << "gemma";
  }
  void futureTokensDoNotChangeEarlierLogits() {
    QFETCH(QString, type);
    ModelConfig c = tinyConfig(type.toStdString());
    if (type == "llama") c.num_key_value_heads = 1;
    auto model = seededModel(c);
    torch::NoGradGuard g;
    const torch::Tensor a = torch::tensor({{1, 2, 3, 4, 5, 6}}, torch::kInt64);
    const torch::Tensor b = torch::tensor({{1, 2, 3, 9, 10, 0}}, torch::kInt64);  // differs from t = 3 on
    const torch::Tensor la = model->forward(a), lb = model->forward(b);
    QCOMPARE(la.sizes().vec(), (std::vector<int64_t>{1, 6, 11}));
    QVERIFY(near(la.narrow(1, 0, 3), lb.narrow(1, 0, 3), 1e-6));
    QVERIFY(!near(la.narrow(1, 3, 3), lb.narrow(1, 3, 3), 1e-4));
  }

  void groupedQueryAttentionEqualsRepeatedKv() {
    ModelConfig c = tinyConfig("llama");
    c.hidden_size = 16;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
    c.head_dim = 4;
    torch::manual_seed(3);
    auto model = std::dynamic_pointer_cast<LlamaForCausalLMImpl>(buildCausalLM(c));
    auto& attention = model->model->layer(0).self_attn;
    torch::NoGradGuard g;
    const int64_t t = 5, heads = 4, dh = 4;
    const torch::Tensor x = torch::randn({1, t, 16});
    RotaryEmbedding rope(dh, c.rope_theta);
    const auto [cos, sin] = rope.table(t, torch::kCPU, torch::kFloat32);
    const torch::Tensor actual = attention(x, cos, sin);
    // Reference: query head h reads key/value head h / (H/Hkv), head by head, with naive softmax.
    const torch::Tensor q = applyRotary(attention->q_proj(x).view({t, heads, dh}).transpose(0, 1), cos, sin);
    const torch::Tensor k = applyRotary(attention->k_proj(x).view({t, 2, dh}).transpose(0, 1), cos, sin);
    const torch::Tensor v = attention->v_proj(x).view({t, 2, dh}).transpose(0, 1);
    std::vector<torch::Tensor> perHead;
    for (int64_t h = 0; h < heads; ++h)
      perHead.push_back(naiveHead(q[h].contiguous(), k[h / 2].contiguous(), v[h / 2].contiguous(), {}));
    const torch::Tensor expected = attention->o_proj(torch::cat(perHead, 1)).view({1, t, 16});
    QVERIFY(near(actual, expected, 1e-5));
  }

  // bf16 autocast (precision bf16) of every family: the same logits as fp32
  // within bf16's resolution (8 bits of mantissa), parameters untouched (fp32).
  void bf16AutocastForwardMatchesFp32() {
    for (const std::string type : {"llama", "qwen2", "gemma", "bloom"}) {
      ModelConfig c = tinyConfig(type);
      if (type != "bloom") c.num_key_value_heads = 1;  // grouped-query attention on the bf16 path too
      c = c.completed("tiny " + type);
      auto model = seededModel(c);
      torch::NoGradGuard g;
      const torch::Tensor ids = torch::arange(24).remainder(11).view({2, 12});
      const torch::Tensor fp32 = model->forward(ids);
      struct Fp32Again {
        ~Fp32Again() { configurePrecision("fp32", "cpu"); }
      } fp32Again;
      configurePrecision("bf16", "cpu");
      torch::Tensor bf16;
      {
        Bf16Autocast autocast(torch::Device(torch::kCPU));
        bf16 = model->forward(ids);
      }
      QCOMPARE(bf16.scalar_type(), torch::kBFloat16);
      for (const auto& p : model->parameters()) QCOMPARE(p.scalar_type(), torch::kFloat32);
      const double scale = fp32.abs().max().item<double>();
      const double diff = (bf16.to(torch::kFloat32) - fp32).abs().max().item<double>();
      qInfo("%s: max |bf16 − fp32| = %.4f of max |logit| %.3f", type.c_str(), diff, scale);
      QVERIFY2(diff <= 0.05 * scale, type.c_str());
      QVERIFY(diff > 0);  // autocast really ran in bf16
    }
  }

  void causalAttentionEqualsNaiveSoftmax() {
    torch::manual_seed(5);
    const torch::Tensor q = torch::randn({2, 3, 6, 4}), k = torch::randn({2, 3, 6, 4}), v = torch::randn({2, 3, 6, 4});
    const torch::Tensor bias = torch::randn({1, 3, 1, 6});
    const torch::Tensor plain = causalAttention(q, k, v);
    const torch::Tensor biased = causalAttention(q, k, v, bias);
    for (int64_t b = 0; b < 2; ++b)
      for (int64_t h = 0; h < 3; ++h) {
        const torch::Tensor hb = bias[0][h][0];
        const std::vector<double> biasRow(hb.data_ptr<float>(), hb.data_ptr<float>() + 6);
        QVERIFY(near(plain[b][h], naiveHead(q[b][h].contiguous(), k[b][h].contiguous(), v[b][h].contiguous(), {}), 1e-5));
        QVERIFY(near(biased[b][h], naiveHead(q[b][h].contiguous(), k[b][h].contiguous(), v[b][h].contiguous(), biasRow), 1e-5));
      }
  }

  void gemmaScalesEmbeddingsBySqrtD() {
    // D = 4 → × 2. All-ones embeddings, attention and MLP outputs zeroed so the
    // layers pass the embedding through; the final norm with eps = 1 shows the scale:
    // Gemma: 2 / √(4 + 1) = 0.894427; Llama (no scaling): 1 / √(1 + 1) = 0.707107.
    for (const std::string type : {"gemma", "llama"}) {
      ModelConfig c = tinyConfig(type);
      c.hidden_size = 4;
      c.head_dim = 2;
      c.norm_eps = 1.0;
      auto model = std::dynamic_pointer_cast<LlamaForCausalLMImpl>(buildCausalLM(c));
      torch::NoGradGuard g;
      model->model->embed_tokens->weight.fill_(1.0);
      for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
        model->model->layer(i).self_attn->o_proj->weight.zero_();
        std::dynamic_pointer_cast<GatedMlpImpl>(model->mlp(i))->down_proj->weight.zero_();
      }
      const float expected = type == "gemma" ? 0.8944272f : 0.7071068f;
      QVERIFY2(near(model->hiddenStates(torch::tensor({{3, 1}}, torch::kInt64)), torch::full({1, 2, 4}, expected), 1e-6),
               type.c_str());
    }
  }

  void tiedLogitsAreHiddenTimesEmbeddingT() {
    for (const std::string type : {"llama", "bloom"}) {
      ModelConfig c = tinyConfig(type);
      c.tie_word_embeddings = true;
      auto model = seededModel(c);
      torch::NoGradGuard g;
      const torch::Tensor ids = torch::tensor({{4, 7, 1}}, torch::kInt64);
      const torch::Tensor embedding =
          model->named_parameters()[type == "bloom" ? "transformer.word_embeddings.weight" : "model.embed_tokens.weight"];
      QVERIFY(near(model->forward(ids), torch::matmul(model->hiddenStates(ids), embedding.t()), 1e-6));
    }
  }

  void mlpCanBeSwapped() {
    struct ZeroFfn : FeedForwardImpl {
      ZeroFfn() { scale = register_parameter("scale", torch::zeros({1})); }
      torch::Tensor forward(const torch::Tensor& x) override { return x * scale; }
      torch::Tensor scale;
    };
    for (const std::string type : {"qwen2", "bloom"}) {
      auto model = seededModel(tinyConfig(type));
      auto replacement = std::make_shared<ZeroFfn>();
      model->setMlp(1, replacement);
      QVERIFY(model->mlp(1) == replacement);
      const auto params = model->named_parameters();
      const std::string prefix = type == "bloom" ? "transformer.h.1.mlp." : "model.layers.1.mlp.";
      QVERIFY(params.contains(prefix + "scale"));
      QVERIFY(!params.contains(prefix + (type == "bloom" ? "dense_h_to_4h.weight" : "up_proj.weight")));
      QVERIFY_EXCEPTION_THROWN(model->mlp(2), std::out_of_range);
      torch::NoGradGuard g;
      QVERIFY(model->forward(torch::tensor({{1, 2}}, torch::kInt64)).isfinite().all().item<bool>());
    }
  }

  // LayerMoE's measurement (SPEC 2.1): the mean unit FFN input per layer,
  // against a recorder written here (plain loops over the FFN's real inputs),
  // documents truncated at maxTokens; the FFNs are back afterwards.
  void ffnInputMeansAreTheMeanUnitInputs() {
    struct Recorder : FeedForwardImpl {
      explicit Recorder(std::shared_ptr<FeedForwardImpl> inner) : inner(std::move(inner)) {}
      torch::Tensor forward(const torch::Tensor& x) override {
        inputs.push_back(x.detach().clone());
        return inner->forward(x);
      }
      std::shared_ptr<FeedForwardImpl> inner;
      std::vector<torch::Tensor> inputs;
    };
    for (const std::string type : {"llama", "bloom"}) {
      auto model = seededModel(tinyConfig(type));
      const std::vector<std::uint32_t> a = {1, 5, 7, 2, 9}, b = {1, 3, 3};
      torch::NoGradGuard g;
      const torch::Tensor before = model->forward(torch::tensor({{1, 5, 7, 2}}, torch::kInt64));
      std::vector<std::vector<double>> means;
      std::int64_t tokens = 0;
      {
        FfnInputMeans m(*model);
        m.addDocument({a.data(), a.size()}, 4);  // truncated: 1 5 7 2
        m.addDocument({b.data(), b.size()}, 4);
        means = m.means();
        tokens = m.tokens();
      }
      QCOMPARE(tokens, std::int64_t{7});
      QVERIFY(torch::equal(model->forward(torch::tensor({{1, 5, 7, 2}}, torch::kInt64)), before));  // FFNs restored
      // The recorder: the same two documents, each token's input normalised and averaged by hand.
      std::vector<std::shared_ptr<Recorder>> recorders;
      for (std::int64_t l = 0; l < 2; ++l) {
        recorders.push_back(std::make_shared<Recorder>(model->mlp(l)));
        model->setMlp(l, recorders.back());
      }
      model->forward(torch::tensor({{1, 5, 7, 2}}, torch::kInt64));
      model->forward(torch::tensor({{1, 3, 3}}, torch::kInt64));
      for (size_t l = 0; l < 2; ++l) {
        std::vector<double> expected(8, 0.0);
        for (const torch::Tensor& x : recorders[l]->inputs)
          for (std::int64_t t = 0; t < x.size(1); ++t) {
            double norm = 0;
            for (std::int64_t d = 0; d < 8; ++d) norm += std::pow(x[0][t][d].item<double>(), 2);
            for (std::int64_t d = 0; d < 8; ++d) expected[size_t(d)] += x[0][t][d].item<double>() / std::sqrt(norm) / 7;
          }
        for (size_t d = 0; d < 8; ++d) QVERIFY2(std::abs(means[l][d] - expected[d]) < 1e-6, type.c_str());
      }
    }
  }

  void hfConfigsMapToFields() {
    const ModelConfig bloom = ModelConfig::fromHfJson(Json::parse(kBloom560m), "bloom-560m/config.json");
    QCOMPARE(bloom.model_type, std::string("bloom"));
    QCOMPARE(bloom.hidden_size, int64_t{1024});
    QCOMPARE(bloom.num_hidden_layers, int64_t{24});
    QCOMPARE(bloom.num_attention_heads, int64_t{16});
    QCOMPARE(bloom.num_key_value_heads, int64_t{16});
    QCOMPARE(bloom.head_dim, int64_t{64});
    QCOMPARE(bloom.intermediate_size, int64_t{4096});
    QCOMPARE(bloom.vocab_size, int64_t{250880});
    QCOMPARE(bloom.norm_eps, 1e-5);
    QVERIFY(bloom.tie_word_embeddings);
    QCOMPARE(bloom.pad_token_id, int64_t{3});

    QCOMPARE(bloom.parameterCount(), std::int64_t{559214592});  // BLOOM-560M's published count

    const ModelConfig llama = ModelConfig::fromHfJson(Json::parse(kLlama2), "llama-2/config.json");
    QCOMPARE(llama.parameterCount(), std::int64_t{6738415616});  // Llama-2-7B's published count
    QCOMPARE(llama.num_key_value_heads, int64_t{32});
    QCOMPARE(llama.head_dim, int64_t{128});
    QCOMPARE(llama.intermediate_size, int64_t{11008});
    QCOMPARE(llama.max_position_embeddings, int64_t{4096});
    QCOMPARE(llama.rope_theta, 10000.0);
    QCOMPARE(llama.norm_eps, 1e-5);
    QCOMPARE(llama.hidden_act, std::string("silu"));
    QVERIFY(!llama.tie_word_embeddings);
    QCOMPARE(llama.bos_token_id, int64_t{1});
    QCOMPARE(llama.pad_token_id, int64_t{-1});

    const ModelConfig qwen = ModelConfig::fromHfJson(Json::parse(kQwen2), "qwen2/config.json");
    QCOMPARE(qwen.num_key_value_heads, int64_t{2});
    QCOMPARE(qwen.head_dim, int64_t{64});
    QCOMPARE(qwen.rope_theta, 1e6);
    QCOMPARE(qwen.parameterCount(), std::int64_t{494032768});  // Qwen2-0.5B's published count (GQA, q/k/v biases, tied)
    QCOMPARE(qwen.norm_eps, 1e-6);
    QVERIFY(qwen.tie_word_embeddings);

    const ModelConfig gemma = ModelConfig::fromHfJson(Json::parse(kGemma2b), "gemma-2b/config.json");
    QCOMPARE(gemma.head_dim, int64_t{256});  // explicit: D / H would be 256 too, but 7b differs
    QCOMPARE(gemma.num_key_value_heads, int64_t{1});
    QCOMPARE(gemma.hidden_act, std::string("gelu_pytorch_tanh"));  // hidden_act "gelu" is not what HF runs
    QVERIFY(gemma.tie_word_embeddings);                            // Gemma's default
    QCOMPARE(gemma.eos_token_id, int64_t{1});

    // transformers ≥ 5 writes θ inside "rope_parameters".
    Json v5 = Json::parse(kLlama2);
    v5.erase("rope_theta");
    v5["rope_parameters"] = Json{{"rope_type", "default"}, {"rope_theta", 500000.0}};
    QCOMPARE(ModelConfig::fromHfJson(v5, "llama-v5/config.json").rope_theta, 500000.0);
  }

  void configErrorsNameTheKey() {
    auto without = [](const char* text, const char* key) {
      Json j = Json::parse(text);
      j.erase(key);
      return j;
    };
    const std::string missingHeads =
        test::inputErrorOf([&] { ModelConfig::fromHfJson(without(kLlama2, "num_attention_heads"), "llama-2/config.json"); });
    QVERIFY2(contains(missingHeads, "llama-2/config.json") && contains(missingHeads, "\"num_attention_heads\"") &&
                 contains(missingHeads, "missing"),
             missingHeads.c_str());
    const std::string missingNHead = test::inputErrorOf([&] { ModelConfig::fromHfJson(without(kBloom560m, "n_head"), "b.json"); });
    QVERIFY2(contains(missingNHead, "\"n_head\""), missingNHead.c_str());
    QVERIFY(contains(test::inputErrorOf([&] { ModelConfig::fromHfJson(without(kGemma2b, "model_type"), "g.json"); }), "\"model_type\""));

    Json wrongType = Json::parse(kQwen2);
    wrongType["hidden_size"] = "896";
    const std::string typeError = test::inputErrorOf([&] { ModelConfig::fromHfJson(wrongType, "q.json"); });
    QVERIFY2(contains(typeError, "\"hidden_size\"") && contains(typeError, "integer"), typeError.c_str());

    Json badGroups = Json::parse(kQwen2);
    badGroups["num_key_value_heads"] = 3;
    QVERIFY(contains(test::inputErrorOf([&] { ModelConfig::fromHfJson(badGroups, "q.json"); }), "\"num_key_value_heads\""));

    Json scaled = Json::parse(kLlama2);
    scaled["rope_scaling"] = Json{{"type", "linear"}, {"factor", 2.0}};
    QVERIFY(contains(test::inputErrorOf([&] { ModelConfig::fromHfJson(scaled, "l.json"); }), "\"rope_scaling\""));

    Json yarn = Json::parse(kLlama2);
    yarn["rope_parameters"] = Json{{"rope_type", "yarn"}, {"rope_theta", 1e6}, {"factor", 4.0}};
    const std::string yarnError = test::inputErrorOf([&] { ModelConfig::fromHfJson(yarn, "l.json"); });
    QVERIFY2(contains(yarnError, "\"rope_parameters.rope_type\"") && contains(yarnError, "yarn"), yarnError.c_str());
    Json textTheta = Json::parse(kLlama2);
    textTheta["rope_parameters"] = Json{{"rope_theta", "1e6"}};
    QVERIFY(contains(test::inputErrorOf([&] { ModelConfig::fromHfJson(textTheta, "l.json"); }),
                     "\"rope_parameters.rope_theta\": expected a number"));
    Json perLayerType = Json::parse(kLlama2);  // θ per layer type: not read, so refused by name
    perLayerType["rope_parameters"] = Json{{"full_attention", Json{{"rope_theta", 1e6}}}};
    QVERIFY(contains(test::inputErrorOf([&] { ModelConfig::fromHfJson(perLayerType, "l.json"); }),
                     "\"rope_parameters.rope_theta\": missing"));

    Json unknown = Json::parse(kLlama2);
    unknown["model_type"] = "gpt2";
    QVERIFY(contains(test::inputErrorOf([&] { ModelConfig::fromHfJson(unknown, "l.json"); }), "gpt2"));
    QVERIFY(contains(test::inputErrorOf([] { buildCausalLM(ModelConfig{}); }), "model_type"));
  }

  void configRoundTripKeepsUnknownKeysAndOrder() {
    for (const char* text : {kBloom560m, kLlama2, kQwen2, kGemma2b}) {
      const Json original = Json::parse(text);
      const ModelConfig c = ModelConfig::fromHfJson(original, "config.json");
      const Json saved = c.toHfJson();
      // Everything read comes back under the same key, in the same place.
      for (auto it = original.begin(); it != original.end(); ++it) QVERIFY2(saved.contains(it.key()), it.key().c_str());
      QCOMPARE(saved.begin().key(), original.begin().key());
      const ModelConfig again = ModelConfig::fromHfJson(saved, "saved.json");
      QCOMPARE(again.toHfJson().dump(), saved.dump());
      QCOMPARE(again.head_dim, c.head_dim);
      QCOMPARE(again.hidden_act, c.hidden_act);
    }
    // A config built in code (dmoe pretrain) saves as a complete HF config.
    const Json fresh = tinyConfig("llama").toHfJson();
    QCOMPARE(fresh["architectures"][0].get<std::string>(), std::string("LlamaForCausalLM"));
    const ModelConfig reread = ModelConfig::fromHfJson(fresh, "fresh.json");
    QCOMPARE(reread.num_key_value_heads, int64_t{2});
    QCOMPARE(reread.intermediate_size, int64_t{12});
    QCOMPARE(reread.max_position_embeddings, int64_t{16});
  }
};

QTEST_GUILESS_MAIN(TestModel)
#include "test_model.moc"
