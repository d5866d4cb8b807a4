// Group-pure batches (see the header).
#include "train/group_batch_source.h"

#include <algorithm>

#include "util/splitmix64.h"
#include "util/error.h"

namespace dmoe {

GroupBatchSource::GroupBatchSource(std::vector<std::vector<TokenStream>> groups, std::vector<double> groupWeights,
                                   std::int64_t seqLen, std::uint64_t seed)
    : seed_(seed) {
  if (groups.empty() || groups.size() != groupWeights.size())
    throw InputError("group batches: need one weight per group and at least one group");
  double total = 0;
  for (double w : groupWeights) {
    if (!(w > 0)) throw InputError("group batches: every group needs a weight > 0 (data to train on)");
    total += w;
  }
  double running = 0;
  for (size_t g = 0; g < groups.size(); ++g) {
    cumulative_.push_back((running += groupWeights[g]) / total);
    streamOffset_.push_back(static_cast<std::int64_t>(streamGroup_.size()));
    for (size_t s = 0; s < groups[g].size(); ++s) streamGroup_.push_back(static_cast<std::int64_t>(g));
    // Each group draws its own windows; its seed differs per group so groups do not mirror each other.
    samplers_.emplace_back(std::move(groups[g]), seqLen, SplitMix64(seed + 0x9E3779B97F4A7C15ull * (g + 1)).next());
  }
  cumulative_.back() = 1.0;
}

std::int64_t GroupBatchSource::groupOfBatch(std::int64_t index) const {
  SplitMix64 rng(SplitMix64(static_cast<std::uint64_t>(index)).next() ^ SplitMix64(~seed_).next());
  const double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;
  const auto g = std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin();
  return std::min<std::int64_t>(g, static_cast<std::int64_t>(samplers_.size()) - 1);
}

TrainBatch GroupBatchSource::next(std::int64_t rows) {
  const std::int64_t g = groupOfBatch(batches_++);
  TrainBatch batch = samplers_[static_cast<size_t>(g)].next(rows);
  batch.sources = batch.sources + streamOffset_[static_cast<size_t>(g)];
  return batch;
}

Json GroupBatchSource::state() const {
  Json groups = Json::array();
  for (const SequenceSampler& s : samplers_) groups.push_back(s.state());
  return Json{{"batches", batches_}, {"groups", groups}};
}

void GroupBatchSource::restore(const Json& state) {
  if (!state.is_object() || !state.contains("batches") || !state.contains("groups") ||
      state["groups"].size() != samplers_.size())
    throw InputError("group batch state: expected {\"batches\": n, \"groups\": [one state per group]}, got " + state.dump());
  batches_ = state["batches"].get<std::int64_t>();
  for (size_t g = 0; g < samplers_.size(); ++g) samplers_[g].restore(state["groups"][g]);
}

}  // namespace dmoe
