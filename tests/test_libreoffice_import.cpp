// The LibreOffice-help corpus source on a small synthetic tree of help pages
// written here (the real packages are not needed): the paragraph extractor
// (entities, inner tags, the macOS key spelling, nested paragraphs, what lies
// outside the DisplayArea), the length rule in display columns, paragraphs found
// in en-US dropped as untranslated, an empty page counted, bad pages named,
// the counts, the up-to-date skip, the missing-package messages, the
// corpus-source registry against the schema, and `dmoe corpus import`.
#include <QtTest>
#include <algorithm>
#include <filesystem>

#include "corpus/corpus_sources.h"
#include "corpus/libreoffice_help_import.h"
#include "project/project.h"
#include "collected_events.h"
#include "test_support.h"
#include "util/atomic_file.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

std::string page(const std::string& display) {
  return "<!DOCTYPE html>\n<html lang=\"x\"><head><title>Title outside</title>"
         "<script>var s = '<p>not a paragraph, a script</p>';</script></head><body>"
         "<header id=\"TopLeftHeader\"><a class=\"logo\"><p dir=\"auto\">Help for LibreOffice, the header</p></a></header>"
         "<div id=\"DisplayArea\" itemprop=\"softwareHelp\">\n" +
         display +
         "\n</div><div id=\"SearchFrame\"></div>"
         "<footer><div id=\"DEBUG\"><p dir=\"auto\">This page is: /text/shared/a.xhp, debug info</p></div></footer>"
         "</body></html>\n";
}

const std::string kUntranslated = "This sentence was never translated at all.";
const std::string k19 = "\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1"
                        "\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1\xC3\xA1";  // á × 19: 38 bytes
const std::string k20 = k19 + "\xC3\xA1";                                                             // á × 20
const std::string kHan10 = "\xE6\xB1\x89\xE5\xAD\x97\xE6\xB1\x89\xE5\xAD\x97\xE6\xB1\x89\xE5\xAD\x97"
                           "\xE6\xB1\x89\xE5\xAD\x97\xE6\xB1\x89\xE5\xAD\x97";  // 汉字 × 5: 10 characters, 20 columns
const std::string kHan9 = kHan10.substr(0, 27);                                     // 9 characters, 18 columns

// <dir>/<id>/usr/share/libreoffice/help/<folder>/text/<name>
fs::path pageFile(const fs::path& dir, const std::string& id, const std::string& folder, const std::string& name) {
  return dir / id / "usr" / "share" / "libreoffice" / "help" / folder / "text" / name;
}

// en-us (folder en-US) and pt-br (folder pt-BR): five pages, two of them bad.
void writeHelpTree(const fs::path& dir) {
  test::writeText(pageFile(dir, "en-us", "en-US", "shared/a.html"),
                  page("<h1>Turning off automatic URL recognition</h1><p>" + kUntranslated + "</p>"));
  const std::string pt = "pt-BR";
  test::writeText(pageFile(dir, "pt-br", pt, "shared/a.html"),
                  page("<h1 id=\"hd_1\"><a name=\"x\"></a>Desligar o reconhecimento de URL</h1>\n"
                       "<p class=\"paragraph\">Quando voc\xC3\xAA digita &amp; texto, o &lt;programa&gt;\n   reconhece "
                       "<a href=\"x.html\">URLs</a>.</p>\n"
                       "<p>" + kUntranslated + "</p>\n"
                       "<table><tr><th><p>Texto</p></th><td>Endere\xC3\xA7os de arquivo locais</td></tr></table>\n"
                       "<ol><li><p>Pressione <span class=\"switchinline\"><span hidden=\"true\" class=\"MAC\">Comando "
                       "<span class=\"k\">Cmd</span></span> <span hidden=\"true\">Ctrl</span></span>+Z para "
                       "desfazer.</p></li>\n"
                       "<li>Item com <p>Par\xC3\xA1grafo dentro do item da lista</p> fim</li></ol>"));
  test::writeText(pageFile(dir, "pt-br", pt, "shared/b.html"),
                  page("<p>OK</p><p>" + kUntranslated + "</p>"));  // nothing kept: an empty page
  test::writeText(pageFile(dir, "pt-br", pt, "shared/c.html"),
                  "<html><body><p>A page without any display area at all.</p></body></html>");  // bad: not a help page
  fs::create_symlink("missing-target.html", pageFile(dir, "pt-br", pt, "shared/d.html"));  // bad: unreadable
  test::writeText(pageFile(dir, "pt-br", pt, "shared/e.html"), page("<p>" + k19 + "</p><td>" + k20 + "</td><p>" + kHan10 + "</p><p>" + kHan9 + "</p>"));
  test::writeText(pageFile(dir, "pt-br", pt, "shared/notes.txt"), "not a page");
}

