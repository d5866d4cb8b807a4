// The BPE model of tokenizer.json: vocabulary, merges by rank (string
// "a b" or pair ["a", "b"] form), byte fallback, unk and its fusing,
// ignore_merges. Words are merged with a priority queue over a linked list of
// symbols (O(n log n) per word) and cached per word.
#pragma once
#include <array>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "tokenizer/hf_config.h"
#include "tokenizer/tokenizer.h"

namespace dmoe::hf {

class BpeModel {
 public:
  // `config`: the "model" object; InputError for another model type or an
  // option this implementation does not honour (dropout, subword affixes).
  BpeModel(const nlohmann::json& config, const ConfigSource& source);

  // Added tokens join the vocabulary (as in transformers and its JS port).
  void addToken(const std::string& content, TokenId id);

  // Appends the ids of one section's words; consecutive unknowns fuse when
  // the model has fuse_unk.
  void encode(const std::vector<std::string>& words, std::vector<TokenId>& ids) const;

  std::optional<TokenId> tokenId(const std::string& token) const;
  // The token of `id`; nullptr when no token has that id.
  const std::string* token(TokenId id) const;
  TokenId unkId() const { return unkId_; }
  std::int64_t size() const { return static_cast<std::int64_t>(idToToken_.size()); }

 private:
  struct Merge {
    std::int32_t rank;
    std::int32_t merged;  // symbol of the concatenation
  };

  std::int32_t internSymbol(const std::string& text);
  void encodeWord(const std::string& word, std::vector<TokenId>& ids) const;
  // The word split into its merged pieces, as [begin, end) byte spans.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> mergeWord(const std::string& word) const;
  void appendPiece(std::string_view piece, std::vector<TokenId>& ids) const;

  ConfigSource source_;
  std::unordered_map<std::string, TokenId> tokenToId_;
  std::vector<std::string> idToToken_;
  std::vector<bool> hasToken_;
  std::unordered_map<std::string, std::int32_t> symbols_;
  std::unordered_map<std::uint64_t, Merge> merges_;
  std::array<TokenId, 256> byteIds_{};
  TokenId unkId_ = -1;
  std::string unkToken_;
  bool byteFallback_ = false;
  bool fuseUnk_ = false;
  bool ignoreMerges_ = false;

  // Words already merged, with their ids; guarded because encode() is const.
  mutable std::mutex cacheMutex_;
  mutable std::unordered_map<std::string, std::vector<TokenId>> cache_;
};

}  // namespace dmoe::hf
