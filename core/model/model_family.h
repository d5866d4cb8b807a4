// Model families as data: one row per Hugging Face model_type — the
// implementation that runs it, its config.json keys and defaults, and the
// name of every tensor with its module kind (llama.cpp's tensor-name tables,
// mergekit's architecture files). The config reader, the model builders, the
// checkpoint loader, the deviation stage's module kinds and the name-set
// tests all read these rows; adding a family is one row (and, for a new
// network shape, one implementation): docs/extending.md.
//
// Registered parameter names equal the table's names (tests/test_model.cpp
// checks that), so loading and saving map name for name. Torch-free.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace dmoe {

// What a tensor belongs to. The deviation heatmap's kinds are Attention, Ffn
// (weights; SPEC 1.4's score) and Norm; MoE layers add Router and Expert.
enum class ModuleKind { Embedding, Attention, Ffn, FfnBias, Norm, Head, Router, Expert, Other };
// "embedding" | "attention" | "ffn" | "ffn_bias" | "norms" | "head" | "router" | "expert" | "other".
const char* moduleKindName(ModuleKind kind);

// One tensor of a family table. `N` in `name` stands for the layer index.
struct TensorInfo {
  enum class When { Always, Untied, QkvBias };  // Untied: only without tied embeddings; QkvBias: families with q/k/v biases
  const char* name;
  ModuleKind kind;
  When when = When::Always;
};

// The network a family runs on: the gated decoder (RMSNorm, RoPE, grouped
// query attention, SwiGLU/GeGLU: model/llama.h) or BLOOM's (LayerNorm, ALiBi,
// fused QKV, GELU MLP: model/bloom.h).
enum class Implementation { GatedDecoder, Bloom };

// Hugging Face mixture-of-experts families the workbench loads (model/hub_moe.h
// reads their config keys): none, Qwen2-MoE (shared expert, mlp_only_layers),
// Mixtral (every layer; block_sparse_moe names mapped to the DMoE's).
enum class HubMoe { None, Qwen2Moe, Mixtral };

// One family. Each field is set by name where the row is written
// (model_family.cpp); the defaults below are the gated decoder's (Llama's).
struct ModelFamily {
  std::string modelType;     // config.json "model_type"
  std::string architecture;  // config.json "architectures" entry written on save
  Implementation implementation = Implementation::GatedDecoder;
  // config.json keys that differ between families.
  std::string layersKey = "num_hidden_layers";  // BLOOM: n_layer
  std::string headsKey = "num_attention_heads";  // BLOOM: n_head
  std::string epsKey = "rms_norm_eps";          // BLOOM: layer_norm_epsilon
  std::string activationKey = "hidden_act";     // Gemma: hidden_activation; BLOOM: none (fixed)
  // HF config-class defaults for optional keys.
  std::int64_t maxPositions = 2048;
  double normEps = 1e-6;
  bool tiedEmbeddings = false;
  std::string activation = "silu";
  std::int64_t bosTokenId = 1, eosTokenId = 2, padTokenId = -1;  // -1: none
  double ropeTheta = 10000.0;           // rope_theta (Mixtral: 1e6)
  std::int64_t keyValueHeads = 0;       // num_key_value_heads when absent (0: the attention heads; Mixtral: 8)
  // Network variants of the gated decoder.
  bool qkvBias = false;          // q/k/v projections carry biases (Qwen2)
  bool embeddingScale = false;   // embeddings × √D (Gemma)
  bool normPlusOne = false;      // RMSNorm computes x̂ · (1 + w) (Gemma)
  bool headDimAlways = false;    // config.json always states head_dim (Gemma)
  HubMoe hubMoe = HubMoe::None;  // a Hugging Face MoE family on this decoder (qwen2_moe, mixtral)
  bool slidingWindowKey = false;  // config.json may switch on sliding-window attention (Qwen2: refused)
  const std::vector<TensorInfo>* tensors = nullptr;
  // Hub spellings → the table's names (BLOOM checkpoints without "transformer."); null: names are canonical.
  std::string (*canonicalName)(const std::string&) = nullptr;
};

// Every supported family, in the order messages list them.
const std::vector<ModelFamily>& modelFamilies();
// "llama, qwen2, gemma, bloom, qwen2_moe or mixtral": for error messages.
std::string supportedModelTypes();
// The row of `modelType`, or nullptr.
const ModelFamily* findModelFamily(const std::string& modelType);
// The row of `modelType`; InputError naming it and the supported ones otherwise.
const ModelFamily& modelFamily(const std::string& modelType);

// Every tensor name of a model: its family table with N expanded for layers
// 0..numLayers-1, entries whose condition does not hold left out. Names
// without N come once, in table order; per-layer names layer by layer.
// Throws InputError for an unknown model type.
std::vector<std::string> expandWeightNames(const std::string& modelType, std::int64_t numLayers,
                                           bool tiedEmbeddings);

// Module kind and layer (−1 for non-layer tensors) of a parameter name of
// `family`'s models, DMoE layers included: "…mlp.gate.weight" is the router,
// "…mlp.experts.<e>.<ffn tensor>" an expert. Names outside the table: Other.
struct ParameterModule {
  ModuleKind kind = ModuleKind::Other;
  std::int64_t layer = -1;
};
ParameterModule parameterModule(const ModelFamily& family, const std::string& name);

// Hub BLOOM checkpoints often omit the `transformer.` prefix: "h.3.mlp.dense_h_to_4h.weight"
// → "transformer.h.3.mlp.dense_h_to_4h.weight". Canonical names and lm_head pass unchanged.
std::string canonicalBloomName(const std::string& name);
// Mixtral's names as the DMoE's: "….block_sparse_moe.gate.weight" → "….mlp.gate.weight",
// "….block_sparse_moe.experts.E.w1|w3|w2.weight" → "….mlp.experts.E.gate_proj|up_proj|down_proj.weight".
std::string canonicalMixtralName(const std::string& name);

}  // namespace dmoe
