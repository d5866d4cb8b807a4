// Added-token matching with a byte trie (see hf_added_tokens.h).
#include "tokenizer/hf_added_tokens.h"

#include <algorithm>

#include "tokenizer/hf_utf8.h"

namespace dmoe::hf {

AddedTokens::AddedTokens(const nlohmann::json& list, const ConfigSource& source) {
  trie_.emplace_back();
  if (list.is_null()) return;
  if (!list.is_array()) throwConfigError(source, "expected an array");
  for (std::size_t i = 0; i < list.size(); ++i) {
    ConfigSource at = source.at(i);
    AddedToken token;
    token.content = requiredValue<std::string>(list[i], "content", at);
    token.id = requiredValue<TokenId>(list[i], "id", at);
    token.special = optionalField<bool>(list[i], "special", false, at);
    token.lstrip = optionalField<bool>(list[i], "lstrip", false, at);
    token.rstrip = optionalField<bool>(list[i], "rstrip", false, at);
    if (token.content.empty()) throwConfigError(at.at("content"), "an added token cannot be empty");
    tokens_.push_back(std::move(token));
  }
  for (std::size_t t = 0; t < tokens_.size(); ++t) {
    std::int32_t node = 0;
    for (unsigned char byte : tokens_[t].content) {
      std::int32_t next = child(node, byte);
      if (next == 0) {
        next = static_cast<std::int32_t>(trie_.size());
        trie_.emplace_back();
        auto& kids = trie_[node].children;
        kids.insert(std::upper_bound(kids.begin(), kids.end(), std::make_pair(byte, std::int32_t{0})),
                    {byte, next});
        if (node == 0) rootChild_[byte] = next;
      }
      node = next;
    }
    trie_[node].token = static_cast<std::int32_t>(t);  // a repeated content: the later entry wins
  }
}

std::int32_t AddedTokens::child(std::int32_t node, unsigned char byte) const {
  if (node == 0) return rootChild_[byte];
  const auto& kids = trie_[node].children;
  auto it = std::lower_bound(kids.begin(), kids.end(), std::make_pair(byte, std::int32_t{0}));
  return it != kids.end() && it->first == byte ? it->second : 0;
}

std::vector<Section> AddedTokens::split(std::string_view text) const {
  std::vector<Section> sections;
  std::size_t start = 0, i = 0;
  while (i < text.size()) {
    std::int32_t node = rootChild_[static_cast<unsigned char>(text[i])];
    std::int32_t match = -1;
    std::size_t matchEnd = i;
    for (std::size_t j = i + 1; node != 0; ++j) {
      if (trie_[node].token >= 0) {
        match = trie_[node].token;
        matchEnd = j;
      }
      if (j >= text.size()) break;
      node = child(node, static_cast<unsigned char>(text[j]));
    }
    if (match < 0) {
      ++i;
      continue;
    }
    if (i > start) sections.push_back({text.substr(start, i - start), nullptr});
    sections.push_back({text.substr(i, matchEnd - i), &tokens_[match]});
    i = start = matchEnd;
  }
  if (start < text.size()) sections.push_back({text.substr(start), nullptr});

  for (std::size_t s = 0; s < sections.size(); ++s) {
    if (!sections[s].token) continue;
    if (sections[s].token->lstrip && s > 0 && !sections[s - 1].token)
      sections[s - 1].text = trimJsWhitespaceEnd(sections[s - 1].text);
    if (sections[s].token->rstrip && s + 1 < sections.size() && !sections[s + 1].token)
      sections[s + 1].text = trimJsWhitespaceStart(sections[s + 1].text);
  }
  return sections;
}

}  // namespace dmoe::hf
