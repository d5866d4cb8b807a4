// LayerMoE's expert allocation (SPEC §2.2): more experts where the new
// languages look least like the old ones. Torch-free: the Layers view
// re-allocates live with it.
//
// With w_i = (1/S_i) / Σⱼ (1/S_j) and a minimum m per layer (2: every layer
// gets at least one new expert; 1: a layer may stay dense),
//   N_i = max(m, ⌈w_i · δ⌉)   experts in layer i, the frozen original FFN included,
// so Σᵢ (N_i − 1) new experts. The total is a step function of δ: for a
// budget of new experts, the δ search takes the largest total not above the
// budget (and says whether it is the budget itself).
//
// Not here: measuring S_i (the LayerMoE similarity stage) or building the
// experts.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "results/selection_file.h"  // ParameterCounts

namespace dmoe {

struct LayerAllocation {
  std::vector<std::int64_t> experts;  // N_i per layer, the frozen original FFN included
  double delta = 0;                   // the δ that gives it (NaN for a uniform allocation)
  std::int64_t newExperts() const;    // Σ (N_i − 1)
};

// N_i for a given δ. Throws InputError when an S_i is not a finite positive
// number (naming the layer), δ ≤ 0 or minExperts < 1.
LayerAllocation allocateExperts(const std::vector<double>& similarity, double delta, std::int64_t minExperts = 2);

struct BudgetAllocation {
  LayerAllocation allocation;
  std::int64_t budget = 0;
  bool exact = false;           // Σ (N_i − 1) == budget
  std::int64_t nextAbove = -1;  // the smallest reachable total above the budget (−1: none computed)
};

// δ searched so that Σ (N_i − 1) is the largest reachable total not above
// `budget`; δ is the middle of the interval of δ that gives it. Throws
// InputError when even the smallest total, (m − 1)·layers, exceeds the budget.
BudgetAllocation allocateForBudget(const std::vector<double>& similarity, std::int64_t budget,
                                   std::int64_t minExperts = 2);

// The expanded model's parameters, with P_ffn = one FFN's parameters, D the
// hidden size and k = min(topK, N_i) (SPEC 2.3: top-2, expert 0 competing):
//   total  = base + Σ_{N_i > 1} ((N_i − 1)·P_ffn + D·N_i)
//   active = base + Σ_{N_i > 1} ((k − 1)·P_ffn + D·N_i)   (per token)
// Layers with N_i = 1 stay dense and add nothing.
// Lifelong (the base already an expansion): `previous` = its experts per layer
// (1 = dense; empty = every layer dense), `base` its parameters and
// `baseActive` those active per token. A layer with M experts gains N_i − 1:
//   total  += (N_i − 1)·P_ffn + D·(N_i − 1 + [M = 1])
//   active += (min(k, M + N_i − 1) − min(k, M))·P_ffn + D·(N_i − 1 + [M = 1])
// A mixture-of-experts model's parameters active per token: its `total` less,
// in each layer with M experts (`experts`, 1 = dense), the M − min(k, M)
// experts of `ffnParameters` each that top-k routing leaves idle.
std::int64_t activeParameters(std::int64_t total, const std::vector<std::int64_t>& experts, std::int64_t topK,
                              std::int64_t ffnParameters);

ParameterCounts layerMoeParameterCounts(std::int64_t baseParameters, std::int64_t ffnParameters, std::int64_t hiddenSize,
                                        const std::vector<std::int64_t>& experts, std::int64_t topK = 2,
                                        const std::vector<std::int64_t>& previous = {}, std::int64_t baseActive = -1);

// The paper's ablation at the same budget: ⌊budget / layers⌋ new experts per
// layer (at least m − 1); the remainder r goes one each to r evenly spaced
// layers (⌊(j + ½)·layers / r⌋), not to the least similar ones. Throws like
// allocateForBudget.
LayerAllocation uniformAllocation(std::int64_t layers, std::int64_t budget, std::int64_t minExperts = 2);

}  // namespace dmoe
