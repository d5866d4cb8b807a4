// BLOOM forward pass, following HF's modeling_bloom.py step by step.
#include "model/bloom.h"

#include <cmath>

#include "model/fused_ops.h"

namespace dmoe {

torch::Tensor alibiSlopes(std::int64_t heads) {
  // Same fp32 arithmetic as HF's build_alibi_tensor, so slopes match bit for bit.
  const auto closest = static_cast<std::int64_t>(std::pow(2.0, std::floor(std::log2(static_cast<double>(heads)))));
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  const auto i32 = torch::TensorOptions().dtype(torch::kInt32);
  const torch::Tensor base = torch::tensor(std::pow(2.0, -std::pow(2.0, -(std::log2(double(closest)) - 3))), f32);
  torch::Tensor slopes = torch::pow(base, torch::arange(1, 1 + closest, i32));
  if (closest != heads) {
    const torch::Tensor extraBase =
        torch::tensor(std::pow(2.0, -std::pow(2.0, -(std::log2(2.0 * double(closest)) - 3))), f32);
    const std::int64_t remaining = std::min(closest, heads - closest);
    slopes = torch::cat({slopes, torch::pow(extraBase, torch::arange(1, 1 + 2 * remaining, 2, i32))});
  }
  return slopes;
}

torch::Tensor alibiBias(const torch::Tensor& slopes, std::int64_t t, torch::Dtype dtype) {
  const torch::Tensor positions = torch::arange(t, slopes.options());         // [T]
  return (slopes.unsqueeze(1) * positions.unsqueeze(0)).to(dtype).view({1, -1, 1, t});  // [1,H,1,T]
}

BloomAttentionImpl::BloomAttentionImpl(const ModelConfig& c) : heads_(c.num_attention_heads), headDim_(c.head_dim) {
  query_key_value = register_module("query_key_value", torch::nn::Linear(c.hidden_size, 3 * c.hidden_size));
  dense = register_module("dense", torch::nn::Linear(c.hidden_size, c.hidden_size));
}

torch::Tensor BloomAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& alibi) {
  const std::int64_t b = x.size(0), t = x.size(1);
  // Rows of query_key_value are grouped per head: [q, k, v] of Dh each.
  const torch::Tensor fused = query_key_value(x).view({b, t, heads_, 3, headDim_});  // [B,T,H,3,Dh]
  const torch::Tensor q = fused.select(3, 0).transpose(1, 2);                          // [B,H,T,Dh]
  const torch::Tensor k = fused.select(3, 1).transpose(1, 2);
  const torch::Tensor v = fused.select(3, 2).transpose(1, 2);
  const torch::Tensor context = causalAttention(q, k, v, alibi);  // [B,H,T,Dh]
  return dense(context.transpose(1, 2).reshape({b, t, heads_ * headDim_}));  // [B,T,D]
}

BloomMlpImpl::BloomMlpImpl(const ModelConfig& c) {
  dense_h_to_4h = register_module("dense_h_to_4h", torch::nn::Linear(c.hidden_size, c.intermediate_size));
  dense_4h_to_h = register_module("dense_4h_to_h", torch::nn::Linear(c.intermediate_size, c.hidden_size));
}

torch::Tensor BloomMlpImpl::forward(const torch::Tensor& x) {
  return dense_4h_to_h(torch::gelu(dense_h_to_4h(x), "tanh"));  // [B,T,4D] inside
}

namespace {
torch::nn::LayerNorm layerNorm(const ModelConfig& c) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({c.hidden_size}).eps(c.norm_eps));
}
}  // namespace

BloomBlockImpl::BloomBlockImpl(const ModelConfig& c) {
  input_layernorm = register_module("input_layernorm", layerNorm(c));
  self_attention = register_module("self_attention", BloomAttention(c));
  post_attention_layernorm = register_module("post_attention_layernorm", layerNorm(c));
  mlp = register_module("mlp", std::static_pointer_cast<FeedForwardImpl>(BloomMlp(c).ptr()));
}

torch::Tensor BloomBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& alibi) {
  // The residual is the block input (apply_residual_connection_post_layernorm = false).
  const torch::Tensor attended = x + self_attention(input_layernorm(x), alibi);  // [B,T,D]
  return attended + mlp->forward(post_attention_layernorm(attended));            // [B,T,D]
}

BloomModelImpl::BloomModelImpl(const ModelConfig& c) : slopes_(alibiSlopes(c.num_attention_heads)) {
  word_embeddings = register_module("word_embeddings", torch::nn::Embedding(c.vocab_size, c.hidden_size));
  word_embeddings_layernorm = register_module("word_embeddings_layernorm", layerNorm(c));
  h = register_module("h", torch::nn::ModuleList());
  for (std::int64_t i = 0; i < c.num_hidden_layers; ++i) h->push_back(BloomBlock(c));
  ln_f = register_module("ln_f", layerNorm(c));
}

torch::Tensor BloomModelImpl::forward(const torch::Tensor& inputIds) {
  torch::Tensor hidden = word_embeddings_layernorm(word_embeddings(inputIds));  // [B,T,D]
  if (slopes_.device() != hidden.device()) slopes_ = slopes_.to(hidden.device());  // once per device, not per step
  const torch::Tensor alibi = alibiBias(slopes_, inputIds.size(1), hidden.scalar_type());  // [1,H,1,T]
  for (std::size_t i = 0; i < h->size(); ++i) hidden = block(static_cast<std::int64_t>(i)).forward(hidden, alibi);
  return ln_f(hidden);
}

BloomForCausalLMImpl::BloomForCausalLMImpl(const ModelConfig& c) : CausalLMImpl(c) {
  transformer = register_module("transformer", BloomModel(c));
}

torch::Tensor BloomForCausalLMImpl::hiddenStates(const torch::Tensor& inputIds) { return transformer(inputIds); }

torch::Tensor BloomForCausalLMImpl::logits(const torch::Tensor& hidden) {
  return torch::linear(hidden, transformer->word_embeddings->weight);  // [B,T,V]
}

std::shared_ptr<FeedForwardImpl> BloomForCausalLMImpl::mlp(std::int64_t layer) const {
  checkLayerIndex(layer);
  return transformer->block(layer).mlp;
}

void BloomForCausalLMImpl::setMlp(std::int64_t layer, std::shared_ptr<FeedForwardImpl> mlp) {
  checkLayerIndex(layer);
  transformer->block(layer).setMlp(std::move(mlp));
}

}  // namespace dmoe
