// ModelConfig: a decoder's shape and token ids under Hugging Face config.json
// names, read and written per family (model/model_family.h), checked, and
// counted (parameters from the shapes alone). Torch-free: the GUI, `inspect`
// and the fuzz targets read configs without LibTorch.
// Not here: the modules a config builds (model/causal_lm.h).
#pragma once
#include <cstdint>
#include <string>

#include "util/json.h"

namespace dmoe {

struct ModelConfig {
  std::string model_type;  // a family row's model_type (model/model_family.h)
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
  // Parameters of the dense model this (completed) config builds, counted from
  // the shapes without building it: to check memory before allocating.
  std::int64_t parameterCount() const;
  // Parameters of one layer's FFN (an expert's, in a mixture-of-experts layer).
  std::int64_t ffnParameterCount() const;
};

}  // namespace dmoe
