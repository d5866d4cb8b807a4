// LayerMoE's layer similarity (SPEC §2.1) from each language's mean unit FFN
// input per layer. Torch-free: the measurement (the LayerMoE similarity
// stage) streams tokens into the means; this is the arithmetic on them.
//
// For languages a, b at layer i, with m the mean of a language's unit vectors
// x/‖x‖ over its tokens:
//   S_i(a, b) = mean over token pairs of cos(x_a, x_b) = m_a · m_b   (exact)
//   S_i = ½ (mean over new–new pairs + mean over new–old pairs), pairs of two
//         different languages; with a single new language there is no new–new
//         pair and S_i is the new–old mean.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "results/layer_similarity_file.h"

namespace dmoe {

// meanUnit[a][i]: language a's mean unit vector at layer i (one dimension
// throughout). Throws InputError without an old and a new language, or when
// the lists disagree in length.
LayerSimilarity layerSimilarity(const std::vector<std::string>& languages, const std::vector<bool>& isNew,
                                const std::vector<std::int64_t>& tokens,
                                const std::vector<std::vector<std::vector<double>>>& meanUnit);

}  // namespace dmoe
