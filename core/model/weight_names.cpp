// Family name tables (see weight_names.h and FORMATS.md "Weight names").
#include "model/weight_names.h"

#include "util/error.h"

namespace dmoe {

namespace {
using W = WeightNameTemplate::When;
}  // namespace

const std::vector<WeightNameTemplate>& llamaWeightNames() {
  static const std::vector<WeightNameTemplate> table = {
      {"model.embed_tokens.weight"},
      {"model.layers.N.input_layernorm.weight"},
      {"model.layers.N.self_attn.q_proj.weight"},
      {"model.layers.N.self_attn.q_proj.bias", W::QkvBias},
      {"model.layers.N.self_attn.k_proj.weight"},
      {"model.layers.N.self_attn.k_proj.bias", W::QkvBias},
      {"model.layers.N.self_attn.v_proj.weight"},
      {"model.layers.N.self_attn.v_proj.bias", W::QkvBias},
      {"model.layers.N.self_attn.o_proj.weight"},
      {"model.layers.N.post_attention_layernorm.weight"},
      {"model.layers.N.mlp.gate_proj.weight"},
      {"model.layers.N.mlp.up_proj.weight"},
      {"model.layers.N.mlp.down_proj.weight"},
      {"model.norm.weight"},
      {"lm_head.weight", W::Untied},
  };
  return table;
}

const std::vector<WeightNameTemplate>& bloomWeightNames() {
  static const std::vector<WeightNameTemplate> table = {
      {"transformer.word_embeddings.weight"},
      {"transformer.word_embeddings_layernorm.weight"},
      {"transformer.word_embeddings_layernorm.bias"},
      {"transformer.h.N.input_layernorm.weight"},
      {"transformer.h.N.input_layernorm.bias"},
      {"transformer.h.N.self_attention.query_key_value.weight"},
      {"transformer.h.N.self_attention.query_key_value.bias"},
      {"transformer.h.N.self_attention.dense.weight"},
      {"transformer.h.N.self_attention.dense.bias"},
      {"transformer.h.N.post_attention_layernorm.weight"},
      {"transformer.h.N.post_attention_layernorm.bias"},
      {"transformer.h.N.mlp.dense_h_to_4h.weight"},
      {"transformer.h.N.mlp.dense_h_to_4h.bias"},
      {"transformer.h.N.mlp.dense_4h_to_h.weight"},
      {"transformer.h.N.mlp.dense_4h_to_h.bias"},
      {"transformer.ln_f.weight"},
      {"transformer.ln_f.bias"},
  };
  return table;
}

std::vector<std::string> expandWeightNames(const std::string& modelType, std::int64_t numLayers,
                                           bool tiedEmbeddings) {
  const bool llamaFamily = modelType == "llama" || modelType == "qwen2" || modelType == "gemma";
  if (!llamaFamily && modelType != "bloom")
    throw InputError("model_type \"" + modelType + "\" has no weight-name table (expected llama, qwen2, gemma or bloom)");
  const auto& table = llamaFamily ? llamaWeightNames() : bloomWeightNames();
  auto applies = [&](const WeightNameTemplate& entry) {
    switch (entry.when) {
      case W::Always: return true;
      case W::Untied: return !tiedEmbeddings;
      case W::QkvBias: return modelType == "qwen2";
    }
    return false;
  };
  auto perLayer = [](const std::string& name) { return name.find(".N.") != std::string::npos; };

  std::vector<std::string> globalsBefore, globalsAfter, layerNames;
  bool seenLayer = false;
  for (const auto& entry : table) {
    if (!applies(entry)) continue;
    const std::string name = entry.name;
    if (perLayer(name)) {
      seenLayer = true;
      continue;
    }
    (seenLayer ? globalsAfter : globalsBefore).push_back(name);
  }
  std::vector<std::string> names = globalsBefore;
  for (std::int64_t layer = 0; layer < numLayers; ++layer) {
    for (const auto& entry : table) {
      const std::string name = entry.name;
      if (!applies(entry) || !perLayer(name)) continue;
      const auto at = name.find(".N.");
      names.push_back(name.substr(0, at) + "." + std::to_string(layer) + "." + name.substr(at + 3));
    }
  }
  names.insert(names.end(), globalsAfter.begin(), globalsAfter.end());
  return names;
}

std::string canonicalBloomName(const std::string& name) {
  static const std::string prefix = "transformer.";
  if (name.rfind(prefix, 0) == 0 || name.rfind("lm_head.", 0) == 0) return name;
  return prefix + name;
}

}  // namespace dmoe
