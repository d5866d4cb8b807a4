// Tokenizer: training on a language-balanced sample of the training split,
// round trips (byte fallback for unseen characters), skip/retrain logic,
// loading errors, and the `dmoe tokenize` command.
#include <QtTest>
#include <filesystem>
#include <set>

#include "corpus/data_slices.h"
#include "corpus/jsonl_reader.h"
#include "events/event_sink.h"
#include "tiny_multilingual_corpus.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "util/text.h"
#include "stages/tokenizer_training.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

// The texts of a language's held-out documents, split computed independently.
// The texts of a language's documents in the given data slice.
std::set<std::string> sliceTexts(const Project& p, const std::string& id, Slice slice) {
  std::vector<std::string> texts;
  JsonlReader reader(p.corpusFile(id), "text");
  for (Document d; reader.next(d);) texts.push_back(d.text);
  const std::vector<Slice> slices =
      documentSlices(static_cast<std::int64_t>(texts.size()), p.corpus, id, p.hasPretrainSlice(id));
  std::set<std::string> out;
  for (std::size_t i = 0; i < texts.size(); ++i)
    if (slices[i] == slice) out.insert(texts[i]);
  return out;
}

std::string lastStageStatus(const CollectingSink& sink) {
  std::string status;
  for (const Json& e : sink.events)
    if (e["event"] == "stage") status = e["status"];
  return status;
}

}  // namespace

