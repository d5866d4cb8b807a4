// Seeded sampling of fixed-length training windows from token streams.
//
// Each stream is one language's training tokens (documents concatenated, as
// the token cache lays them out); windows may cross document boundaries.
// Window number i is a pure function of (seed, i): a stream drawn with
// probability ∝ its weight, then a uniformly random start. So the sampler's
// whole state is the count of windows drawn, and a resumed run sees exactly
// the windows an uninterrupted one would. Our own splitmix64, not std::
// distributions, so the order is the same on every platform.
// Not a file reader: callers pass pointers into their (memory-mapped) data,
// which must outlive the sampler.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/batch_source.h"

namespace dmoe {

struct TokenStream {
  std::string name;                      // language id, for messages
  const std::uint32_t* tokens = nullptr;
  std::int64_t count = 0;
  double weight = 1.0;                   // relative sampling weight (> 0)
};

class SequenceSampler : public BatchSource {
 public:
  // Windows hold seqLen + 1 tokens (inputs and their next-token labels).
  // Throws InputError if a stream is shorter than one window or has weight ≤ 0.
  SequenceSampler(std::vector<TokenStream> streams, std::int64_t seqLen, std::uint64_t seed);

  // inputIds/labels [rows, seqLen]; every label is scored.
  TrainBatch next(std::int64_t rows) override;
  Json state() const override { return Json{{"windows_drawn", drawn_}}; }
  void restore(const Json& state) override;

  struct Window {
    std::int64_t stream = 0, start = 0;
  };
  // Window number `index` (0-based over the whole run).
  Window windowAt(std::int64_t index) const;
  std::int64_t windowsDrawn() const { return drawn_; }

 private:
  std::vector<TokenStream> streams_;
  std::vector<double> cumulative_;  // normalised cumulative weights, last = 1
  std::int64_t seqLen_;
  std::uint64_t seed_;
  std::int64_t drawn_ = 0;
};

}  // namespace dmoe
