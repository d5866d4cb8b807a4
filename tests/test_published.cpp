// Known answers from the papers' own artifacts (tests/fixtures/published/, a
// copy of shared/reference/ with its README), read through the same readers
// and functions the stages use: DMoE's BLOOM-560M similarity matrix grouped by
// maximin-exhaustive into the paper's six groups, and its deviation norms
// selecting the paper's layers with ε = 0.6 and 0.8 — directly and through
// `dmoe group --similarity` / `dmoe select-layers --norms` on the demo project.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "methods/similarity.h"
#include "stages/deviation.h"
#include "stages/stages.h"
#include "util/error.h"

#include <QtTest>
#include <algorithm>
#include <set>

#include "test_support.h"
#include "util/json.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

fs::path published(const std::string& name) { return test::sourceDir() / "tests/fixtures/published" / name; }

using GroupSet = std::set<std::set<std::string>>;

GroupSet asSets(const std::vector<std::vector<std::string>>& groups) {
  GroupSet out;
  for (const auto& g : groups) out.insert(std::set<std::string>(g.begin(), g.end()));
  return out;
}

// The paper's groups (SPEC 1.3; the reference README).
const GroupSet kPaperGroups = {{"fr", "id", "vi"}, {"hi", "ta", "te"}, {"ar", "bn", "ur"},
                               {"de", "it", "nl"}, {"ja", "ko", "zh"}, {"ru", "th", "uk"}};

GroupingSettings maximin(std::int64_t groups) {
  GroupingSettings s;
  s.method = "maximin-exhaustive";
  s.groups = groups;
  s.seed = 1234;
  s.exhaustive_limit = 2000000;
  return s;
}

}  // namespace

class TestPublished : public QObject {
  Q_OBJECT
 private slots:
  void publishedMatrixReadsAsPrinted() {
    const SimilarityResult sim = SimilarityResult::importFile(published("dmoe-bloom560m-similarity-last3.csv"));
    QCOMPARE(sim.languages.size(), size_t{18});
    QCOMPARE(sim.languages.front(), std::string("ar"));
    auto at = [&](const std::string& a, const std::string& b) {
      const auto i = std::find(sim.languages.begin(), sim.languages.end(), a) - sim.languages.begin();
      const auto j = std::find(sim.languages.begin(), sim.languages.end(), b) - sim.languages.begin();
      return sim.combined[static_cast<size_t>(i)][static_cast<size_t>(j)];
    };
    // The README's strongest pairs and the off-diagonal median.
    QCOMPARE(at("ru", "uk"), 0.30);
    QCOMPARE(at("ta", "te"), 0.19);
    QCOMPARE(at("hi", "ta"), 0.16);
    std::vector<double> off;
    for (size_t i = 0; i < 18; ++i)
      for (size_t j = i + 1; j < 18; ++j) off.push_back(sim.combined[i][j]);
    std::nth_element(off.begin(), off.begin() + static_cast<long>(off.size() / 2), off.end());
    QCOMPARE(off[off.size() / 2], 0.02);
  }

  void maximinExhaustiveGivesThePapersSixGroups() {
    const SimilarityResult sim = SimilarityResult::importFile(published("dmoe-bloom560m-similarity-last3.csv"));
    const LanguageGroups groups = groupSimilarity(sim, maximin(6));
    QCOMPARE(groups.methodUsed, std::string("maximin-exhaustive"));
    QVERIFY(asSets(groups.groups) == kPaperGroups);
    for (double m : groups.minSimilarity) QVERIFY(m > 0);
  }

  void publishedNormsSelectThePapersLayers() {
    const DeviationTable norms = DeviationTable::importFile(published("dmoe-bloom560m-deviation-norms.json"));
    QCOMPARE(norms.languages.size(), size_t{18});
    QCOMPARE(norms.layers, std::int64_t{24});
    QCOMPARE(norms.modules.at("attention").size(), size_t{18});
    QCOMPARE(selectLayersFromNorms(norms, 0.6, "threshold").layers,
             (std::vector<std::int64_t>{0, 1, 2, 3, 4, 20, 21, 22, 23}));
    QCOMPARE(selectLayersFromNorms(norms, 0.8, "threshold").layers, (std::vector<std::int64_t>{21, 22, 23}));
  }

  void theCliReproducesThePaperFromItsNumbers() {
    const std::string project = (test::sourceDir() / "projects/udhr-18.dmoe.json").string();
    test::CliResult r = test::runCli(
        {"--events", "jsonl", "group", project, "--similarity", published("dmoe-bloom560m-similarity-last3.csv").string()});
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    std::vector<std::vector<std::string>> groups;
    std::istringstream lines(r.out);
    for (std::string line; std::getline(lines, line);) {
      const Json e = Json::parse(line);
      if (e["event"] == "result" && e["name"] == "groups")
        for (const Json& g : e["data"]["groups"]) groups.push_back(g["languages"].get<std::vector<std::string>>());
    }
    QVERIFY(asSets(groups) == kPaperGroups);

    r = test::runCli({"select-layers", project, "--norms", published("dmoe-bloom560m-deviation-norms.json").string()});
    QVERIFY2(r.exitCode == 0, r.err.c_str());
    QVERIFY2(r.err.find("selects 9 layers: 0 1 2 3 4 20 21 22 23") != std::string::npos, r.err.c_str());
  }

  void importedFilesWithErrorsNameTheirPlace() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    auto csvError = [&](const std::string& text) {
      const fs::path f = dir / "m.csv";
      test::writeText(f, text);
      try {
        SimilarityResult::importFile(f);
      } catch (const InputError& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    QVERIFY(csvError("lang,a,b\na,1,0.5\nb,0.4,1\n").find("not symmetric: b–a is 0.4 but a–b is 0.5") != std::string::npos);
    QVERIFY(csvError("lang,a,b\na,1,x\nb,0.5,1\n").find("m.csv:2: column 3: expected a finite number, found 'x'") != std::string::npos);
    QVERIFY(csvError("lang,a,b\nb,1,0.5\na,0.5,1\n").find("m.csv:2: column 1: expected the row of 'a'") != std::string::npos);
    QVERIFY(csvError("lang,a,b\na,1,0.5\n").find("expected 2 rows") != std::string::npos);
    QVERIFY(csvError("lang,a,b\na,0.9,0.5\nb,0.5,1\n").find("the diagonal must be 1") != std::string::npos);
    QVERIFY(csvError("").find("m.csv: empty") != std::string::npos);
    QVERIFY(csvError("lang,a,a\na,1,0.5\na,0.5,1\n").find("m.csv:1: column 3: language 'a' appears twice") != std::string::npos);

    test::writeText(dir / "n.json", R"({"x": {"ffn": [1, 2]}, "y": {"ffn": [1]}})");
    QVERIFY_THROWS_EXCEPTION(InputError, DeviationTable::importFile(dir / "n.json"));
    test::writeText(dir / "n.json", R"({"x": {"ffn": [1, "a"]}})");
    try {
      DeviationTable::importFile(dir / "n.json");
      QFAIL("no error");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find("n.json: /x/ffn/1: expected a finite norm") != std::string::npos, e.what());
    }
  }
};

QTEST_GUILESS_MAIN(TestPublished)
#include "test_published.moc"
