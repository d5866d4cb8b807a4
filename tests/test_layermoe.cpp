// LayerMoE's methods on plain numbers (SPEC §2), linked against the torch-free
// dmoe_common alone: the allocation against the reference repository's
// published allocation (tests/fixtures/published/, a copy of
// shared/reference/), the δ search for a budget, the uniform ablation, and
// the layer similarity on hand-made vectors (against a brute-force mean of
// pairwise cosines) with its result file.
#include <QtTest>
#include <cmath>
#include <fstream>
#include <sstream>

#include "methods/layer_allocation.h"
#include "methods/layer_similarity.h"
#include "model/moe_layout.h"
#include "results/layer_similarity_file.h"
#include "test_support.h"
#include "util/error.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

using Vectors = std::vector<std::vector<double>>;

std::vector<double> unit(std::vector<double> v) {
  double norm = 0;
  for (double x : v) norm += x * x;
  for (double& x : v) x /= std::sqrt(norm);
  return v;
}

std::vector<double> meanUnit(const Vectors& tokens) {
  std::vector<double> m(tokens.front().size(), 0.0);
  for (const auto& t : tokens) {
    const std::vector<double> u = unit(t);
    for (size_t d = 0; d < m.size(); ++d) m[d] += u[d] / static_cast<double>(tokens.size());
  }
  return m;
}

// The definition, by brute force: the mean over every token pair of the cosine.
double meanPairwiseCosine(const Vectors& a, const Vectors& b) {
  double sum = 0;
  for (const auto& x : a)
    for (const auto& y : b) {
      const std::vector<double> u = unit(x), v = unit(y);
      for (size_t d = 0; d < u.size(); ++d) sum += u[d] * v[d];
    }
  return sum / static_cast<double>(a.size() * b.size());
}

struct PublishedAllocation {
  std::vector<double> newNew, newOld, similarity;
  std::vector<std::int64_t> experts;
};

// layer,S_new_new,S_new_old,S_i,N_i
PublishedAllocation readPublished() {
  std::ifstream in(test::sourceDir() / "tests/fixtures/published/layermoe-llama3.2-3b-g1-allocation.csv");
  PublishedAllocation p;
  std::string line;
  std::getline(in, line);
  if (line != "layer,S_new_new,S_new_old,S_i,N_i") throw std::runtime_error("unexpected header: " + line);
  while (std::getline(in, line)) {
    std::istringstream row(line);
    std::string layer, nn, no, s, n;
    std::getline(row, layer, ',');
    std::getline(row, nn, ',');
    std::getline(row, no, ',');
    std::getline(row, s, ',');
    std::getline(row, n, ',');
    p.newNew.push_back(std::stod(nn));
    p.newOld.push_back(std::stod(no));
    p.similarity.push_back(std::stod(s));
    p.experts.push_back(std::stoll(n));
  }
  return p;
}

}  // namespace

class TestLayerMoe : public QObject {
  Q_OBJECT

 private slots:
  // SPEC 2.2's published example: δ = 70 gives every N_i of the reference's
  // Llama-3.2-3B expansion (el/hu/tr on en/es/zh), 56 new experts.
  void allocationReproducesThePublishedOne() {
    const PublishedAllocation p = readPublished();
    QCOMPARE(p.experts.size(), size_t{28});
    for (size_t i = 0; i < p.similarity.size(); ++i)  // the file's S_i is the mean of its two columns
      QVERIFY(std::abs(p.similarity[i] - 0.5 * (p.newNew[i] + p.newOld[i])) < 1e-9);
    const LayerAllocation a = allocateExperts(p.similarity, 70);
    QCOMPARE(a.experts, p.experts);
    QCOMPARE(a.newExperts(), std::int64_t{56});
  }

  // The budget search finds the same allocation from the budget alone.
  void budgetSearchFindsThePublishedAllocation() {
    const PublishedAllocation p = readPublished();
    const BudgetAllocation b = allocateForBudget(p.similarity, 56);
    QVERIFY(b.exact);
    QCOMPARE(b.allocation.experts, p.experts);
    QVERIFY(b.nextAbove > 56);
    // Its δ reproduces it, and so does the published δ: both lie in the same step.
    QCOMPARE(allocateExperts(p.similarity, b.allocation.delta).experts, p.experts);
  }

