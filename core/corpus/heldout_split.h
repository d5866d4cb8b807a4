// The deterministic held-out split of one language's documents.
// The same (seed, language id, document count, settings) always gives the same
// split, on every machine: a seeded shuffle of indices with our own PRNG
// (splitmix64), not std:: distributions whose output differs between
// standard libraries. Every evaluation uses this split.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "project/project.h"

namespace dmoe {

// splitmix64 (Steele, Lea & Flood 2014): tiny, fast, and the same on every platform.
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

// How many of n documents are held out: settings.count if > 0, else
// round(fraction · n); raised to min_documents when n > min_documents; and
// never all of them (at most n − 1, so a single document stays for training).
std::int64_t heldoutCount(std::int64_t documentCount, const HeldoutSettings& settings);

// mask[i] == true: document i (0-based among valid documents) is held out.
// The held-out documents are the first heldoutCount() indices of a partial
// Fisher–Yates shuffle driven by SplitMix64(FNV-1a(seed, languageId)).
std::vector<bool> heldoutMask(std::int64_t documentCount, const HeldoutSettings& settings,
                              const std::string& languageId);

}  // namespace dmoe
