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
  if (!expertLanguages.empty() || (layerExperts.empty() && !originalExpert)) j["experts"] = expertLanguages;
  return j;
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

std::shared_ptr<Routing> upcycle(CausalLMImpl& model, const MoeLayout& layout) {
  const ModelConfig& config = model.config();
  auto routing = std::make_shared<Routing>();
  for (size_t i = 0; i < layout.layers.size(); ++i) {
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
    if (std::find(layout.classifierLayers.begin(), layout.classifierLayers.end(), layer) != layout.classifierLayers.end())
      moe->addClassifier(layout.classes);
    moe->to(dense->parameters().front().device());
    model.setMlp(layer, moe);
  }
  return routing;
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
