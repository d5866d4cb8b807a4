// What the trainer consumes: batches of (input ids, labels) and a resumable
// position. The trainer knows nothing about corpora or files; a BatchSource
// (SequenceSampler for token streams, or a stage's own) supplies the rows.
#pragma once
#include <cstdint>

#include "torch_compat.h"
#include "util/json.h"

namespace dmoe {

// Label value that is not scored (the loss mask), as in PyTorch and HF.
constexpr std::int64_t kIgnoreLabel = -100;

// One micro-batch, on the CPU. B rows, T positions.
struct TrainBatch {
  torch::Tensor inputIds;  // [B,T] int64
  torch::Tensor labels;    // [B,T] int64: the token to predict at each position, kIgnoreLabel = not scored
  torch::Tensor sources;   // [B] int64: which stream (language) each row came from; for router losses
};

class BatchSource {
 public:
  virtual ~BatchSource() = default;
  // The next `rows` rows; advances the position.
  virtual TrainBatch next(std::int64_t rows) = 0;
  // The position as JSON, saved in checkpoints; restore(state()) continues identically.
  virtual Json state() const = 0;
  virtual void restore(const Json& state) = 0;
};

}  // namespace dmoe
