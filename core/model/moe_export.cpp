#include "model/moe_export.h"

#include <set>

#include "checkpoint/hf_checkpoint.h"
#include "model/load_model.h"
#include "model/model_family.h"
#include "model/moe_layout.h"
#include "util/error.h"
#include "util/owned_paths.h"

namespace dmoe {

namespace fs = std::filesystem;

namespace {

// What Qwen2-MoE cannot express exactly, as a sentence; empty when the model exports.
std::string refusal(const ModelConfig& config, const std::optional<MoeLayout>& layout) {
  const ModelFamily& family = modelFamily(config.model_type);
  // Qwen2's decoder: the gated decoder without Gemma's embedding scale or (1 + w) norms.
  if (family.implementation != Implementation::GatedDecoder || family.embeddingScale || family.normPlusOne ||
      family.hubMoe != HubMoe::None)
    return "a " + config.model_type + " base cannot be written as Qwen2-MoE exactly (its norms, embeddings or "
           "attention differ from Qwen2's); Llama- and Qwen2-family DMoE models export";
  if (!layout) return "it is not a DMoE model (config.json has no \"dmoe\" layout)";
  if (!layout->classifierLayers.empty())
    return "its LayerMoE language classifiers (layers with a classifier) have no Qwen2-MoE counterpart";
  for (size_t i = 0; i < layout->layers.size(); ++i)
    if (layout->expertsIn(i) != layout->numExperts)
      return "its MoE layers have different expert counts (LayerMoE); Qwen2-MoE has one num_experts for every layer";
  if (config.head_dim * config.num_attention_heads != config.hidden_size)
    return "its head_dim " + std::to_string(config.head_dim) + " is not hidden_size / num_attention_heads";
  if (config.hidden_act != "silu") return "its activation " + config.hidden_act + " is not Qwen2's silu";
  return {};
}

Json qwen2MoeConfig(const ModelConfig& base, const MoeLayout& layout) {
  ModelConfig c = base;
  for (const char* key : {"dmoe", "architectures", "attention_bias", "mlp_bias", "pretraining_tp", "head_dim", "torch_dtype"})
    c.raw.erase(key);
  c.model_type = "qwen2_moe";
  Json j = c.toHfJson();
  std::vector<std::int64_t> dense;
  const std::set<std::int64_t> sparse(layout.layers.begin(), layout.layers.end());
  for (std::int64_t l = 0; l < base.num_hidden_layers; ++l)
    if (!sparse.count(l)) dense.push_back(l);
  j["num_experts"] = layout.numExperts;
  j["num_experts_per_tok"] = std::min(layout.topK, layout.numExperts);
  j["moe_intermediate_size"] = base.intermediate_size;
  j["shared_expert_intermediate_size"] = 1;
  j["decoder_sparse_step"] = 1;
  j["mlp_only_layers"] = dense;
  j["norm_topk_prob"] = true;
  j["qkv_bias"] = true;
  j["use_sliding_window"] = false;
  j["output_router_logits"] = false;
  return j;
}

torch::Tensor zeros(std::vector<std::int64_t> shape) { return torch::zeros(shape, torch::kFloat32); }

}  // namespace

MoeExportReport exportQwen2Moe(const fs::path& modelDir, const fs::path& outDir, std::uint64_t maxShardBytes,
                               bool force) {
  std::error_code ec;
  if (fs::equivalent(modelDir, outDir, ec))
    throw InputError(outDir.string() + " is the model's own folder: export into another one");
  const fs::path inside = fs::weakly_canonical(modelDir, ec).lexically_relative(fs::weakly_canonical(outDir, ec));
  if (!inside.empty() && *inside.begin() != "..")
    throw InputError(outDir.string() + " contains the model being exported (" + modelDir.string() +
                     "): export into a folder outside it");
  if (!force) refuseUnlessReplaceable(outDir, "export");  // before the model is read
  const std::shared_ptr<CausalLMImpl> model = loadCausalLM(modelDir);
  const ModelConfig& config = model->config();
  const std::optional<MoeLayout> layout = readMoeLayout(config, (modelDir / "config.json").string());
  if (const std::string why = refusal(config, layout); !why.empty())
    throw InputError(modelDir.string() + " cannot be exported to Qwen2-MoE: " + why);

  MoeExportReport report;
  NamedTensors tensors;
  for (const auto& p : model->named_parameters(true))
    if (!(config.tie_word_embeddings && p.key() == "lm_head.weight")) tensors.emplace_back(p.key(), p.value().detach().to(torch::kFloat32));
  auto add = [&](const std::string& name, std::vector<std::int64_t> shape) {
    tensors.emplace_back(name, zeros(std::move(shape)));
    ++report.addedTensors;
  };
  const std::int64_t d = config.hidden_size, dh = config.head_dim;
  for (std::int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".";
    if (!modelFamily(config.model_type).qkvBias) {
      add(prefix + "self_attn.q_proj.bias", {config.num_attention_heads * dh});
      add(prefix + "self_attn.k_proj.bias", {config.num_key_value_heads * dh});
      add(prefix + "self_attn.v_proj.bias", {config.num_key_value_heads * dh});
    }
  }
  for (std::int64_t l : layout->layers) {
    const std::string prefix = "model.layers." + std::to_string(l) + ".mlp.";
    add(prefix + "shared_expert.gate_proj.weight", {1, d});
    add(prefix + "shared_expert.up_proj.weight", {1, d});
    add(prefix + "shared_expert.down_proj.weight", {d, 1});
    add(prefix + "shared_expert_gate.weight", {1, d});
  }
  SaveOptions options;
  options.maxShardBytes = maxShardBytes;
  options.tokenizerSource = modelDir;
  options.kind = "export";
  options.setAsideForeign = force;
  report.setAside = saveCheckpoint(outDir, qwen2MoeConfig(config, *layout), tensors, options);
  report.tensors = static_cast<std::int64_t>(tensors.size());
  report.moeLayers = static_cast<std::int64_t>(layout->layers.size());
  report.experts = layout->numExperts;
  return report;
}

}  // namespace dmoe
