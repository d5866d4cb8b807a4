// The Llama family of decoder-only LMs: Llama, Qwen2 (q/k/v biases) and Gemma
// (GeGLU-tanh MLP, embeddings scaled by √D, RMSNorm with 1+w, explicit head_dim).
// Pre-norm blocks: RMSNorm → grouped-query attention with RoPE → residual,
// RMSNorm → gated MLP → residual; final RMSNorm; lm_head (or tied embeddings).
// Registered names are HF's (model/model_family.h). Dimension legend: model/causal_lm.h.
#pragma once
#include <utility>

#include "model/causal_lm.h"

namespace dmoe {

// RMSNorm over the last dim, computed in fp32. Llama/Qwen2: w · x̂ (x̂ cast back
// first, as HF); Gemma (unitOffset): x̂ · (1 + w) in fp32, weight initialised to 0.
class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(std::int64_t dim, double eps, bool unitOffset);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [D]

 private:
  double eps_;
  bool unitOffset_;
};
TORCH_MODULE(RmsNorm);

// Rotary position embedding tables, HF convention (rotate_half: the two halves
// of a head are the pairs). cos/sin are [T,Dh] = cos/sin(p · θ^(-2i/Dh)) for the
// first and again for the second half. Computed in fp32 then cast, cached per
// device and dtype and grown on demand: derived values, neither parameters nor
// buffers, so they never reach a state dict or a checkpoint.
class RotaryEmbedding {
 public:
  RotaryEmbedding(std::int64_t headDim, double theta) : headDim_(headDim), theta_(theta) {}
  // cos, sin [T,Dh] for positions 0..T-1.
  std::pair<torch::Tensor, torch::Tensor> table(std::int64_t t, torch::Device device, torch::Dtype dtype);

 private:
  std::int64_t headDim_;
  double theta_;
  torch::Tensor cos_, sin_;  // [cached length, Dh] on the last device/dtype asked for
};

// x [B,H,T,Dh] rotated: x·cos + rotate_half(x)·sin, with cos/sin [T,Dh].
torch::Tensor applyRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

// q/k/v/o_proj; Hkv < H shares each key/value head among H/Hkv query heads.
class LlamaAttentionImpl : public torch::nn::Module {
 public:
  explicit LlamaAttentionImpl(const ModelConfig& config);
  // x [B,T,D], cos/sin [T,Dh] → [B,T,D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  torch::nn::Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};

 private:
  std::int64_t heads_, kvHeads_, headDim_;
};
TORCH_MODULE(LlamaAttention);

// down(act(gate(x)) ⊙ up(x)): SwiGLU (silu) or GeGLU (gelu, tanh-approximated for Gemma).
class GatedMlpImpl : public FeedForwardImpl {
 public:
  explicit GatedMlpImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& x) override;  // [B,T,D] → [B,T,D]
  torch::nn::Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};

 private:
  std::string activation_;
};
TORCH_MODULE(GatedMlp);

class LlamaDecoderLayerImpl : public torch::nn::Module {
 public:
  explicit LlamaDecoderLayerImpl(const ModelConfig& config);
  // x [B,T,D] → [B,T,D]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  void setMlp(std::shared_ptr<FeedForwardImpl> mlp) { this->mlp = replace_module("mlp", std::move(mlp)); }

  RmsNorm input_layernorm{nullptr};
  LlamaAttention self_attn{nullptr};
  RmsNorm post_attention_layernorm{nullptr};
  std::shared_ptr<FeedForwardImpl> mlp;
};
TORCH_MODULE(LlamaDecoderLayer);

// "model": embed_tokens, layers, norm.
class LlamaModelImpl : public torch::nn::Module {
 public:
  explicit LlamaModelImpl(const ModelConfig& config);
  torch::Tensor forward(const torch::Tensor& inputIds);  // [B,T] → final-normed [B,T,D]
  LlamaDecoderLayerImpl& layer(std::int64_t index) const { return *layers->ptr<LlamaDecoderLayerImpl>(index); }

  torch::nn::Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RmsNorm norm{nullptr};

 private:
  bool scaleEmbeddings_;  // Gemma: × √D
  std::int64_t hiddenSize_;
  RotaryEmbedding rotary_;
};
TORCH_MODULE(LlamaModel);

class LlamaForCausalLMImpl : public CausalLMImpl {
 public:
  explicit LlamaForCausalLMImpl(const ModelConfig& config);
  torch::Tensor hiddenStates(const torch::Tensor& inputIds) override;
  torch::Tensor logits(const torch::Tensor& hidden) override;
  std::shared_ptr<FeedForwardImpl> mlp(std::int64_t layer) const override;
  void setMlp(std::int64_t layer, std::shared_ptr<FeedForwardImpl> mlp) override;

  LlamaModel model{nullptr};
  torch::nn::Linear lm_head{nullptr};  // null when tied: logits use model.embed_tokens.weight
};
TORCH_MODULE(LlamaForCausalLM);

}  // namespace dmoe
