// The deviation stage's stationarity diagnostic (issue #11, SPEC 1.0): does the
// base sit at a stationary point of the languages' data? With gₓ the mean
// gradient of the LM loss on language x's data and nₓ its scored tokens,
//     r = ‖Σₓ nₓ gₓ‖ / Σₓ ‖nₓ gₓ‖      (0 ≤ r ≤ 1).
// r ≪ 1: the languages' gradients cancel — the base has converged on exactly
// this data, and deviations will mostly measure competition between languages;
// r near 1: they pull the same way (new data, which the deviation is meant to
// measure). nₓ gₓ is the token-summed gradient, so r needs no division.
// Not a trainer: the parameters are only read (gradients are restored to none).
#pragma once
#include <cstdint>
#include <vector>

#include "corpus/token_shard.h"
#include "model/causal_lm.h"

namespace dmoe {

// ‖Σ vectors‖ / Σ ‖vectors‖ of the given (flat or any-shaped, equally shaped)
// tensors, in float64. NaN when every vector is zero or none is given.
double stationarityRatio(const std::vector<torch::Tensor>& summedGradients);

struct SummedGradient {
  torch::Tensor gradient;  // flat fp32 on the CPU: Σ over scored tokens of ∇ NLL, `parameters` concatenated in order
  std::int64_t tokens = 0;  // scored tokens (nₓ)
};

// The token-summed gradient (nₓ gₓ) of the LM loss w.r.t. `parameters` (which
// must belong to `model`) over the shard's first `maxTokens` scored tokens,
// read as consecutive windows of seqLen + 1 tokens (documents back to back,
// as training reads them), `microBatch` windows per forward pass. Throws
// InputError when the shard is shorter than one window.
SummedGradient summedGradient(CausalLMImpl& model, const std::vector<torch::Tensor>& parameters, const TokenShard& shard,
                              std::int64_t seqLen, std::int64_t microBatch, std::int64_t maxTokens);

}  // namespace dmoe
