// The New Project flow without the GUI: a corpus folder as it is listed
// (corpus/corpus_folder.h), a checkpoint folder as it is summarized
// (model/checkpoint_summary.h), the project written from a few choices
// (project/new_project.h), and `dmoe corpus scan` / `dmoe project new`.
#include <QtTest>
#include <filesystem>
#include <algorithm>
#include <cmath>
#include <fstream>

#include "model/checkpoint_summary.h"
#include "checkpoint/safetensors.h"
#include "corpus/corpus_folder.h"
#include "project/new_project.h"
#include "test_support.h"
#include "util/error.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

std::string documents(const std::string& id, int n) {
  std::string text;
  for (int i = 0; i < n; ++i) text += "{\"text\":\"" + id + " document " + std::to_string(i) + "\"}\n";
  return text;
}

// fr (plain, 12 documents and one bad line), de (12), it (12, as .json), nl (3).
fs::path makeCorpus(const fs::path& dir) {
  const fs::path corpus = dir / "corpus";
  test::writeText(corpus / "fr.jsonl", documents("fr", 6) + "not json\n" + documents("fr", 6));
  test::writeText(corpus / "de.jsonl", documents("de", 12));
  test::writeText(corpus / "it.json", documents("it", 12));
  test::writeText(corpus / "nl.jsonl", documents("nl", 3));
  test::writeText(corpus / "README.md", "not a language");
  return corpus;
}

// A Llama-family checkpoint folder: config.json and two safetensors files
// (3×4 F32 and 5 BF16 tensors = 17 parameters), and `tokenizer` when given.
fs::path makeCheckpoint(const fs::path& dir, const std::string& modelType, const std::string& tokenizer) {
  test::writeText(dir / "config.json", Json{{"model_type", modelType}, {"hidden_size", 4}, {"num_hidden_layers", 2},
                                             {"vocab_size", 3}}.dump());
  const std::string a(12 * 4, '\0'), b(5 * 2, '\0');
  safetensors::write(dir / "model-00001-of-00002.safetensors", {{"model.embed_tokens.weight", safetensors::DType::F32, {3, 4}, a}});
  safetensors::write(dir / "model-00002-of-00002.safetensors", {{"model.norm.weight", safetensors::DType::BF16, {5}, b}});
  if (!tokenizer.empty()) test::writeText(dir / tokenizer, "{}");
  return dir;
}

// Options over makeCorpus's folder under `dir`: write `file` with these training languages.
NewProjectOptions optionsIn(const fs::path& dir, const std::string& file, std::vector<std::string> languages) {
  NewProjectOptions o;
  o.file = dir / file;
  o.corpus = makeCorpus(dir);
  o.languages = std::move(languages);
  return o;
}

}  // namespace

class TestNewProject : public QObject {
  Q_OBJECT
 private slots:
  // Languages are the stems of the corpus files (other files ignored), with
  // compression, size, a sample; documents and bad lines once counted.
  void aCorpusFolderIsListedAndCounted() {
    QTemporaryDir tmp;
    const fs::path corpus = makeCorpus(tmp.path().toStdString());
    std::vector<CorpusFileInfo> files = listCorpusFolder(corpus, "text");
    QCOMPARE(files.size(), size_t{4});
    QCOMPARE(files[2].id, std::string("it"));
    QCOMPARE(files[2].file, corpus / "it.json");
    QCOMPARE(files[1].sample, std::string("fr document 0"));
    QCOMPARE(files[1].documents, std::int64_t{-1});
    QCOMPARE(files[1].bytes, static_cast<std::int64_t>(fs::file_size(corpus / "fr.jsonl")));
    countCorpusDocuments(files[1], "text");
    QCOMPARE(files[1].documents, std::int64_t{12});
    QCOMPARE(files[1].badLines, std::int64_t{1});
    QVERIFY_CONTAINS(test::inputErrorOf([&] { listCorpusFolder(corpus / "nowhere", "text"); }), "does not exist");
  }

