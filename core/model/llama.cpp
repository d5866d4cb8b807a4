// Llama / Qwen2 / Gemma forward pass, following HF's modeling_llama.py,
// modeling_qwen2.py and modeling_gemma.py step by step.
#include "model/llama.h"

#include <cmath>

#include "model/fused_ops.h"
#include "model/model_family.h"

namespace dmoe {

RmsNormImpl::RmsNormImpl(std::int64_t dim, double eps, bool unitOffset) : eps_(eps), unitOffset_(unitOffset) {
  weight = register_parameter("weight", unitOffset ? torch::zeros({dim}) : torch::ones({dim}));
}

torch::Tensor RmsNormImpl::forward(const torch::Tensor& x) { return rmsNorm(x, weight, eps_, unitOffset_); }

std::pair<torch::Tensor, torch::Tensor> RotaryEmbedding::table(std::int64_t t, torch::Device device,
                                                               torch::Dtype dtype) {
  if (!cos_.defined() || cos_.size(0) < t || cos_.device() != device || cos_.scalar_type() != dtype) {
    const std::int64_t length = std::max<std::int64_t>(t, cos_.defined() ? cos_.size(0) : 0);
    const auto f32 = torch::TensorOptions().dtype(torch::kFloat32).device(device);
    // inv_freq_i = 1 / θ^(2i/Dh), i < Dh/2, in fp32 as HF.
    const torch::Tensor invFreq =
        1.0 / torch::pow(theta_, torch::arange(0, headDim_, 2, f32.dtype(torch::kInt64)).to(torch::kFloat32) / headDim_);
    const torch::Tensor freqs = torch::outer(torch::arange(length, f32), invFreq);  // [T,Dh/2]
    const torch::Tensor angles = torch::cat({freqs, freqs}, -1);                   // [T,Dh]
    cos_ = angles.cos().to(dtype);
    sin_ = angles.sin().to(dtype);
  }
  return {cos_.narrow(0, 0, t), sin_.narrow(0, 0, t)};
}

torch::Tensor applyRotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  // HF: x·cos + rotate_half(x)·sin with rotate_half([x1, x2]) = [−x2, x1]. The
  // sign moves onto the small [T,Dh] table ([−sin1, sin2]) and the sum into
  // one addcmul: three passes over x instead of five (no negated copy of x).
  const auto halves = x.chunk(2, -1);
  const auto sinHalves = sin.chunk(2, -1);
  const torch::Tensor swapped = torch::cat({halves[1], halves[0]}, -1);         // [x2, x1]
  const torch::Tensor signedSin = torch::cat({-sinHalves[0], sinHalves[1]}, -1);  // [−sin1, sin2]
  return torch::addcmul(x * cos, swapped, signedSin);
}

LlamaAttentionImpl::LlamaAttentionImpl(const ModelConfig& c)
    : heads_(c.num_attention_heads), kvHeads_(c.num_key_value_heads), headDim_(c.head_dim) {
  const bool qkvBias = modelFamily(c.model_type).qkvBias;
  using torch::nn::LinearOptions;
  q_proj = register_module("q_proj", torch::nn::Linear(LinearOptions(c.hidden_size, heads_ * headDim_).bias(qkvBias)));
  k_proj = register_module("k_proj", torch::nn::Linear(LinearOptions(c.hidden_size, kvHeads_ * headDim_).bias(qkvBias)));
  v_proj = register_module("v_proj", torch::nn::Linear(LinearOptions(c.hidden_size, kvHeads_ * headDim_).bias(qkvBias)));
  o_proj = register_module("o_proj", torch::nn::Linear(LinearOptions(heads_ * headDim_, c.hidden_size).bias(false)));
}

torch::Tensor LlamaAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const std::int64_t b = x.size(0), t = x.size(1);
  const torch::Tensor q = applyRotary(q_proj(x).view({b, t, heads_, headDim_}).transpose(1, 2), cos, sin);    // [B,H,T,Dh]
  const torch::Tensor k = applyRotary(k_proj(x).view({b, t, kvHeads_, headDim_}).transpose(1, 2), cos, sin);  // [B,Hkv,T,Dh]
  const torch::Tensor v = v_proj(x).view({b, t, kvHeads_, headDim_}).transpose(1, 2);                         // [B,Hkv,T,Dh]
  const torch::Tensor context = causalAttention(q, k, v);               // [B,H,T,Dh]
  return o_proj(context.transpose(1, 2).reshape({b, t, heads_ * headDim_}));    // [B,T,D]
}

