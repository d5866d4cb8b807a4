// Language similarity (SPEC §1.2): cosine similarity of languages' FFN weight
// deltas, for the concatenation over a layer set and for each layer alone.
//
// Input: one safetensors file per language holding one F32 1-D tensor per
// layer, named deltaTensorName(l) = "layers.<l>" (written by the deviation
// stage). The files are memory-mapped and streamed; no language's full vector
// is ever held in memory.
//
//   exact  — a streaming Gram matrix: for each layer, parameter block and pair
//            of language blocks, G += A Bᵀ in float64; cos = G_ij / √(G_ii G_jj).
//            Memory: about 2 × languageBlock × blockValues doubles.
//   sketch — a seeded count sketch (a sparse random projection to k
//            dimensions: value j of layer l goes to bucket h mod k with sign
//            ±1, h drawn from a generator seeded by (sketchSeed, l, j): the count
//            sketch of Charikar, Chen & Farach-Colton 2002, the feature
//            hashing of Weinberger et al. 2009). The projection never
//            exists, is the same for every language and does not depend on the
//            block sizes; one pass over the values, O(languages × values) —
//            a dense Gaussian projection costs k times that. Its inner
//            products are unbiased with a variance at most a Gaussian
//            sketch's (it lacks the diagonal terms); its cosines' too, to
//            first order. The sketch of the
//            concatenation is the sum of the layers' sketches. Memory:
//            2 × languages × k doubles of sketches. The sketch is checked
//            against exact cosines on a seeded sample of pairs.
//
// Not here: where the deltas come from (deviation), grouping (grouping.h),
// the display order (clustering.h), the stage glue, the result struct and its
// files (results/similarity_file.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "methods/grouping.h"
#include "results/similarity_file.h"
#include "torch_compat.h"

namespace dmoe {

// "layers.<layer>": the tensor holding one layer's flattened FFN delta.
std::string deltaTensorName(std::int64_t layer);

struct DeltaFiles {
  std::vector<std::string> languages;
  std::vector<std::filesystem::path> files;  // files[i] holds languages[i]'s deltas
};

struct SimilarityOptions {
  std::vector<std::int64_t> layers;      // the layer set; a per-layer matrix is computed for each
  std::int64_t blockValues = 1 << 18;    // parameter values per language per block
  std::int64_t languageBlock = 64;       // languages per block of the Gram computation
  std::int64_t sketchDim = 0;            // 0 = exact; k > 0 = count sketch to k dims
  std::uint64_t sketchSeed = 1234;
  std::int64_t checkPairs = 32;          // sketch: pairs checked against exact (all pairs if fewer)
};

// progress(done, total) is called at most about a thousand times, last with
// done == total. Throws InputError for bad options, and naming the file and
// tensor for a missing layer, a dtype other than F32, a tensor that is not
// 1-D, lengths that differ between languages, and a delta that is all zeros
// or not finite (cosine undefined; names the language and layer).
SimilarityResult computeSimilarity(const DeltaFiles& deltas, const SimilarityOptions& options,
                                   const std::function<void(std::int64_t, std::int64_t)>& progress = {});

// In-memory reference: the cosine matrix of the rows of `rows` [n, P], in
// float64. Throws InputError when a row is all zeros or not finite.
SimilarityMatrix cosineOfRows(const torch::Tensor& rows);

}  // namespace dmoe
