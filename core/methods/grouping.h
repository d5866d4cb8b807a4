// Language grouping (SPEC §1.3): partition n languages into G groups of
// balanced size (sizes differ by at most 1) so that the largest within-group
// distance (1 − cosine similarity) is as small as possible.
//
//   maximin-exhaustive — group by group: among all subsets of the remaining
//       languages of the next group's size, the one whose largest pairwise
//       distance is smallest (ties: the lexicographically first subset in the
//       project's language order). Falls back to greedy when a group would
//       need more than `exhaustiveLimit` candidate subsets.
//   maximin-greedy — seed a group with the closest remaining pair, grow it by
//       the language whose largest distance to the members is smallest.
//   random — a seeded shuffle cut into the balanced sizes (the ablation).
// Manual groups are validated with the project file (project.cpp).
//
// Languages are indices 0..n−1 in the project's order; groups list them in
// that order, and groups come out in the order they were formed. Larger
// groups are formed first (n = G·q + r: r groups of q+1, then G−r of q).
// Not here: where the distances come from (the similarity stage).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dmoe {

using DistanceMatrix = std::vector<std::vector<double>>;  // symmetric, zero diagonal
using Groups = std::vector<std::vector<int>>;

struct GroupingOptions {
  std::string method = "maximin-exhaustive";  // | maximin-greedy | random
  int groups = 6;
  std::uint64_t seed = 1234;                  // random
  std::uint64_t exhaustiveLimit = 2000000;    // candidate subsets per group
};

struct GroupingResult {
  Groups groups;
  std::string methodUsed;  // "maximin-greedy" when exhaustive fell back
};

// Balanced sizes, larger first: (7, 3) → {3, 2, 2}.
std::vector<int> balancedGroupSizes(int languages, int groups);

// Throws InputError for an unknown method, G < 1 or G > n, or a matrix that is
// not square and symmetric with a zero diagonal.
GroupingResult groupLanguages(const DistanceMatrix& distance, const GroupingOptions& options);

// Throws InputError unless `d` is square and symmetric (to 1e-9) with a zero diagonal and finite entries.
void checkDistanceMatrix(const DistanceMatrix& d);

// 1 − similarity off the diagonal, 0 on it: the input of grouping and clustering.
DistanceMatrix similarityToDistance(const std::vector<std::vector<double>>& similarity);

// Largest pairwise distance within each group (0 for a single language).
std::vector<double> largestWithinGroupDistance(const DistanceMatrix& distance, const Groups& groups);

// Binomial coefficient, saturating at UINT64_MAX.
std::uint64_t choose(std::uint64_t n, std::uint64_t k);

}  // namespace dmoe
