// Tokenized corpus cache: counts and contents against an independent
// encoding, the held-out shard against heldoutMask, skip / rebuild rules
// (corpus bytes, tokenizer, force), and clear errors for damaged shards.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "stages/stage_inputs.h"

#include <QtTest>
#include <filesystem>
#include <fstream>

#include "stages/corpus_stats.h"
#include "corpus/data_slices.h"
#include "corpus/jsonl_reader.h"
#include "corpus/token_cache.h"
#include "corpus/token_shard.h"
#include "events/event_sink.h"
#include "test_support.h"
#include "tiny_multilingual_corpus.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "stages/tokenizer_training.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

std::vector<std::uint32_t> documentTokens(const Tokenizer& t, const std::string& text) {
  std::vector<std::uint32_t> ids{static_cast<std::uint32_t>(t.bosId())};
  for (TokenId id : t.encode(text)) ids.push_back(static_cast<std::uint32_t>(id));
  ids.push_back(static_cast<std::uint32_t>(t.eosId()));
  return ids;
}

std::map<std::string, bool> rebuiltByLanguage(const std::vector<LanguageTokenCounts>& counts) {
  std::map<std::string, bool> rebuilt;
  for (const LanguageTokenCounts& c : counts) rebuilt[c.language] = c.rebuilt;
  return rebuilt;
}

}  // namespace

class TestTokenCache : public QObject {
  Q_OBJECT
  QTemporaryDir tmp_;
  fs::path dir_;
  std::unique_ptr<Tokenizer> tokenizer_, otherTokenizer_;
  NullSink null_;

  // A fresh copy of the project whose cache lives in its own runs folder.
  Project freshProject(const std::string& runs) {
    Project p = Project::load(dir_ / "tiny.dmoe.json");
    p.runs_dir = runs;
    return p;
  }

 private slots:
  void initTestCase() {
    dir_ = tmp_.path().toStdString();
    test::writeTinyProject(dir_);
    Project p = Project::load(dir_ / "tiny.dmoe.json");
    Reporter r(null_, "tokenizer");
    tokenizer_ = loadTokenizer(trainTokenizer(p, r).model);
    p.tokenizer.vocab_size = 360;
    p.runs_dir = "runs-other-tokenizer";
    otherTokenizer_ = loadTokenizer(trainTokenizer(p, r).model);
    QVERIFY(tokenizer_->fingerprint() != otherTokenizer_->fingerprint());
  }

