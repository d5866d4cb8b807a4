// Decoder-only causal language models: the configuration (Hugging Face
// config.json names) and the module interface every family implements.
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

#include "torch_compat.h"
#include "util/json.h"

namespace dmoe {

struct ModelConfig {
  std::string model_type;  // "llama" | "qwen2" | "gemma" | "bloom"
  std::int64_t vocab_size = 0;
  std::int64_t hidden_size = 0;              // D
  std::int64_t num_hidden_layers = 0;        // L
  std::int64_t num_attention_heads = 0;      // H
  std::int64_t num_key_value_heads = 0;      // Hkv (BLOOM: = H)
  std::int64_t head_dim = 0;                 // Dh (default D / H; Gemma sets it)
  std::int64_t intermediate_size = 0;        // F (BLOOM: 4·D)
  std::int64_t max_position_embeddings = 0;  // context (BLOOM has none: ALiBi; we use seq_length or 2048)
                                             // (RoPE tables grow past it on demand, as HF's do)
  double rope_theta = 10000.0;
  double norm_eps = 1e-5;                    // rms_norm_eps / layer_norm_epsilon
  bool tie_word_embeddings = false;
  std::string hidden_act;                    // silu | gelu_pytorch_tanh | gelu
  std::int64_t bos_token_id = -1, eos_token_id = -1, pad_token_id = -1;
  Json raw = Json::object();                 // config.json as read: unknown keys survive a save

  // Reads config.json with the family's HF defaults; throws InputError naming
  // `source` and the key (missing, wrong type, out of range, unsupported feature).
  static ModelConfig fromHfJson(const Json& config, const std::string& source);
  // `raw` with the fields above written back under the family's HF names.
  Json toHfJson() const;
  // A copy with the derived defaults filled in (Hkv = H, Dh = D/H, BLOOM F = 4·D)
  // and every field checked; throws InputError naming `source` and the HF key.
  ModelConfig completed(const std::string& source) const;
};

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
