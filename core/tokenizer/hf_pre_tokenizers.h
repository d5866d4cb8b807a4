// tokenizer.json pre-tokenizers: split a normalized section into the words BPE
// sees. Supported: Split (every behaviour, invert), ByteLevel (with or without
// its GPT-2 regex, prefix space), Metaspace, Sequence.
#pragma once
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "tokenizer/hf_config.h"

namespace dmoe::hf {

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Replaces every piece by the pieces it splits into. `sectionIndex`: which
  // section of the text (between added tokens) this is; Metaspace's "first" uses it.
  virtual void preTokenize(std::vector<std::string>& pieces, std::size_t sectionIndex) const = 0;
};

// nullptr for a JSON null; InputError naming the type for anything unsupported.
std::unique_ptr<PreTokenizer> makePreTokenizer(const nlohmann::json& config, const ConfigSource& source);

}  // namespace dmoe::hf