  void shardsMatchAnIndependentEncoding() {
    Project p = freshProject("runs-contents");
    Reporter r(null_, "tokenize");
    std::vector<LanguageTokenCounts> counts = buildTokenCache(p, *tokenizer_, r);
    QCOMPARE(counts.size(), std::size_t{4});
    for (const LanguageTokenCounts& c : counts) {
      QVERIFY(c.rebuilt);
      std::vector<std::string> texts;
      JsonlReader reader(p.corpusFile(c.language), "text");
      for (Document d; reader.next(d);) texts.push_back(d.text);
      QCOMPARE(texts.size(), std::size_t{50});  // the bad line in de is skipped
      const std::vector<Slice> slices = documentSlices(50, p.corpus, c.language, p.hasPretrainSlice(c.language));
      std::vector<std::vector<std::uint32_t>> expected[3];  // by Slice: pretrain, continual, heldout
      std::int64_t tokens[3] = {0, 0, 0};
      for (std::size_t i = 0; i < texts.size(); ++i) {
        const auto k = static_cast<std::size_t>(slices[i]);
        expected[k].push_back(documentTokens(*tokenizer_, texts[i]));
        tokens[k] += static_cast<std::int64_t>(expected[k].back().size());
      }
      // 10 held out; of the other 40, half pretrain the base (training languages only).
      const std::int64_t pretrainDocs = p.hasPretrainSlice(c.language) ? 20 : 0;
      QCOMPARE(c.pretrain.documents, pretrainDocs);
      QCOMPARE(c.continual.documents, 40 - pretrainDocs);
      QCOMPARE(c.heldout.documents, std::int64_t{10});
      QCOMPARE(c.pretrain.tokens, tokens[0]);
      QCOMPARE(c.continual.tokens, tokens[1]);
      QCOMPARE(c.heldout.tokens, tokens[2]);
      TokenShard continual(tokenShardFile(p, c.language, "continual")), held(tokenShardFile(p, c.language, "heldout"));
      TokenShard pretrain(tokenShardFile(p, c.language, "pretrain"));
      QCOMPARE(pretrain.documentCount(), pretrainDocs);
      for (std::int64_t i = 0; i < pretrainDocs; ++i) {
        TokenSpan doc = pretrain.document(i);
        QCOMPARE(std::vector<std::uint32_t>(doc.begin(), doc.end()), expected[0][static_cast<std::size_t>(i)]);
      }
      QCOMPARE(continual.tokenCount(), tokens[1]);
      QCOMPARE(held.documentCount(), std::int64_t{10});
      for (std::int64_t i = 0; i < 10; ++i) {
        TokenSpan doc = held.document(i);
        QCOMPARE(std::vector<std::uint32_t>(doc.begin(), doc.end()), expected[2][i]);
      }
      const std::int64_t lastContinual = 40 - pretrainDocs - 1;
      TokenSpan last = continual.document(lastContinual);
      QCOMPARE(std::vector<std::uint32_t>(last.begin(), last.end()), expected[1][static_cast<std::size_t>(lastContinual)]);
      QCOMPARE(continual.data()[0], std::uint32_t{1});  // BOS opens the stream
      QVERIFY_EXCEPTION_THROWN(continual.document(lastContinual + 1), std::out_of_range);
      std::optional<LanguageTokenCounts> recorded = currentTokenCounts(p, *tokenizer_, c.language);
      QVERIFY(recorded.has_value());
      QCOMPARE(recorded->heldout.tokens, tokens[2]);
    }
  }

  // SPEC 1.0 with a shared base: a checkpoint another project pretrained on this
  // corpus's pretrain slice keeps that slice out of the continual data, document
  // for document as kind pretrain does; a foreign checkpoint has no pretrain slice.
  void aCheckpointPretrainedOnTheSliceKeepsItOut() {
    Project own = freshProject("runs-slices");
    Project shared = own, foreign = own;
    shared.base_model.kind = foreign.base_model.kind = "checkpoint";
    shared.base_model.pretrained_on_slice = true;
    for (const Language& l : own.languages) {
      QVERIFY(own.hasPretrainSlice(l.id) && shared.hasPretrainSlice(l.id) && !foreign.hasPretrainSlice(l.id));
      QVERIFY(documentSlices(50, shared.corpus, l.id, shared.hasPretrainSlice(l.id)) ==
              documentSlices(50, own.corpus, l.id, own.hasPretrainSlice(l.id)));
    }
    for (const Language& l : own.new_languages) QVERIFY(!shared.hasPretrainSlice(l.id));
  }

  // A checkpoint base whose vocab_size is below the tokenizer's pieces is refused
  // before any stage reads it; a larger one (padded embeddings) is fine.
  void aTokenizerLargerThanTheCheckpointIsRefused() {
    Project p = Project::load(dir_ / "tiny.dmoe.json");  // its runs folder has the trained tokenizer
    const fs::path model = p.resolve(p.runs_dir) / "tokenizer/tokenizer.model";
    const fs::path checkpoint = dir_ / "checkpoint-small-vocab";
    p.tokenizer.kind = "file";
    p.tokenizer.path = model.string();
    p.base_model.kind = "checkpoint";
    p.base_model.path = checkpoint.string();
    const std::int64_t pieces = tokenizer_->vocabSize();
    test::writeText(checkpoint / "config.json", Json{{"model_type", "llama"}, {"vocab_size", pieces - 1}}.dump());
    const std::string error = test::inputErrorOf([&] { baseModelFingerprint(p); });
    QVERIFY2(error.find("/tokenizer/path: the tokenizer has " + std::to_string(pieces) + " pieces, the checkpoint " +
                        (checkpoint / "config.json").string() + " has vocab_size " + std::to_string(pieces - 1)) !=
                 std::string::npos,
             error.c_str());
    test::writeText(checkpoint / "config.json", Json{{"model_type", "llama"}, {"vocab_size", pieces + 64}}.dump());
    QVERIFY(!baseModelFingerprint(p).empty());
  }

