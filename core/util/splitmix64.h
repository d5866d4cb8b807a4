// splitmix64 (Steele, Lea & Flood 2014): the project's one seeded generator —
// tiny, fast, and the same output on every platform (std:: distributions are
// not). Data slices, grouping, samplers, sketches and the BLAS check draw from it.
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

namespace dmoe {

class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t state) : state_(state) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }

 private:
  std::uint64_t state_;
};

// Fisher–Yates shuffle of `items` drawing from `random` (the same order on every platform).
template <class T>
void seededShuffle(std::vector<T>& items, SplitMix64& random) {
  for (size_t i = items.size(); i > 1; --i) std::swap(items[i - 1], items[random.next() % i]);
}

}  // namespace dmoe
