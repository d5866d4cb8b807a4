#include "methods/layer_allocation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "util/error.h"

namespace dmoe {

namespace {

void checkMinimum(std::int64_t minExperts) {
  if (minExperts < 1)
    throw InputError("at least " + std::to_string(minExperts) + " experts per layer: expected 1 (a layer may stay dense) or more");
}

// w_i = (1/S_i) / Σⱼ (1/S_j).
std::vector<double> allocationWeights(const std::vector<double>& similarity) {
  if (similarity.empty()) throw InputError("no layer similarities to allocate experts by");
  std::vector<double> w;
  for (size_t i = 0; i < similarity.size(); ++i) {
    if (!std::isfinite(similarity[i]) || similarity[i] <= 0)
      throw InputError("layer " + std::to_string(i) + ": similarity " + std::to_string(similarity[i]) +
                       " cannot weigh an allocation (expected a finite number above 0: at or below 0 the new "
                       "languages' FFN inputs point away from the others' on average; the uniform allocation does not "
                       "use S_i)");
    w.push_back(1.0 / similarity[i]);
  }
  const double sum = std::accumulate(w.begin(), w.end(), 0.0);
  for (double& x : w) x /= sum;
  return w;
}

std::vector<std::int64_t> expertsAt(const std::vector<double>& w, double delta, std::int64_t minExperts) {
  std::vector<std::int64_t> n;
  for (double x : w) n.push_back(std::max(minExperts, static_cast<std::int64_t>(std::ceil(x * delta))));
  return n;
}

std::int64_t newExpertsOf(const std::vector<std::int64_t>& experts) {
  std::int64_t total = 0;
  for (std::int64_t n : experts) total += n - 1;
  return total;
}

void checkBudget(std::int64_t layers, std::int64_t budget, std::int64_t minExperts) {
  const std::int64_t smallest = (minExperts - 1) * layers;
  if (budget < smallest)
    throw InputError("a budget of " + std::to_string(budget) + " new experts is below the smallest allocation, " +
                     std::to_string(smallest) + " (" + std::to_string(minExperts - 1) + " in each of " +
                     std::to_string(layers) + " layers); raise the budget or let layers stay dense (at least 1 expert)");
}

}  // namespace

std::int64_t LayerAllocation::newExperts() const { return newExpertsOf(experts); }

LayerAllocation allocateExperts(const std::vector<double>& similarity, double delta, std::int64_t minExperts) {
  checkMinimum(minExperts);
  if (!std::isfinite(delta) || delta <= 0)
    throw InputError("δ = " + std::to_string(delta) + ": expected a number above 0");
  return {expertsAt(allocationWeights(similarity), delta, minExperts), delta};
}

BudgetAllocation allocateForBudget(const std::vector<double>& similarity, std::int64_t budget, std::int64_t minExperts) {
  checkMinimum(minExperts);
  const std::vector<double> w = allocationWeights(similarity);
  checkBudget(static_cast<std::int64_t>(w.size()), budget, minExperts);
  // N_i steps from k to k + 1 just above δ = k / w_i. Totals above the budget
  // need some N_i > budget + 1, so the steps up to there are every candidate.
  std::vector<double> steps;
  for (double x : w)
    for (std::int64_t k = minExperts; k <= budget + 1; ++k) steps.push_back(static_cast<double>(k) / x);
  std::sort(steps.begin(), steps.end());
  steps.erase(std::unique(steps.begin(), steps.end(),
                          [](double a, double b) { return b - a <= 1e-12 * std::max(1.0, std::abs(b)); }),
              steps.end());
  // The total is constant between consecutive steps and grows with δ: find
  // the last interval whose total is within the budget, testing at middles.
  auto middleOf = [&](size_t j) { return 0.5 * ((j == 0 ? 0.0 : steps[j - 1]) + steps[j]); };
  auto totalOf = [&](size_t j) { return newExpertsOf(expertsAt(w, middleOf(j), minExperts)); };
  size_t low = 0, high = steps.size();  // totalOf(low) ≤ budget (the minimum); totalOf(high) > budget or high = end
  while (high - low > 1) {
    const size_t mid = low + (high - low) / 2;
    (totalOf(mid) <= budget ? low : high) = mid;
  }
  BudgetAllocation best;
  best.budget = budget;
  best.allocation = {expertsAt(w, middleOf(low), minExperts), middleOf(low)};
  if (high < steps.size()) best.nextAbove = totalOf(high);
  best.exact = best.allocation.newExperts() == budget;
  return best;
}

std::int64_t activeParameters(std::int64_t total, const std::vector<std::int64_t>& experts, std::int64_t topK,
                              std::int64_t ffnParameters) {
  for (std::int64_t m : experts) total -= (m - std::min(topK, m)) * ffnParameters;
  return total;
}

ParameterCounts layerMoeParameterCounts(std::int64_t baseParameters, std::int64_t ffnParameters, std::int64_t hiddenSize,
                                        const std::vector<std::int64_t>& experts, std::int64_t topK,
                                        const std::vector<std::int64_t>& previous, std::int64_t baseActive) {
  if (!previous.empty() && previous.size() != experts.size())
    throw InputError("parameter counts: " + std::to_string(previous.size()) + " previous layers for " +
                     std::to_string(experts.size()) + " allocated");
  ParameterCounts c{baseParameters, baseActive >= 0 ? baseActive : baseParameters};
  for (size_t l = 0; l < experts.size(); ++l) {
    const std::int64_t added = experts[l] - 1, before = previous.empty() ? 1 : previous[l];
    if (added <= 0) continue;
    const std::int64_t router = hiddenSize * (added + (before == 1 ? 1 : 0));
    c.total += added * ffnParameters + router;
    c.active += (std::min(topK, before + added) - std::min(topK, before)) * ffnParameters + router;
  }
  return c;
}

LayerAllocation uniformAllocation(std::int64_t layers, std::int64_t budget, std::int64_t minExperts) {
  checkMinimum(minExperts);
  if (layers < 1) throw InputError("no layers to allocate experts to");
  checkBudget(layers, budget, minExperts);
  LayerAllocation a;
  a.delta = std::numeric_limits<double>::quiet_NaN();
  a.experts.assign(static_cast<size_t>(layers), 1 + budget / layers);
  const std::int64_t remainder = budget % layers;
  for (std::int64_t j = 0; j < remainder; ++j)
    ++a.experts[static_cast<size_t>((2 * j + 1) * layers / (2 * remainder))];
  return a;
}

}  // namespace dmoe
