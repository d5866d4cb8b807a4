// Models and checkpoints together: every family saved in Hugging Face layout
// and loaded back (the path eval-ppl and later stages take) gives
// bit-identical logits, with exactly the family's tensor names on disk; a
// hub-style BLOOM file (no `transformer.` prefix) loads with every tensor mapped.
// A config.json that disagrees with its weights (layers, sizes, experts, a
// top-k above the expert count) or describes a model larger than the memory
// available is refused by key before anything is allocated.
// LibTorch headers before QtTest: Qt's `slots` macro breaks ATen's headers.
#include "checkpoint/hf_checkpoint.h"
#include "model/causal_lm.h"
#include "model/dmoe_model.h"
#include "model/hub_moe.h"
#include "model/model_family.h"
#include "model/load_model.h"
#include "model/moe_layout.h"

#include <QtTest>
#include <algorithm>
#include <filesystem>
#include <functional>

#include "test_support.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// Tiny configs in each family's own config.json spelling.
Json familyConfig(const std::string& family) {
  if (family == "bloom")
    return Json::parse(R"({"model_type": "bloom", "vocab_size": 61, "hidden_size": 32, "n_layer": 2, "n_head": 4,
                           "layer_norm_epsilon": 1e-5, "bos_token_id": 1, "eos_token_id": 2})");
  Json c = Json::parse(R"({"vocab_size": 61, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4,
                           "num_key_value_heads": 2, "intermediate_size": 48, "max_position_embeddings": 64,
                           "rms_norm_eps": 1e-6, "rope_theta": 10000.0})");
  c["model_type"] = family == "llama-untied" ? "llama" : family;
  c["tie_word_embeddings"] = family != "llama-untied";
  if (family == "gemma") c["head_dim"] = 16;
  return c;
}

torch::Tensor sampleIds() { return torch::arange(0, 24, torch::kInt64).remainder(61).reshape({2, 12}) * 5 % 61; }

std::vector<std::string> sorted(std::vector<std::string> names) {
  std::sort(names.begin(), names.end());
  return names;
}

// Mixtures of experts on the tiny llama/qwen2 shapes: 3 experts in layer 0, layer 1 dense (Mixtral: both MoE).
Json moeConfig(const std::string& kind) {
  Json c = familyConfig(kind == "mixtral" ? "llama" : "qwen2");
  if (kind == "qwen2_moe")
    c.update({{"model_type", "qwen2_moe"}, {"num_experts", 3}, {"num_experts_per_tok", 2}, {"moe_intermediate_size", 20},
              {"shared_expert_intermediate_size", 12}, {"mlp_only_layers", {1}}});
  if (kind == "mixtral") c.update({{"model_type", "mixtral"}, {"num_local_experts", 3}, {"num_experts_per_tok", 2}});
  return c;
}

// A model folder of `kind`: a family of familyConfig, qwen2_moe, mixtral or
// dmoe (a llama upcycled in layer 0 to 3 experts, top-2), saved as a stage saves it.
fs::path saveModel(const fs::path& dir, const std::string& kind) {
  const bool hub = kind == "qwen2_moe" || kind == "mixtral";
  const ModelConfig config = ModelConfig::fromHfJson(hub ? moeConfig(kind) : familyConfig(kind == "dmoe" ? "llama" : kind), kind);
  torch::manual_seed(3);
  std::shared_ptr<CausalLMImpl> model = buildCausalLM(config);
  Json json = config.toHfJson();
  if (hub) buildHubMoe(*model, *readHubMoeLayout(config, kind));
  if (kind == "dmoe") {
    MoeLayout layout;
    layout.layers = {0};
    layout.numExperts = 3;
    layout.topK = 2;
    upcycle(*model, layout);
    json = moeConfigJson(config, layout);
  }
  saveStateDict(*model, dir, json);
  return dir;
}

// config.json of `dir` changed by `edit`.
void editConfig(const fs::path& dir, const std::function<void(Json&)>& edit) {
  Json config = Json::parse(test::readText(dir / "config.json"));
  edit(config);
  test::writeText(dir / "config.json", config.dump(2));
}

}  // namespace

class TestModelCheckpoint : public QObject {
  Q_OBJECT
 private slots:
  void saveThenLoadGivesIdenticalLogits_data() {
    QTest::addColumn<QString>("family");
    for (const char* f : {"llama", "llama-untied", "qwen2", "gemma", "bloom"}) QTest::newRow(f) << QString(f);
  }

