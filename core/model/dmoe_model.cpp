// DMoE model layout and upcycling (see the header).
#include "model/dmoe_model.h"

#include <algorithm>
#include <set>

#include "util/error.h"
#include "util/text.h"

namespace dmoe {

Json MoeLayout::toJson() const {
  Json j{{"moe_layers", layers}, {"num_experts", numExperts}, {"num_experts_per_tok", topK}};
  if (routerInit == "normal") j["router_init_std"] = routerInitStd;
  else j["router_init"] = routerInit;
  if (!layerExperts.empty()) j["experts_per_layer"] = layerExperts;
  if (originalExpert) j["original_expert"] = 0;
  if (!classifierLayers.empty()) {
    j["classifier_layers"] = classifierLayers;
    j["classes"] = classes;
  }
  if (!generations.empty()) j["generations"] = generations;
  if (!expertGenerations.empty()) j["expert_generations"] = expertGenerations;
  if (!expertLanguages.empty() || (layerExperts.empty() && !originalExpert)) j["experts"] = expertLanguages;
  return j;
}

std::vector<std::int64_t> MoeLayout::generationsIn(size_t i) const {
  if (!expertGenerations.empty()) return expertGenerations[i];
  std::vector<std::int64_t> g(static_cast<size_t>(expertsIn(i)), originalExpert ? 1 : 0);
  g.front() = 0;
  return g;
}

std::int64_t MoeLayout::generationOf(const std::string& languageId) const {
  for (size_t g = 0; g < generations.size(); ++g)
    if (std::find(generations[g].begin(), generations[g].end(), languageId) != generations[g].end())
      return static_cast<std::int64_t>(g);
  return -1;
}

// generations, expert_generations and the classifiers' classes agree with each other and with the layers.
template <class Fail>
static void checkGenerations(const MoeLayout& layout, const Fail& fail) {
  std::set<std::string> seen;
  for (const auto& generation : layout.generations)
    for (const std::string& id : generation)
      if (!seen.insert(id).second) fail("generations", "language '" + id + "' is in two generations");
  // Class c routes a token among experts of generation ≤ c: a class past the newest generation means nothing.
  const auto generations = static_cast<std::int64_t>(layout.generations.size());
  if (generations > 0 && !layout.classifierLayers.empty() && layout.classes > generations)
    fail("classes", std::to_string(layout.classes) + " classes for " + std::to_string(generations) +
                        " generations (a class per generation at most)");
  if (layout.expertGenerations.empty()) return;
  if (layout.expertGenerations.size() != layout.layers.size())
    fail("expert_generations", "lists " + std::to_string(layout.expertGenerations.size()) + " layers for " +
                                   std::to_string(layout.layers.size()) + " MoE layers");
  const auto last = static_cast<std::int64_t>(layout.generations.size()) - 1;
  for (size_t i = 0; i < layout.layers.size(); ++i) {
    const std::vector<std::int64_t>& g = layout.expertGenerations[i];
    const std::string at = "expert_generations/" + std::to_string(i);
    if (static_cast<std::int64_t>(g.size()) != layout.expertsIn(i))
      fail(at, "lists " + std::to_string(g.size()) + " experts, the layer has " + std::to_string(layout.expertsIn(i)));
    for (std::int64_t v : g)
      if (v < 0 || v > last) fail(at, "generation " + std::to_string(v) + " is not one of /dmoe/generations");
    if (layout.originalExpert && g.front() != 0) fail(at, "expert 0 (the original FFN) is of generation 0");
  }
}

MoeLayout MoeLayout::fromJson(const Json& j, const std::string& source) {
  auto fail = [&](const std::string& key, const std::string& what) -> void {
    throw InputError(source + " /dmoe/" + key + ": " + what);
  };
  if (!j.is_object()) fail("", "expected an object {moe_layers, num_experts, num_experts_per_tok, experts}");
  MoeLayout layout;
  try {
    layout.layers = j.at("moe_layers").get<std::vector<std::int64_t>>();
    layout.numExperts = j.at("num_experts").get<std::int64_t>();
    layout.topK = j.value("num_experts_per_tok", std::int64_t{2});
    layout.routerInitStd = j.value("router_init_std", 0.02);
    layout.expertLanguages = j.value("experts", std::vector<std::vector<std::string>>{});
    layout.layerExperts = j.value("experts_per_layer", std::vector<std::int64_t>{});
    layout.routerInit = j.value("router_init", std::string("normal"));
    layout.classifierLayers = j.value("classifier_layers", std::vector<std::int64_t>{});
    layout.classes = j.value("classes", std::int64_t{0});
    layout.generations = j.value("generations", std::vector<std::vector<std::string>>{});
    layout.expertGenerations = j.value("expert_generations", std::vector<std::vector<std::int64_t>>{});
    if (j.contains("original_expert")) {
      if (j.at("original_expert") != 0) fail("original_expert", "must be 0 (the frozen original FFN is expert 0)");
      layout.originalExpert = true;
    }
  } catch (const Json::exception& e) {
    fail("", std::string("expected moe_layers (integers), num_experts, num_experts_per_tok (integers), experts "
                         "(lists of language ids): ") + e.what());
  }
  if (layout.layers.empty()) fail("moe_layers", "is empty (a DMoE model has at least one MoE layer)");
  for (size_t i = 0; i < layout.layers.size(); ++i)
    if (layout.layers[i] < 0 || (i > 0 && layout.layers[i] <= layout.layers[i - 1]))
      fail("moe_layers", "must be ascending layer indices ≥ 0");
  if (layout.numExperts < 1) fail("num_experts", "must be ≥ 1");
  if (layout.topK < 1) fail("num_experts_per_tok", "must be ≥ 1");
  if (layout.routerInit != "normal" && layout.routerInit != "xavier_normal")
    fail("router_init", "expected \"normal\" or \"xavier_normal\", got \"" + layout.routerInit + "\"");
  if (!layout.layerExperts.empty()) {
    if (layout.layerExperts.size() != layout.layers.size())
      fail("experts_per_layer", "lists " + std::to_string(layout.layerExperts.size()) + " counts for " +
                                    std::to_string(layout.layers.size()) + " MoE layers");
    for (std::int64_t n : layout.layerExperts)
      if (n < 2) fail("experts_per_layer", "every MoE layer has at least 2 experts (a layer with 1 stays dense)");
    if (*std::max_element(layout.layerExperts.begin(), layout.layerExperts.end()) != layout.numExperts)
      fail("num_experts", "must be the largest of experts_per_layer");
  }
  if (!layout.expertLanguages.empty() && static_cast<std::int64_t>(layout.expertLanguages.size()) != layout.numExperts)
    fail("experts", "lists " + std::to_string(layout.expertLanguages.size()) + " experts, num_experts is " +
                        std::to_string(layout.numExperts));
  for (std::int64_t l : layout.classifierLayers)
    if (std::find(layout.layers.begin(), layout.layers.end(), l) == layout.layers.end())
      fail("classifier_layers", "layer " + std::to_string(l) + " is not an MoE layer");
  if (!layout.classifierLayers.empty() && layout.classes < 2) fail("classes", "a classifier needs at least 2 classes");
  std::set<std::string> seen;
  for (const auto& group : layout.expertLanguages)
    for (const std::string& id : group)
      if (!seen.insert(id).second) fail("experts", "language '" + id + "' is served by two experts");
  checkGenerations(layout, fail);
  return layout;
}

std::optional<MoeLayout> readMoeLayout(const ModelConfig& config, const std::string& source) {
  if (!config.raw.is_object() || !config.raw.contains("dmoe")) return std::nullopt;
  return MoeLayout::fromJson(config.raw.at("dmoe"), source);
}

Json moeConfigJson(const ModelConfig& config, const MoeLayout& layout) {
  Json j = config.toHfJson();
  j["dmoe"] = layout.toJson();
  return j;
}

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
  for (std::int64_t l = 0; l < config.num_hidden_layers; ++l) {
    const std::int64_t added = std::max<std::int64_t>(experts[static_cast<size_t>(l)] - 1, 0);
    auto moe = std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(l));
    if (!moe && added > 0) {
      MoeLayout one = grown;
      one.layers = {l};
      one.layerExperts = {added + 1};
      one.expertGenerations = {std::vector<std::int64_t>(static_cast<size_t>(added + 1), generation)};
      one.expertGenerations.front().front() = 0;
      one.classifierLayers.clear();
      upcycleLayer(model, one, 0, routing);
      moe = std::dynamic_pointer_cast<MoeFeedForwardImpl>(model.mlp(l));
    } else if (moe && added > 0) {
      std::vector<std::shared_ptr<FeedForwardImpl>> copies;
      for (std::int64_t e = 0; e < added; ++e) copies.push_back(copyFeedForward(*moe->expert(0), config));
      moe->addExperts(std::move(copies), generation);
    }
    if (!moe) continue;
    result.layers.push_back(l);
    result.layerExperts.push_back(moe->numExperts());
    result.expertGenerations.push_back(moe->expertGenerations());
  }
  if (std::all_of(experts.begin(), experts.end(), [](std::int64_t n) { return n < 2; }))
    throw InputError("the allocation adds no expert (N_i = 1 everywhere): nothing to expand");
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
