// A DMoE model = a dense causal LM whose FFNs in some layers are mixture-of-
// experts layers (model/moe_feed_forward.h), one expert per language group.
//
// A LayerMoE model (SPEC §2.3) is the same with a different expert count per
// MoE layer, its expert 0 the frozen original FFN and no languages per expert.
//
// On disk it is a Hugging Face checkpoint folder of the base family whose
// config.json carries one extra object, "dmoe":
//   {"moe_layers": [0, 5, 6, 7],          // ascending layer indices
//    "num_experts": 6, "num_experts_per_tok": 2, "router_init_std": 0.02,
//    "experts": [["fra", "ind", "vie"], …]} // expert e → the language ids it serves
// and for LayerMoE instead of "experts":
//    "experts_per_layer": [5, 3, 2, 4],    // N_i of each MoE layer (num_experts = the largest)
//    "router_init": "xavier_normal", "original_expert": 0,
//    "classifier_layers": [5, 6], "classes": 2  // optional: MoE layers with a language classifier
//    "generations": [["eng", "spa"], ["ell", "hun"]],  // the languages of each generation (0 = the base's)
//    "expert_generations": [[0, 1, 1, 1, 1], …]       // per MoE layer, the generation of each expert
// (a lifelong second expansion appends a generation and experts of it).
// and whose MoE layers store Qwen3-MoE tensor names (mlp.gate.weight,
// mlp.experts.<e>.<FFN names>), see docs/dmoe-checkpoint.md. loadCausalLM
// (model/load_model.h) reads such folders, so every command that takes a model
// (inspect, eval-ppl, train, adapt) takes a DMoE model too.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/moe_feed_forward.h"
#include "model/moe_layout.h"

namespace dmoe {

// Sparse upcycling: each layout layer's FFN becomes an MoE layer whose
// expertsIn(i) experts are copies of it, with a fresh router (N(0,
// routerInitStd) or xavier-normal) drawn from torch's current generator. Returns the routing object all those layers share.
// Throws InputError for a layer index outside the model or a layer already MoE.
std::shared_ptr<Routing> upcycle(CausalLMImpl& model, const MoeLayout& layout);

// LayerMoE expansion (SPEC 2.3) with experts[l] = N_l per layer of the model
// (1 = no new expert there): every layer with N_l ≥ 2 gains N_l − 1 copies of
// its original FFN (the dense FFN, or expert 0 of an MoE layer) as experts of
// the next generation, and router rows drawn xavier-normal from torch's
// current generator (a dense layer's whole router, as upcycle draws it).
// `previous` is the model's layout (none for a dense model: generation 0 is
// `oldLanguages`); the next generation serves `newLanguages`. Returns the
// expanded model's layout. InputError: a DMoE (group-expert) model, a layer
// count that differs, a top-k other than the model's.
MoeLayout expandLayerWise(CausalLMImpl& model, const std::optional<MoeLayout>& previous,
                          const std::vector<std::int64_t>& experts, std::int64_t topK,
                          const std::vector<std::string>& oldLanguages, const std::vector<std::string>& newLanguages);

// Tensor names of MoE layers: "model.layers.3.mlp.experts.7.up_proj.weight" → 7,
// −1 for a tensor of no expert; whether a name is a router ("….mlp.gate.weight").
std::int64_t expertOfTensorName(const std::string& name);
bool isRouterTensorName(const std::string& name);
bool isClassifierTensorName(const std::string& name);  // "….mlp.classifier.weight"

// The model's MoE layers in layer order (empty for a dense model).
std::vector<std::shared_ptr<MoeFeedForwardImpl>> moeLayers(const CausalLMImpl& model);
// The routing shared by the model's MoE layers; throws InputError for a dense model.
std::shared_ptr<Routing> routingOf(const CausalLMImpl& model);

}  // namespace dmoe
