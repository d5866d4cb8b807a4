// Average-linkage (UPGMA) agglomerative clustering of a distance matrix, for
// display: the dendrogram's leaf order puts similar languages next to each
// other when the similarity matrix is drawn (SPEC §1.3). Not a grouping
// method (that is grouping.h: balanced groups).
//
// Merges follow scipy's linkage convention: leaves are clusters 0..n−1, the
// cluster formed by merge m is n + m; each merge lists the smaller id first.
// Ties between equally distant pairs go to the smallest (smaller id, larger
// id) pair, so the result is deterministic.
#pragma once
#include <vector>

#include "methods/grouping.h"
#include "results/similarity_file.h"  // ClusterMerge

namespace dmoe {

struct Dendrogram {
  std::vector<ClusterMerge> merges;  // n − 1 of them, in merge order
  std::vector<int> leafOrder;        // leaves left to right (left child first)
};

// Throws InputError for a matrix that is not square and symmetric with a zero
// diagonal and finite entries.
Dendrogram averageLinkage(const DistanceMatrix& distance);

}  // namespace dmoe
