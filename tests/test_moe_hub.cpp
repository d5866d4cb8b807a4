// Mixture-of-experts checkpoints in and out: Qwen2-MoE and Mixtral folders
// loaded into the workbench's MoE layers (model/hub_moe.h) give the logits of
// the model they were saved from; the shared expert and the unnormalised
// top-k on hand-checkable values; a DMoE exported to Qwen2-MoE
// (model/moe_export.h) loads back with the same logits, prints max |diff|,
// and has the documented config and tensor names; what cannot be exported
// exactly is refused with the reason.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/safetensors.h"
#include "model/dmoe_model.h"
#include "model/hub_moe.h"
#include "model/load_model.h"
#include "model/model_family.h"
#include "model/moe_export.h"
#include "model/moe_feed_forward.h"
#include "test_support.h"
#include "util/atomic_file.h"
#include "util/error.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cstdio>

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

torch::Tensor someTokens() { return torch::tensor({3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8}, torch::kInt64).view({2, 6}); }

double maxDiff(const torch::Tensor& a, const torch::Tensor& b) { return (a - b).abs().max().item<double>(); }

// Compares the logits of two models on fixed tokens, printing max |diff| (llm.c's parity style).
double logitsDiff(CausalLMImpl& a, CausalLMImpl& b, const char* what) {
  torch::NoGradGuard noGrad;
  a.eval();
  b.eval();
  const double diff = maxDiff(a.forward(someTokens()), b.forward(someTokens()));
  std::printf("%-40s logits max |diff| %.3g\n", what, diff);
  return diff;
}

Json tinyJson(const std::string& modelType) {
  return {{"model_type", modelType}, {"vocab_size", 13},  {"hidden_size", 8}, {"num_hidden_layers", 3},
          {"num_attention_heads", 2}, {"num_key_value_heads", 1}, {"intermediate_size", 12},
          {"max_position_embeddings", 16}, {"tie_word_embeddings", false}};
}

// Every parameter moved by N(0, 0.05): experts, routers and shared experts differ, so routing matters.
void perturb(CausalLMImpl& model, std::uint64_t seed) {
  torch::manual_seed(seed);
  torch::NoGradGuard noGrad;
  for (auto& p : model.parameters()) p.add_(torch::randn_like(p) * 0.05);
}

// A DMoE of `modelType` with MoE layers 0 and 2, 3 experts, top-2.
std::shared_ptr<CausalLMImpl> tinyDmoe(const std::string& modelType, MoeLayout& layout) {
  torch::manual_seed(5);
  auto model = buildCausalLM(ModelConfig::fromHfJson(tinyJson(modelType), "tiny"));
  layout.layers = {0, 2};
  layout.numExperts = 3;
  layout.topK = 2;
  layout.expertLanguages = {{"fr"}, {"de"}, {"ru"}};
  upcycle(*model, layout);
  perturb(*model, 6);
  return model;
}

std::shared_ptr<MoeFeedForwardImpl> moeAt(CausalLMImpl& model, std::int64_t layer) {
  return std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(layer));
}

}  // namespace

class TestMoeHub : public QObject {
  Q_OBJECT