  void saveThenLoadGivesIdenticalLogits() {
    QFETCH(QString, family);
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "model";
    ModelConfig config = ModelConfig::fromHfJson(familyConfig(family.toStdString()), "test config");
    torch::manual_seed(11);
    std::shared_ptr<CausalLMImpl> model = buildCausalLM(config);
    model->eval();
    saveStateDict(*model, dir, config.toHfJson());

    // On disk: exactly the family table's names (lm_head absent when tied).
    const ModelConfig saved = ModelConfig::fromHfJson(HfCheckpoint::open(dir).config, "saved config");
    QCOMPARE(CheckpointTensors::open(dir).names(),
             sorted(expandWeightNames(saved.model_type, saved.num_hidden_layers, saved.tie_word_embeddings)));

    torch::manual_seed(99);  // a different initialisation, overwritten by the load
    std::shared_ptr<CausalLMImpl> loaded = loadCausalLM(dir);
    torch::NoGradGuard noGrad;
    const torch::Tensor ids = sampleIds();
    const torch::Tensor expected = model->forward(ids), actual = loaded->forward(ids);
    qInfo("%s: max |diff| = %g", qPrintable(family), (expected - actual).abs().max().item<double>());
    QVERIFY(torch::equal(expected, actual));
  }

  void hubStyleBloomNamesLoad() {
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "bloom-hub";
    ModelConfig config = ModelConfig::fromHfJson(familyConfig("bloom"), "test config");
    torch::manual_seed(5);
    std::shared_ptr<CausalLMImpl> model = buildCausalLM(config);
    model->eval();
    NamedTensors tensors;
    const std::string prefix = "transformer.";
    for (const auto& p : model->named_parameters()) {
      std::string name = p.key();
      if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());  // as many hub files are
      tensors.emplace_back(name, p.value().detach());
    }
    saveCheckpoint(dir, config.toHfJson(), tensors);
    QVERIFY(!CheckpointTensors::open(dir).contains("transformer.h.0.mlp.dense_h_to_4h.weight"));
    QVERIFY(CheckpointTensors::open(dir).contains("h.0.mlp.dense_h_to_4h.weight"));

