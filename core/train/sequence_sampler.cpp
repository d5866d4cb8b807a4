// Seeded, stateless-per-window sampling of training windows (see the header).
#include "train/sequence_sampler.h"

#include <algorithm>

#include "util/splitmix64.h"
#include "util/error.h"

namespace dmoe {

SequenceSampler::SequenceSampler(std::vector<TokenStream> streams, std::int64_t seqLen, std::uint64_t seed)
    : streams_(std::move(streams)), seqLen_(seqLen), seed_(seed) {
  if (seqLen_ < 1) throw InputError("sequence sampler: seq_len must be ≥ 1, got " + std::to_string(seqLen_));
  if (streams_.empty()) throw InputError("sequence sampler: no token streams to train on");
  double total = 0;
  for (const TokenStream& s : streams_) {
    if (s.count < seqLen_ + 1)
      throw InputError("sequence sampler: stream '" + s.name + "' has " + std::to_string(s.count) +
                       " tokens, fewer than one window of seq_len + 1 = " + std::to_string(seqLen_ + 1));
    if (!(s.weight > 0)) throw InputError("sequence sampler: stream '" + s.name + "' needs a weight > 0");
    total += s.weight;
  }
  double running = 0;
  for (const TokenStream& s : streams_) cumulative_.push_back((running += s.weight) / total);
  cumulative_.back() = 1.0;
}

SequenceSampler::Window SequenceSampler::windowAt(std::int64_t index) const {
  // Two mixing rounds decorrelate neighbouring indices and seeds.
  SplitMix64 rng(SplitMix64(static_cast<std::uint64_t>(index)).next() ^ SplitMix64(seed_).next());
  double u = static_cast<double>(rng.next() >> 11) * 0x1.0p-53;  // [0, 1)
  Window w;
  w.stream = std::upper_bound(cumulative_.begin(), cumulative_.end(), u) - cumulative_.begin();
  w.stream = std::min<std::int64_t>(w.stream, static_cast<std::int64_t>(streams_.size()) - 1);
  const std::uint64_t starts = static_cast<std::uint64_t>(streams_[w.stream].count - seqLen_);
  w.start = static_cast<std::int64_t>(rng.next() % starts);
  return w;
}

TrainBatch SequenceSampler::next(std::int64_t rows) {
  torch::Tensor windows = torch::empty({rows, seqLen_ + 1}, torch::kInt64);
  torch::Tensor sources = torch::empty({rows}, torch::kInt64);
  auto* out = windows.data_ptr<std::int64_t>();
  auto* src = sources.data_ptr<std::int64_t>();
  for (std::int64_t r = 0; r < rows; ++r) {
    Window w = windowAt(drawn_ + r);
    const std::uint32_t* tokens = streams_[w.stream].tokens + w.start;
    std::copy(tokens, tokens + seqLen_ + 1, out + r * (seqLen_ + 1));
    src[r] = w.stream;
  }
  drawn_ += rows;
  using torch::indexing::Slice;
  return TrainBatch{windows.index({Slice(), Slice(0, seqLen_)}).contiguous(),
                    windows.index({Slice(), Slice(1, torch::indexing::None)}).contiguous(), sources};
}

void SequenceSampler::restore(const Json& state) {
  if (!state.is_object() || !state.contains("windows_drawn") || !state["windows_drawn"].is_number_integer())
    throw InputError("sequence sampler state: expected {\"windows_drawn\": <integer>}, got " + state.dump());
  drawn_ = state["windows_drawn"].get<std::int64_t>();
}

}  // namespace dmoe
