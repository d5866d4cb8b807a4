// heldoutCount and heldoutMask: see heldout_split.h for the contract.
#include "corpus/heldout_split.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "util/hash.h"

namespace dmoe {

std::int64_t heldoutCount(std::int64_t n, const HeldoutSettings& settings) {
  if (n <= 0) return 0;
  std::int64_t k = settings.count > 0 ? settings.count : std::llround(settings.fraction * static_cast<double>(n));
  if (n > settings.min_documents) k = std::max(k, settings.min_documents);
  return std::clamp<std::int64_t>(k, 0, n - 1);
}

std::vector<bool> heldoutMask(std::int64_t n, const HeldoutSettings& settings, const std::string& languageId) {
  std::vector<bool> mask(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)), false);
  std::int64_t k = heldoutCount(n, settings);
  if (k == 0) return mask;
  SplitMix64 random(Hasher().add(static_cast<std::uint64_t>(settings.seed)).add(languageId).value());
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), std::int64_t{0});
  // Only the first k places are shuffled: O(n) memory, O(k) draws. The modulo
  // bias (≤ n / 2^64) is far below anything a split could show.
  for (std::int64_t i = 0; i < k; ++i) {
    std::int64_t j = i + static_cast<std::int64_t>(random.next() % static_cast<std::uint64_t>(n - i));
    std::swap(order[i], order[j]);
    mask[order[i]] = true;
  }
  return mask;
}

}  // namespace dmoe
