// ModelConfig ⇄ Hugging Face config.json (see the header).
// Defaults are the HF config classes' own where a key is optional; the sizes
// that define the network are required, so a truncated file fails by name.
#include "model/model_config.h"

#include <cmath>
#include <limits>
#include <map>
#include <stdexcept>
#include <utility>

#include "model/model_family.h"
#include "util/error.h"

namespace dmoe {

namespace {

// Typed access to one config.json object, every error naming the source and
// the key (with its parent's, "rope_parameters.rope_theta", in a nested object).
class ConfigReader {
 public:
  ConfigReader(const Json& json, const std::string& source, std::string prefix = "")
      : json_(json), source_(source), prefix_(std::move(prefix)) {}

  [[noreturn]] void fail(const std::string& key, const std::string& message) const {
    throw InputError(source_ + ": \"" + prefix_ + key + "\": " + message);
  }
  // The object under key, read with this reader's conventions.
  ConfigReader object(const std::string& key) const {
    if (!json_.at(key).is_object()) fail(key, "expected an object, got " + json_.at(key).dump());
    return ConfigReader(json_.at(key), source_, prefix_ + key + ".");
  }
  bool has(const std::string& key) const { return json_.contains(key) && !json_.at(key).is_null(); }

  std::int64_t requiredInt(const std::string& key) const {
    if (!has(key)) fail(key, "missing (required: a positive integer)");
    return integer(key);
  }
  std::int64_t optionalInt(const std::string& key, std::int64_t fallback) const {
    return has(key) ? integer(key) : fallback;
  }
  double optionalNumber(const std::string& key, double fallback) const {
    if (!has(key)) return fallback;
    if (!json_.at(key).is_number()) fail(key, "expected a number, got " + json_.at(key).dump());
    return json_.at(key).get<double>();
  }
  bool optionalBool(const std::string& key, bool fallback) const {
    if (!has(key)) return fallback;
    if (!json_.at(key).is_boolean()) fail(key, "expected true or false, got " + json_.at(key).dump());
    return json_.at(key).get<bool>();
  }
  std::string optionalString(const std::string& key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    if (!json_.at(key).is_string()) fail(key, "expected a string, got " + json_.at(key).dump());
    return json_.at(key).get<std::string>();
  }
  // A special-token id: an integer, null (none: -1) or a list (Llama-3 eos: the first).
  std::int64_t tokenId(const std::string& key, std::int64_t fallback) const {
    if (!json_.contains(key)) return fallback;
    const Json& v = json_.at(key);
    if (v.is_null()) return -1;
    if (v.is_array() && !v.empty() && v.front().is_number_integer()) return v.front().get<std::int64_t>();
    if (!v.is_number_integer()) fail(key, "expected a token id (integer, list of integers or null), got " + v.dump());
    return v.get<std::int64_t>();
  }
  // Features we do not implement must not be silently ignored.
  void rejectIf(bool present, const std::string& key, const std::string& what) const {
    if (present) fail(key, what + " is not supported");
  }