  // Hand-checkable: S = (1, 1) gives w = (½, ½); N_i = max(2, ⌈δ/2⌉) steps
  // both layers at once, so only even totals exist.
  void unreachableBudgetTakesTheLargestTotalBelowAndSaysSo() {
    const std::vector<double> s = {1.0, 1.0};
    QCOMPARE(allocateExperts(s, 5).experts, (std::vector<std::int64_t>{3, 3}));  // ⌈2.5⌉
    QCOMPARE(allocateExperts(s, 2).experts, (std::vector<std::int64_t>{2, 2}));  // the minimum
    QCOMPARE(allocateExperts(s, 2, 1).experts, (std::vector<std::int64_t>{1, 1}));
    BudgetAllocation b = allocateForBudget(s, 5);
    QVERIFY(!b.exact);
    QCOMPARE(b.allocation.experts, (std::vector<std::int64_t>{3, 3}));
    QCOMPARE(b.allocation.newExperts(), std::int64_t{4});
    QCOMPARE(b.nextAbove, std::int64_t{6});
    b = allocateForBudget(s, 6);
    QVERIFY(b.exact);
    QCOMPARE(b.allocation.experts, (std::vector<std::int64_t>{4, 4}));
    // S = (0.5, 1): w = (⅔, ⅓), the less similar layer gets twice the experts.
    b = allocateForBudget({0.5, 1.0}, 4);
    QVERIFY(b.exact);
    QCOMPARE(b.allocation.experts, (std::vector<std::int64_t>{4, 2}));
  }

  // Hand-computed: base 1000, P_ffn 100, D 8; N = (1, 2, 4): layer 0 dense;
  // layer 1 adds 100 + 16 (all of it active: top-2 of 2); layer 2 adds 300 + 32, of which 100 + 32 active.
  void parameterCountsOfAnAllocation() {
    const ParameterCounts c = layerMoeParameterCounts(1000, 100, 8, {1, 2, 4});
    QCOMPARE(c.total, std::int64_t{1000 + 116 + 332});
    QCOMPARE(c.active, std::int64_t{1000 + 116 + 132});
    QCOMPARE(layerMoeParameterCounts(1000, 100, 8, {4}, 1).active, std::int64_t{1000 + 32});
  }

  // A further expansion keeps every MoE layer (N_i = 1 there adds nothing but
  // the layer stays a mixture) and makes MoE layers where N_i ≥ 2.
  void moeLayersAfterAnExpansion() {
    QCOMPARE(moeLayersAfterExpansion({1, 1, 1, 1}, {1, 3, 1, 2}), (std::vector<std::int64_t>{1, 3}));
    QCOMPARE(moeLayersAfterExpansion({3, 1, 1, 2}, {1, 1, 2, 1}), (std::vector<std::int64_t>{0, 2, 3}));
    QCOMPARE(moeLayersAfterExpansion({1, 1}, {1, 1}), std::vector<std::int64_t>{});
  }

  void badInputIsNamed() {
    QVERIFY_CONTAINS(test::inputErrorOf([] { allocateExperts({0.2, 0.0}, 10); }),
                     "layer 1: similarity 0.000000 cannot weigh an allocation");
    QVERIFY_CONTAINS(test::inputErrorOf([] { allocateExperts({0.2, 0.3}, -1); }), "expected a number above 0");
    QVERIFY_CONTAINS(test::inputErrorOf([] { allocateForBudget({0.2, 0.3, 0.4}, 2); }),
                     "a budget of 2 new experts is below the smallest allocation, 3 (1 in each of 3 layers)");
    QCOMPARE(allocateForBudget({0.2, 0.3, 0.4}, 0, 1).allocation.newExperts(), std::int64_t{0});
  }

  // The ablation: 10 new experts over 4 layers = 2 each, the remaining 2 to
  // layers ⌊0.5·4/2⌋ = 1 and ⌊1.5·4/2⌋ = 3.
  void uniformAllocationSpreadsTheRemainderEvenly() {
    const LayerAllocation u = uniformAllocation(4, 10);
    QCOMPARE(u.experts, (std::vector<std::int64_t>{3, 4, 3, 4}));
    QCOMPARE(u.newExperts(), std::int64_t{10});
    QVERIFY(std::isnan(u.delta));
    QCOMPARE(uniformAllocation(28, 56).experts, std::vector<std::int64_t>(28, 3));
    QVERIFY_CONTAINS(test::inputErrorOf([] { uniformAllocation(4, 3); }), "below the smallest allocation, 4");
  }

