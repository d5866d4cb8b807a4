// tokenizer.json decoders: token strings -> text. Supported: ByteLevel,
// Metaspace, ByteFallback, Fuse, Strip, Replace, Sequence.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <unordered_set>
#include <vector>

#include "tokenizer/hf_config.h"

namespace dmoe::hf {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings; the text is their concatenation afterwards.
  virtual void decodeChain(std::vector<std::string>& tokens) const = 0;
};

// Added tokens' contents: the ByteLevel decoder passes them through as text.
using AddedContents = std::shared_ptr<const std::unordered_set<std::string>>;

// nullptr for a JSON null; InputError naming the type for anything unsupported.
std::unique_ptr<Decoder> makeDecoder(const nlohmann::json& config, const ConfigSource& source,
                                     const AddedContents& added);

}  // namespace dmoe::hf
