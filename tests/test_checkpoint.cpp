// Hugging Face checkpoint folders: sharded save (index by hand), load into a
// fresh module bit for bit, missing/unexpected/mis-shaped reported by name,
// fp16 files into fp32 parameters, tied lm_head, name mapping, config keys
// and tokenizer files kept, and `dmoe inspect`; a FIFO in a file's place is
// refused by name instead of blocking.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "checkpoint/hf_checkpoint.h"
#include "model/checkpoint_summary.h"
#include "util/owned_paths.h"

#include <sys/stat.h>

#include <QtTest>
#include <filesystem>

#include "test_support.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// Registers a dotted name ("model.layers.0.mlp.gate_proj.weight") in `root`,
// creating plain submodules on the way, as HF modules nest.
void addParameter(torch::nn::Module& root, const std::string& dotted, const torch::Tensor& value) {
  torch::nn::Module* node = &root;
  std::size_t start = 0, dot;
  while ((dot = dotted.find('.', start)) != std::string::npos) {
    std::string part = dotted.substr(start, dot - start);
    auto children = node->named_children();
    if (auto* child = children.find(part))
      node = child->get();
    else
      node = node->register_module(part, std::make_shared<torch::nn::Module>()).get();
    start = dot + 1;
  }
  node->register_parameter(dotted.substr(start), value);
}

// D = 8, V = 16, F = 16, two layers: 920 fp32 parameters, 3680 bytes.
std::vector<std::pair<std::string, std::vector<std::int64_t>>> tinyLlamaShapes() {
  std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes = {
      {"model.embed_tokens.weight", {16, 8}}, {"model.norm.weight", {8}}, {"lm_head.weight", {16, 8}}};
  for (const char* layer : {"0", "1"}) {
    std::string prefix = std::string("model.layers.") + layer + ".";
    shapes.push_back({prefix + "input_layernorm.weight", {8}});
    shapes.push_back({prefix + "self_attn.q_proj.weight", {8, 8}});
    shapes.push_back({prefix + "mlp.gate_proj.weight", {16, 8}});
    shapes.push_back({prefix + "mlp.down_proj.weight", {8, 16}});
  }
  return shapes;
}

std::shared_ptr<torch::nn::Module> tinyModule(
    const std::vector<std::pair<std::string, std::vector<std::int64_t>>>& shapes, std::uint64_t seed,
    const std::string& prefix = "") {
  torch::manual_seed(seed);
  auto module = std::make_shared<torch::nn::Module>();
  for (const auto& [name, shape] : shapes) addParameter(*module, prefix + name, torch::randn(shape));
  return module;
}

Json llamaConfig(bool tied = false) {
  return {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_size", 8},
          {"tie_word_embeddings", tied}, {"x-lab", {{"owner", "ana"}, {"run", 3}}}};
}

bool sameParameters(const torch::nn::Module& a, const torch::nn::Module& b) {
  auto pa = a.named_parameters(), pb = b.named_parameters();
  if (pa.size() != pb.size()) return false;
  for (const auto& item : pa) {
    const torch::Tensor* other = pb.find(item.key());
    if (!other || !torch::equal(item.value(), *other)) return false;
  }
  return true;
}

}  // namespace

