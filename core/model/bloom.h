// BLOOM (bigscience/bloom-560m, bloom-1b7, …): ALiBi instead of position
// embeddings, LayerNorm everywhere (also right after the word embeddings),
// fused query_key_value laid out per head as [q,k,v], GELU-tanh MLP with
// biases, lm_head tied to the word embeddings.
// Registered names are HF's canonical `transformer.` ones (model/model_family.h).
// Dimension legend: model/causal_lm.h.
#pragma once
#include "model/causal_lm.h"

namespace dmoe {

// HF's ALiBi slopes [H] (fp32): for the largest power of two n ≤ H,
// 2^(-8k/n) for k = 1..n; the remaining H-n heads take every other slope of
// the 2n-head sequence, 2^(-4(2k-1)/n) for k = 1..H-n.
torch::Tensor alibiSlopes(std::int64_t heads);
// The additive score bias [1,H,1,T] = slope_h · key position, in `dtype`
// (HF adds slope·j; softmax is shift-invariant per row, so this is slope·(j-i)).
torch::Tensor alibiBias(const torch::Tensor& slopes, std::int64_t t, torch::Dtype dtype);

class BloomAttentionImpl : public torch::nn::Module {
 public:
  explicit BloomAttentionImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& alibi);  // [B,T,D] → [B,T,D]
  torch::nn::Linear query_key_value{nullptr}, dense{nullptr};

 private:
  std::int64_t heads_, headDim_;
};
TORCH_MODULE(BloomAttention);

// dense_4h_to_h(gelu_tanh(dense_h_to_4h(x))), with biases.
class BloomMlpImpl : public FeedForwardImpl {
 public:
  explicit BloomMlpImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x) override;  // [B,T,D] → [B,T,D]
  torch::nn::Linear dense_h_to_4h{nullptr}, dense_4h_to_h{nullptr};
};
TORCH_MODULE(BloomMlp);

class BloomBlockImpl : public torch::nn::Module {
 public:
  explicit BloomBlockImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& alibi);  // [B,T,D] → [B,T,D]
  void setMlp(std::shared_ptr<FeedForwardImpl> mlp) { this->mlp = replace_module("mlp", std::move(mlp)); }

  torch::nn::LayerNorm input_layernorm{nullptr};
  BloomAttention self_attention{nullptr};
  torch::nn::LayerNorm post_attention_layernorm{nullptr};
  std::shared_ptr<FeedForwardImpl> mlp;
};
TORCH_MODULE(BloomBlock);

// "transformer": word_embeddings, word_embeddings_layernorm, h, ln_f.
class BloomModelImpl : public torch::nn::Module {
 public:
  explicit BloomModelImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& inputIds);  // [B,T] → final-normed [B,T,D]
  BloomBlockImpl& block(std::int64_t index) const { return *h->ptr<BloomBlockImpl>(index); }

  torch::nn::Embedding word_embeddings{nullptr};
  torch::nn::LayerNorm word_embeddings_layernorm{nullptr};
  torch::nn::ModuleList h{nullptr};
  torch::nn::LayerNorm ln_f{nullptr};

 private:
  torch::Tensor slopes_;  // [H], derived from H alone: not a parameter or buffer
};
TORCH_MODULE(BloomModel);

class BloomForCausalLMImpl : public CausalLMImpl {
 public:
  explicit BloomForCausalLMImpl(const ModelConfig& config);
  torch::Tensor hiddenStates(const torch::Tensor& inputIds) override;
  torch::Tensor logits(const torch::Tensor& hidden) override;  // tied: transformer.word_embeddings.weight
  std::shared_ptr<FeedForwardImpl> mlp(std::int64_t layer) const override;
  void setMlp(std::int64_t layer, std::shared_ptr<FeedForwardImpl> mlp) override;

  BloomModel transformer{nullptr};
};
TORCH_MODULE(BloomForCausalLM);

}  // namespace dmoe