GatedMlpImpl::GatedMlpImpl(const ModelConfig& c) : activation_(c.hidden_act) {
  using torch::nn::LinearOptions;
  gate_proj = register_module("gate_proj", torch::nn::Linear(LinearOptions(c.hidden_size, c.intermediate_size).bias(false)));
  up_proj = register_module("up_proj", torch::nn::Linear(LinearOptions(c.hidden_size, c.intermediate_size).bias(false)));
  down_proj = register_module("down_proj", torch::nn::Linear(LinearOptions(c.intermediate_size, c.hidden_size).bias(false)));
}

torch::Tensor GatedMlpImpl::forward(const torch::Tensor& x) {
  return down_proj(gatedActivation(gate_proj(x), up_proj(x), activation_));  // [B,T,F] → [B,T,D]
}

LlamaDecoderLayerImpl::LlamaDecoderLayerImpl(const ModelConfig& c) {
  const bool plusOne = modelFamily(c.model_type).normPlusOne;
  input_layernorm = register_module("input_layernorm", RmsNorm(c.hidden_size, c.norm_eps, plusOne));
  self_attn = register_module("self_attn", LlamaAttention(c));
  post_attention_layernorm = register_module("post_attention_layernorm", RmsNorm(c.hidden_size, c.norm_eps, plusOne));
  mlp = register_module("mlp", std::static_pointer_cast<FeedForwardImpl>(GatedMlp(c).ptr()));
}

torch::Tensor LlamaDecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos,
                                             const torch::Tensor& sin) {
  const torch::Tensor h = x + self_attn(input_layernorm(x), cos, sin);  // [B,T,D]
  return h + mlp->forward(post_attention_layernorm(h));                 // [B,T,D]
}

LlamaModelImpl::LlamaModelImpl(const ModelConfig& c)
    : scaleEmbeddings_(modelFamily(c.model_type).embeddingScale), hiddenSize_(c.hidden_size), rotary_(c.head_dim, c.rope_theta) {
  embed_tokens = register_module("embed_tokens", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  layers = register_module("layers", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) layers->push_back(LlamaDecoderLayer(c));
  norm = register_module("norm", RmsNorm(c.hidden_size, c.norm_eps, modelFamily(c.model_type).normPlusOne));
}

torch::Tensor LlamaModelImpl::forward(const torch::Tensor& inputIds) {
  torch::Tensor h = embed_tokens(inputIds);  // [B,T,D]
  // Gemma: the normaliser √D is rounded to the hidden dtype first, as HF does.
  if (scaleEmbeddings_) h = h * torch::scalar_tensor(std::sqrt(static_cast<double>(hiddenSize_)), h.options());
  const auto [cos, sin] = rotary_.table(inputIds.size(1), h.device(), h.scalar_type());  // [T,Dh]
  for (std::size_t i = 0; i < layers->size(); ++i) h = layer(static_cast<std::int64_t>(i)).forward(h, cos, sin);
  return norm(h);
}

LlamaForCausalLMImpl::LlamaForCausalLMImpl(const ModelConfig& c) : CausalLMImpl(c) {
  model = register_module("model", LlamaModel(c));
  if (!c.tie_word_embeddings)
    lm_head = register_module("lm_head", torch::nn::Linear(torch::nn::LinearOptions(c.hidden_size, c.vocab_size).bias(false)));
}

torch::Tensor LlamaForCausalLMImpl::hiddenStates(const torch::Tensor& inputIds) { return model(inputIds); }

torch::Tensor LlamaForCausalLMImpl::logits(const torch::Tensor& hidden) {
  return lm_head ? lm_head(hidden) : torch::linear(hidden, model->embed_tokens->weight);  // [B,T,V]
}

std::shared_ptr<FeedForwardImpl> LlamaForCausalLMImpl::mlp(std::int64_t layer) const {
  checkLayerIndex(layer);
  return model->layer(layer).mlp;
}

void LlamaForCausalLMImpl::setMlp(std::int64_t layer, std::shared_ptr<FeedForwardImpl> mlp) {
  checkLayerIndex(layer);
  model->layer(layer).setMlp(std::move(mlp));
}

}  // namespace dmoe