fs::path writeProject(const fs::path& dir, const std::vector<std::string>& ids) {
  Json languages = Json::array();
  for (const std::string& id : ids) languages.push_back({{"id", id}});
  Json doc = {{"format", "dmoe-project/1"},
              {"name", "libreoffice-fixture"},
              {"languages", languages},
              {"corpus", {{"root", "corpus"}, {"source", {{"kind", "libreoffice-help"}}}}},
              {"grouping", {{"groups", 1}}},
              {"runs_dir", "runs"}};
  fs::path file = dir / "p.dmoe.json";
  test::writeText(file, doc.dump(2));
  return file;
}


}  // namespace

class TestLibreOfficeImport : public QObject {
  Q_OBJECT

 private slots:
  void extractsParagraphsOfTheDisplayAreaOnly() {
    bool isHelpPage = false;
    std::vector<std::string> paragraphs = extractHelpParagraphs(
        page("<h2>Heading &#x26; more</h2><p>One <b>bold</b>\n\tword.</p><li>Own text<p>inner</p>tail</li>"
             "<p>line<br>break</p><pre>code outside paragraphs</pre>"),
        &isHelpPage);
    QVERIFY(isHelpPage);
    const std::vector<std::string> expected = {"Heading & more", "One bold word.", "Own text", "inner", "tail",
                                               "line break"};
    QCOMPARE(paragraphs, expected);
    extractHelpParagraphs("<p>no display area</p>", &isHelpPage);
    QVERIFY(!isHelpPage);
  }

  // Wide characters count two columns: the length rule's measure.
  void countsDisplayColumns() {
    QCOMPARE(displayColumns("ab"), std::int64_t{2});
    QCOMPARE(displayColumns("\xC3\xA1"), std::int64_t{1});                  // á
    QCOMPARE(displayColumns("a\xE4\xB8\xAD"), std::int64_t{3});             // a中
    QCOMPARE(displayColumns("\xED\x95\x9C\xEF\xBC\xA1"), std::int64_t{4});  // 한 and fullwidth Ａ
    QCOMPARE(displayColumns("\xE3\x81\x8B\xF0\xA0\x80\x80"), std::int64_t{4});  // か and U+20000
    QCOMPARE(displayColumns(kHan9), std::int64_t{18});
  }

  void importsOneDocumentPerPageAndCountsWhatItDropped() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    writeHelpTree(dir / "help");
    Project project = Project::load(writeProject(dir, {"pt-br"}));
    CollectingSink sink;
    Reporter r(sink, "corpus");
    std::vector<ImportedLanguage> imported = importCorpus(project, r, {dir / "help", "", false});
    QCOMPARE(imported.size(), std::size_t{1});
    QCOMPARE(imported[0].documents, std::int64_t{2});  // a and e; b is empty, c and d are bad
    QVERIFY(!imported[0].upToDate);

