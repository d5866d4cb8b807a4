// Added tokens of tokenizer.json: found in the raw text before normalization
// and pre-tokenization (leftmost, longest first), with their lstrip/rstrip
// trimming of the neighbouring text. Like the reference (transformers.js),
// single_word and normalized are not applied: every added token matches
// anywhere, against the text as given.
#pragma once
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "tokenizer/hf_config.h"
#include "tokenizer/tokenizer.h"

namespace dmoe::hf {

struct AddedToken {
  std::string content;
  TokenId id = -1;
  bool special = false;
  bool lstrip = false;
  bool rstrip = false;
};

// One piece of the text: an added token, or text between added tokens.
struct Section {
  std::string_view text;
  const AddedToken* token = nullptr;
};

class AddedTokens {
 public:
  // `list`: tokenizer.json's "added_tokens" array.
  AddedTokens(const nlohmann::json& list, const ConfigSource& source);

  const std::vector<AddedToken>& tokens() const { return tokens_; }
  // `text` cut into sections, in order; lstrip/rstrip may leave a text section empty.
  std::vector<Section> split(std::string_view text) const;

 private:
  struct TrieNode {
    std::vector<std::pair<unsigned char, std::int32_t>> children;  // sorted by byte
    std::int32_t token = -1;                                       // index into tokens_ ending here
  };
  std::int32_t child(std::int32_t node, unsigned char byte) const;

  std::vector<AddedToken> tokens_;
  std::vector<TrieNode> trie_;                 // node 0: the root
  std::array<std::int32_t, 256> rootChild_{};  // root's children by byte (0: none)
};

}  // namespace dmoe::hf