class TestTokenizer : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  fs::path dir_;

 private slots:
  void initTestCase() {
    dir_ = tmp_.path().toStdString();
    test::writeTinyProject(dir_);
  }

  void sampleIsBalancedAndComesFromThePretrainSlice() {
    Project p = Project::load(dir_ / "tiny.dmoe.json");
    NullSink null;
    Reporter r(null, "tokenizer");
    std::vector<LanguageSample> sample = drawTokenizerSample(p, r);
    QCOMPARE(sample.size(), std::size_t{4});  // new language el included
    for (const LanguageSample& s : sample) {
      // 50 documents, 20% = 10 held out, 40 left. Training languages: the tokenizer
      // belongs to the base, so it samples their pretrain slice (half: 20, below the
      // quota of 30) and never the continual one; the new language el: all 40, quota 30.
      const bool pretrainOnly = p.hasPretrainSlice(s.language);
      const std::size_t expected = pretrainOnly ? 20 : 30;
      QCOMPARE(s.trainingDocuments, std::int64_t{pretrainOnly ? 20 : 40});
      QCOMPARE(s.documents.size(), expected);
      QCOMPARE(sliceTexts(p, s.language, Slice::heldout).size(), std::size_t{10});
      const std::set<std::string> excluded =
          pretrainOnly ? sliceTexts(p, s.language, Slice::continual) : std::set<std::string>{};
      const std::set<std::string> held = sliceTexts(p, s.language, Slice::heldout);
      for (const std::string& text : s.documents) QVERIFY2(!held.count(text) && !excluded.count(text), text.c_str());
      QCOMPARE(std::set<std::string>(s.documents.begin(), s.documents.end()).size(), expected);
    }
    QCOMPARE(sample[0].language, std::string("en"));
    QCOMPARE(sample[3].language, std::string("el"));
    // Deterministic; and a different seed draws a different sample.
    // (el: its 40 documents exceed the quota, so the seed decides which 30.)
    QCOMPARE(drawTokenizerSample(p, r)[3].documents, sample[3].documents);
    p.tokenizer.seed = 4;
    QVERIFY(drawTokenizerSample(p, r)[3].documents != sample[3].documents);
  }

  void trainedModelRoundTrips() {
    Project p = Project::load(dir_ / "tiny.dmoe.json");
    CollectingSink sink;
    Reporter r(sink, "tokenizer");
    TokenizerBuild build = trainTokenizer(p, r);
    QVERIFY(build.trained);
    QCOMPARE(build.model, p.runsDir() / "tokenizer" / "tokenizer.model");
    std::set<std::string> written;  // the scratch folder is gone
    for (const auto& entry : fs::directory_iterator(p.runsDir() / "tokenizer"))
      written.insert(entry.path().filename().string());
    QCOMPARE(written, (std::set<std::string>{".dmoe-made", "manifest.json", "tokenizer.model", "tokenizer.vocab"}));
    Json manifest = Json::parse(test::readText(p.runsDir() / "tokenizer" / "manifest.json"));
    QCOMPARE(manifest["sample"]["documents"]["ru"].get<int>(), 20);  // ru's pretrain slice
    QCOMPARE(manifest["trainer"]["normalization_rule_name"].get<std::string>(), std::string("nmt_nfkc"));

    SentencePieceTokenizer t(build.model);
    QCOMPARE(t.vocabSize(), build.vocabSize);
    QVERIFY(t.vocabSize() <= 400 && t.vocabSize() > 260);  // 256 bytes + 4 specials + pieces
    QCOMPARE(manifest["vocab_size"].get<std::int64_t>(), t.vocabSize());
    QCOMPARE(t.unkId(), 0);
    QCOMPARE(t.bosId(), 1);
    QCOMPARE(t.eosId(), 2);
    QCOMPARE(t.padId(), 3);
    QCOMPARE(t.piece(1), std::string("<s>"));
    QCOMPARE(t.fingerprint(), manifest["model"]["hash"].get<std::string>());

    for (const std::string& id : test::tinyLanguages())
      for (int i : {0, 17, 49}) {
        std::string text = test::tinyDocument(id, i);
        QCOMPARE(t.decode(t.encode(text)), text);
      }
    // Unseen characters (CJK, a musical symbol, an emoji) come back through byte pieces.
    const std::string unseen = "Zoë 漢字 𝄞 🙂 жизнь";
    std::vector<TokenId> ids = t.encode(unseen);
    QCOMPARE(t.decode(ids), unseen);
    QVERIFY(std::find(ids.begin(), ids.end(), t.unkId()) == ids.end());
    QVERIFY(std::any_of(ids.begin(), ids.end(), [&](TokenId id) { return t.piece(id) == "<0xF0>"; }));
    std::vector<TokenId> withSpecials = t.encode("law", true);
    QCOMPARE(withSpecials.front(), 1);  // BOS in front, Llama-style
    QCOMPARE(std::vector<TokenId>(withSpecials.begin() + 1, withSpecials.end()), t.encode("law"));
    QCOMPARE(lastStageStatus(sink), std::string("done"));
  }

  void rerunIsSkippedAndChangedSettingsRetrain() {
    Project p = Project::load(dir_ / "tiny.dmoe.json");
    NullSink null;
    Reporter r(null, "tokenizer");
    trainTokenizer(p, r);  // whatever state the earlier test left
    const std::string before = test::readText(p.runsDir() / "tokenizer" / "tokenizer.model");
    CollectingSink sink;
    Reporter collecting(sink, "tokenizer");
    QVERIFY(!trainTokenizer(p, collecting).trained);
    QCOMPARE(lastStageStatus(sink), std::string("skipped"));
    QVERIFY(trainTokenizer(p, r, /*force=*/true).trained);

    p.tokenizer.vocab_size = 360;
    TokenizerBuild smaller = trainTokenizer(p, r);
    QVERIFY(smaller.trained);
    QVERIFY(smaller.vocabSize <= 360);
    QVERIFY(test::readText(smaller.model) != before);
    QVERIFY(!trainTokenizer(p, r).trained);

    // A changed sample (held-out seed moves documents between splits) retrains too.
    p.corpus.heldout.seed = 8;
    QVERIFY(trainTokenizer(p, r).trained);
  }

  void fileKindUsesThePathAndTrainsNothing() {
    Project trained = Project::load(dir_ / "tiny.dmoe.json");
    NullSink null;
    Reporter r(null, "tokenizer");
    fs::path model = trainTokenizer(trained, r).model;
    Project p = trained;
    p.tokenizer.kind = "file";
    p.tokenizer.path = model.string();
    p.runs_dir = "other-runs";
    TokenizerBuild build = trainTokenizer(p, r);
    QVERIFY(!build.trained);
    QCOMPARE(build.model, model);
    QVERIFY(!fs::exists(p.runsDir() / "tokenizer"));
    QCOMPARE(loadProjectTokenizer(p)->fingerprint(), SentencePieceTokenizer(model).fingerprint());
  }

  void loadingErrorsNameThePath() {
    const fs::path missing = dir_ / "nowhere" / "tokenizer.model";
    const fs::path garbage = dir_ / "garbage" / "tokenizer.model";
    test::writeText(garbage, "this is not a protobuf");
    for (const fs::path& path : {missing, garbage, garbage.parent_path(), dir_ / "corpus"}) {
      try {
        loadTokenizer(path);
        QFAIL(("no error for " + path.string()).c_str());
      } catch (const InputError& e) {
        QVERIFY2(std::string(e.what()).find(path.string()) != std::string::npos, e.what());
      }
    }
    // A folder holding a tokenizer.model loads it.
    Project p = Project::load(dir_ / "tiny.dmoe.json");
    NullSink null;
    Reporter r(null, "tokenizer");
    fs::path model = trainTokenizer(p, r).model;
    QCOMPARE(loadTokenizer(model.parent_path())->kind(), std::string("sentencepiece"));
    // Untrained project: the error says what to run.
    p.runs_dir = "fresh-runs";
    try {
      loadProjectTokenizer(p);
      QFAIL("no error for an untrained project tokenizer");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find("dmoe tokenizer train") != std::string::npos, e.what());
    }
  }

  // Documents longer than sentencepiece's sentence limit (16,384 bytes) train
  // the tokenizer (their lines split at word boundaries, counted in the log);
  // they used to crash the trainer (signal 11 on its "too long line" warning).
  void aVeryLongDocumentTrainsTheTokenizer() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    fs::path project = test::writeTinyProject(dir);
    std::string corpus;  // every English document about 22,000 bytes: 400 short ones joined
    for (int d = 0; d < 50; ++d) {
      std::string text;
      for (int i = 0; i < 400; ++i) text += test::tinyDocument("en", 400 * d + i) + " ";
      corpus += Json{{"text", text}}.dump() + "\n";
    }
    test::writeText(dir / "corpus/en.jsonl", corpus);
    corpus.clear();  // and every Russian one 18,000 bytes without a space: cut between characters, not inside one
    for (int d = 0; d < 50; ++d) {
      std::string text = std::to_string(d);
      for (int i = 0; i < 3000; ++i) text += "дом";
      corpus += Json{{"text", text}}.dump() + "\n";
    }
    test::writeText(dir / "corpus/ru.jsonl", corpus);
    test::CliResult trained = test::runCli({"tokenizer", "train", project.string()});
    QVERIFY2(trained.exitCode == 0, trained.err.c_str());
    QVERIFY2(trained.err.find("over 16384 bytes split into") != std::string::npos, trained.err.c_str());

    // Encoding a 200 kB document in 64 KiB pieces cut after a space gives the
    // whole text's ids with a sentencepiece model (the trailing space is
    // dropped, the next piece starts a word); a short text is one piece.
    const auto tokenizer = loadTokenizer(dir / "runs/tokenizer/tokenizer.model");
    std::string text;
    for (int i = 0; text.size() < 200000; ++i) text += test::tinyDocument("en", i) + " ";
    QCOMPARE(splitLongLine(text, Tokenizer::kPieceBytes).size(), size_t{4});
    std::vector<TokenId> pieces;
    tokenizer->encodeInPieces(text, pieces);
    QCOMPARE(pieces, tokenizer->encode(text));
    pieces.clear();
    tokenizer->encodeInPieces("short text", pieces);
    QCOMPARE(pieces, tokenizer->encode("short text"));
  }

  // A sampled document over 1 MiB gives the trainer its first 1 MiB only (cut
  // after a space), counted in the log: a 50 MB web page once took the
  // trainer's memory to 1.4 GB; the tokens stage still encodes all of it.
  void aHugeDocumentIsShortenedForTheTrainer() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    fs::path project = test::writeTinyProject(dir, 5);
    std::string corpus;
    for (int d = 0; d < 5; ++d) {
      std::string text;
      for (int i = 0; text.size() < 1100000; ++i) text += test::tinyDocument("en", i) + " ";
      corpus += Json{{"text", text}}.dump() + "\n";
    }
    test::writeText(dir / "corpus/en.jsonl", corpus);
    test::CliResult trained = test::runCli({"tokenizer", "train", project.string()});
    QVERIFY2(trained.exitCode == 0, trained.err.c_str());
    QVERIFY2(trained.err.find(" sampled documents over 1048576 bytes shortened to their first 1048576 bytes") != std::string::npos,
             trained.err.c_str());
  }

  // The cut rule by hand: after the last space within the limit; without one,
  // at a character boundary ("д", "о", "м" are 2 bytes each: 5 bytes hold 2).
  void longLinesAreCutAtSpacesOrCharacterBoundaries() {
    using Pieces = std::vector<std::string_view>;
    QVERIFY(splitLongLine("aaa bbb ccc", 8) == (Pieces{"aaa bbb ", "ccc"}));
    QVERIFY(splitLongLine("домдом", 5) == (Pieces{"до", "мд", "ом"}));
    QVERIFY(splitLongLine("short", 8) == (Pieces{"short"}));
    QVERIFY(splitLongLine(" abcdefghij", 4) == (Pieces{" abc", "defg", "hij"}));  // a leading space is no cut
  }

  void cliTrainsAndTokenizes() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    fs::path project = test::writeTinyProject(dir);
    test::CliResult trained = test::runCli({"tokenizer", "train", project.string()});
    QVERIFY2(trained.exitCode == 0, trained.err.c_str());
    fs::path model = dir / "runs" / "tokenizer" / "tokenizer.model";
    QVERIFY(fs::is_regular_file(model));
    test::CliResult again = test::runCli({"tokenizer", "train", project.string()});
    QCOMPARE(again.exitCode, 0);
    QVERIFY2(again.err.find("up to date") != std::string::npos, again.err.c_str());

    SentencePieceTokenizer t(model);
    const std::string text = "every law 12";
    std::string expected;
    for (TokenId id : t.encode(text)) expected += (expected.empty() ? "" : " ") + std::to_string(id);
    test::CliResult printed = test::runCli({"tokenize", model.string(), "--text", text});
    QVERIFY2(printed.exitCode == 0, printed.err.c_str());
    QVERIFY2(printed.out.find(expected) != std::string::npos, printed.out.c_str());

    test::CliResult events = test::runCli({"--events", "jsonl", "tokenize", project.string(), "--text", text, "--special"});
    QCOMPARE(events.exitCode, 0);
    Json result;
    std::istringstream lines(events.out);
    for (std::string line; std::getline(lines, line);)
      if (Json e = Json::parse(line); e["event"] == "result") result = e["data"];
    std::vector<TokenId> ids = t.encode(text, true);
    QCOMPARE(result["ids"].get<std::vector<TokenId>>(), ids);
    QCOMPARE(result["pieces"][0].get<std::string>(), std::string("<s>"));

    test::CliResult bad = test::runCli({"tokenize", (dir / "missing.model").string(), "--text", "x"});
    QCOMPARE(bad.exitCode, 2);
    QVERIFY2(bad.err.find("missing.model") != std::string::npos, bad.err.c_str());
    QCOMPARE(test::runCli({"tokenize", model.string()}).exitCode, 2);  // neither --text nor --file
  }
};

QTEST_GUILESS_MAIN(TestTokenizer)
#include "test_tokenizer.moc"