 private:
  std::int64_t integer(const std::string& key) const {
    if (!json_.at(key).is_number_integer()) fail(key, "expected an integer, got " + json_.at(key).dump());
    return json_.at(key).get<std::int64_t>();
  }
  const Json& json_;
  const std::string& source_;
  std::string prefix_;
};

}  // namespace

ModelConfig ModelConfig::fromHfJson(const Json& config, const std::string& source) {
  if (!config.is_object()) throw InputError(source + ": expected a JSON object (config.json)");
  const ConfigReader in(config, source);
  ModelConfig c;
  c.raw = config;
  if (!in.has("model_type")) in.fail("model_type", "missing (required: " + supportedModelTypes() + ")");
  c.model_type = in.optionalString("model_type", "");
  const ModelFamily* family = findModelFamily(c.model_type);
  if (!family) in.fail("model_type", "\"" + c.model_type + "\" is not supported (expected " + supportedModelTypes() + ")");
  const ModelFamily& f = *family;
  c.vocab_size = in.requiredInt("vocab_size");
  c.tie_word_embeddings = in.optionalBool("tie_word_embeddings", f.tiedEmbeddings);
  c.norm_eps = in.optionalNumber(f.epsKey, f.normEps);
  c.bos_token_id = in.tokenId("bos_token_id", f.bosTokenId);
  c.eos_token_id = in.tokenId("eos_token_id", f.eosTokenId);
  c.pad_token_id = in.tokenId("pad_token_id", f.padTokenId);

  if (f.implementation == Implementation::Bloom) {
    // BloomConfig accepts n_embed for hidden_size and maps n_layer/n_head.
    c.hidden_size = in.has("n_embed") ? in.requiredInt("n_embed") : in.requiredInt("hidden_size");
    c.num_hidden_layers = in.has("num_hidden_layers") ? in.requiredInt("num_hidden_layers") : in.requiredInt("n_layer");
    c.num_attention_heads =
        in.has("num_attention_heads") ? in.requiredInt("num_attention_heads") : in.requiredInt("n_head");
    c.max_position_embeddings = in.optionalInt("seq_length", f.maxPositions);
    c.hidden_act = f.activation;
    in.rejectIf(in.optionalBool("apply_residual_connection_post_layernorm", false),
                "apply_residual_connection_post_layernorm", "a residual taken after the layer norm");
  } else {
    c.hidden_size = in.requiredInt("hidden_size");
    c.num_hidden_layers = in.requiredInt("num_hidden_layers");
    c.num_attention_heads = in.requiredInt("num_attention_heads");
    c.num_key_value_heads = in.optionalInt("num_key_value_heads", f.keyValueHeads);
    c.head_dim = in.optionalInt("head_dim", 0);
    c.intermediate_size = in.requiredInt("intermediate_size");
    c.max_position_embeddings = in.optionalInt("max_position_embeddings", f.maxPositions);
    c.rope_theta = in.optionalNumber("rope_theta", f.ropeTheta);
    if (in.has("rope_parameters")) {  // transformers ≥ 5: {"rope_type": "default", "rope_theta": θ}
      const ConfigReader rope = in.object("rope_parameters");
      const std::string type = rope.optionalString("rope_type", "default");
      rope.rejectIf(type != "default", "rope_type", "RoPE of type \"" + type + "\" (scaling)");
      // Required here: a file with θ per layer type (nested objects) must not fall back silently.
      if (!rope.has("rope_theta")) rope.fail("rope_theta", "missing (required in rope_parameters: a number)");
      c.rope_theta = rope.optionalNumber("rope_theta", c.rope_theta);
    }
    c.hidden_act = in.optionalString(f.activationKey, f.activation);
    in.rejectIf(in.has("rope_scaling"), "rope_scaling", "RoPE scaling");
    in.rejectIf(!f.qkvBias && in.optionalBool("attention_bias", false), "attention_bias", "attention with biases");
    in.rejectIf(in.optionalBool("mlp_bias", false), "mlp_bias", "an MLP with biases");
    in.rejectIf(f.slidingWindowKey && in.optionalBool("use_sliding_window", false), "use_sliding_window",
                "sliding-window attention");
  }
  return c.completed(source);
}

ModelConfig ModelConfig::completed(const std::string& source) const {
  ModelConfig c = *this;
  const ModelFamily* family = findModelFamily(c.model_type);
  if (!family)
    throw InputError(source + ": \"model_type\": \"" + c.model_type + "\" is not supported (expected " +
                     supportedModelTypes() + ")");
  const ModelFamily& f = *family;
  const bool bloom = f.implementation == Implementation::Bloom;
  auto fail = [&](const std::string& key, const std::string& message) {
    throw InputError(source + ": \"" + key + "\": " + message);
  };
  auto positive = [&](std::int64_t value, const std::string& key) {
    if (value <= 0) fail(key, "must be a positive integer, got " + std::to_string(value));
  };
  positive(c.vocab_size, "vocab_size");
  positive(c.hidden_size, "hidden_size");
  positive(c.num_hidden_layers, f.layersKey);
  positive(c.num_attention_heads, f.headsKey);
  if (c.num_key_value_heads == 0) c.num_key_value_heads = c.num_attention_heads;
  if (c.head_dim == 0 && c.hidden_size % c.num_attention_heads == 0) c.head_dim = c.hidden_size / c.num_attention_heads;
  if (bloom) {
    if (c.hidden_size % c.num_attention_heads != 0)
      fail("hidden_size", std::to_string(c.hidden_size) + " is not a multiple of n_head = " +
                              std::to_string(c.num_attention_heads));
    if (c.num_key_value_heads != c.num_attention_heads || c.head_dim != c.hidden_size / c.num_attention_heads)
      fail("n_head", "BLOOM has one key/value head per query head and head_dim = hidden_size / n_head");
    if (c.intermediate_size == 0) c.intermediate_size = 4 * c.hidden_size;
    if (c.intermediate_size != 4 * c.hidden_size) fail("hidden_size", "BLOOM's MLP width is 4 · hidden_size");
    if (!c.tie_word_embeddings) fail("tie_word_embeddings", "BLOOM's lm_head is always the word embedding matrix");
  } else {
    if (c.head_dim == 0)
      fail("head_dim", "missing, and hidden_size " + std::to_string(c.hidden_size) +
                           " is not a multiple of num_attention_heads " + std::to_string(c.num_attention_heads));
    positive(c.head_dim, "head_dim");
    if (c.head_dim % 2 != 0) fail("head_dim", "RoPE needs an even head_dim, got " + std::to_string(c.head_dim));
    positive(c.num_key_value_heads, "num_key_value_heads");
    if (c.num_attention_heads % c.num_key_value_heads != 0)
      fail("num_key_value_heads", std::to_string(c.num_key_value_heads) + " does not divide num_attention_heads = " +
                                      std::to_string(c.num_attention_heads));
    positive(c.intermediate_size, "intermediate_size");
    if (!(c.rope_theta > 0)) fail("rope_theta", "must be positive");
    if (c.hidden_act != "silu" && c.hidden_act != "gelu" && c.hidden_act != "gelu_pytorch_tanh" &&
        c.hidden_act != "gelu_new")
      fail(f.activationKey,
           "\"" + c.hidden_act + "\" is not supported (expected silu, gelu, gelu_pytorch_tanh or gelu_new)");
  }
  positive(c.max_position_embeddings, bloom ? "seq_length" : "max_position_embeddings");
  if (!(c.norm_eps > 0)) fail(f.epsKey, "must be positive");
  return c;
}

Json ModelConfig::toHfJson() const {
  Json j = raw.is_object() ? raw : Json::object();
  const ModelFamily& f = modelFamily(model_type);
  const bool bloom = f.implementation == Implementation::Bloom;
  j["model_type"] = model_type;
  if (!j.contains("architectures")) j["architectures"] = Json::array({f.architecture});
  j["vocab_size"] = vocab_size;
  j[bloom && j.contains("n_embed") ? "n_embed" : "hidden_size"] = hidden_size;
  j[f.layersKey] = num_hidden_layers;
  j[f.headsKey] = num_attention_heads;
  j[f.epsKey] = norm_eps;
  if (bloom) {
    if (j.contains("seq_length") || max_position_embeddings != 2048) j["seq_length"] = max_position_embeddings;
  } else {
    j["num_key_value_heads"] = num_key_value_heads;
    if (f.headDimAlways || j.contains("head_dim") || head_dim * num_attention_heads != hidden_size)
      j["head_dim"] = head_dim;
    j["intermediate_size"] = intermediate_size;
    j["max_position_embeddings"] = max_position_embeddings;
    j["rope_theta"] = rope_theta;
    j[f.activationKey] = hidden_act;
    j["tie_word_embeddings"] = tie_word_embeddings;
  }
  auto writeToken = [&](const char* key, std::int64_t id) {
    if (j.contains(key) && j[key].is_array()) return;  // a list (Llama-3 eos) is kept as read
    if (id >= 0) j[key] = id;
    else if (j.contains(key)) j[key] = nullptr;
  };
  writeToken("bos_token_id", bos_token_id);
  writeToken("eos_token_id", eos_token_id);
  writeToken("pad_token_id", pad_token_id);
  return j;
}

std::int64_t ModelConfig::ffnParameterCount() const {
  const std::int64_t D = hidden_size, F = intermediate_size;
  // BLOOM: two Linear maps with biases; the gated decoder: gate, up and down without.
  return modelFamily(model_type).implementation == Implementation::Bloom ? D * F + F + F * D + D : 3 * D * F;
}

std::int64_t ModelConfig::parameterCount() const {
  // In double: exact below 2^53, and a config of absurd size saturates instead of overflowing.
  const ModelFamily& f = modelFamily(model_type);
  const double D = hidden_size, F = intermediate_size, V = vocab_size, L = num_hidden_layers;
  double count;
  if (f.implementation == Implementation::Bloom) {
    // LayerNorms carry weight and bias; every Linear a bias; lm_head is the embedding.
    const double layer = 2 * 2 * D + (D * 3 * D + 3 * D) + (D * D + D) + (D * F + F) + (F * D + D);
    count = V * D + 2 * D + L * layer + 2 * D;
  } else {
    const double q = double(num_attention_heads) * head_dim, kv = double(num_key_value_heads) * head_dim;
    const double attention = D * q + 2 * D * kv + q * D + (f.qkvBias ? q + 2 * kv : 0);
    count = V * D + L * (attention + 3 * D * F + 2 * D) + D + (tie_word_embeddings ? 0 : V * D);
  }
  return count >= 9.2e18 ? std::numeric_limits<std::int64_t>::max() : static_cast<std::int64_t>(count);
}

}  // namespace dmoe