 private slots:
  // E = 2, k = 1, the router's logits (x₀, 0): the chosen expert's weight is
  // its probability max(σ(x₀), 1 − σ(x₀)) when not renormalised (1 when it
  // is), and the shared expert adds σ(g·x)·S(x).
  void sharedExpertAndUnnormalisedTopK() {
    const ModelConfig config = ModelConfig::fromHfJson(tinyJson("llama"), "tiny");
    torch::manual_seed(11);
    std::vector<std::shared_ptr<FeedForwardImpl>> experts{buildFeedForward(config), buildFeedForward(config)};
    auto shared = buildFeedForward(config);
    torch::NoGradGuard noGrad;
    for (auto* module : {experts[0].get(), experts[1].get(), shared.get()})
      for (auto& p : module->parameters()) p.mul_(25.0);
    MoeFeedForwardImpl moe(experts, 8, 1, 0.02, std::make_shared<Routing>());
    moe.gate->weight.zero_();
    moe.gate->weight[0][0] = 1.0;
    moe.setNormalizeTopK(false);
    moe.addSharedExpert(shared);
    moe.sharedExpertGate->weight.fill_(0.3);
    const torch::Tensor x = torch::randn({1, 5, 8});
    const torch::Tensor p0 = torch::sigmoid(x.select(-1, 0)).unsqueeze(-1);
    const torch::Tensor pick0 = (p0 > 0.5).to(torch::kFloat32);
    const torch::Tensor routed = pick0 * p0 * experts[0]->forward(x) + (1 - pick0) * (1 - p0) * experts[1]->forward(x);
    const torch::Tensor sharedOut = torch::sigmoid(0.3 * x.sum(-1, true)) * shared->forward(x);
    QVERIFY(maxDiff(moe.forward(x), routed + sharedOut) < 1e-5);
    moe.setNormalizeTopK(true);
    const torch::Tensor whole = pick0 * experts[0]->forward(x) + (1 - pick0) * experts[1]->forward(x);
    QVERIFY(maxDiff(moe.forward(x), whole + sharedOut) < 1e-5);
  }

  // A Qwen2-MoE folder (layer 1 in mlp_only_layers, 4 experts of width 6,
  // top-2 without renormalisation, a shared expert of width 5) loads into the
  // model it was saved from: the same logits, layer 1 dense.
  void qwen2MoeCheckpointLoads() {
    QTemporaryDir tmp;
    Json json = tinyJson("qwen2_moe");
    json.update({{"num_experts", 4}, {"num_experts_per_tok", 2}, {"moe_intermediate_size", 6},
                 {"shared_expert_intermediate_size", 5}, {"mlp_only_layers", {1}}, {"decoder_sparse_step", 1},
                 {"norm_topk_prob", false}});
    const ModelConfig config = ModelConfig::fromHfJson(json, "qwen2_moe");
    const auto layout = readHubMoeLayout(config, "qwen2_moe");
    QVERIFY(layout.has_value());
    QCOMPARE(layout->layers, (std::vector<std::int64_t>{0, 2}));
    auto model = buildCausalLM(config);
    buildHubMoe(*model, *layout);
    perturb(*model, 7);
    const fs::path dir = fs::path(tmp.path().toStdString()) / "qwen2-moe";
    saveStateDict(*model, dir, json);
    auto loaded = loadCausalLM(dir);
    QVERIFY(!moeAt(*loaded, 1));
    QVERIFY(moeAt(*loaded, 0)->sharedExpert && !moeAt(*loaded, 0)->normalizesTopK());
    QCOMPARE(moeAt(*loaded, 2)->numExperts(), std::int64_t{4});
    QCOMPARE(logitsDiff(*model, *loaded, "qwen2_moe saved → loaded"), 0.0);
    const ModelFamily& family = modelFamily("qwen2_moe");
    QCOMPARE(parameterModule(family, "model.layers.0.mlp.shared_expert.up_proj.weight").kind, ModuleKind::Expert);
    QCOMPARE(parameterModule(family, "model.layers.0.mlp.shared_expert_gate.weight").kind, ModuleKind::Router);
    Json dense = json;
    dense["num_experts"] = 0;  // transformers then builds every layer dense
    QVERIFY(readHubMoeLayout(ModelConfig::fromHfJson(dense, "dense"), "dense")->layers.empty());
    json["decoder_sparse_step"] = 0;
    QVERIFY_CONTAINS(test::inputErrorOf([&] { readHubMoeLayout(ModelConfig::fromHfJson(json, "bad"), "bad"); }),
                     "bad: \"decoder_sparse_step\": expected an integer ≥ 1");
  }