class TestCheckpoint : public QObject {
  Q_OBJECT
 private slots:
  void shardedSaveLoadsBitIdentical() {
    QTemporaryDir tmp;
    fs::path root = tmp.path().toStdString();
    fs::path source = root / "source", dir = root / "saved";
    test::writeText(source / "tokenizer.json", "{\"model\":{}}");
    test::writeText(source / "tokenizer.model", std::string("\x0a\x03spm\x00", 6));
    test::writeText(source / "special_tokens_map.json", "{}");
    test::writeText(source / "notes.txt", "not a tokenizer file");

    auto original = tinyModule(tinyLlamaShapes(), 1);
    SaveOptions options;
    options.maxShardBytes = 1024;
    options.tokenizerSource = source;
    saveStateDict(*original, dir, llamaConfig(), options);

    // Greedy in name order under 1024 bytes (sizes 512, 512 | 32, 512 | 512, 256, 32 | 512, 512 | 256, 32).
    Json index = Json::parse(test::readText(dir / "model.safetensors.index.json"));
    QCOMPARE(index["metadata"]["total_size"].get<std::int64_t>(), std::int64_t{3680});
    const Json& map = index["weight_map"];
    QCOMPARE(map.size(), std::size_t{11});
    QCOMPARE(map["lm_head.weight"].get<std::string>(), std::string("model-00001-of-00005.safetensors"));
    QCOMPARE(map["model.embed_tokens.weight"].get<std::string>(), std::string("model-00001-of-00005.safetensors"));
    QCOMPARE(map["model.layers.0.mlp.down_proj.weight"].get<std::string>(), std::string("model-00002-of-00005.safetensors"));
    QCOMPARE(map["model.layers.1.input_layernorm.weight"].get<std::string>(), std::string("model-00003-of-00005.safetensors"));
    QCOMPARE(map["model.norm.weight"].get<std::string>(), std::string("model-00005-of-00005.safetensors"));
    for (const auto& [name, shape] : tinyLlamaShapes()) QVERIFY2(map.contains(name), name.c_str());
    QVERIFY(!fs::exists(dir / "model.safetensors"));

    // Config keeps unknown keys and records the dtype; tokenizer files are copied, nothing else.
    Json config = Json::parse(test::readText(dir / "config.json"));
    QCOMPARE(config["x-lab"], llamaConfig()["x-lab"]);
    QCOMPARE(config["torch_dtype"].get<std::string>(), std::string("float32"));
    QCOMPARE(test::readText(dir / "tokenizer.model"), test::readText(source / "tokenizer.model"));
    QVERIFY(fs::exists(dir / "tokenizer.json") && fs::exists(dir / "special_tokens_map.json"));
    QVERIFY(!fs::exists(dir / "notes.txt") && !fs::exists(dir / "tokenizer_config.json"));
    for (const auto& e : fs::directory_iterator(root))
      QVERIFY2(!isScratchName(e.path().filename().string()), e.path().c_str());

    HfCheckpoint checkpoint = HfCheckpoint::open(dir);
    QCOMPARE(checkpoint.tensors.files().size(), std::size_t{5});
    QCOMPARE(checkpoint.config["model_type"].get<std::string>(), std::string("llama"));
    auto fresh = tinyModule(tinyLlamaShapes(), 2);
    QVERIFY(!sameParameters(*original, *fresh));
    LoadReport report;
    loadStateDict(*fresh, checkpoint.tensors, report);
    QCOMPARE(report.loaded.size(), std::size_t{11});
    QVERIFY(report.missing.empty() && report.unexpected.empty() && report.misshaped.empty());
    QVERIFY(sameParameters(*original, *fresh));

    // Saving again unsharded replaces the folder whole: no shard, index or
    // tokenizer file of the earlier save is left to mix with the new one.
    QVERIFY(isMade(dir, "model"));
    saveStateDict(*original, dir, llamaConfig(), SaveOptions{});
    QVERIFY(fs::exists(dir / "model.safetensors"));
    QVERIFY(!fs::exists(dir / "model.safetensors.index.json"));
    QVERIFY(!fs::exists(dir / "model-00001-of-00005.safetensors"));
    QVERIFY(!fs::exists(dir / "tokenizer.json"));
    for (const auto& e : fs::directory_iterator(root))
      QVERIFY2(!isScratchName(e.path().filename().string()), e.path().c_str());
    auto again = tinyModule(tinyLlamaShapes(), 3);
    loadStateDict(*again, CheckpointTensors::open(dir), report);
    QVERIFY(sameParameters(*original, *again));
  }

