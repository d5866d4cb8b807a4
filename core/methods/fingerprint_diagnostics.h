// Diagnostics of a language similarity matrix (issue 33): how far its
// fingerprints can be trusted and whether they hold structure shared between
// languages.
//
//   split half  — each language fingerprinted twice, on disjoint halves of its
//                 data: the halves' cosine (reliability), whether each half's
//                 most similar other half is its own, and whether the pairs'
//                 similarities repeat between the halves: Pearson r over
//                 i < j of cos(aᵢ, aⱼ) against cos(bᵢ, bⱼ), each less its
//                 fit μ + αᵢ + αⱼ + uᵢuⱼ (so what belongs to one language
//                 alone — an offset, its share of a direction all languages
//                 share — does not count as shared structure), with a
//                 permutation p-value (the Mantel test); n ≥ 6.
//   family score — against a labelling (families, scripts): mean within-class
//                 minus mean across-class cosine with a label-permutation
//                 p-value, the ARI of the average-linkage tree cut into as many
//                 clusters as there are classes, and how many languages have a
//                 relative as their most similar other language.
//
// Plain numbers in, plain numbers out; permutations are drawn from SplitMix64
// so the p-values are the same on every platform. Not here: where the
// fingerprints come from (the deviation and similarity stages), the result
// struct and its file (results/similarity_file.h), the wording (its reading()).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "results/labelling_file.h"
#include "results/similarity_file.h"

namespace dmoe {

// Class ids 0, 1, … in order of first appearance.
std::vector<int> classIds(const std::vector<std::string>& labels);

// The adjusted Rand index (Hubert & Arabie 1985) of two partitions of the
// same items: 1 for identical partitions, 0 in expectation for random ones,
// negative below that. When the index cannot vary (both partitions all one
// class, or both all singletons) it is 1, as scikit-learn defines it. Throws
// InputError when the sizes differ or are zero.
double adjustedRandIndex(const std::vector<int>& a, const std::vector<int>& b);

// The leaves' clusters when a dendrogram of `leaves` leaves (scipy numbering,
// clustering.h) is cut into `clusters` clusters: only its first
// leaves − clusters merges are made. Cluster ids by first appearance.
std::vector<int> cutTree(const std::vector<ClusterMerge>& merges, int leaves, int clusters);

// The family score of `similarity` (n × n) against `labelling` (n labels).
FamilyScore familyScore(const SimilarityMatrix& similarity, const Labelling& labelling, std::int64_t permutations,
                        std::uint64_t seed);

// The split-half diagnostics from the halves' matrix (2n × 2n, row 2i half a
// of language i, 2i + 1 its half b) and the same per layer.
SplitHalf splitHalfDiagnostics(const SimilarityMatrix& halves, const std::vector<SimilarityMatrix>& perLayerHalves,
                               std::int64_t permutations, std::uint64_t seed);

}  // namespace dmoe