  // Header-only summary: parameters and bytes summed over the shards, per dtype; the tokenizer found beside.
  void aCheckpointIsSummarizedFromItsHeaders() {
    QTemporaryDir tmp;
    const fs::path dir = makeCheckpoint(fs::path(tmp.path().toStdString()) / "llama", "llama", "tokenizer.json");
    const CheckpointSummary s = summarizeCheckpoint(dir);
    QVERIFY(s.unsupported.empty());
    QCOMPARE(s.parameters, std::int64_t{17});
    QCOMPARE(s.bytes, std::int64_t{12 * 4 + 5 * 2});
    QCOMPARE(s.dtypes.at("BF16"), std::int64_t{5});
    QCOMPARE(s.weightFiles.size(), size_t{2});
    QCOMPARE(s.tokenizer, dir / "tokenizer.json");
    QCOMPARE(s.line(), std::string("llama · 2 layers · d 4 · 17 parameters (BF16, F32) · 2 files · tokenizer.json"));
    // With an index, only the shards it names count (a consolidated copy beside them is not counted twice).
    test::writeText(dir / "model.safetensors.index.json",
                    Json{{"weight_map", {{"model.embed_tokens.weight", "model-00001-of-00002.safetensors"},
                                         {"model.norm.weight", "model-00002-of-00002.safetensors"}}}}.dump());
    fs::copy_file(dir / "model-00001-of-00002.safetensors", dir / "consolidated.safetensors");
    QCOMPARE(summarizeCheckpoint(dir).parameters, std::int64_t{17});
    const CheckpointSummary gpt2 = summarizeCheckpoint(makeCheckpoint(fs::path(tmp.path().toStdString()) / "gpt2", "gpt2", ""));
    QVERIFY_CONTAINS(gpt2.unsupported, "model_type \"gpt2\" is not a family the workbench loads (llama");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { summarizeCheckpoint(tmp.path().toStdString()); }), "no config.json");
  }

  // Pretrain base: the preset's shape, a trained tokenizer, the slices, G, ε;
  // paths relative to the file's folder; it loads as any project does.
  void aPretrainProjectIsWrittenValidAndLoads() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    NewProjectOptions o = optionsIn(dir, "mine.dmoe.json", {"fr", "de", "it"});
    o.newLanguages = {"nl"};
    o.preset = "micro";
    o.groups = 2;
    o.epsilon = 0.4;
    o.heldoutFraction = 0.2;
    const Project p = writeNewProject(o, false);
    QCOMPARE(p.languages.size(), size_t{3});
    QCOMPARE(p.new_languages.at(0).id, std::string("nl"));
    QCOMPARE(p.base_model.kind, std::string("pretrain"));
    QCOMPARE(p.base_model.config.hidden_size, std::int64_t{64});
    QCOMPARE(p.grouping.groups, std::int64_t{2});
    QCOMPARE(p.layer_selection.epsilon, 0.4);
    QCOMPARE(p.corpus.heldout.fraction, 0.2);
    QCOMPARE(p.corpusFile("it"), dir / "corpus/it.json");
    QCOMPARE(p.runsDir(), dir / "runs/mine");
    const Json written = Json::parse(test::readText(o.file));
    QCOMPARE(written["corpus"]["root"].get<std::string>(), std::string("corpus"));
    QCOMPARE(written["name"].get<std::string>(), std::string("mine"));
    o.file = dir / "my.lab.dmoe.json";  // a dotted stem is kept whole
    QCOMPARE(newProjectDocument(o)["runs_dir"].get<std::string>(), std::string("runs/my.lab"));
    o.file = dir / "mine.dmoe.json";
    // The preset's parameter count is the built model's formula (ModelConfig), tied embeddings:
    // d 64, 4 layers, vocab 8000: 8000·64 + 4·(2·64 + 64·64 + 2·32·64 + 64·64 + 3·64·172) + 64.
    QCOMPARE(modelPresets().front().parameters(8000),
             std::int64_t{8000 * 64 + 4 * (2 * 64 + 64 * 64 + 2 * 32 * 64 + 64 * 64 + 3 * 64 * 172) + 64});

    QVERIFY_CONTAINS(test::inputErrorOf([&] { writeNewProject(o, false); }), "mine.dmoe.json exists");
    o.preset = "huge";
    QVERIFY_CONTAINS(test::inputErrorOf([&] { newProjectDocument(o); }), "unknown model preset \"huge\" (expected micro, demo");
  }

  // Every problem is the project validation's, with its JSON path, and nothing is written.
  void aBadChoiceWritesNothing() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    NewProjectOptions o = optionsIn(dir, "bad.dmoe.json", {"fr", "xx"});
    o.newLanguages = {"fr"};
    o.groups = 5;
    try {
      writeNewProject(o, false);
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      std::string all;
      for (const Problem& p : e.problems()) all += p.where + ": " + p.message + "\n";
      QVERIFY_CONTAINS(all, "/languages/1: missing corpus file");
      QVERIFY_CONTAINS(all, "/grouping/groups: 5 groups for 2 languages");
      QVERIFY_CONTAINS(all, "'fr'");  // in both lists
    }
    QVERIFY(!fs::exists(o.file));
  }

  // Checkpoint base: its folder and its tokenizer, no pretrain slice; a family
  // the workbench does not load, a Hugging Face mixture of experts, or no
  // tokenizer, is refused with the reason.
  void aCheckpointProjectUsesItsTokenizer() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    NewProjectOptions o = optionsIn(dir, "projects/ckpt.dmoe.json", {"fr", "de"});
    o.checkpoint = makeCheckpoint(dir / "models/tiny", "llama", "tokenizer.json");
    const Json doc = newProjectDocument(o);
    QCOMPARE(doc["base_model"], (Json{{"kind", "checkpoint"}, {"path", (dir / "models/tiny").generic_string()}}));
    QCOMPARE(doc["tokenizer"], (Json{{"kind", "file"}, {"path", (dir / "models/tiny/tokenizer.json").generic_string()}}));
    QVERIFY(!doc["corpus"].contains("pretrain"));
    QCOMPARE(doc["grouping"]["groups"].get<std::int64_t>(), std::int64_t{2});  // min(6, languages)
    o.checkpoint = makeCheckpoint(dir / "models/gpt2", "gpt2", "tokenizer.json");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { newProjectDocument(o); }), "\"gpt2\" is not a family the workbench loads");
    o.checkpoint = makeCheckpoint(dir / "models/moe", "qwen2_moe", "tokenizer.json");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { newProjectDocument(o); }), "a qwen2_moe checkpoint is already a mixture of experts");
    o.checkpoint = makeCheckpoint(dir / "models/bare", "qwen2", "");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { newProjectDocument(o); }), "no tokenizer.model or tokenizer.json");
  }

  // The CLI: scan lists and counts; new writes a project that `project check`
  // accepts, every language not --new training; a bad G exits 2 with its path.
  void theCliScansAndWrites() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    makeCorpus(dir);
    auto r = test::runCli({"corpus", "scan", "corpus"}, dir);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY_CONTAINS(r.out, "fr  fr.jsonl");
    QVERIFY_CONTAINS(r.out, "it.json");
    r = test::runCli({"--events", "jsonl", "corpus", "scan", "corpus"}, dir);
    QVERIFY_CONTAINS(r.out, "\"documents\":12");
    r = test::runCli({"project", "new", "p.dmoe.json", "--corpus", "corpus", "--new", "nl", "--preset", "micro"}, dir);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY_CONTAINS(r.out, "3 training languages, 1 new");
    r = test::runCli({"project", "check", "p.dmoe.json"}, dir);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    r = test::runCli({"project", "new", "q.dmoe.json", "--corpus", "corpus", "--groups", "9"}, dir);
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "/grouping/groups");
    QVERIFY(!fs::exists(dir / "q.dmoe.json"));
    r = test::runCli({"project", "new", "p.dmoe.json", "--corpus", "corpus"}, dir);
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "exists");
  }

  // NaN and ±inf pass a range check (every comparison with NaN is false): they
  // used to be written as null with exit 0. They are the project validation's
  // to refuse, with its JSON path, exit 2 and nothing written.
  void aNumberThatIsNotFiniteIsRefusedAsOnLoad() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    NewProjectOptions o = optionsIn(dir, "nan.dmoe.json", {"fr", "de"});
    o.epsilon = std::nan("");
    try {
      writeNewProject(o, false);
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QCOMPARE(e.problems().size(), size_t{1});
      QCOMPARE(e.problems()[0].where, std::string("/layer_selection/epsilon"));
    }
    QVERIFY(!fs::exists(o.file));
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"--epsilon", "/layer_selection/epsilon"}, {"--heldout", "/corpus/heldout/fraction"},
        {"--pretrain-fraction", "/corpus/pretrain/fraction"}};
    for (const auto& [option, pointer] : cases)
      for (const char* value : {"nan", "inf", "-inf"}) {
        auto r = test::runCli({"project", "new", "q.dmoe.json", "--corpus", "corpus", option, value}, dir);
        QVERIFY2(r.exitCode == 2, (option + " " + value + ": " + r.out + r.err).c_str());
        QVERIFY_CONTAINS(r.err, pointer);
        QVERIFY(!fs::exists(dir / "q.dmoe.json"));
      }
  }

  // --force replaces a project file only: a corpus file, a JSON file that is
  // not a project, a text file or a folder is refused naming it and why, and
  // left as it was (it used to be overwritten whatever it was).
  void forceReplacesOnlyAProjectFile() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    makeCorpus(dir);
    const std::string corpusText = test::readText(dir / "corpus/de.jsonl");
    auto r = test::runCli({"project", "new", "corpus/de.jsonl", "--corpus", "corpus", "--runs-dir", "runs", "--force"}, dir);
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "corpus/de.jsonl");
    QVERIFY_CONTAINS(r.err, "not a project file");
    QCOMPARE(test::readText(dir / "corpus/de.jsonl"), corpusText);

    NewProjectOptions o = optionsIn(dir / "core", "p.dmoe.json", {"fr", "de"});
    test::writeText(dir / "core/notes.json", R"({"format": "lab-notes/2", "owner": "ana"})");
    test::writeText(dir / "core/draft.txt", "chapter 1\n");
    fs::create_directories(dir / "core/folder.dmoe.json");
    const std::vector<std::pair<std::string, std::string>> refused = {
        {"notes.json", "no \"format\": \"dmoe-project/1\""}, {"draft.txt", "not JSON"}, {"folder.dmoe.json", "not a file"}};
    for (const auto& [name, why] : refused) {
      o.file = dir / "core" / name;
      const std::string before = fs::is_regular_file(o.file) ? test::readText(o.file) : "";
      const std::string error = test::inputErrorOf([&] { writeNewProject(o, true); });
      QVERIFY_CONTAINS(error, o.file.string() + " is not a project file");
      QVERIFY_CONTAINS(error, why);
      if (!before.empty()) QCOMPARE(test::readText(o.file), before);
    }
    QVERIFY(fs::is_directory(dir / "core/folder.dmoe.json"));
    o.file = dir / "core/p.dmoe.json";
    writeNewProject(o, false);
    o.epsilon = 0.3;
    QCOMPARE(writeNewProject(o, true).layer_selection.epsilon, 0.3);  // a project file is replaced
    test::writeText(o.file, R"({"format": "dmoe-project/1", "languages": [{"id": "gone"}]})");
    QCOMPARE(writeNewProject(o, true).languages.size(), size_t{2});  // an invalid one too: it is still a project file
  }

  // The pipeline reads a user's corpus folder and never writes to it: after
  // the corpus, tokenizer, tokens and stats stages of a new project (a .json
  // and a plain file among them) the folder lists the same files with the same
  // sizes and times; everything derived is under the runs folder.
  void theUsersCorpusFolderIsOnlyRead() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    const fs::path corpus = makeCorpus(dir);
    auto listing = [&] {
      std::string text;
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(corpus)) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files)
        text += f.filename().string() + " " + std::to_string(fs::file_size(f)) + " " +
                std::to_string(fs::last_write_time(f).time_since_epoch().count()) + "\n";
      return text;
    };
    const std::string before = listing();
    auto r = test::runCli({"project", "new", "p.dmoe.json", "--corpus", "corpus", "--new", "nl", "--preset", "micro",
                           "--vocab-size", "400"}, dir);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    r = test::runCli({"run", "p.dmoe.json", "--until", "stats"}, dir);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY(fs::exists(dir / "runs/p/tokens/it/heldout.bin"));
    QCOMPARE(listing(), before);
  }
};

QTEST_GUILESS_MAIN(TestNewProject)
#include "test_new_project.moc"