    const std::string a =
        "Desligar o reconhecimento de URL\n"
        "Quando voc\xC3\xAA digita & texto, o <programa> reconhece URLs.\n"
        "Endere\xC3\xA7os de arquivo locais\n"
        "Pressione Ctrl+Z para desfazer.\n"
        "Par\xC3\xA1grafo dentro do item da lista";
    const std::string expected =
        Json{{"text", a}, {"libreoffice_help", {{"page", "text/shared/a.html"}}}}.dump() + "\n" +
        Json{{"text", k20 + "\n" + kHan10}, {"libreoffice_help", {{"page", "text/shared/e.html"}}}}.dump() + "\n";
    QCOMPARE(test::readText(dir / "corpus" / "pt-br.jsonl"), expected);

    // Kept: a's 5 paragraphs (32 + 56 + 27 + 31 + 33 characters), e's á × 20 and 汉字 × 5 (10 characters).
    // Untranslated: one in a, one in b. Narrow: Texto, "Item com", fim, OK, á × 19, 9 Han characters.
    const Json counts = Json::parse(test::readText(dir / "corpus" / ".import.json"))["languages"]["pt-br"]["counts"];
    const Json expectedCounts = {{"pages", 5},        {"empty_pages", 1}, {"bad_pages", 2}, {"paragraphs", 7},
                                 {"untranslated", 2}, {"narrow", 6},      {"characters", 32 + 56 + 27 + 31 + 33 + 20 + 10}};
    QCOMPARE(counts.dump(), expectedCounts.dump());

    // The bad pages are named; the empty one is named in the language's log line.
    std::vector<Json> warnings = test::eventsOfKind(sink, "warning");
    QCOMPARE(warnings.size(), std::size_t{2});
    QCOMPARE(warnings[0]["where"].get<std::string>(), pageFile(dir / "help", "pt-br", "pt-BR", "shared/c.html").string());
    QVERIFY_CONTAINS(warnings[0]["message"].get<std::string>(), "not a LibreOffice help page");
    QCOMPARE(warnings[1]["where"].get<std::string>(), pageFile(dir / "help", "pt-br", "pt-BR", "shared/d.html").string());
    QVERIFY_CONTAINS(warnings[1]["message"].get<std::string>(), "unreadable help page");
    std::string logs;
    for (const Json& e : test::eventsOfKind(sink, "log")) logs += e["message"].get<std::string>() + "\n";
    QVERIFY_CONTAINS(logs, "pt-br: 2 documents from 5 pages (1 with no kept paragraph, e.g. text/shared/b.html; 2 bad)");
    QVERIFY_CONTAINS(logs, "7 kept, 2 untranslated (as in en-US), 6 under 20 columns");
    QCOMPARE(test::eventsOfKind(sink, "result").back()["data"]["languages"][0]["counts"]["paragraphs"].get<int>(), 7);
    QCOMPARE(test::eventsOfKind(sink, "artifact").size(), std::size_t{2});  // the corpus and .import.json

    // Unchanged: skipped, nothing written.
    CollectingSink again;
    Reporter r2(again, "corpus");
    imported = importCorpus(project, r2, {dir / "help", "", false});
    QVERIFY(imported[0].upToDate);
    QCOMPARE(imported[0].documents, std::int64_t{2});
    QVERIFY(test::eventsOfKind(again, "artifact").empty());
    QCOMPARE(test::eventsOfKind(again, "stage").back()["status"].get<std::string>(), std::string("skipped"));

