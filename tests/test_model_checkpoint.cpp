// Models and checkpoints together: every family saved in Hugging Face layout
// and loaded back (the path eval-ppl and later stages take) gives
// bit-identical logits, with exactly the family's tensor names on disk; a
// hub-style BLOOM file (no `transformer.` prefix) loads with every tensor mapped.
// LibTorch headers before QtTest: Qt's `slots` macro breaks ATen's headers.
#include "checkpoint/hf_checkpoint.h"
#include "model/causal_lm.h"
#include "model/model_family.h"
#include "model/load_model.h"

#include <QtTest>
#include <algorithm>
#include <filesystem>

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
};

QTEST_GUILESS_MAIN(TestModelCheckpoint)
#include "test_model_checkpoint.moc"
