// Decoder-only causal language models: the module interface every family
// implements (the configuration is model/model_config.h).
//
// Dimension legend used in every model file:
//   B batch, T sequence length, D hidden_size, H query heads, Hkv key/value
//   heads, Dh head_dim, F intermediate_size (FFN width), V vocab_size, L layers.
//
// Registered parameter names equal the HF checkpoint names of the family
// (model/model_family.h), so loading and saving is a name-for-name map.
// The FFN of every layer is a FeedForward registered as "mlp": the DMoE merge
// swaps it for a mixture of experts (CausalLMImpl::setMlp) without touching the
// rest of the layer; layer-similarity capture wraps it the same way.
#pragma once
#include <memory>
#include <string>

#include "model/model_config.h"
#include "torch_compat.h"
#include "util/json.h"

namespace dmoe {

// The FFN block of one layer: [B,T,D] → [B,T,D].
class FeedForwardImpl : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x) = 0;
};

class CausalLMImpl : public torch::nn::Module {
 public:
  explicit CausalLMImpl(ModelConfig config) : config_(std::move(config)) {}
  // inputIds [B,T] int64 → logits [B,T,V] (in the parameters' dtype).
  virtual torch::Tensor forward(const torch::Tensor& inputIds) { return logits(hiddenStates(inputIds)); }
  // inputIds [B,T] → the final normalised hidden states [B,T,D] (lm_head's input).
  virtual torch::Tensor hiddenStates(const torch::Tensor& inputIds) = 0;
  // [B,T,D] → [B,T,V]: lm_head, or the embedding matrix when tied.
  virtual torch::Tensor logits(const torch::Tensor& hidden) = 0;
  // The FFN of layer 0 ≤ layer < L, and swapping it (registered as "mlp" again).
  virtual std::shared_ptr<FeedForwardImpl> mlp(std::int64_t layer) const = 0;
  virtual void setMlp(std::int64_t layer, std::shared_ptr<FeedForwardImpl> mlp) = 0;
  const ModelConfig& config() const { return config_; }

 protected:
  // Throws std::out_of_range unless 0 ≤ layer < L.
  void checkLayerIndex(std::int64_t layer) const;
  ModelConfig config_;
};

// Builds the family named by config.model_type, randomly initialised
// (N(0, 0.02) weights, as HF's initializer_range; zero biases; norms the
// identity), on the CPU in fp32. Throws InputError for an unknown model_type.
std::shared_ptr<CausalLMImpl> buildCausalLM(const ModelConfig& config);

// A fresh FFN of the family (GatedMlp or BloomMlp), initialised like
// buildCausalLM's: the building block of MoE experts.
std::shared_ptr<FeedForwardImpl> buildFeedForward(const ModelConfig& config);

}  // namespace dmoe
