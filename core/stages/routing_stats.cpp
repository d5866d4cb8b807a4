// Routing statistics (see the header).
#include "stages/routing_stats.h"

#include <algorithm>

#include "corpus/token_cache.h"
#include "corpus/token_shard.h"
#include "model/dmoe_model.h"
#include "model/load_model.h"
#include "model/moe_feed_forward.h"
#include "runtime/cancellation.h"
#include "runtime/device.h"
#include "stages/tokenizer_training.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// Per MoE layer: top-1 counts and probability sums [E] and the classifier's class-0 count (fp64, on the
// model's device; undefined without a classifier).
struct LayerSums {
  torch::Tensor top1, probability, classZero;
};

// sum / tokens on the host (zeros for a language without tokens).
std::vector<double> meanOf(const torch::Tensor& sum, std::int64_t tokens) {
  const torch::Tensor mean = (sum / static_cast<double>(std::max<std::int64_t>(tokens, 1))).cpu().contiguous();
  return {mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel()};
}

}  // namespace

RoutingTable measureRouting(const Project& project, CausalLMImpl& model, Reporter& reporter) {
  const auto moe = moeLayers(model);
  if (moe.empty()) throw InputError("the model has no mixture-of-experts layer: nothing is routed");
  // A DMoE or LayerMoE model has a layout; a Hugging Face MoE (Qwen2-MoE, Mixtral) has none: its MoE layers are read off the model.
  const auto layout = readMoeLayout(model.config(), "the model's config.json");
  std::vector<std::int64_t> moeLayerIndices;
  for (std::int64_t l = 0; l < model.config().num_hidden_layers; ++l)
    if (std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(l))) moeLayerIndices.push_back(l);
  const std::int64_t pieces = loadProjectTokenizer(project)->vocabSize();
  if (pieces > model.config().vocab_size)
    throw InputError("the project's tokenizer has " + std::to_string(pieces) + " pieces, the model's vocab_size is " +
                     std::to_string(model.config().vocab_size) +
                     ": its held-out ids would index past the model's embeddings (measure a model of this project's tokenizer)");
  const std::shared_ptr<Routing> routing = routingOf(model);
  routing->soft();
  const torch::Device device = model.parameters().front().device();
  const std::int64_t modelContext = model.config().max_position_embeddings;
  const std::int64_t context =
      project.evaluation.window > 0 ? std::min(project.evaluation.window, modelContext) : modelContext;

  RoutingTable table;
  for (const auto& layer : moe) table.experts.push_back(layer->numExperts());
  table.layers = moeLayerIndices;
  table.originalExpert = layout && layout->originalExpert;
  table.top1.resize(moe.size());
  table.probability.resize(moe.size());
  if (std::any_of(moe.begin(), moe.end(), [](const auto& layer) { return layer->classes() > 0; }))
    table.classifierOriginal.resize(moe.size());
  const std::vector<Language> languages = project.allLanguages();
  torch::NoGradGuard noGrad;
  const bool wasTraining = model.is_training();
  model.eval();
  for (size_t a = 0; a < languages.size(); ++a) {
    const Language& l = languages[a];
    const TokenShard shard(tokenShardFile(project, l.id, "heldout"));
    std::int64_t documents = shard.documentCount(), tokens = 0;
    if (project.evaluation.max_documents_per_language > 0)
      documents = std::min(documents, project.evaluation.max_documents_per_language);
    std::vector<LayerSums> sums;
    for (const auto& layer : moe) {
      const auto options = torch::TensorOptions().dtype(torch::kFloat64).device(device);
      sums.push_back({torch::zeros({layer->numExperts()}, options), torch::zeros({layer->numExperts()}, options),
                      layer->classes() ? torch::zeros({}, options) : torch::Tensor()});
    }
    for (std::int64_t d = 0; d < documents; ++d) {
      throwIfCancelled();
      const TokenSpan doc = shard.document(d);
      const std::int64_t length = std::min<std::int64_t>(static_cast<std::int64_t>(doc.size), context);
      if (length == 0) continue;
      torch::Tensor ids = torch::empty({1, length}, torch::kInt64);
      std::copy(doc.begin(), doc.begin() + length, ids.data_ptr<std::int64_t>());
      model.hiddenStates(ids.to(device));
      for (size_t m = 0; m < moe.size(); ++m) {
        const torch::Tensor logits = moe[m]->lastRouterLogits.to(torch::kFloat64);  // [T, E]
        const std::int64_t experts = logits.size(-1);
        torch::Tensor first = logits.argmax(-1);
        if (sums[m].classZero.defined()) {  // class 0 sends the token to expert 0 alone (eval mode)
          const torch::Tensor original = moe[m]->lastClassLogits.argmax(-1) == 0;
          sums[m].classZero += original.sum().to(torch::kFloat64);
          first = first.masked_fill(original, 0);
        }
        sums[m].top1 += torch::one_hot(first, experts).sum(0).to(torch::kFloat64);
        sums[m].probability += torch::softmax(logits, -1).sum(0);
      }
      tokens += length;
    }
    for (size_t m = 0; m < moe.size(); ++m) {
      table.top1[m].push_back(meanOf(sums[m].top1, tokens));
      table.probability[m].push_back(meanOf(sums[m].probability, tokens));
      if (sums[m].classZero.defined()) table.classifierOriginal[m].push_back(meanOf(sums[m].classZero, tokens).front());
    }
    table.languages.push_back(l.id);
    table.labels.push_back(l.label());
    table.isNew.push_back(a >= project.languages.size());
    table.tokens.push_back(tokens);
    reporter.progress(static_cast<std::int64_t>(a + 1), static_cast<std::int64_t>(languages.size()), "languages");
  }
  if (wasTraining) model.train();
  return table;
}

RoutingTable runRouting(const Project& project, Reporter& reporter, fs::path modelDir) {
  reporter.started();
  if (modelDir.empty()) modelDir = RunLayout::modelIn(project.layout().trainDir());
  if (!fs::exists(modelDir / "config.json"))
    throw InputError(modelDir.string() + " has no config.json: train the DMoE first (`dmoe train " +
                     project.file.string() + "`) or name a model with --model");
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(modelDir, resolveDevice(project.device));
  RoutingTable table = measureRouting(project, *model, reporter);
  table.model = routingModelName(project.runsDir(), modelDir);
  const fs::path file = routingFileFor(project.runsDir(), modelDir);
  fs::create_directories(file.parent_path());
  writeFileAtomic(file, dumpJson(table.toJson(), 1) + "\n");
  reporter.artifact(file, "routing");
  reporter.result("routing", table.toJson());
  reporter.finished("done");
  return table;
}

}  // namespace dmoe
