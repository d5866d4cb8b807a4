// Hugging Face mixture-of-experts checkpoints (FORMATS.md): Qwen2-MoE and
// Mixtral, read into the workbench's MoE layers (model/moe_feed_forward.h) so
// `inspect`, `eval-ppl` and `routing` take them like a DMoE.
//
//   qwen2_moe — layer l is sparse when l ∉ mlp_only_layers and (l + 1) is a
//     multiple of decoder_sparse_step; num_experts experts of
//     moe_intermediate_size, top num_experts_per_tok, renormalised only with
//     norm_topk_prob; a shared expert of shared_expert_intermediate_size with
//     its sigmoid gate. Dense layers keep intermediate_size. (HF defaults for
//     absent keys: 60 experts, top 4, 1408, 5632, step 1, no renormalisation.)
//   mixtral — every layer sparse: num_local_experts experts of
//     intermediate_size, top num_experts_per_tok, renormalised; tensor names
//     mapped by the family row (block_sparse_moe.experts.E.w1 → mlp.experts.E.gate_proj, …).
//
// Routing is the DMoE's soft routing: fp32 softmax over all experts, top-k.
// Not here: the export to Qwen2-MoE (model/moe_export.h).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/causal_lm.h"

namespace dmoe {

struct HubMoeLayout {
  std::vector<std::int64_t> layers;  // sparse layers, ascending
  std::int64_t experts = 0, topK = 0;
  std::int64_t expertWidth = 0;      // each expert's intermediate size
  std::int64_t sharedWidth = 0;      // the shared expert's (0: none)
  bool normalizeTopK = true;
};

// The layout of a qwen2_moe or mixtral config (none for other families).
// InputError naming `source` and the key for a value out of range (a top-k
// below 1 or above the expert count: never clamped) or a feature the
// workbench does not run (Mixtral's sliding window). The counts are not yet
// checked against the weights: load_model.h does that before building.
std::optional<HubMoeLayout> readHubMoeLayout(const ModelConfig& config, const std::string& source);

// Turns the dense model built from such a config into the checkpoint's
// mixture: each sparse layer's FFN is replaced by experts (and the shared
// expert) of the layout's widths, to be filled by loading the checkpoint.
void buildHubMoe(CausalLMImpl& model, const HubMoeLayout& layout);

}  // namespace dmoe
