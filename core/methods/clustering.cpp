#include "methods/clustering.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "util/error.h"

namespace dmoe {

Dendrogram averageLinkage(const DistanceMatrix& distance) {
  checkDistanceMatrix(distance);
  const int n = static_cast<int>(distance.size());
  Dendrogram tree;
  if (n == 0) return tree;
  // Slot s holds the active cluster id[s] (size[s] leaves); a merge keeps the
  // lower slot and retires the other. d holds distances between slots.
  DistanceMatrix d = distance;
  std::vector<int> id(n), size(n, 1);
  std::vector<bool> active(n, true);
  for (int s = 0; s < n; ++s) id[s] = s;
  auto idPair = [&](int a, int b) { return std::pair<int, int>(std::minmax(id[a], id[b])); };
  for (int m = 0; m < n - 1; ++m) {
    int bestA = -1, bestB = -1;
    for (int a = 0; a < n; ++a) {  // pairs a < b: the upper triangle
      if (!active[a]) continue;
      for (int b = a + 1; b < n; ++b) {
        if (!active[b]) continue;
        if (bestA < 0 || d[a][b] < d[bestA][bestB] ||
            (d[a][b] == d[bestA][bestB] && idPair(a, b) < idPair(bestA, bestB))) {
          bestA = a;
          bestB = b;
        }
      }
    }
    const auto [left, right] = idPair(bestA, bestB);
    const int merged = size[bestA] + size[bestB];
    tree.merges.push_back(ClusterMerge{left, right, d[bestA][bestB], merged});
    // The average over member pairs: the two parts' averages weighted by their sizes.
    for (int c = 0; c < n; ++c) {
      if (!active[c] || c == bestA || c == bestB) continue;
      d[bestA][c] = d[c][bestA] = (size[bestA] * d[bestA][c] + size[bestB] * d[bestB][c]) / merged;
    }
    active[bestB] = false;
    id[bestA] = n + m;
    size[bestA] = merged;
  }
  // Leaves left to right: a depth-first walk from the root, left child first.
  std::vector<int> stack{2 * n - 2};
  while (!stack.empty()) {
    const int cluster = stack.back();
    stack.pop_back();
    if (cluster < n) {
      tree.leafOrder.push_back(cluster);
    } else {
      const ClusterMerge& merge = tree.merges[cluster - n];
      stack.push_back(merge.right);
      stack.push_back(merge.left);
    }
  }
  return tree;
}

}  // namespace dmoe
