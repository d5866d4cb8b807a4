// Group-pure batches for DMoE training stage 1 (SPEC §1.6): every batch
// (each call of next(), i.e. each micro-batch) holds sequences of one group;
// the group of batch i is drawn with probability ∝ the group's weight (its
// data size), then rows come from that group's own SequenceSampler (languages
// within a group ∝ size^0.3, set by the caller through the stream weights).
// Batch i's group is a pure function of (seed, i), so the state is the batch
// count plus each group sampler's count, and a resumed run continues exactly.
// sources: the global stream index (the order of the groups' streams concatenated).
#pragma once
#include <vector>

#include "train/sequence_sampler.h"

namespace dmoe {

class GroupBatchSource : public BatchSource {
 public:
  // groups[g] = the streams of group g; groupWeights[g] > 0.
  GroupBatchSource(std::vector<std::vector<TokenStream>> groups, std::vector<double> groupWeights,
                   std::int64_t seqLen, std::uint64_t seed);

  TrainBatch next(std::int64_t rows) override;
  Json state() const override;
  void restore(const Json& state) override;

  std::int64_t groupOfBatch(std::int64_t index) const;
  // Global stream index → its group.
  const std::vector<std::int64_t>& streamGroup() const { return streamGroup_; }

 private:
  std::vector<SequenceSampler> samplers_;
  std::vector<std::int64_t> streamOffset_, streamGroup_;
  std::vector<double> cumulative_;
  std::uint64_t seed_;
  std::int64_t batches_ = 0;
};

}  // namespace dmoe
