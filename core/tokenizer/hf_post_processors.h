// tokenizer.json post-processors: what encode(text, addSpecialTokens = true)
// puts around the ids. Supported: TemplateProcessing (its "single" template),
// ByteLevel (ids unchanged), Sequence.
#pragma once
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tokenizer/hf_config.h"
#include "tokenizer/tokenizer.h"

namespace dmoe::hf {

class PostProcessor {
 public:
  virtual ~PostProcessor() = default;
  virtual void process(std::vector<TokenId>& ids, bool addSpecialTokens) const = 0;
  // The special token the single-sequence template starts with, if any (the BOS it adds).
  virtual std::optional<TokenId> leadingSpecial() const { return std::nullopt; }
};

using TokenLookup = std::function<std::optional<TokenId>(const std::string&)>;

// nullptr for a JSON null; InputError naming the type for anything unsupported.
std::unique_ptr<PostProcessor> makePostProcessor(const nlohmann::json& config, const ConfigSource& source,
                                                 const TokenLookup& lookup);

}  // namespace dmoe::hf
