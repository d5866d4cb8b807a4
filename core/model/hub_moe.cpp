#include "model/hub_moe.h"

#include <algorithm>

#include "model/model_family.h"
#include "model/moe_feed_forward.h"
#include "util/error.h"

namespace dmoe {

namespace {

std::int64_t integerKey(const Json& raw, const std::string& key, std::int64_t fallback, std::int64_t minimum,
                        const std::string& source) {
  if (!raw.contains(key) || raw.at(key).is_null()) return fallback;
  const Json& v = raw.at(key);
  if (!v.is_number_integer() || v.get<std::int64_t>() < minimum)
    throw InputError(source + ": \"" + key + "\": expected an integer ≥ " + std::to_string(minimum) + ", got " + v.dump());
  return v.get<std::int64_t>();
}

// k experts of `experts` per token: k ≤ E, or the router would choose experts that do not exist
// (never clamped silently: a config that asks for more is refused by name).
void checkTopK(const HubMoeLayout& layout, const std::string& expertsKey, const std::string& source) {
  if (layout.experts > 0 && layout.topK > layout.experts)
    throw InputError(source + ": \"num_experts_per_tok\": " + std::to_string(layout.topK) + " is more than the " +
                     std::to_string(layout.experts) + " experts of \"" + expertsKey +
                     "\" (each token is routed to k of them)");
}

bool booleanKey(const Json& raw, const std::string& key, bool fallback, const std::string& source) {
  if (!raw.contains(key) || raw.at(key).is_null()) return fallback;
  if (!raw.at(key).is_boolean()) throw InputError(source + ": \"" + key + "\": expected true or false");
  return raw.at(key).get<bool>();
}

}  // namespace

std::optional<HubMoeLayout> readHubMoeLayout(const ModelConfig& config, const std::string& source) {
  const ModelFamily& family = modelFamily(config.model_type);
  const Json& raw = config.raw;
  HubMoeLayout layout;
  switch (family.hubMoe) {
    case HubMoe::None:
      return std::nullopt;
    case HubMoe::Qwen2Moe: {
      layout.experts = integerKey(raw, "num_experts", 60, 0, source);  // 0: every layer dense, as in transformers
      layout.topK = integerKey(raw, "num_experts_per_tok", 4, 1, source);
      layout.expertWidth = integerKey(raw, "moe_intermediate_size", 1408, 1, source);
      layout.sharedWidth = integerKey(raw, "shared_expert_intermediate_size", 5632, 0, source);
      layout.normalizeTopK = booleanKey(raw, "norm_topk_prob", false, source);
      checkTopK(layout, "num_experts", source);
      const std::int64_t step = integerKey(raw, "decoder_sparse_step", 1, 1, source);
      std::vector<std::int64_t> denseOnly;
      if (raw.contains("mlp_only_layers") && !raw.at("mlp_only_layers").is_null()) {
        const Json& list = raw.at("mlp_only_layers");
        if (!list.is_array()) throw InputError(source + ": \"mlp_only_layers\": expected a list of layer indices");
        for (const Json& l : list) {
          if (!l.is_number_integer()) throw InputError(source + ": \"mlp_only_layers\": expected integers, got " + l.dump());
          denseOnly.push_back(l.get<std::int64_t>());
        }
      }
      for (std::int64_t l = 0; l < config.num_hidden_layers && layout.experts > 0; ++l)
        if (std::find(denseOnly.begin(), denseOnly.end(), l) == denseOnly.end() && (l + 1) % step == 0)
          layout.layers.push_back(l);
      return layout;
    }
    case HubMoe::Mixtral: {
      if (raw.contains("sliding_window") && !raw.at("sliding_window").is_null())
        throw InputError(source + ": \"sliding_window\": sliding-window attention is not supported");
      layout.experts = integerKey(raw, "num_local_experts", 8, 1, source);
      layout.topK = integerKey(raw, "num_experts_per_tok", 2, 1, source);
      checkTopK(layout, "num_local_experts", source);
      layout.expertWidth = config.intermediate_size;
      for (std::int64_t l = 0; l < config.num_hidden_layers; ++l) layout.layers.push_back(l);
      return layout;
    }
  }
  return std::nullopt;
}

void buildHubMoe(CausalLMImpl& model, const HubMoeLayout& layout) {
  ModelConfig expertConfig = model.config();
  expertConfig.intermediate_size = layout.expertWidth;
  ModelConfig sharedConfig = model.config();
  sharedConfig.intermediate_size = layout.sharedWidth;
  auto routing = std::make_shared<Routing>();
  for (std::int64_t l : layout.layers) {
    std::vector<std::shared_ptr<FeedForwardImpl>> experts;
    for (std::int64_t e = 0; e < layout.experts; ++e) experts.push_back(buildFeedForward(expertConfig));
    auto moe = std::make_shared<MoeFeedForwardImpl>(std::move(experts), model.config().hidden_size, layout.topK, 0.02, routing);
    moe->setNormalizeTopK(layout.normalizeTopK);
    if (layout.sharedWidth > 0) moe->addSharedExpert(buildFeedForward(sharedConfig));
    model.setMlp(l, moe);
  }
}

}  // namespace dmoe
