// Grouping (SPEC §1.3) on small distance matrices whose answers can be
// checked by hand: known optima, the tie-break, where exhaustive and greedy
// part ways, uneven sizes, the fallback, and the seeded random baseline.
#include <QtTest>
#include <set>

#include "methods/grouping.h"
#include "methods/grouping_methods.h"
#include "project/schema.h"
#include "util/error.h"

using namespace dmoe;

namespace {

// n languages, every pair at `other` except the listed ones.
DistanceMatrix matrix(int n, double other, std::initializer_list<std::tuple<int, int, double>> pairs) {
  DistanceMatrix d(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n), other));
  for (int i = 0; i < n; ++i) d[i][i] = 0;
  for (auto [i, j, v] : pairs) d[i][j] = d[j][i] = v;
  return d;
}

GroupingResult run(const DistanceMatrix& d, const std::string& method, int groups, std::uint64_t limit = 2000000) {
  GroupingOptions o;
  o.method = method;
  o.groups = groups;
  o.exhaustiveLimit = limit;
  return groupLanguages(d, o);
}

}  // namespace

class TestGrouping : public QObject {
  Q_OBJECT
 private slots:
  // The registry is the one place a method is declared: the schema's choices
  // and help for /grouping/method are written from it, and so are messages.
  void theRegistryDrivesTheSchema() {
    const Json method = Schema::project().nodeAt("/grouping/method");
    QCOMPARE(method.at("enum"), Json({"maximin-exhaustive", "maximin-greedy", "random", "manual"}));
    const std::string help = method.at("description").get<std::string>();
    for (const GroupingMethod& m : groupingMethods())
      QVERIFY2(help.find(m.name + " — " + m.help) != std::string::npos, help.c_str());
    QCOMPARE(groupingMethodNames(true), std::string("maximin-exhaustive, maximin-greedy or random"));
    QVERIFY(!findGroupingMethod("manual")->groupsSimilarity);
    QCOMPARE(findGroupingMethod("random")->settings, std::vector<std::string>{"seed"});
    QVERIFY(!findGroupingMethod("k-means"));
    try {
      groupLanguages({{0, 1}, {1, 0}}, GroupingOptions{"k-means", 1, 1, 1});
      QFAIL("no error");
    } catch (const InputError& e) {
      QVERIFY2(std::string(e.what()).find("(expected maximin-exhaustive, maximin-greedy or random)") != std::string::npos,
               e.what());
    }
  }

  void sizesAreBalancedLargerFirst() {
    QCOMPARE(balancedGroupSizes(7, 3), (std::vector<int>{3, 2, 2}));
    QCOMPARE(balancedGroupSizes(18, 6), (std::vector<int>{3, 3, 3, 3, 3, 3}));
    QCOMPARE(balancedGroupSizes(5, 2), (std::vector<int>{3, 2}));
    QCOMPARE(choose(18, 3), std::uint64_t{816});
    QCOMPARE(choose(5, 2), std::uint64_t{10});
    QCOMPARE(choose(3, 5), std::uint64_t{0});
    QCOMPARE(choose(200, 100), std::numeric_limits<std::uint64_t>::max());  // saturates
  }

  void twoObviousPairs() {
    // 0–1 and 2–3 are close, everything else far: both methods find it.
    DistanceMatrix d = matrix(4, 0.9, {{0, 1, 0.1}, {2, 3, 0.2}});
    for (const char* method : {"maximin-exhaustive", "maximin-greedy"})
      QCOMPARE(run(d, method, 2).groups, (Groups{{0, 1}, {2, 3}}));
    QCOMPARE(largestWithinGroupDistance(d, {{0, 1}, {2, 3}}), (std::vector<double>{0.1, 0.2}));
  }

  void tiesGoToTheFirstSubsetInProjectOrder() {
    DistanceMatrix d = matrix(4, 0.5, {});
    QCOMPARE(run(d, "maximin-exhaustive", 2).groups, (Groups{{0, 1}, {2, 3}}));
    // 1–3 strictly closer than the rest: it wins over the lexicographically first {0,1}.
    QCOMPARE(run(matrix(4, 0.5, {{1, 3, 0.4}}), "maximin-exhaustive", 2).groups, (Groups{{1, 3}, {0, 2}}));
  }

