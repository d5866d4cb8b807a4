// Split-half reliability and the family score (see fingerprint_diagnostics.h).
#include "methods/fingerprint_diagnostics.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "methods/clustering.h"
#include "util/error.h"
#include "util/splitmix64.h"

namespace dmoe {

namespace {

double pairs2(double n) { return n * (n - 1) / 2; }

// Mean within-class and across-class similarity of the pairs i < j.
std::pair<double, double> withinAcross(const SimilarityMatrix& s, const std::vector<int>& classes) {
  double within = 0, across = 0;
  std::int64_t nWithin = 0, nAcross = 0;
  for (size_t i = 0; i < classes.size(); ++i)
    for (size_t j = i + 1; j < classes.size(); ++j) {
      if (classes[i] == classes[j]) within += s[i][j], ++nWithin;
      else across += s[i][j], ++nAcross;
    }
  const double nan = std::nan("");
  return {nWithin ? within / double(nWithin) : nan, nAcross ? across / double(nAcross) : nan};
}

// The index of the largest entry of row `row` other than `row` itself (first on ties).
size_t nearestOther(const SimilarityMatrix& s, size_t row) {
  size_t best = row == 0 ? 1 : 0;
  for (size_t k = 0; k < s.size(); ++k)
    if (k != row && s[row][k] > s[row][best]) best = k;
  return best;
}

double pearson(const std::vector<double>& x, const std::vector<double>& y) {
  const double n = static_cast<double>(x.size());
  const double mx = std::accumulate(x.begin(), x.end(), 0.0) / n, my = std::accumulate(y.begin(), y.end(), 0.0) / n;
  double sxy = 0, sxx = 0, syy = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0 && syy > 0 ? sxy / std::sqrt(sxx * syy) : std::nan("");
}

// The pair values of a symmetric n × n matrix (diagonal ignored) less their
// least-squares fit μ + αᵢ + αⱼ + uᵢuⱼ over i ≠ j: what belongs to one
// language alone — an offset (αᵢ: e.g. its distance from the languages' mean
// after centring) or its share uᵢ of a direction every language shares (the
// deviations' common pull makes every cosine ≈ uᵢuⱼ) — is removed, and what
// remains is particular to the pair. Fitted by alternating the additive part
// (closed form: μ the mean over pairs, αᵢ = (Rᵢ − (n − 1)μ)/(n − 2), Rᵢ row
// i's sum, from the normal equations with Σα = 0) and the one factor
// (Gauss–Seidel: uᵢ = Σⱼ zᵢⱼuⱼ / Σⱼ uⱼ²) for kFitRounds rounds.
constexpr int kFitRounds = 200;
// The fit has 2n parameters for n(n − 1)/2 pairs: below 6 languages (15
// pairs, 12 parameters) too few pairs are left over to correlate.
constexpr size_t kPairTestLanguages = 6;

SimilarityMatrix pairResiduals(const SimilarityMatrix& m) {
  const size_t n = m.size();
  std::vector<double> alpha(n, 0.0), u(n, 0.1);
  double mu = 0;
  SimilarityMatrix z(n, std::vector<double>(n, 0.0));
  for (int round = 0; round < kFitRounds; ++round) {
    double total = 0;
    std::vector<double> rows(n, 0.0);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j)
        if (i != j) {
          const double y = m[i][j] - u[i] * u[j];
          rows[i] += y, total += y;
        }
    mu = total / double(n * (n - 1));
    for (size_t i = 0; i < n; ++i) alpha[i] = (rows[i] - double(n - 1) * mu) / double(n - 2);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < n; ++j) z[i][j] = i == j ? 0.0 : m[i][j] - mu - alpha[i] - alpha[j];
    for (size_t i = 0; i < n; ++i) {
      double num = 0, den = 0;
      for (size_t j = 0; j < n; ++j)
        if (j != i) num += z[i][j] * u[j], den += u[j] * u[j];
      u[i] = den > 0 ? num / den : 0.0;
    }
  }
  SimilarityMatrix out(n, std::vector<double>(n, 0.0));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j) out[i][j] = z[i][j] - u[i] * u[j];
  return out;
}

