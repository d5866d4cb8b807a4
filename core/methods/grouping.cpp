#include "methods/grouping.h"

#include "methods/grouping_methods.h"
#include <algorithm>
#include <cmath>
#include <limits>

#include "util/splitmix64.h"
#include "util/error.h"

namespace dmoe {

namespace {

// Exhaustive search of one group: the subset of `pool` (in order) of size k
// with the smallest largest pairwise distance; the first such in
// lexicographic order. Branches whose running maximum already reaches the
// best are cut: they can neither win nor tie earlier.
struct SubsetSearch {
  const DistanceMatrix& d;
  const std::vector<int>& pool;
  int k;
  std::vector<int> current, best;
  double bestMax = std::numeric_limits<double>::infinity();

  void extend(size_t from, double runningMax) {
    if (static_cast<int>(current.size()) == k) {
      if (runningMax < bestMax) {
        bestMax = runningMax;
        best = current;
      }
      return;
    }
    const size_t needed = static_cast<size_t>(k) - current.size();
    for (size_t i = from; i + needed <= pool.size(); ++i) {
      double m = runningMax;
      for (int member : current) m = std::max(m, d[member][pool[i]]);
      if (m >= bestMax) continue;
      current.push_back(pool[i]);
      extend(i + 1, m);
      current.pop_back();
    }
  }
};

std::vector<int> greedyGroup(const DistanceMatrix& d, const std::vector<int>& pool, int k) {
  if (k == 1) return {pool.front()};
  // Seed: the closest pair (first in order on ties).
  size_t a = 0, b = 1;
  for (size_t i = 0; i < pool.size(); ++i)
    for (size_t j = i + 1; j < pool.size(); ++j)
      if (d[pool[i]][pool[j]] < d[pool[a]][pool[b]]) a = i, b = j;
  std::vector<int> group{pool[a], pool[b]};
  while (static_cast<int>(group.size()) < k) {
    int pick = -1;
    double pickMax = std::numeric_limits<double>::infinity();
    for (int candidate : pool) {
      if (std::find(group.begin(), group.end(), candidate) != group.end()) continue;
      double m = 0;
      for (int member : group) m = std::max(m, d[member][candidate]);
      if (m < pickMax) pickMax = m, pick = candidate;
    }
    group.push_back(pick);
  }
  std::sort(group.begin(), group.end());
  return group;
}

void removeFrom(std::vector<int>& pool, const std::vector<int>& taken) {
  pool.erase(std::remove_if(pool.begin(), pool.end(),
                            [&](int i) { return std::find(taken.begin(), taken.end(), i) != taken.end(); }),
             pool.end());
}

}  // namespace

void checkDistanceMatrix(const DistanceMatrix& d) {
  const size_t n = d.size();
  for (size_t i = 0; i < n; ++i) {
    if (d[i].size() != n)
      throw InputError("distance matrix row " + std::to_string(i) + " has " + std::to_string(d[i].size()) +
                       " entries, expected " + std::to_string(n));
    if (d[i][i] != 0.0) throw InputError("distance matrix: d(" + std::to_string(i) + "," + std::to_string(i) + ") is not 0");
    for (size_t j = 0; j < i; ++j)
      if (!(std::abs(d[i][j] - d[j][i]) <= 1e-9) || !std::isfinite(d[i][j]))
        throw InputError("distance matrix: d(" + std::to_string(i) + "," + std::to_string(j) + ") and d(" +
                         std::to_string(j) + "," + std::to_string(i) + ") differ or are not finite");
  }
}

std::uint64_t choose(std::uint64_t n, std::uint64_t k) {
  if (k > n) return 0;
  k = std::min(k, n - k);
  std::uint64_t result = 1;
  for (std::uint64_t i = 1; i <= k; ++i) {
    // result · (n − k + i) / i stays integral at every step.
    unsigned __int128 next = static_cast<unsigned __int128>(result) * (n - k + i) / i;
    if (next > std::numeric_limits<std::uint64_t>::max()) return std::numeric_limits<std::uint64_t>::max();
    result = static_cast<std::uint64_t>(next);
  }
  return result;
}

std::vector<int> balancedGroupSizes(int languages, int groups) {
  std::vector<int> sizes(static_cast<size_t>(groups), languages / groups);
  for (int i = 0; i < languages % groups; ++i) ++sizes[static_cast<size_t>(i)];
  return sizes;
}

GroupingResult groupLanguages(const DistanceMatrix& distance, const GroupingOptions& options) {
  checkDistanceMatrix(distance);
  const int n = static_cast<int>(distance.size());
  if (options.groups < 1 || options.groups > n)
    throw InputError(std::to_string(options.groups) + " groups for " + std::to_string(n) +
                     " languages: need 1 ≤ G ≤ the number of languages");
  const std::vector<int> sizes = balancedGroupSizes(n, options.groups);
  std::vector<int> pool(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) pool[static_cast<size_t>(i)] = i;

  GroupingResult result;
  result.methodUsed = options.method;
  if (options.method == "random") {
    SplitMix64 random(options.seed);
    seededShuffle(pool, random);
    size_t at = 0;
    for (int size : sizes) {
      std::vector<int> group(pool.begin() + static_cast<std::ptrdiff_t>(at), pool.begin() + static_cast<std::ptrdiff_t>(at + size));
      std::sort(group.begin(), group.end());
      result.groups.push_back(group);
      at += static_cast<size_t>(size);
    }
    return result;
  }
  if (options.method != "maximin-exhaustive" && options.method != "maximin-greedy")
    throw InputError("unknown grouping method '" + options.method + "' (expected " + groupingMethodNames(true) + ")");
  // The first group has the most candidates: it decides whether exhaustive is affordable.
  if (options.method == "maximin-exhaustive" && choose(static_cast<std::uint64_t>(n), static_cast<std::uint64_t>(sizes[0])) > options.exhaustiveLimit)
    result.methodUsed = "maximin-greedy";
  for (int size : sizes) {
    std::vector<int> group;
    if (result.methodUsed == "maximin-exhaustive") {
      SubsetSearch search{distance, pool, size, {}, {}};
      search.extend(0, 0.0);
      group = search.best;
    } else {
      group = greedyGroup(distance, pool, size);
    }
    removeFrom(pool, group);
    result.groups.push_back(group);
  }
  return result;
}

std::vector<double> largestWithinGroupDistance(const DistanceMatrix& distance, const Groups& groups) {
  std::vector<double> out;
  for (const std::vector<int>& g : groups) {
    double m = 0;
    for (size_t i = 0; i < g.size(); ++i)
      for (size_t j = i + 1; j < g.size(); ++j) m = std::max(m, distance[g[i]][g[j]]);
    out.push_back(m);
  }
  return out;
}

DistanceMatrix similarityToDistance(const std::vector<std::vector<double>>& similarity) {
  DistanceMatrix distance = similarity;
  for (size_t i = 0; i < distance.size(); ++i)
    for (size_t j = 0; j < distance[i].size(); ++j) distance[i][j] = i == j ? 0.0 : 1.0 - similarity[i][j];
  return distance;
}

}  // namespace dmoe
