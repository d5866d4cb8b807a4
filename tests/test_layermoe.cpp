// LayerMoE's methods on plain numbers (SPEC §2), linked against the torch-free
// dmoe_common alone: the allocation against the reference repository's
// published allocation (tests/fixtures/published/, a copy of
// shared/reference/), the δ search for a budget, and the uniform ablation.
#include <QtTest>
#include <cmath>
#include <fstream>
#include <sstream>

#include "methods/layer_allocation.h"
#include "test_support.h"
#include "util/error.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

#define QVERIFY_CONTAINS(text, part) \
  QVERIFY2(std::string(text).find(part) != std::string::npos, (std::string(text) + " lacks: " + (part)).c_str())

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
};

QTEST_GUILESS_MAIN(TestLayerMoe)
#include "test_layermoe.moc"
