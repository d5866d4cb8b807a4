// DMoE model layout and upcycling (see the header).
#include "model/dmoe_model.h"

#include <algorithm>

#include "util/error.h"
#include "util/text.h"

namespace dmoe {

// The i-th layer of `layout` becomes an MoE layer of copies of its dense FFN, sharing `routing`.
static void upcycleLayer(CausalLMImpl& model, const MoeLayout& layout, size_t i, const std::shared_ptr<Routing>& routing) {
  const ModelConfig& config = model.config();
  const std::int64_t layer = layout.layers[i];
  if (layer < 0 || layer >= config.num_hidden_layers)
    throw InputError("MoE layer " + std::to_string(layer) + " does not exist: the model has " +
                     std::to_string(config.num_hidden_layers) + " layers");
  std::shared_ptr<FeedForwardImpl> dense = model.mlp(layer);
  if (std::dynamic_pointer_cast<MoeFeedForwardImpl>(dense))
    throw InputError("layer " + std::to_string(layer) + " is already a mixture-of-experts layer");
  std::vector<std::shared_ptr<FeedForwardImpl>> experts;
  for (std::int64_t e = 0; e < layout.expertsIn(i); ++e) experts.push_back(copyFeedForward(*dense, config));
  auto moe = std::make_shared<MoeFeedForwardImpl>(std::move(experts), config.hidden_size, layout.topK,
                                                  layout.routerInitStd, routing);
  if (layout.routerInit == "xavier_normal") {
    torch::NoGradGuard noGrad;
    torch::nn::init::xavier_normal_(moe->gate->weight);
  }
  moe->setExpertGenerations(layout.generationsIn(i));
  if (std::find(layout.classifierLayers.begin(), layout.classifierLayers.end(), layer) != layout.classifierLayers.end())
    moe->addClassifier(layout.classes);
  moe->to(dense->parameters().front().device());
  model.setMlp(layer, moe);
}

std::shared_ptr<Routing> upcycle(CausalLMImpl& model, const MoeLayout& layout) {
  auto routing = std::make_shared<Routing>();
  for (size_t i = 0; i < layout.layers.size(); ++i) upcycleLayer(model, layout, i, routing);
  return routing;
}

MoeLayout expandLayerWise(CausalLMImpl& model, const std::optional<MoeLayout>& previous,
                          const std::vector<std::int64_t>& experts, std::int64_t topK,
                          const std::vector<std::string>& oldLanguages, const std::vector<std::string>& newLanguages) {
  const ModelConfig& config = model.config();
  if (static_cast<std::int64_t>(experts.size()) != config.num_hidden_layers)
    throw InputError("the allocation has " + std::to_string(experts.size()) + " layers, the model " +
                     std::to_string(config.num_hidden_layers));
  if (previous && !previous->originalExpert)
    throw InputError("a DMoE model (one expert per language group) cannot be expanded layer-wise: LayerMoE expands a "
                     "dense model or a LayerMoE model");
  if (previous && previous->topK != topK)
    throw InputError("the model routes each token to k = " + std::to_string(previous->topK) +
                     " experts; a further expansion keeps that k (asked for " + std::to_string(topK) + ")");
  if (previous && previous->generations.empty())
    throw InputError("the model does not record the languages of its generations (it was saved by an older version): "
                     "train its expansion again before expanding it further");
  if (std::all_of(experts.begin(), experts.end(), [](std::int64_t n) { return n < 2; }))
    throw InputError("the allocation adds no expert (N_i = 1 everywhere): nothing to expand");
  MoeLayout grown;
  if (previous) grown = *previous;
  else {
    grown.topK = topK;
    grown.routerInit = "xavier_normal";
    grown.originalExpert = true;
    grown.generations = {oldLanguages};
  }
  const auto generation = static_cast<std::int64_t>(grown.generations.size());
  grown.generations.push_back(newLanguages);
  std::shared_ptr<Routing> routing = moeLayers(model).empty() ? std::make_shared<Routing>() : routingOf(model);
  MoeLayout result = grown;  // layers, counts and generations rebuilt in layer order below
  result.layers.clear();
  result.layerExperts.clear();
  result.expertGenerations.clear();
  const std::vector<std::int64_t> before = expertsPerModelLayer(previous, config.num_hidden_layers, "the model's layout");
  for (const std::int64_t l : moeLayersAfterExpansion(before, experts)) {
    const std::int64_t added = std::max<std::int64_t>(experts[static_cast<size_t>(l)] - 1, 0);
    auto moe = std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(l));
    if (!moe != (before[static_cast<size_t>(l)] == 1))
      throw std::logic_error("expandLayerWise: layer " + std::to_string(l) + " of the model disagrees with its layout");
    if (!moe) {
      MoeLayout one = grown;
      one.layers = {l};
      one.layerExperts = {added + 1};
      one.expertGenerations = {std::vector<std::int64_t>(static_cast<size_t>(added + 1), generation)};
      one.expertGenerations.front().front() = 0;
      one.classifierLayers.clear();
      upcycleLayer(model, one, 0, routing);
      moe = std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(l));
    } else if (added > 0) {
      std::vector<std::shared_ptr<FeedForwardImpl>> copies;
      for (std::int64_t e = 0; e < added; ++e) copies.push_back(copyFeedForward(*moe->expert(0), config));
      moe->addExperts(std::move(copies), generation);
    }
    result.layers.push_back(l);
    result.layerExperts.push_back(moe->numExperts());
    result.expertGenerations.push_back(moe->expertGenerations());
  }
  result.numExperts = *std::max_element(result.layerExperts.begin(), result.layerExperts.end());
  return result;
}

std::int64_t expertOfTensorName(const std::string& name) {
  const std::string marker = ".mlp.experts.";
  const size_t at = name.find(marker);
  if (at == std::string::npos) return -1;
  return std::stoll(name.substr(at + marker.size()));
}

bool isRouterTensorName(const std::string& name) { return endsWith(name, ".mlp.gate.weight"); }
bool isClassifierTensorName(const std::string& name) { return endsWith(name, ".mlp.classifier.weight"); }

std::vector<std::shared_ptr<MoeFeedForwardImpl>> moeLayers(const CausalLMImpl& model) {
  std::vector<std::shared_ptr<MoeFeedForwardImpl>> layers;
  for (std::int64_t l = 0; l < model.config().num_hidden_layers; ++l)
    if (auto moe = std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(l))) layers.push_back(moe);
  return layers;
}

std::shared_ptr<Routing> routingOf(const CausalLMImpl& model) {
  auto layers = moeLayers(model);
  if (layers.empty()) throw InputError("the model has no mixture-of-experts layer (a dense model has no routing)");
  return layers.front()->routing();
}

}  // namespace dmoe