    // A changed page, or a changed reference, is imported again.
    test::writeText(pageFile(dir / "help", "pt-br", "pt-BR", "shared/b.html"), page("<p>Agora traduzido e longo o bastante.</p>"));
    imported = importCorpus(project, r2, {dir / "help", "", false});
    QVERIFY(!imported[0].upToDate);
    QCOMPARE(imported[0].documents, std::int64_t{3});
    test::writeText(pageFile(dir / "help", "en-us", "en-US", "shared/b.html"), page("<p>Agora traduzido e longo o bastante.</p>"));
    imported = importCorpus(project, r2, {dir / "help", "", false});
    QVERIFY(!imported[0].upToDate);
    QCOMPARE(imported[0].documents, std::int64_t{2});  // b is empty again: its paragraph is now in en-US
  }

  void aMissingPackageSaysHowToFetchIt() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    writeHelpTree(dir / "help");
    fs::create_directories(dir / "help" / "sk" / "usr" / "share" / "libreoffice" / "help" / "sk");  // no text/
    Project project = Project::load(writeProject(dir, {"pt-br", "de", "sk"}));
    NullSink sink;
    Reporter r(sink, "corpus");
    try {
      importCorpus(project, r, {dir / "help", "", false});
      QFAIL("expected a ValidationError");
    } catch (const ValidationError& e) {
      QCOMPARE(e.problems().size(), std::size_t{2});
      QCOMPARE(e.problems()[0].where, std::string("/languages/1/id"));
      QVERIFY_CONTAINS(e.problems()[0].message, "apt-get download libreoffice-help-de");
      QVERIFY_CONTAINS(e.problems()[0].message, "scripts/setup.sh demo-libreoffice");
      QCOMPARE(e.problems()[1].where, std::string("/languages/2/id"));
      QVERIFY_CONTAINS(e.problems()[1].message, "holds no help pages");
    }
    QVERIFY(!fs::exists(dir / "corpus" / "pt-br.jsonl"));  // nothing is written before the check
    QVERIFY_CONTAINS(test::inputErrorOf([&] { importCorpus(project, r, {dir / "nowhere", "", false}); }),
                     "libreoffice-help-en-us is not unpacked");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { importCorpus(project, r, {dir / "help", "article", false}); }),
                     "one document per page");
  }

  // One registry row per kind the schema allows, and the other way round.
  void everySchemaKindHasARegistryRow() {
    const Json schema = Json::parse(test::readText(test::sourceDir() / "resources" / "project.schema.json"));
    const Json kinds = schema["properties"]["corpus"]["properties"]["source"]["properties"]["kind"]["enum"];
    QCOMPARE(kinds.size(), corpusSourceKinds().size());
    for (const CorpusSourceKind& k : corpusSourceKinds())
      QVERIFY2(std::find(kinds.begin(), kinds.end(), k.kind) != kinds.end(), k.kind.c_str());
    QVERIFY_CONTAINS(test::inputErrorOf([] { corpusSourceKind("wikipedia"); }), "udhr, libreoffice-help");
  }

  void theCliImportsEitherSource() {
    QTemporaryDir tmp;
    const fs::path dir = tmp.path().toStdString();
    writeHelpTree(dir / "help");
    const fs::path project = writeProject(dir, {"pt-br"});
    test::CliResult r = test::runCli({"corpus", "import", project.string(), "--source-dir", (dir / "help").string()});
    QVERIFY2(r.exitCode == 0, (r.out + r.err).c_str());
    QVERIFY_CONTAINS(r.out, "pt-br");
    QVERIFY(fs::exists(dir / "corpus" / "pt-br.jsonl"));
    r = test::runCli({"corpus", "import", "--help"});
    QVERIFY_CONTAINS(r.out, "libreoffice-help");
    QVERIFY_CONTAINS(r.out, "--source-dir");
    // The old name, on the UDHR fixture.
    const fs::path udhr = dir / "udhr.dmoe.json";
    test::writeText(udhr, R"({"format": "dmoe-project/1", "name": "u", "languages": [{"id": "xmp"}],
      "corpus": {"root": "udhr-corpus", "source": {"kind": "udhr"}}, "grouping": {"groups": 1}, "runs_dir": "runs"})");
    r = test::runCli({"corpus", "import-udhr", udhr.string(), "--udhr-dir",
                      (test::sourceDir() / "tests" / "fixtures" / "corpus" / "udhr").string()});
    QVERIFY2(r.exitCode == 0, (r.out + r.err).c_str());
    QVERIFY(fs::exists(dir / "udhr-corpus" / "xmp.jsonl"));
  }
};

QTEST_GUILESS_MAIN(TestLibreOfficeImport)
#include "test_libreoffice_import.moc"
