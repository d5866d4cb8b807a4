// Layer selection with ε (see the header).
#include "methods/layer_selection.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/error.h"

namespace dmoe {

std::vector<double> layerScores(const std::vector<std::vector<double>>& ffnNorms) {
  if (ffnNorms.empty()) throw InputError("layer scores: no language has deviation norms");
  std::vector<double> scores(ffnNorms.front().size(), 0.0);
  for (const auto& language : ffnNorms) {
    if (language.size() != scores.size()) throw InputError("layer scores: languages have different layer counts");
    for (size_t l = 0; l < scores.size(); ++l) scores[l] += language[l];
  }
  for (double& s : scores) s /= static_cast<double>(ffnNorms.size());
  return scores;
}

std::vector<double> normalizedScores(const std::vector<double>& scores) {
  if (scores.empty()) return {};
  const auto [lo, hi] = std::minmax_element(scores.begin(), scores.end());
  std::vector<double> out;
  for (double s : scores) out.push_back(*hi > *lo ? (s - *lo) / (*hi - *lo) : 1.0);
  return out;
}

std::vector<std::int64_t> selectLayers(const std::vector<double>& normalized, double epsilon, const std::string& mode) {
  if (!(epsilon >= 0 && epsilon <= 1)) throw InputError("layer selection: ε must be in [0, 1], got " + std::to_string(epsilon));
  std::vector<std::int64_t> chosen;
  const auto n = static_cast<std::int64_t>(normalized.size());
  if (mode == "threshold") {
    for (std::int64_t l = 0; l < n; ++l)
      if (normalized[static_cast<size_t>(l)] >= epsilon) chosen.push_back(l);
  } else if (mode == "top-fraction") {
    // ⌈ε·L⌉ with a tolerance so that 0.6·10 counts as 6, not 7 after rounding error.
    const auto count = static_cast<std::int64_t>(std::ceil(epsilon * static_cast<double>(n) - 1e-9));
    std::vector<std::int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
      return normalized[static_cast<size_t>(a)] > normalized[static_cast<size_t>(b)];
    });
    chosen.assign(order.begin(), order.begin() + std::min(count, n));
    std::sort(chosen.begin(), chosen.end());
  } else {
    throw InputError("layer selection: unknown mode '" + mode + "' (expected threshold or top-fraction)");
  }
  return chosen;
}

ParameterCounts dmoeParameterCounts(std::int64_t baseParameters, std::int64_t ffnParameters, std::int64_t hiddenSize,
                                    std::int64_t selectedLayers, std::int64_t experts, std::int64_t topK) {
  const std::int64_t k = std::min(topK, experts), router = hiddenSize * experts;
  return {baseParameters + selectedLayers * ((experts - 1) * ffnParameters + router),
          baseParameters + selectedLayers * ((k - 1) * ffnParameters + router)};
}

}  // namespace dmoe