  void mismatchesAreReportedByName() {
    QTemporaryDir tmp;
    fs::path dir = fs::path(tmp.path().toStdString()) / "odd";
    auto shapes = tinyLlamaShapes();
    shapes.erase(std::find_if(shapes.begin(), shapes.end(), [](auto& s) { return s.first == "model.norm.weight"; }));
    shapes.push_back({"model.layers.0.mlp.up_proj.weight", {16, 8}});
    for (auto& [name, shape] : shapes)
      if (name == "model.layers.1.self_attn.q_proj.weight") shape = {4, 8};
    saveStateDict(*tinyModule(shapes, 1), dir, llamaConfig());

    auto module = tinyModule(tinyLlamaShapes(), 2);
    torch::Tensor before = module->named_parameters()["model.embed_tokens.weight"].clone();
    LoadReport report;
    try {
      loadStateDict(*module, CheckpointTensors::open(dir), report);
      QFAIL("loaded a mismatched checkpoint");
    } catch (const ValidationError& e) {
      std::string message = e.what();
      QVERIFY2(message.find(dir.string()) != std::string::npos, message.c_str());
      QVERIFY2(message.find("3 problems") != std::string::npos, message.c_str());
      QVERIFY2(message.find("model.norm.weight: missing from the checkpoint") != std::string::npos, message.c_str());
      QVERIFY2(message.find("model.layers.0.mlp.up_proj.weight: in model.safetensors but not a tensor of the model") !=
                   std::string::npos,
               message.c_str());
      QVERIFY2(message.find("model.layers.1.self_attn.q_proj.weight: model expects [8, 8], model.safetensors has [4, 8]") !=
                   std::string::npos,
               message.c_str());
    }
    QCOMPARE(report.missing, std::vector<std::string>{"model.norm.weight"});
    QCOMPARE(report.unexpected, std::vector<std::string>{"model.layers.0.mlp.up_proj.weight"});
    QCOMPARE(report.misshaped.size(), std::size_t{1});
    QCOMPARE(report.misshaped[0].moduleShape, (std::vector<std::int64_t>{8, 8}));
    QCOMPARE(report.misshaped[0].checkpointShape, (std::vector<std::int64_t>{4, 8}));
    QVERIFY(torch::equal(module->named_parameters()["model.embed_tokens.weight"], before));  // nothing copied

    // Allowing missing and unexpected still refuses a wrong shape ...
    LoadOptions lenient;
    lenient.allowMissing = lenient.allowUnexpected = true;
    QVERIFY_THROWS_EXCEPTION(ValidationError, loadStateDict(*module, CheckpointTensors::open(dir), report, lenient));
    // ... and loads everything else when shapes agree.
    auto fixedShapes = tinyLlamaShapes();
    fixedShapes.erase(std::find_if(fixedShapes.begin(), fixedShapes.end(), [](auto& s) { return s.first == "model.norm.weight"; }));
    fixedShapes.push_back({"model.layers.0.mlp.up_proj.weight", {16, 8}});
    auto saved = tinyModule(fixedShapes, 4);
    saveStateDict(*saved, dir, llamaConfig());
    loadStateDict(*module, CheckpointTensors::open(dir), report, lenient);
    QCOMPARE(report.loaded.size(), std::size_t{10});
    QCOMPARE(report.missing, std::vector<std::string>{"model.norm.weight"});
    QVERIFY(torch::equal(module->named_parameters()["model.embed_tokens.weight"],
                         saved->named_parameters()["model.embed_tokens.weight"]));
  }

  void fp16CheckpointLoadsIntoFp32() {
    QTemporaryDir tmp;
    fs::path dir = fs::path(tmp.path().toStdString()) / "half";
    auto original = tinyModule(tinyLlamaShapes(), 1);
    SaveOptions options;
    options.dtype = torch::kFloat16;
    saveStateDict(*original, dir, llamaConfig(), options);
    HfCheckpoint checkpoint = HfCheckpoint::open(dir);
    QCOMPARE(checkpoint.config["torch_dtype"].get<std::string>(), std::string("float16"));
    QVERIFY(checkpoint.tensors.entry("lm_head.weight").dtype == safetensors::DType::F16);
    auto module = tinyModule(tinyLlamaShapes(), 2);
    LoadReport report;
    loadStateDict(*module, checkpoint.tensors, report);
    for (const auto& item : module->named_parameters()) {
      QVERIFY(item.value().scalar_type() == torch::kFloat32);
      torch::Tensor expected = original->named_parameters()[item.key()].to(torch::kFloat16).to(torch::kFloat32);
      QVERIFY2(torch::equal(item.value(), expected), item.key().c_str());
    }
  }

  void tiedLmHeadIsNeitherSavedNorMissing() {
    QTemporaryDir tmp;
    fs::path dir = fs::path(tmp.path().toStdString()) / "tied";
    auto original = tinyModule(tinyLlamaShapes(), 1);
    saveStateDict(*original, dir, llamaConfig(/*tied=*/true));
    CheckpointTensors tensors = CheckpointTensors::open(dir);
    QVERIFY(!tensors.contains("lm_head.weight"));
    QCOMPARE(tensors.names().size(), std::size_t{10});

    auto module = tinyModule(tinyLlamaShapes(), 2);
    LoadReport report;
    QVERIFY_THROWS_EXCEPTION(ValidationError, loadStateDict(*module, tensors, report));
    QCOMPARE(report.missing, std::vector<std::string>{"lm_head.weight"});
    LoadOptions options;
    options.tieWordEmbeddings = true;
    loadStateDict(*module, tensors, report, options);
    QCOMPARE(report.tied, std::vector<std::string>{"lm_head.weight"});
    QVERIFY(report.missing.empty());
  }