  void corpusStatisticsCarryTheTokenCounts() {
    Reporter r(null_, "stats");
    CorpusStats before = computeCorpusStats(freshProject("runs-without-tokenizer"), r);
    QVERIFY(!before.languages[0].counts.hasTokens);
    QVERIFY(before.toJson()["languages"][0]["tokens"].is_null());
    Project p = Project::load(dir_ / "tiny.dmoe.json");  // its runs folder has the trained tokenizer
    std::vector<LanguageTokenCounts> built = buildTokenCache(p, *tokenizer_, r);
    CorpusStats after = computeCorpusStats(p, r);
    std::int64_t total = 0;
    for (size_t i = 0; i < built.size(); ++i) {
      const CorpusCounts& c = after.languages[i].counts;
      QCOMPARE(after.languages[i].id, built[i].language);
      QCOMPARE(c.tokens, built[i].pretrain.tokens + built[i].continual.tokens + built[i].heldout.tokens);
      QCOMPARE(c.pretrain_tokens, built[i].pretrain.tokens);
      QCOMPARE(c.continual_tokens, built[i].continual.tokens);
      QCOMPARE(c.pretrain_documents, built[i].pretrain.documents);
      QCOMPARE(c.continual_documents, built[i].continual.documents);
      QCOMPARE(c.heldout_tokens, built[i].heldout.tokens);
      total += c.tokens;
    }
    QVERIFY(after.total.hasTokens);
    QCOMPARE(after.total.tokens, total);
    QCOMPARE(after.toJson()["total"]["tokens"].get<std::int64_t>(), total);

    // Text edited after tokenizing: its counts are stale, so they are not shown.
    const fs::path edited = p.corpusFile(after.languages[0].id);
    const std::string original = test::readText(edited);
    std::ofstream(edited, std::ios::app) << "{\"text\": \"one more document\"}\n";
    CorpusStats stale = computeCorpusStats(p, r);
    test::writeText(edited, original);  // the fixture is shared with the next cases
    QVERIFY(!stale.languages[0].counts.hasTokens);
    QVERIFY(stale.languages[1].counts.hasTokens);
    QVERIFY(!stale.total.hasTokens);
  }