// One half's n × n block (half 0: a, 1: b) of the halves' 2n × 2n matrix.
SimilarityMatrix halfBlock(const SimilarityMatrix& halves, size_t half) {
  const size_t n = halves.size() / 2;
  SimilarityMatrix out(n, std::vector<double>(n));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j) out[i][j] = halves[2 * i + half][2 * j + half];
  return out;
}

void checkSquare(const SimilarityMatrix& s, size_t n, const std::string& what) {
  if (s.size() != n) throw InputError(what + ": expected " + std::to_string(n) + " rows, found " + std::to_string(s.size()));
  for (const auto& row : s)
    if (row.size() != n) throw InputError(what + ": expected " + std::to_string(n) + " columns in every row");
}

}  // namespace

std::vector<int> classIds(const std::vector<std::string>& labels) {
  std::map<std::string, int> ids;
  std::vector<int> out;
  for (const std::string& l : labels) out.push_back(ids.emplace(l, static_cast<int>(ids.size())).first->second);
  return out;
}

double adjustedRandIndex(const std::vector<int>& a, const std::vector<int>& b) {
  if (a.size() != b.size() || a.empty())
    throw InputError("adjusted Rand index: expected two partitions of the same items, found " + std::to_string(a.size()) +
                     " and " + std::to_string(b.size()));
  if (a.size() < 2) return 1.0;  // one item: its partitions are identical
  std::map<std::pair<int, int>, double> cells;
  std::map<int, double> rows, columns;
  for (size_t i = 0; i < a.size(); ++i) ++cells[{a[i], b[i]}], ++rows[a[i]], ++columns[b[i]];
  double index = 0, sumRows = 0, sumColumns = 0;
  for (const auto& [cell, count] : cells) index += pairs2(count);
  for (const auto& [row, count] : rows) sumRows += pairs2(count);
  for (const auto& [column, count] : columns) sumColumns += pairs2(count);
  const double expected = sumRows * sumColumns / pairs2(static_cast<double>(a.size()));
  const double maximum = (sumRows + sumColumns) / 2;
  if (maximum == expected) return 1.0;
  return (index - expected) / (maximum - expected);
}

std::vector<int> cutTree(const std::vector<ClusterMerge>& merges, int leaves, int clusters) {
  if (clusters < 1 || clusters > leaves || merges.size() + 1 != static_cast<size_t>(leaves))
    throw InputError("cutTree: expected 1.." + std::to_string(leaves) + " clusters of a tree with " +
                     std::to_string(leaves - 1) + " merges");
  std::vector<int> parent(static_cast<size_t>(2 * leaves - 1));
  std::iota(parent.begin(), parent.end(), 0);
  auto root = [&](int c) {
    while (parent[static_cast<size_t>(c)] != c) c = parent[static_cast<size_t>(c)];
    return c;
  };
  for (int m = 0; m < leaves - clusters; ++m) {
    const ClusterMerge& merge = merges[static_cast<size_t>(m)];
    parent[static_cast<size_t>(root(merge.left))] = leaves + m;
    parent[static_cast<size_t>(root(merge.right))] = leaves + m;
  }
  std::vector<std::string> roots;
  for (int leaf = 0; leaf < leaves; ++leaf) roots.push_back(std::to_string(root(leaf)));
  return classIds(roots);
}

