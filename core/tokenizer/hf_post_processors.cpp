// The tokenizer.json post-processors (see hf_post_processors.h).
#include "tokenizer/hf_post_processors.h"

namespace dmoe::hf {

namespace {

class TemplateProcessing final : public PostProcessor {
 public:
  TemplateProcessing(const nlohmann::json& config, const ConfigSource& source, const TokenLookup& lookup) {
    const auto& single = requiredField(config, "single", source);
    if (!single.is_array()) throwConfigError(source.at("single"), "expected an array");
    const nlohmann::json specials = config.value("special_tokens", nlohmann::json::object());
    for (std::size_t i = 0; i < single.size(); ++i) {
      ConfigSource at = source.at("single").at(i);
      const auto& item = single[i];
      if (item.contains("Sequence")) {
        if (item["Sequence"].value("id", "A") != "A") throwConfigError(at, "a single-sequence template can only hold A");
        steps_.push_back({});
      } else if (item.contains("SpecialToken") && item["SpecialToken"].contains("id")) {
        const std::string name = item["SpecialToken"]["id"].get<std::string>();
        std::vector<TokenId> ids;
        // The template's own table wins; otherwise the token itself.
        if (specials.contains(name) && specials[name].contains("ids")) {
          ids = specials[name]["ids"].get<std::vector<TokenId>>();
        } else if (auto id = lookup(name)) {
          ids.push_back(*id);
        } else {
          throwConfigError(at, "special token \"" + name + "\" is not in the vocabulary");
        }
        steps_.push_back({true, ids});
      } else {
        throwConfigError(at, "expected {\"Sequence\": ...} or {\"SpecialToken\": ...}");
      }
    }
  }

  void process(std::vector<TokenId>& ids, bool addSpecialTokens) const override {
    if (!addSpecialTokens) return;
    std::vector<TokenId> out;
    out.reserve(ids.size() + steps_.size());
    for (const Step& step : steps_) {
      if (step.special)
        out.insert(out.end(), step.ids.begin(), step.ids.end());
      else
        out.insert(out.end(), ids.begin(), ids.end());
    }
    ids = std::move(out);
  }

  std::optional<TokenId> leadingSpecial() const override {
    if (steps_.empty() || !steps_.front().special || steps_.front().ids.empty()) return std::nullopt;
    return steps_.front().ids.front();
  }

 private:
  struct Step {
    bool special = false;  // else: the sequence itself
    std::vector<TokenId> ids;
  };
  std::vector<Step> steps_;
};

// Byte-level offsets trimming only: the ids pass unchanged.
class ByteLevel final : public PostProcessor {
 public:
  void process(std::vector<TokenId>&, bool) const override {}
};

class Sequence final : public PostProcessor {
 public:
  Sequence(const nlohmann::json& config, const ConfigSource& source, const TokenLookup& lookup) {
    const auto& list = requiredField(config, "processors", source);
    if (!list.is_array()) throwConfigError(source.at("processors"), "expected an array");
    for (std::size_t i = 0; i < list.size(); ++i)
      if (auto p = makePostProcessor(list[i], source.at("processors").at(i), lookup)) steps_.push_back(std::move(p));
  }
  void process(std::vector<TokenId>& ids, bool addSpecialTokens) const override {
    for (const auto& step : steps_) step->process(ids, addSpecialTokens);
  }
  std::optional<TokenId> leadingSpecial() const override {
    for (const auto& step : steps_)
      if (auto id = step->leadingSpecial()) return id;
    return std::nullopt;
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> steps_;
};

}  // namespace

std::unique_ptr<PostProcessor> makePostProcessor(const nlohmann::json& config, const ConfigSource& source,
                                                 const TokenLookup& lookup) {
  if (config.is_null()) return nullptr;
  const std::string type = componentType(config, source);
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessing>(config, source, lookup);
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "Sequence") return std::make_unique<Sequence>(config, source, lookup);
  throwUnsupported(source, "post-processor", type, "TemplateProcessing, ByteLevel, Sequence");
}

}  // namespace dmoe::hf