  void rebuildsOnlyWhatChanged() {
    Project p = freshProject("runs-rebuild");
    Reporter r(null_, "tokenize");
    buildTokenCache(p, *tokenizer_, r);
    for (const auto& [language, rebuilt] : rebuiltByLanguage(buildTokenCache(p, *tokenizer_, r)))
      QVERIFY2(!rebuilt, language.c_str());

    // Same size, same modification time, different bytes: only ru is rebuilt.
    const fs::path ru = p.corpusFile("ru");
    const auto mtime = fs::last_write_time(ru);
    std::string text = test::readText(ru);
    const std::string from = "закон", to = "мирок";  // same UTF-8 length
    QCOMPARE(from.size(), to.size());
    text.replace(text.find(from), from.size(), to);
    test::writeText(ru, text);
    fs::last_write_time(ru, mtime);
    std::map<std::string, bool> rebuilt = rebuiltByLanguage(buildTokenCache(p, *tokenizer_, r));
    QCOMPARE(rebuilt, (std::map<std::string, bool>{{"de", false}, {"el", false}, {"en", false}, {"ru", true}}));

    // Another tokenizer: everything.
    for (const auto& [language, again] : rebuiltByLanguage(buildTokenCache(p, *otherTokenizer_, r)))
      QVERIFY2(again, language.c_str());
    Json manifest = Json::parse(test::readText(tokenCacheDir(p, "en") / "manifest.json"));
    QCOMPARE(manifest["inputs"]["tokenizer"]["fingerprint"].get<std::string>(), otherTokenizer_->fingerprint());

    // Another split: everything; force: everything.
    p.corpus.heldout.fraction = 0.3;
    for (const auto& [language, again] : rebuiltByLanguage(buildTokenCache(p, *otherTokenizer_, r)))
      QVERIFY2(again, language.c_str());
    QCOMPARE(TokenShard(tokenShardFile(p, "de", "heldout")).documentCount(), std::int64_t{15});
    for (const auto& [language, again] : rebuiltByLanguage(buildTokenCache(p, *otherTokenizer_, r, true)))
      QVERIFY2(again, language.c_str());
  }

  // A language whose file holds no document (empty, or only bad lines) is
  // named at the tokens stage, not later as an empty training stream.
  void aLanguageWithoutDocumentsIsNamed() {
    const fs::path corpus = dir_ / "corpus-without-ru-documents";
    fs::create_directories(corpus);
    for (const auto& entry : fs::directory_iterator(dir_ / "corpus"))
      fs::copy_file(entry.path(), corpus / entry.path().filename());
    Project p = freshProject("runs-without-ru-documents");
    p.corpus.root = corpus.string();
    Reporter r(null_, "tokens");
    const fs::path ru = corpus / "ru.jsonl";
    test::writeText(ru, "not json\n{\"text\": 7}\n");
    std::string error = test::inputErrorOf([&] { buildTokenCache(p, *tokenizer_, r); });
    QVERIFY2(error.find(ru.string() + ": no document (all 2 lines are bad; first: " + ru.string() + ":1: ") !=
                 std::string::npos,
             error.c_str());
    test::writeText(ru, "");
    error = test::inputErrorOf([&] { buildTokenCache(p, *tokenizer_, r); });
    QVERIFY2(error.find(ru.string() + ": no document (the file is empty): language ru") != std::string::npos,
             error.c_str());
  }

  void damagedShardsGiveClearErrors() {
    Project p = freshProject("runs-damaged");
    Reporter r(null_, "tokenize");
    buildTokenCache(p, *tokenizer_, r);
    const fs::path bin = tokenShardFile(p, "en", "continual");
    const auto size = fs::file_size(bin);

    fs::resize_file(bin, size - 2);  // not a whole token
    try {
      TokenShard shard(bin);
      QFAIL("a truncated shard opened");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find(bin.string()) != std::string::npos, e.what());
    }
    fs::resize_file(bin, size - 4);  // whole tokens, but fewer than the index says
    try {
      TokenShard shard(bin);
      QFAIL("a shard shorter than its index opened");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find(bin.string()) != std::string::npos, e.what());
      QVERIFY2(std::string(e.what()).find("continual.idx") != std::string::npos, e.what());
    }
    fs::remove(tokenIndexFile(bin));
    QVERIFY_EXCEPTION_THROWN(TokenShard{bin}, InputError);

    // The next build notices and rebuilds that language alone.
    std::map<std::string, bool> rebuilt = rebuiltByLanguage(buildTokenCache(p, *tokenizer_, r));
    QCOMPARE(rebuilt, (std::map<std::string, bool>{{"de", false}, {"el", false}, {"en", true}, {"ru", false}}));
    QCOMPARE(static_cast<std::uintmax_t>(TokenShard(bin).tokenCount()) * 4, size);
  }
};

QTEST_GUILESS_MAIN(TestTokenCache)
#include "test_token_cache.moc"
