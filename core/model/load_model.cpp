// Loading a causal LM from a checkpoint folder (see the header).
#include "model/load_model.h"

#include "checkpoint/hf_checkpoint.h"
#include "model/dmoe_model.h"
#include "model/hub_moe.h"
#include "model/model_family.h"

namespace dmoe {

std::shared_ptr<CausalLMImpl> loadCausalLM(const std::filesystem::path& dir, const std::string& device) {
  HfCheckpoint checkpoint = HfCheckpoint::open(dir);
  ModelConfig config = ModelConfig::fromHfJson(checkpoint.config, (dir / "config.json").string());
  std::shared_ptr<CausalLMImpl> model = buildCausalLM(config);
  // A DMoE folder: the MoE layers are built first so every tensor has a place to load into.
  if (auto layout = readMoeLayout(config, (dir / "config.json").string())) upcycle(*model, *layout);
  // A Hugging Face MoE (Qwen2-MoE, Mixtral): its sparse layers likewise.
  if (auto hub = readHubMoeLayout(config, (dir / "config.json").string())) buildHubMoe(*model, *hub);
  LoadOptions options;
  options.tieWordEmbeddings = config.tie_word_embeddings;
  if (const auto canonical = modelFamily(config.model_type).canonicalName) options.mapName = canonical;
  LoadReport report;
  loadStateDict(*model, checkpoint.tensors, report, options);
  model->to(torch::Device(device));
  model->eval();
  return model;
}

}  // namespace dmoe
