// tokenizer.json normalizers: text -> text before pre-tokenization.
// Supported: NFC, NFD, NFKC, NFKD, Replace, Prepend, Strip, Sequence.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "tokenizer/hf_config.h"

namespace dmoe::hf {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // `text` is valid UTF-8; so is the result.
  virtual std::string normalize(std::string text) const = 0;
};

// nullptr for a JSON null; InputError naming the type for anything unsupported.
std::unique_ptr<Normalizer> makeNormalizer(const nlohmann::json& config, const ConfigSource& source);

}  // namespace dmoe::hf