  void nameMapperAddsAPrefix() {
    QTemporaryDir tmp;
    fs::path dir = fs::path(tmp.path().toStdString()) / "hub-bloom";
    std::vector<std::pair<std::string, std::vector<std::int64_t>>> shapes = {
        {"word_embeddings.weight", {16, 8}}, {"h.0.mlp.dense_h_to_4h.weight", {32, 8}}, {"ln_f.bias", {8}}};
    auto hub = tinyModule(shapes, 1);  // names without "transformer."
    saveStateDict(*hub, dir, {{"model_type", "bloom"}});
    auto model = tinyModule(shapes, 2, "transformer.");
    LoadOptions options;
    options.mapName = [](const std::string& name) { return "transformer." + name; };
    LoadReport report;
    loadStateDict(*model, CheckpointTensors::open(dir), report, options);
    QCOMPARE(report.loaded.size(), std::size_t{3});
    QVERIFY(torch::equal(model->named_parameters()["transformer.ln_f.bias"], hub->named_parameters()["ln_f.bias"]));
  }

  void brokenFoldersNameTheProblem() {
    QTemporaryDir tmp;
    fs::path dir = fs::path(tmp.path().toStdString()) / "broken";
    saveStateDict(*tinyModule(tinyLlamaShapes(), 1), dir, llamaConfig(), SaveOptions{1024, {}, {}});
    fs::remove(dir / "model-00003-of-00005.safetensors");
    try {
      CheckpointTensors::open(dir);
      QFAIL("opened a folder with a missing shard");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find("model-00003-of-00005.safetensors") != std::string::npos, e.what());
    }
    fs::remove(dir / "model.safetensors.index.json");
    QVERIFY_THROWS_EXCEPTION(InputError, CheckpointTensors::open(dir));
    fs::remove(dir / "config.json");
    try {
      HfCheckpoint::open(dir);
      QFAIL("opened a folder without config.json");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find((dir / "config.json").string()) != std::string::npos, e.what());
    }
  }

  void inspectDescribesASavedFolder() {
    QTemporaryDir tmp;
    fs::path dir = fs::path(tmp.path().toStdString()) / "ckpt";
    SaveOptions options;
    options.maxShardBytes = 1024;
    saveStateDict(*tinyModule(tinyLlamaShapes(), 1), dir, llamaConfig(), options);
    test::CliResult text = test::runCli({"inspect", dir.string()});
    QVERIFY2(text.exitCode == 0, text.err.c_str());
    QVERIFY2(text.out.find("parameters:   920 in 11 tensors") != std::string::npos, text.out.c_str());
    QVERIFY2(text.out.find("llama (LlamaForCausalLM)") != std::string::npos, text.out.c_str());
    QVERIFY2(text.out.find("model-00005-of-00005.safetensors") != std::string::npos, text.out.c_str());
    QVERIFY2(text.out.find("model.layers.N.mlp.gate_proj.weight") != std::string::npos, text.out.c_str());

    test::CliResult events = test::runCli({"--events", "jsonl", "inspect", dir.string()});
    QCOMPARE(events.exitCode, 0);
    Json result;
    std::istringstream lines(events.out);
    for (std::string line; std::getline(lines, line);) {
      Json event = Json::parse(line);
      if (event.value("event", "") == "result") result = event;
    }
    QVERIFY2(!result.is_null(), events.out.c_str());
    const Json& info = result["data"];
    QCOMPARE(info["total_parameters"].get<std::int64_t>(), std::int64_t{920});
    QCOMPARE(info["layers"].get<int>(), 2);
    // The family table's kinds: embedding 128, head 128, norms 8 + 2·8, attention 2·64, ffn 2·(128 + 128).
    QVERIFY(info["supported"].get<bool>());
    QCOMPARE(info["by_kind"]["embedding"].get<int>(), 128);
    QCOMPARE(info["by_kind"]["head"].get<int>(), 128);
    QCOMPARE(info["by_kind"]["norms"].get<int>(), 24);
    QCOMPARE(info["by_kind"]["attention"].get<int>(), 128);
    QCOMPARE(info["by_kind"]["ffn"].get<int>(), 512);
    QCOMPARE(info["dtypes"]["F32"]["tensors"].get<int>(), 11);
    QCOMPARE(info["files"].size(), std::size_t{5});
    QCOMPARE(info["by_kind"].size(), std::size_t{5});

    // A model_type without a family row: described, without module kinds, and said so.
    Json config = Json::parse(test::readText(dir / "config.json"));
    config["model_type"] = "gpt2";
    test::writeText(dir / "config.json", config.dump());
    test::CliResult unknown = test::runCli({"inspect", dir.string()});
    QVERIFY2(unknown.exitCode == 0, unknown.err.c_str());
    QVERIFY2(unknown.out.find("model_type 'gpt2' is not a supported family (llama") != std::string::npos,
             unknown.out.c_str());
    QVERIFY2(unknown.out.find("parameters:   920 in 11 tensors") != std::string::npos, unknown.out.c_str());

    fs::remove(dir / "config.json");
    test::CliResult missing = test::runCli({"inspect", dir.string()});
    QCOMPARE(missing.exitCode, 2);
    QVERIFY2(missing.err.find("config.json") != std::string::npos, missing.err.c_str());
  }

  // A config.json of a family the workbench loads that disagrees with the
  // weights: inspect still describes the folder (exit 0) and says that, and
  // why, loading it is refused; values of unexpected JSON types are shown as
  // written (they used to end it with a raw json.exception, exit 1).
  void inspectNamesAConfigItCannotLoad() {
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "ckpt";
    Json config = {{"model_type", "llama"}, {"vocab_size", 16}, {"hidden_size", 8}, {"num_hidden_layers", 2},
                   {"num_attention_heads", 2}, {"intermediate_size", 16}};
    saveStateDict(*tinyModule(tinyLlamaShapes(), 1), dir, config);
    test::CliResult r = test::runCli({"inspect", dir.string()});
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY2(r.out.find("loading:") == std::string::npos, r.out.c_str());

    config["num_hidden_layers"] = 1000000000;
    test::writeText(dir / "config.json", config.dump());
    r = test::runCli({"inspect", dir.string()});
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY_CONTAINS(r.out, "  layers:       2\n  loading:      refused: " + (dir / "config.json").string() +
                                ": \"num_hidden_layers\": 1000000000, but the weights hold layers 0 to 1 (model.layers.1.");

    config.update({{"model_type", 5}, {"architectures", {3}}, {"dmoe", {{"num_experts", "x"}, {"experts", {{1}}}}}});
    test::writeText(dir / "config.json", config.dump());
    r = test::runCli({"inspect", dir.string()});
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY_CONTAINS(r.out, "  architecture:  (3)\n");
    QVERIFY_CONTAINS(r.out, "  DMoE:         MoE layers ; x experts, top-? routing\n    expert 0: 1\n");
    QVERIFY_CONTAINS(r.out, "model_type '' is not a supported family");
  }

  // A FIFO (nobody writing) as config.json, the index or a weight file: `dmoe
  // inspect` and the summary exit 2 naming it at once; they used to block forever.
  void nonRegularFilesAreRefusedByName_data() {
    QTest::addColumn<QString>("file");
    QTest::addColumn<bool>("sharded");
    QTest::newRow("config.json") << "config.json" << false;
    QTest::newRow("model.safetensors") << "model.safetensors" << false;
    QTest::newRow("index") << "model.safetensors.index.json" << true;
    QTest::newRow("shard") << "model-00002-of-00005.safetensors" << true;
  }

  void nonRegularFilesAreRefusedByName() {
    QFETCH(QString, file);
    QFETCH(bool, sharded);
    QTemporaryDir tmp;
    const fs::path dir = fs::path(tmp.path().toStdString()) / "ckpt", fifo = dir / file.toStdString();
    SaveOptions options;
    if (sharded) options.maxShardBytes = 1024;
    saveStateDict(*tinyModule(tinyLlamaShapes(), 1), dir, llamaConfig(), options);
    fs::remove(fifo);
    QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
    const std::string expected = fifo.string() + ": not a regular file (a FIFO)";
    const test::CliResult r = test::runCli({"inspect", dir.string()}, {}, 20000);
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, expected);
    QVERIFY_CONTAINS(test::inputErrorOf([&] { summarizeCheckpoint(dir); }), expected);
  }
};

QTEST_GUILESS_MAIN(TestCheckpoint)
#include "test_checkpoint.moc"
