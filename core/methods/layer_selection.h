// Layer selection with ε (SPEC §1.4) and the parameter counts of the DMoE
// model it implies. Torch-free: the GUI's ε panel calls it live.
//
// score(l) = mean over languages of ‖Δθ_l,FFN‖₂; s(l) = (score − min)/(max − min).
// When every layer scores the same, s(l) = 1 for all (no layer is less specific
// than another), so threshold mode expands every layer for any ε.
//   threshold:    expand l iff s(l) ≥ ε
//   top-fraction: expand the ⌈ε·L⌉ layers with the largest s(l) (ties: lower layer first)
//
// Parameter counts, with P_ffn = parameters of one FFN, D = hidden size,
// E experts, k = min(top_k, E):
//   total  = base + Σ_selected ((E − 1)·P_ffn + D·E)
//   active = base + Σ_selected ((k − 1)·P_ffn + D·E)   (per token, soft routing)
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "results/selection_file.h"  // ParameterCounts

namespace dmoe {

// ffnNorms[language][layer] → score per layer.
std::vector<double> layerScores(const std::vector<std::vector<double>>& ffnNorms);
std::vector<double> normalizedScores(const std::vector<double>& scores);

// Throws InputError for an unknown mode or ε outside [0, 1]. Ascending layer indices.
std::vector<std::int64_t> selectLayers(const std::vector<double>& normalized, double epsilon, const std::string& mode);

ParameterCounts dmoeParameterCounts(std::int64_t baseParameters, std::int64_t ffnParameters, std::int64_t hiddenSize,
                                    std::int64_t selectedLayers, std::int64_t experts, std::int64_t topK);

}  // namespace dmoe
