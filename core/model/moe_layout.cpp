// MoeLayout ⇄ the "dmoe" object of config.json (see the header).
#include "model/moe_layout.h"

#include <algorithm>
#include <set>

#include "model/checkpoint_summary.h"
#include "methods/layer_allocation.h"
#include "util/atomic_file.h"
#include "util/error.h"

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

std::vector<std::int64_t> expertsPerModelLayer(const std::optional<MoeLayout>& layout, std::int64_t numLayers,
                                               const std::string& source) {
  std::vector<std::int64_t> experts(static_cast<size_t>(std::max<std::int64_t>(numLayers, 0)), 1);
  if (!layout) return experts;
  for (size_t i = 0; i < layout->layers.size(); ++i) {
    if (layout->layers[i] >= numLayers)
      throw InputError(source + " /dmoe/moe_layers: layer " + std::to_string(layout->layers[i]) +
                       " does not exist (the model has " + std::to_string(numLayers) + " layers)");
    experts[static_cast<size_t>(layout->layers[i])] = layout->expertsIn(i);
  }
  return experts;
}

std::vector<std::int64_t> moeLayersAfterExpansion(const std::vector<std::int64_t>& previousExperts,
                                                  const std::vector<std::int64_t>& experts) {
  std::vector<std::int64_t> layers;
  for (size_t l = 0; l < std::max(previousExperts.size(), experts.size()); ++l)
    if ((l < experts.size() && experts[l] >= 2) || (l < previousExperts.size() && previousExperts[l] >= 2))
      layers.push_back(static_cast<std::int64_t>(l));
  return layers;
}

ExpansionBase readExpansionBase(const std::filesystem::path& modelDir, std::int64_t topK) {
  const std::filesystem::path configFile = modelDir / "config.json";
  ExpansionBase base;
  base.config = ModelConfig::fromHfJson(readJsonFile(configFile), configFile.string()).completed(configFile.string());
  base.layout = readMoeLayout(base.config, configFile.string());
  base.previousExperts = expertsPerModelLayer(base.layout, base.config.num_hidden_layers, configFile.string());
  base.parameters = summarizeCheckpoint(modelDir).parameters;
  base.ffnParameters = base.config.ffnParameterCount();
  base.activeParameters = activeParameters(base.parameters, base.previousExperts, topK, base.ffnParameters);
  return base;
}

}  // namespace dmoe