  void exhaustiveAndGreedyPartWays() {
    // 0–1 is the closest pair and 2 sits near both, but 2–3–4 is the tightest triple.
    DistanceMatrix d = matrix(6, 0.8, {{0, 1, 0.05}, {0, 2, 0.3}, {1, 2, 0.3},
                                       {2, 3, 0.2}, {2, 4, 0.2}, {3, 4, 0.2},
                                       {0, 3, 0.9}, {0, 4, 0.9}, {1, 3, 0.9}, {1, 4, 0.9}});
    // Exhaustive takes the triple with the smallest largest distance first (0.2).
    QCOMPARE(run(d, "maximin-exhaustive", 2).groups, (Groups{{2, 3, 4}, {0, 1, 5}}));
    // Greedy seeds with 0–1, then adds 2 (largest distance 0.3 < 0.8).
    QCOMPARE(run(d, "maximin-greedy", 2).groups, (Groups{{0, 1, 2}, {3, 4, 5}}));
    // Over budget (C(6,3) = 20 > 10 candidates) exhaustive falls back to greedy, and says so.
    GroupingResult fallback = run(d, "maximin-exhaustive", 2, 10);
    QCOMPARE(fallback.methodUsed, std::string("maximin-greedy"));
    QCOMPARE(fallback.groups, (Groups{{0, 1, 2}, {3, 4, 5}}));
  }

  void unevenSizesDoNotCrash() {
    // n = 5, G = 2: a group of 3 and one of 2 (the reference code crashes here).
    DistanceMatrix d = matrix(5, 0.9, {{0, 2, 0.1}, {0, 4, 0.1}, {2, 4, 0.1}, {1, 3, 0.1}});
    for (const char* method : {"maximin-exhaustive", "maximin-greedy"})
      QCOMPARE(run(d, method, 2).groups, (Groups{{0, 2, 4}, {1, 3}}));
    // n = 7, G = 3: sizes 3, 2, 2; every language exactly once.
    GroupingResult r = run(matrix(7, 0.5, {}), "maximin-exhaustive", 3);
    QCOMPARE(r.groups, (Groups{{0, 1, 2}, {3, 4}, {5, 6}}));
    // G = n: singletons.
    QCOMPARE(run(matrix(3, 0.5, {}), "maximin-greedy", 3).groups, (Groups{{0}, {1}, {2}}));
  }

  void randomIsSeededAndBalanced() {
    DistanceMatrix d = matrix(12, 0.5, {});
    GroupingOptions o;
    o.method = "random";
    o.groups = 5;  // sizes 3, 3, 2, 2, 2
    o.seed = 7;
    Groups a = groupLanguages(d, o).groups, b = groupLanguages(d, o).groups;
    QCOMPARE(a, b);
    std::multiset<int> seen;
    std::vector<int> sizes;
    for (const auto& g : a) {
      sizes.push_back(static_cast<int>(g.size()));
      seen.insert(g.begin(), g.end());
      QVERIFY(std::is_sorted(g.begin(), g.end()));
    }
    QCOMPARE(sizes, (std::vector<int>{3, 3, 2, 2, 2}));
    QCOMPARE(seen, (std::multiset<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}));
    o.seed = 8;
    QVERIFY(groupLanguages(d, o).groups != a);
  }

  void badInputIsAnInputError() {
    QVERIFY_THROWS_EXCEPTION(InputError, run(matrix(3, 0.5, {}), "maximin-greedy", 4));
    QVERIFY_THROWS_EXCEPTION(InputError, run(matrix(3, 0.5, {}), "maximin-greedy", 0));
    QVERIFY_THROWS_EXCEPTION(InputError, run(matrix(3, 0.5, {}), "k-means", 2));
    DistanceMatrix asymmetric = matrix(3, 0.5, {});
    asymmetric[0][1] = 0.1;
    QVERIFY_THROWS_EXCEPTION(InputError, run(asymmetric, "maximin-greedy", 2));
    QVERIFY_THROWS_EXCEPTION(InputError, run(DistanceMatrix{{0, 1}, {1}}, "maximin-greedy", 1));
  }
};

QTEST_GUILESS_MAIN(TestGrouping)
#include "test_grouping.moc"
