// The family rows (see model_family.h and FORMATS.md "Weight names").
#include "model/model_family.h"

#include <cctype>
#include <charconv>

#include "util/error.h"

namespace dmoe {

namespace {

using K = ModuleKind;
using W = TensorInfo::When;

// Llama, Qwen2, Gemma: the gated decoder's names.
const std::vector<TensorInfo>& gatedDecoderTensors() {
  static const std::vector<TensorInfo> table = {
      {"model.embed_tokens.weight", K::Embedding},
      {"model.layers.N.input_layernorm.weight", K::Norm},
      {"model.layers.N.self_attn.q_proj.weight", K::Attention},
      {"model.layers.N.self_attn.q_proj.bias", K::Attention, W::QkvBias},
      {"model.layers.N.self_attn.k_proj.weight", K::Attention},
      {"model.layers.N.self_attn.k_proj.bias", K::Attention, W::QkvBias},
      {"model.layers.N.self_attn.v_proj.weight", K::Attention},
      {"model.layers.N.self_attn.v_proj.bias", K::Attention, W::QkvBias},
      {"model.layers.N.self_attn.o_proj.weight", K::Attention},
      {"model.layers.N.post_attention_layernorm.weight", K::Norm},
      {"model.layers.N.mlp.gate_proj.weight", K::Ffn},
      {"model.layers.N.mlp.up_proj.weight", K::Ffn},
      {"model.layers.N.mlp.down_proj.weight", K::Ffn},
      {"model.norm.weight", K::Norm},
      {"lm_head.weight", K::Head, W::Untied},
  };
  return table;
}

// BLOOM, canonical `transformer.` names; lm_head is always tied.
const std::vector<TensorInfo>& bloomTensors() {
  static const std::vector<TensorInfo> table = {
      {"transformer.word_embeddings.weight", K::Embedding},
      {"transformer.word_embeddings_layernorm.weight", K::Norm},
      {"transformer.word_embeddings_layernorm.bias", K::Norm},
      {"transformer.h.N.input_layernorm.weight", K::Norm},
      {"transformer.h.N.input_layernorm.bias", K::Norm},
      {"transformer.h.N.self_attention.query_key_value.weight", K::Attention},
      {"transformer.h.N.self_attention.query_key_value.bias", K::Attention},
      {"transformer.h.N.self_attention.dense.weight", K::Attention},
      {"transformer.h.N.self_attention.dense.bias", K::Attention},
      {"transformer.h.N.post_attention_layernorm.weight", K::Norm},
      {"transformer.h.N.post_attention_layernorm.bias", K::Norm},
      {"transformer.h.N.mlp.dense_h_to_4h.weight", K::Ffn},
      {"transformer.h.N.mlp.dense_h_to_4h.bias", K::FfnBias},
      {"transformer.h.N.mlp.dense_4h_to_h.weight", K::Ffn},
      {"transformer.h.N.mlp.dense_4h_to_h.bias", K::FfnBias},
      {"transformer.ln_f.weight", K::Norm},
      {"transformer.ln_f.bias", K::Norm},
  };
  return table;
}

bool applies(const ModelFamily& family, const TensorInfo& entry, bool tiedEmbeddings) {
  switch (entry.when) {
    case W::Always: return true;
    case W::Untied: return !tiedEmbeddings;
    case W::QkvBias: return family.qkvBias;
  }
  return false;
}

bool perLayer(const std::string& name) { return name.find(".N.") != std::string::npos; }

// `name` with its first ".<digits>." replaced by ".N.", and the digits; layer −1 when there are none
// (digits beyond int64, as a damaged or hostile header may hold, are no layer index).
std::string layerTemplate(const std::string& name, std::int64_t& layer) {
  layer = -1;
  for (size_t dot = name.find('.'); dot != std::string::npos; dot = name.find('.', dot + 1)) {
    size_t end = dot + 1;
    while (end < name.size() && std::isdigit(static_cast<unsigned char>(name[end]))) ++end;
    if (end > dot + 1 && end < name.size() && name[end] == '.' &&
        std::from_chars(name.data() + dot + 1, name.data() + end, layer).ec == std::errc())
      return name.substr(0, dot) + ".N" + name.substr(end);
    layer = -1;
  }
  return name;
}

const TensorInfo* findTensor(const ModelFamily& family, const std::string& name) {
  for (const TensorInfo& entry : *family.tensors)
    if (name == entry.name) return &entry;
  return nullptr;
}

}  // namespace

const char* moduleKindName(ModuleKind kind) {
  switch (kind) {
    case K::Embedding: return "embedding";
    case K::Attention: return "attention";
    case K::Ffn: return "ffn";
    case K::FfnBias: return "ffn_bias";
    case K::Norm: return "norms";
    case K::Head: return "head";
    case K::Router: return "router";
    case K::Expert: return "expert";
    case K::Other: return "other";
  }
  return "other";
}

const std::vector<ModelFamily>& modelFamilies() {
  static const std::vector<ModelFamily> families = [] {
    ModelFamily llama;
    llama.modelType = "llama";
    llama.architecture = "LlamaForCausalLM";
    llama.tensors = &gatedDecoderTensors();

    ModelFamily qwen2 = llama;
    qwen2.modelType = "qwen2";
    qwen2.architecture = "Qwen2ForCausalLM";
    qwen2.maxPositions = 32768;
    qwen2.bosTokenId = qwen2.eosTokenId = -1;
    qwen2.qkvBias = true;
    qwen2.slidingWindowKey = true;

    ModelFamily gemma = llama;
    gemma.modelType = "gemma";
    gemma.architecture = "GemmaForCausalLM";
    gemma.maxPositions = 8192;
    gemma.tiedEmbeddings = true;
    // Gemma's MLP reads hidden_activation and falls back to the tanh GELU,
    // whatever hidden_act says (gemma-2b ships "hidden_act": "gelu").
    gemma.activationKey = "hidden_activation";
    gemma.activation = "gelu_pytorch_tanh";
    gemma.bosTokenId = 2;
    gemma.eosTokenId = 1;
    gemma.padTokenId = 0;
    gemma.embeddingScale = gemma.normPlusOne = gemma.headDimAlways = true;

    ModelFamily bloom;
    bloom.modelType = "bloom";
    bloom.architecture = "BloomForCausalLM";
    bloom.implementation = Implementation::Bloom;
    bloom.layersKey = "n_layer";
    bloom.headsKey = "n_head";
    bloom.epsKey = "layer_norm_epsilon";
    bloom.activationKey = "";
    bloom.normEps = 1e-5;
    bloom.tiedEmbeddings = true;
    bloom.activation = "gelu_pytorch_tanh";
    bloom.padTokenId = 3;
    bloom.tensors = &bloomTensors();
    bloom.canonicalName = canonicalBloomName;

    // Hugging Face MoE families: their dense parts are Qwen2's and Llama's rows.
    ModelFamily qwen2Moe = qwen2;
    qwen2Moe.modelType = "qwen2_moe";
    qwen2Moe.architecture = "Qwen2MoeForCausalLM";
    qwen2Moe.hubMoe = HubMoe::Qwen2Moe;

    ModelFamily mixtral = llama;
    mixtral.modelType = "mixtral";
    mixtral.architecture = "MixtralForCausalLM";
    mixtral.maxPositions = 4096 * 32;
    mixtral.ropeTheta = 1e6;
    mixtral.keyValueHeads = 8;
    mixtral.hubMoe = HubMoe::Mixtral;
    mixtral.canonicalName = canonicalMixtralName;

    return std::vector<ModelFamily>{llama, qwen2, gemma, bloom, qwen2Moe, mixtral};
  }();
  return families;
}

std::string supportedModelTypes() {
  const auto& families = modelFamilies();
  std::string out;
  for (size_t i = 0; i < families.size(); ++i)
    out += std::string(i == 0 ? "" : i + 1 == families.size() ? " or " : ", ") + families[i].modelType;
  return out;
}

const ModelFamily* findModelFamily(const std::string& modelType) {
  for (const ModelFamily& f : modelFamilies())
    if (modelType == f.modelType) return &f;
  return nullptr;
}

const ModelFamily& modelFamily(const std::string& modelType) {
  if (const ModelFamily* f = findModelFamily(modelType)) return *f;
  throw InputError("model_type \"" + modelType + "\" is not supported (expected " + supportedModelTypes() + ")");
}

std::vector<std::string> expandWeightNames(const std::string& modelType, std::int64_t numLayers, bool tiedEmbeddings) {
  const ModelFamily& family = modelFamily(modelType);
  std::vector<std::string> globalsBefore, globalsAfter, layerNames;
  bool seenLayer = false;
  for (const TensorInfo& entry : *family.tensors) {
    if (!applies(family, entry, tiedEmbeddings)) continue;
    if (perLayer(entry.name)) {
      seenLayer = true;
      continue;
    }
    (seenLayer ? globalsAfter : globalsBefore).push_back(entry.name);
  }
  std::vector<std::string> names = globalsBefore;
  for (std::int64_t layer = 0; layer < numLayers; ++layer) {
    for (const TensorInfo& entry : *family.tensors) {
      const std::string name = entry.name;
      if (!applies(family, entry, tiedEmbeddings) || !perLayer(name)) continue;
      const auto at = name.find(".N.");
      names.push_back(name.substr(0, at) + "." + std::to_string(layer) + "." + name.substr(at + 3));
    }
  }
  names.insert(names.end(), globalsAfter.begin(), globalsAfter.end());
  return names;
}

ParameterModule parameterModule(const ModelFamily& family, const std::string& name) {
  ParameterModule m;
  const std::string canonical = family.canonicalName ? family.canonicalName(name) : name;
  std::string pattern = layerTemplate(canonical, m.layer);
  if (const TensorInfo* entry = findTensor(family, pattern)) {
    m.kind = entry->kind;
    return m;
  }
  // DMoE layers: the router and the experts (copies of the family's FFN); Qwen2-MoE's shared expert and its gate.
  const std::string gate = ".mlp.gate.weight", experts = ".mlp.experts.", sharedGate = ".mlp.shared_expert_gate.weight";
  for (const std::string* router : {&gate, &sharedGate})
    if (pattern.size() > router->size() && pattern.compare(pattern.size() - router->size(), router->size(), *router) == 0) {
      m.kind = K::Router;
      return m;
    }
  const size_t shared = pattern.find(".mlp.shared_expert.");
  if (shared != std::string::npos && findTensor(family, pattern.substr(0, shared) + ".mlp." + pattern.substr(shared + 19))) {
    m.kind = K::Expert;
    return m;
  }
  const size_t at = pattern.find(experts);
  if (at != std::string::npos) {
    const size_t index = at + experts.size(), dot = pattern.find('.', index);
    if (dot != std::string::npos && dot > index &&
        pattern.find_first_not_of("0123456789", index) == dot) {  // experts.<e>.<the FFN's tensor>
      const TensorInfo* ffn = findTensor(family, pattern.substr(0, at) + ".mlp." + pattern.substr(dot + 1));
      if (ffn && (ffn->kind == K::Ffn || ffn->kind == K::FfnBias)) {
        m.kind = K::Expert;
        return m;
      }
    }
  }
  m.kind = K::Other;
  return m;
}

std::string canonicalMixtralName(const std::string& name) {
  static const std::string moe = ".block_sparse_moe.";
  const size_t at = name.find(moe);
  if (at == std::string::npos) return name;
  std::string out = name.substr(0, at) + ".mlp." + name.substr(at + moe.size());
  for (const auto& [from, to] : {std::pair<const char*, const char*>{".w1.", ".gate_proj."}, {".w3.", ".up_proj."}, {".w2.", ".down_proj."}}) {
    const size_t w = out.find(from);
    if (w != std::string::npos && out.find(".experts.") != std::string::npos) return out.replace(w, 4, to);
  }
  return out;
}

std::string canonicalBloomName(const std::string& name) {
  static const std::string prefix = "transformer.";
  if (name.rfind(prefix, 0) == 0 || name.rfind("lm_head.", 0) == 0) return name;
  return prefix + name;
}

}  // namespace dmoe