    std::shared_ptr<CausalLMImpl> loaded = loadCausalLM(dir);
    torch::NoGradGuard noGrad;
    QVERIFY(torch::equal(model->forward(sampleIds()), loaded->forward(sampleIds())));
  }

  // One key of config.json set to a size its weights do not have: refused by
  // that key and the tensor, before the model is built (10⁹ layers or experts
  // used to allocate for 30 s and fail with std::bad_alloc, or crash).
  void configMustMatchItsWeights_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<QString>("key");  // "dmoe.num_experts": inside the "dmoe" object
    QTest::addColumn<QString>("expected");
    const std::string big = "\": 1000000000, but ";
    auto row = [&](const char* name, const char* kind, const char* key, const std::string& tail) {
      QTest::newRow(name) << QString(kind) << QString(key) << QString::fromStdString(key + big + tail);
    };
    row("llama layers", "llama", "num_hidden_layers", "the weights hold layers 0 to 1 (model.layers.1.");
    row("bloom layers", "bloom", "n_layer", "the weights hold layers 0 to 1 (transformer.h.1.");
    row("qwen2 vocabulary", "qwen2", "vocab_size", "model.embed_tokens.weight has shape [61, 32] ([vocab_size, hidden_size])");
    row("bloom width", "bloom", "hidden_size", "transformer.word_embeddings.weight has shape [61, 32]");
    row("gemma FFN", "gemma", "intermediate_size",
        "model.layers.0.mlp.down_proj.weight has shape [32, 48] (expected [1000000000, 32] or its transpose)");
    row("qwen2_moe experts", "qwen2_moe", "num_experts", "layer 0 of the weights holds experts 0 to 2");
    row("qwen2_moe expert width", "qwen2_moe", "moe_intermediate_size", "model.layers.0.mlp.experts.0.down_proj.weight has shape [32, 20]");
    row("qwen2_moe shared width", "qwen2_moe", "shared_expert_intermediate_size", "model.layers.0.mlp.shared_expert.down_proj.weight has shape [32, 12]");
    row("mixtral experts", "mixtral", "num_local_experts", "layer 0 of the weights holds experts 0 to 2");
    row("dmoe experts", "dmoe", "dmoe.num_experts", "layer 0 of the weights holds experts 0 to 2");
  }

  void configMustMatchItsWeights() {
    QFETCH(QString, kind);
    QFETCH(QString, key);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    const fs::path dir = saveModel(fs::path(tmp.path().toStdString()) / "model", kind.toStdString());
    QVERIFY(loadCausalLM(dir) != nullptr);  // as saved
    editConfig(dir, [&](Json& c) {
      const std::string k = key.toStdString();
      (k.rfind("dmoe.", 0) == 0 ? c["dmoe"][k.substr(5)] : c[k]) = 1000000000;
    });
    QVERIFY_CONTAINS(test::inputErrorOf([&] { loadCausalLM(dir); }),
                     (dir / "config.json").string() + ": \"" + expected.toStdString());
  }

  // top-k above the expert count is refused by key (it used to be clamped silently).
  void topKAboveTheExpertCountIsRefused_data() {
    QTest::addColumn<QString>("kind");
    QTest::addColumn<int>("topK");
    QTest::addColumn<QString>("expected");
    QTest::newRow("qwen2_moe 4 of 3") << "qwen2_moe" << 4
                                      << "\"num_experts_per_tok\": 4 is more than the 3 experts of \"num_experts\"";
    QTest::newRow("mixtral 4 of 3") << "mixtral" << 4
                                    << "\"num_experts_per_tok\": 4 is more than the 3 experts of \"num_local_experts\"";
    QTest::newRow("qwen2_moe 0") << "qwen2_moe" << 0 << "\"num_experts_per_tok\": expected an integer ≥ 1, got 0";
    QTest::newRow("mixtral 0") << "mixtral" << 0 << "\"num_experts_per_tok\": expected an integer ≥ 1, got 0";
  }

  void topKAboveTheExpertCountIsRefused() {
    QFETCH(QString, kind);
    QFETCH(int, topK);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    const fs::path dir = saveModel(fs::path(tmp.path().toStdString()) / "model", kind.toStdString());
    editConfig(dir, [&](Json& c) { c["num_experts_per_tok"] = topK; });
    QVERIFY_CONTAINS(test::inputErrorOf([&] { loadCausalLM(dir); }),
                     (dir / "config.json").string() + ": " + expected.toStdString());
    editConfig(dir, [&](Json& c) { c["num_experts_per_tok"] = 3; });  // all of them: allowed
    QVERIFY(loadCausalLM(dir) != nullptr);
  }

  // A tensor name whose layer index does not fit in 64 bits is no layer: the
  // load names it as a tensor the model lacks (std::stoll used to throw
  // std::out_of_range out of the family table's name parser).
  void aLayerIndexBeyondInt64IsNamed() {
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "model";
    const ModelConfig config = ModelConfig::fromHfJson(familyConfig("llama"), "llama");
    NamedTensors tensors;
    for (const auto& p : buildCausalLM(config)->named_parameters()) tensors.emplace_back(p.key(), p.value().detach());
    const std::string odd = "model.layers.99999999999999999999.mlp.gate_proj.weight";
    tensors.emplace_back(odd, torch::zeros({2}));
    saveCheckpoint(dir, config.toHfJson(), tensors);
    QCOMPARE(parameterModule(modelFamily("llama"), odd).layer, std::int64_t{-1});
    QVERIFY_CONTAINS(test::inputErrorOf([&] { loadCausalLM(dir); }), odd + ": in model.safetensors but not a tensor of the model");
  }

  // The tied tiny llama: V·D + L·(attention 3072 + FFN 4608 + norms 64) + D = 17,472
  // parameters, 69,888 bytes in fp32: refused with one byte less available.
  void aModelLargerThanMemoryIsRefused() {
    QTemporaryDir tmp;
    const fs::path dir = saveModel(fs::path(tmp.path().toStdString()) / "model", "llama");
    const HfCheckpoint checkpoint = HfCheckpoint::open(dir);
    QCOMPARE(readModelConfig(checkpoint, 69888).parameterCount(), std::int64_t{17472});
    QCOMPARE(readModelConfig(checkpoint, -1).num_hidden_layers, std::int64_t{2});  // unknown: not checked
    QVERIFY_CONTAINS(test::inputErrorOf([&] { readModelConfig(checkpoint, 69887); }),
                     (dir / "config.json").string() + ": the model has 17.5 K parameters, 69.9 kB in fp32 to build, "
                                                      "but this machine has 69.9 kB of memory available");
  }
};

QTEST_GUILESS_MAIN(TestModelCheckpoint)
#include "test_model_checkpoint.moc"
