// The deviation stage's stationarity diagnostic (issue #11, SPEC 1.0): does the
// base sit at a stationary point of the languages' data? With gₓ the mean
// gradient of the LM loss on language x's data and nₓ its tokens,
//     r = ‖Σₓ nₓ gₓ‖ / Σₓ ‖nₓ gₓ‖      (0 ≤ r ≤ 1),
// read against what orthogonal (independent) pulls of the same sizes give,
//     r⊥ = √(Σₓ ‖nₓ gₓ‖²) / Σₓ ‖nₓ gₓ‖   (1/√n for n equal sizes).
// r above r⊥: the languages' data pulls the base the same way (data new to
// it, as the method assumes); r below r⊥, toward 0: the pulls cancel — the
// base has converged on exactly this data, and deviations will mostly
// measure competition between languages.
// Here: the ratio's accumulator and the token-summed gradient of a batch
// source. Not here: which slices, layers and token counts (stages/deviation).
#pragma once
#include <cstdint>
#include <vector>

#include "model/causal_lm.h"
#include "train/batch_source.h"

namespace dmoe {

// r and r⊥ over vectors added one at a time (nothing but their running sum is
// kept: memory of one vector, whatever the number of languages).
class StationarityRatio {
 public:
  void add(const torch::Tensor& weightedGradient);  // nₓ gₓ, any shape, the same for every call
  // NaN when nothing was added, every vector is zero, or any value is not finite.
  double r() const;
  double orthogonal() const;
  bool finite() const { return finite_; }

 private:
  torch::Tensor sum_;  // float64
  double norms_ = 0, squares_ = 0;
  bool finite_ = true;
};

struct SummedGradient {
  torch::Tensor gradient;   // flat fp32 on the CPU: Σ over scored tokens of ∇ NLL, `parameters` concatenated in order
  std::int64_t tokens = 0;  // scored tokens
};

// The token-summed gradient of the LM loss w.r.t. `parameters` (which must
// belong to `model`; at least one) over the next `rows` rows of `data`,
// `microBatch` rows per forward pass, with the model in eval mode (restored
// after, also on a throw). Differentiates only `parameters` (no .grad is read
// or written) and changes no weight.
SummedGradient summedGradient(CausalLMImpl& model, const std::vector<torch::Tensor>& parameters, BatchSource& data,
                              std::int64_t rows, std::int64_t microBatch);

}  // namespace dmoe
