// The held-out, pretrain and continual slices: see data_slices.h for the contract.
#include "corpus/data_slices.h"

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

const char* sliceName(Slice slice) {
  switch (slice) {
    case Slice::pretrain: return "pretrain";
    case Slice::continual: return "continual";
    case Slice::heldout: return "heldout";
  }
  return "?";
}

std::int64_t pretrainCount(std::int64_t remaining, const PretrainSliceSettings& settings) {
  if (remaining <= 1) return 0;
  const std::int64_t k =
      settings.count > 0 ? settings.count : std::llround(settings.fraction * static_cast<double>(remaining));
  return std::clamp<std::int64_t>(k, 0, remaining - 1);
}

std::vector<Slice> documentSlices(std::int64_t n, const CorpusSettings& corpus, const std::string& languageId,
                                  bool withPretrain) {
  const std::vector<bool> heldout = heldoutMask(n, corpus.heldout, languageId);
  std::vector<Slice> slices(heldout.size(), Slice::continual);
  std::vector<std::int64_t> rest;  // the documents not held out, in corpus order
  for (std::size_t i = 0; i < heldout.size(); ++i) {
    if (heldout[i]) slices[i] = Slice::heldout;
    else rest.push_back(static_cast<std::int64_t>(i));
  }
  if (!withPretrain) return slices;
  const std::int64_t k = pretrainCount(static_cast<std::int64_t>(rest.size()), corpus.pretrain);
  SplitMix64 random(
      Hasher().add(static_cast<std::uint64_t>(corpus.pretrain.seed)).add(languageId).add("pretrain").value());
  const auto m = static_cast<std::int64_t>(rest.size());
  for (std::int64_t i = 0; i < k; ++i) {
    const std::int64_t j = i + static_cast<std::int64_t>(random.next() % static_cast<std::uint64_t>(m - i));
    std::swap(rest[static_cast<std::size_t>(i)], rest[static_cast<std::size_t>(j)]);
    slices[static_cast<std::size_t>(rest[static_cast<std::size_t>(i)])] = Slice::pretrain;
  }
  return slices;
}

}  // namespace dmoe