  // Identical languages → 1, orthogonal → 0, and in general the mean of the
  // pairwise cosines (SPEC 2.1's identity), per layer.
  void layerSimilarityOnHandMadeVectors() {
    // Two layers, three dimensions. Layer 0: "new" = old1 exactly (one direction),
    // old2 orthogonal to it. Layer 1: mixed directions.
    const std::vector<Vectors> tokensOf[3] = {
        {{{2, 0, 0}, {1, 0, 0}}, {{1, 1, 0}, {0, 2, 0}, {3, 0, 1}}},   // old1
        {{{0, 0, 5}}, {{0, 1, 1}, {1, 0, 0}}},                          // old2
        {{{1, 0, 0}, {7, 0, 0}}, {{1, 2, 3}, {-1, 0, 1}}},              // new
    };
    std::vector<std::vector<std::vector<double>>> means(3);
    for (size_t a = 0; a < 3; ++a)
      for (const Vectors& layer : tokensOf[a]) means[a].push_back(meanUnit(layer));
    const LayerSimilarity s = layerSimilarity({"old1", "old2", "new"}, {false, false, true}, {2, 1, 2}, means);
    QCOMPARE(s.layers(), size_t{2});
    QVERIFY(std::abs(s.pairs[0][2][0] - 1.0) < 1e-12);  // identical direction
    QVERIFY(std::abs(s.pairs[0][2][1]) < 1e-12);        // orthogonal
    QVERIFY(std::isnan(s.newNew[0]));                   // one new language: no new–new pair
    QVERIFY(std::abs(s.combined[0] - 0.5) < 1e-12);     // S_0 = new–old mean = (1 + 0)/2
    for (size_t a = 0; a < 3; ++a)
      for (size_t b = 0; b < 3; ++b)
        QVERIFY(std::abs(s.pairs[1][a][b] - meanPairwiseCosine(tokensOf[a][1], tokensOf[b][1])) < 1e-12);
    const double newOld = 0.5 * (s.pairs[1][2][0] + s.pairs[1][2][1]);
    QVERIFY(std::abs(s.combined[1] - newOld) < 1e-12);

    // Two new languages: S_i = ½ (new–new + new–old); the new–old pairs are n1–old and n2–old.
    const LayerSimilarity two = layerSimilarity({"old", "n1", "n2"}, {false, true, true}, {1, 1, 1},
                                                {{{1, 0}}, {{1, 0}}, {{0, 1}}});
    QCOMPARE(two.newNew[0], 0.0);                      // n1 ⟂ n2
    QCOMPARE(two.newOld[0], 0.5);                      // (1 + 0)/2
    QCOMPARE(two.combined[0], 0.25);
    QVERIFY_CONTAINS(test::inputErrorOf([] { layerSimilarity({"a", "b"}, {false, false}, {1, 1}, {{{1.0}}, {{1.0}}}); }),
                     "needs old and new languages (2 old, 0 new)");
  }

  void layerSimilarityFileRoundTripsAndNamesProblems() {
    const LayerSimilarity s = layerSimilarity({"old", "n1", "n2"}, {false, true, true}, {10, 20, 30},
                                              {{{1, 0}, {0.5, 0.5}}, {{1, 0}, {0.5, 0}}, {{0, 1}, {0, 0.5}}});
    const Json json = s.toJson();
    const LayerSimilarity back = LayerSimilarity::fromJson(json, "ls.json");
    QCOMPARE(back.toJson().dump(), json.dump());
    QCOMPARE(back.tokens, (std::vector<std::int64_t>{10, 20, 30}));
    QCOMPARE(back.combined, s.combined);
    Json bad = json;
    bad["pairs"][1][2] = {0.1, 0.2};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LayerSimilarity::fromJson(bad, "ls.json"); }),
                     "ls.json: /pairs/1/2: expected a list of 3 numbers");
    bad = json;
    bad["new"] = {true};
    QVERIFY_CONTAINS(test::inputErrorOf([&] { LayerSimilarity::fromJson(bad, "ls.json"); }),
                     "ls.json: /new: expected one true/false per language (3)");
    QVERIFY_CONTAINS(test::inputErrorOf([] { LayerSimilarity::read("/nowhere/layer_similarity.json"); }),
                     "run `dmoe layermoe similarity` first");
  }
};

QTEST_GUILESS_MAIN(TestLayerMoe)
#include "test_layermoe.moc"