FamilyScore familyScore(const SimilarityMatrix& similarity, const Labelling& labelling, std::int64_t permutations,
                        std::uint64_t seed) {
  const size_t n = labelling.labels.size();
  checkSquare(similarity, n, "family score (" + labelling.name + ")");
  FamilyScore f;
  f.labelling = labelling.name;
  f.labels = labelling.labels;
  f.permutations = permutations;
  std::vector<int> classes = classIds(labelling.labels);
  std::tie(f.within, f.across) = withinAcross(similarity, classes);
  f.gap = f.within - f.across;
  f.pValue = std::nan("");
  if (std::isfinite(f.gap)) {
    SplitMix64 random(seed);
    std::vector<int> shuffled = classes;
    std::int64_t atLeast = 0;
    for (std::int64_t p = 0; p < permutations; ++p) {
      seededShuffle(shuffled, random);
      const auto [within, across] = withinAcross(similarity, shuffled);
      if (within - across >= f.gap - 1e-12) ++atLeast;
    }
    f.pValue = static_cast<double>(atLeast + 1) / static_cast<double>(permutations + 1);
  }
  const int classCount = *std::max_element(classes.begin(), classes.end()) + 1;
  const Dendrogram tree = averageLinkage(similarityToDistance(similarity));
  f.clusterAri = adjustedRandIndex(cutTree(tree.merges, static_cast<int>(n), classCount), classes);
  for (size_t i = 0; i < n && n > 1; ++i) {
    const auto relatives = std::count(classes.begin(), classes.end(), classes[i]) - 1;
    if (relatives == 0) continue;
    ++f.withRelatives;
    f.relativesOnTopByChance += static_cast<double>(relatives) / static_cast<double>(n - 1);
    if (classes[nearestOther(similarity, i)] == classes[i]) ++f.relativesOnTop;
  }
  return f;
}

SplitHalf splitHalfDiagnostics(const SimilarityMatrix& halves, const std::vector<SimilarityMatrix>& perLayerHalves,
                               std::int64_t permutations, std::uint64_t seed) {
  if (halves.size() % 2 != 0 || halves.size() < 4)
    throw InputError("split half: expected the halves of at least 2 languages (an even number of rows ≥ 4), found " +
                     std::to_string(halves.size()));
  const size_t n = halves.size() / 2;
  checkSquare(halves, 2 * n, "split half");
  SplitHalf h;
  h.halves = halves;
  h.permutations = permutations;
  for (size_t i = 0; i < n; ++i) {
    h.reliability.push_back(halves[2 * i][2 * i + 1]);
    h.ownHalfNearest.push_back(nearestOther(halves, 2 * i) == 2 * i + 1 && nearestOther(halves, 2 * i + 1) == 2 * i);
  }
  for (const SimilarityMatrix& layer : perLayerHalves) {
    checkSquare(layer, 2 * n, "split half, one layer");
    double sum = 0;
    for (size_t i = 0; i < n; ++i) sum += layer[2 * i][2 * i + 1];
    h.layerReliability.push_back(sum / static_cast<double>(n));
  }
  h.structureR = h.structureP = std::nan("");
  if (n < kPairTestLanguages) return h;
  // x: residual of aᵢ–aⱼ; y: residual of b_π(i)–b_π(j) for a relabelling π of the b side.
  const SimilarityMatrix ra = pairResiduals(halfBlock(halves, 0)), rb = pairResiduals(halfBlock(halves, 1));
  auto pairsOf = [&](const SimilarityMatrix& r, const std::vector<size_t>& order) {
    std::vector<double> v;
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i + 1; j < n; ++j) v.push_back(r[order[i]][order[j]]);
    return v;
  };
  std::vector<size_t> identity(n);
  std::iota(identity.begin(), identity.end(), 0);
  const std::vector<double> x = pairsOf(ra, identity);
  h.structureR = pearson(x, pairsOf(rb, identity));
  if (!std::isfinite(h.structureR)) return h;
  SplitMix64 random(seed);
  std::vector<size_t> order = identity;
  std::int64_t atLeast = 0;
  for (std::int64_t p = 0; p < permutations; ++p) {
    seededShuffle(order, random);
    const double r = pearson(x, pairsOf(rb, order));
    if (std::isfinite(r) && r >= h.structureR - 1e-12) ++atLeast;
  }
  h.structureP = static_cast<double>(atLeast + 1) / static_cast<double>(permutations + 1);
  return h;
}

}  // namespace dmoe
