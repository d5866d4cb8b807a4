// The export of a DMoE model to a Hugging Face Qwen2-MoE checkpoint
// (FORMATS.md), which transformers and other tools load:
//   config.json — the base's shape under model_type "qwen2_moe": num_experts
//     E, num_experts_per_tok k, moe_intermediate_size = the expert width,
//     mlp_only_layers = the dense layers, decoder_sparse_step 1,
//     norm_topk_prob true (the DMoE renormalises its top-k), the mandatory
//     shared expert at the smallest width (1) with all-zero weights and gate,
//     so its output is exactly 0; no sliding window.
//   tensors — the DMoE's own names (they are Qwen2-MoE's per-expert names:
//     mlp.gate.weight, mlp.experts.E.{gate,up,down}_proj.weight), plus zero
//     q/k/v biases for a Llama base and the shared expert's tensors; `format:
//     pt` metadata; shards with an index above the size limit; the tokenizer
//     files copied.
// Refused with a named reason (InputError): a BLOOM or Gemma base (their
// norms, activations or attention differ from Qwen2's), a LayerMoE model
// (different expert counts per layer, a language classifier), a head_dim
// other than hidden_size / heads, RoPE scaling.
// Not here: loading Qwen2-MoE (model/hub_moe.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>

namespace dmoe {

struct MoeExportReport {
  std::int64_t tensors = 0, addedTensors = 0;  // written; of which zero-filled additions (biases, shared expert)
  std::int64_t moeLayers = 0, experts = 0;
  std::optional<std::filesystem::path> setAside;  // with `force`: where the folder dmoe had not written now is
};

// Reads the DMoE at `modelDir`, writes the Qwen2-MoE checkpoint into `outDir`.
// `outDir` is replaced whole and atomically (checkpoint/hf_checkpoint.h
// saveCheckpoint): it must be absent, empty or an earlier export of dmoe's
// (.dmoe-made of kind "export"); any other folder is refused before any work,
// or with `force` kept whole under a new name (MoeExportReport::setAside).
// `outDir` must neither be nor contain `modelDir`.
MoeExportReport exportQwen2Moe(const std::filesystem::path& modelDir, const std::filesystem::path& outDir,
                               std::uint64_t maxShardBytes = 5'000'000'000, bool force = false);

}  // namespace dmoe