  // A Mixtral folder under its own names (block_sparse_moe.gate, experts.E.w1/w3/w2) loads into the same logits.
  void mixtralCheckpointLoadsUnderItsNames() {
    QCOMPARE(canonicalMixtralName("model.layers.2.block_sparse_moe.experts.7.w3.weight"),
             std::string("model.layers.2.mlp.experts.7.up_proj.weight"));
    QCOMPARE(canonicalMixtralName("model.layers.2.block_sparse_moe.gate.weight"), std::string("model.layers.2.mlp.gate.weight"));
    QCOMPARE(canonicalMixtralName("model.layers.2.self_attn.q_proj.weight"), std::string("model.layers.2.self_attn.q_proj.weight"));
    QTemporaryDir tmp;
    Json json = tinyJson("mixtral");
    json.update({{"num_local_experts", 3}, {"num_experts_per_tok", 2}, {"sliding_window", nullptr}});
    const ModelConfig config = ModelConfig::fromHfJson(json, "mixtral");
    auto model = buildCausalLM(config);
    buildHubMoe(*model, *readHubMoeLayout(config, "mixtral"));
    perturb(*model, 8);
    NamedTensors tensors;
    for (const auto& p : model->named_parameters(true)) {
      std::string name = p.key();
      const size_t at = name.find(".mlp.");
      if (at != std::string::npos && (name.find(".experts.") != std::string::npos || name.find(".gate.weight") != std::string::npos)) {
        name.replace(at, 5, ".block_sparse_moe.");
        for (const auto& [from, to] : {std::pair<const char*, const char*>{"gate_proj", "w1"}, {"up_proj", "w3"}, {"down_proj", "w2"}})
          if (const size_t w = name.find(from); w != std::string::npos) name.replace(w, std::string(from).size(), to);
      }
      tensors.emplace_back(name, p.value().detach());
    }
    const fs::path dir = fs::path(tmp.path().toStdString()) / "mixtral";
    saveCheckpoint(dir, json, tensors);
    QVERIFY(safetensors::Reader(dir / "model.safetensors").find("model.layers.1.block_sparse_moe.experts.2.w2.weight"));
    auto loaded = loadCausalLM(dir);
    QCOMPARE(logitsDiff(*model, *loaded, "mixtral saved → loaded"), 0.0);
    QCOMPARE(parameterModule(modelFamily("mixtral"), "model.layers.0.block_sparse_moe.experts.1.w2.weight").kind,
             ModuleKind::Expert);
    Json defaults = json;  // MixtralConfig's defaults for absent keys: rope_theta 1e6, 8 key/value heads
    defaults.erase("rope_theta");
    defaults.erase("num_key_value_heads");
    defaults["num_attention_heads"] = 8;
    defaults["hidden_size"] = 64;
    const ModelConfig mixtralDefaults = ModelConfig::fromHfJson(defaults, "defaults");
    QCOMPARE(mixtralDefaults.rope_theta, 1e6);
    QCOMPARE(mixtralDefaults.num_key_value_heads, std::int64_t{8});
    json["sliding_window"] = 4096;
    QVERIFY_CONTAINS(test::inputErrorOf([&] { readHubMoeLayout(ModelConfig::fromHfJson(json, "m"), "m"); }),
                     "\"sliding_window\": sliding-window attention is not supported");
  }

  // The export: a Llama DMoE written as Qwen2-MoE (zero q/k/v biases, the
  // shared expert all zeros at width 1), loaded back through the Qwen2-MoE
  // loader: bit-identical logits in fp32 on the CPU, sharded or not; the
  // config and the names as documented.
  void exportedQwen2MoeGivesTheSameLogits() {
    QTemporaryDir tmp;
    const fs::path root(tmp.path().toStdString());
    MoeLayout layout;
    auto model = tinyDmoe("llama", layout);
    saveStateDict(*model, root / "dmoe", moeConfigJson(model->config(), layout));
    test::writeText(root / "dmoe/tokenizer.json", "{}");
    const MoeExportReport report = exportQwen2Moe(root / "dmoe", root / "exported");
    QCOMPARE(report.moeLayers, std::int64_t{2});
    QCOMPARE(report.addedTensors, std::int64_t{3 * 3 + 2 * 4});
    const Json config = readJsonFile(root / "exported/config.json");
    QCOMPARE(config["model_type"].get<std::string>(), std::string("qwen2_moe"));
    QCOMPARE(config["architectures"], Json({"Qwen2MoeForCausalLM"}));
    QCOMPARE(config["num_experts"].get<int>(), 3);
    QCOMPARE(config["num_experts_per_tok"].get<int>(), 2);
    QCOMPARE(config["moe_intermediate_size"].get<int>(), 12);
    QCOMPARE(config["shared_expert_intermediate_size"].get<int>(), 1);
    QCOMPARE(config["mlp_only_layers"], Json({1}));
    QCOMPARE(config["decoder_sparse_step"].get<int>(), 1);
    QVERIFY(config["norm_topk_prob"].get<bool>());
    QVERIFY(!config.contains("dmoe"));
    QVERIFY(fs::exists(root / "exported/tokenizer.json"));
    const safetensors::Reader weights(root / "exported/model.safetensors");
    QCOMPARE(weights.metadata().at("format"), std::string("pt"));
    for (const char* name : {"model.layers.0.mlp.gate.weight", "model.layers.2.mlp.experts.2.down_proj.weight",
                             "model.layers.1.mlp.gate_proj.weight", "model.layers.0.mlp.shared_expert.down_proj.weight",
                             "model.layers.2.mlp.shared_expert_gate.weight", "model.layers.1.self_attn.k_proj.bias"})
      QVERIFY2(weights.find(name), name);
    QVERIFY(!weights.find("model.layers.1.mlp.shared_expert.up_proj.weight"));  // layer 1 is dense
    auto loaded = loadCausalLM(root / "exported");
    QCOMPARE(logitsDiff(*model, *loaded, "DMoE → Qwen2-MoE export"), 0.0);

    exportQwen2Moe(root / "dmoe", root / "sharded", 2000);
    QVERIFY(fs::exists(root / "sharded/model.safetensors.index.json"));
    auto shardedModel = loadCausalLM(root / "sharded");
    QCOMPARE(logitsDiff(*model, *shardedModel, "DMoE → Qwen2-MoE export, sharded"), 0.0);
  }

  // Refused with the reason: a Gemma base, a LayerMoE with different expert
  // counts or a classifier, a dense model, the model's own folder as output.
  void whatCannotBeExportedExactlyIsRefused() {
    QTemporaryDir tmp;
    const fs::path root(tmp.path().toStdString());
    MoeLayout layout;
    auto gemma = tinyDmoe("gemma", layout);
    saveStateDict(*gemma, root / "gemma", moeConfigJson(gemma->config(), layout));
    QVERIFY_CONTAINS(test::inputErrorOf([&] { exportQwen2Moe(root / "gemma", root / "out"); }),
                     "cannot be exported to Qwen2-MoE: a gemma base cannot be written as Qwen2-MoE exactly");
    auto llama = tinyDmoe("llama", layout);
    auto dense = buildCausalLM(llama->config());
    saveStateDict(*dense, root / "dense", dense->config().toHfJson());
    QVERIFY_CONTAINS(test::inputErrorOf([&] { exportQwen2Moe(root / "dense", root / "out"); }), "not a DMoE model");
    MoeLayout uneven = layout;
    uneven.expertLanguages.clear();
    uneven.originalExpert = true;
    uneven.layerExperts = {3, 2};
    QVERIFY_CONTAINS(test::inputErrorOf([&] {
                       auto m = buildCausalLM(llama->config());
                       upcycle(*m, uneven);
                       saveStateDict(*m, root / "uneven", moeConfigJson(m->config(), uneven));
                       exportQwen2Moe(root / "uneven", root / "out");
                     }),
                     "different expert counts (LayerMoE)");
    saveStateDict(*llama, root / "dmoe", moeConfigJson(llama->config(), layout));
    QVERIFY_CONTAINS(test::inputErrorOf([&] { exportQwen2Moe(root / "dmoe", root / "dmoe"); }), "the model's own folder");
    QVERIFY(!fs::exists(root / "out"));
  }
};

QTEST_GUILESS_MAIN(TestMoeHub)
#include "test_moe_hub.moc"
