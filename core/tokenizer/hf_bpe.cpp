// BPE encoding for tokenizer.json (see hf_bpe.h).
#include "tokenizer/hf_bpe.h"

#include <cstdio>
#include <queue>
#include <stdexcept>

#include "tokenizer/hf_utf8.h"
#include "util/error.h"

namespace dmoe::hf {

namespace {

constexpr std::size_t kMaxCachedWordBytes = 256;
constexpr std::size_t kMaxCacheEntries = 200000;

std::uint64_t pairKey(std::int32_t left, std::int32_t right) {
  return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
}

}  // namespace

BpeModel::BpeModel(const nlohmann::json& config, const ConfigSource& source) : source_(source) {
  const std::string type = optionalField<std::string>(config, "type", "BPE", source);
  if (type != "BPE") throwUnsupported(source, "model", type, "BPE");
  if (optionalField<double>(config, "dropout", 0.0, source) > 0.0)
    throwConfigError(source.at("dropout"), "BPE dropout is not supported (tokenization would be random)");
  for (const char* affix : {"continuing_subword_prefix", "end_of_word_suffix"})
    if (!optionalField<std::string>(config, affix, "", source).empty())
      throwConfigError(source.at(affix), "BPE subword affixes are not supported");
  byteFallback_ = optionalField<bool>(config, "byte_fallback", false, source);
  fuseUnk_ = optionalField<bool>(config, "fuse_unk", false, source);
  ignoreMerges_ = optionalField<bool>(config, "ignore_merges", false, source);
  unkToken_ = optionalField<std::string>(config, "unk_token", "", source);

  const auto& vocab = requiredField(config, "vocab", source);
  if (!vocab.is_object()) throwConfigError(source.at("vocab"), "expected an object of token: id");
  tokenToId_.reserve(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it->is_number_integer() || it->get<std::int64_t>() < 0)
      throwConfigError(source.at("vocab").at(it.key()), "expected a non-negative integer id");
    addToken(it.key(), it->get<TokenId>());
  }

  const auto& merges = requiredField(config, "merges", source);
  if (!merges.is_array()) throwConfigError(source.at("merges"), "expected an array");
  merges_.reserve(merges.size());
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const auto& m = merges[i];
    std::string left, right;
    if (m.is_string()) {
      // "a b" (tokenizers < 0.20); like the reference, the text after a second space is ignored
      const std::string& s = m.get_ref<const std::string&>();
      std::size_t space = s.find(' ');
      if (space == std::string::npos) throwConfigError(source.at("merges").at(i), "expected \"left right\"");
      left = s.substr(0, space);
      right = s.substr(space + 1, s.find(' ', space + 1) - space - 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      throwConfigError(source.at("merges").at(i), "expected \"left right\" or [\"left\", \"right\"]");
    }
    std::int32_t l = internSymbol(left), r = internSymbol(right), merged = internSymbol(left + right);
    merges_.insert_or_assign(pairKey(l, r), Merge{static_cast<std::int32_t>(i), merged});  // a repeated pair: last rank wins
  }
}

std::int32_t BpeModel::internSymbol(const std::string& text) {
  return symbols_.try_emplace(text, static_cast<std::int32_t>(symbols_.size())).first->second;
}

void BpeModel::addToken(const std::string& content, TokenId id) {
  tokenToId_[content] = id;
  if (static_cast<std::size_t>(id) >= idToToken_.size()) {
    idToToken_.resize(static_cast<std::size_t>(id) + 1);
    hasToken_.resize(static_cast<std::size_t>(id) + 1, false);
  }
  idToToken_[id] = content;
  hasToken_[id] = true;
  // Lookups derived from the vocabulary follow every addition.
  if (!unkToken_.empty() && content == unkToken_) unkId_ = id;
  if (content.size() == 6 && content.compare(0, 3, "<0x") == 0 && content[5] == '>') {
    unsigned value = 0;
    if (std::sscanf(content.c_str() + 3, "%2X", &value) == 1) byteIds_[value] = id + 1;  // stored +1: 0 = absent
  }
}

std::optional<TokenId> BpeModel::tokenId(const std::string& token) const {
  auto it = tokenToId_.find(token);
  if (it == tokenToId_.end()) return std::nullopt;
  return it->second;
}

const std::string* BpeModel::token(TokenId id) const {
  if (id < 0 || static_cast<std::size_t>(id) >= idToToken_.size() || !hasToken_[id]) return nullptr;
  return &idToToken_[id];
}

void BpeModel::encode(const std::vector<std::string>& words, std::vector<TokenId>& ids) const {
  std::size_t first = ids.size();
  for (const std::string& word : words) encodeWord(word, ids);
  if (!fuseUnk_ || unkId_ < 0) return;
  std::size_t out = first;
  for (std::size_t i = first; i < ids.size(); ++i)
    if (!(ids[i] == unkId_ && out > first && ids[out - 1] == unkId_)) ids[out++] = ids[i];
  ids.resize(out);
}

void BpeModel::encodeWord(const std::string& word, std::vector<TokenId>& ids) const {
  if (word.empty()) return;
  if (ignoreMerges_) {
    auto it = tokenToId_.find(word);
    if (it != tokenToId_.end()) {
      ids.push_back(it->second);
      return;
    }
  }
  const bool cacheable = word.size() < kMaxCachedWordBytes;
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cacheMutex_);
    auto it = cache_.find(word);
    if (it != cache_.end()) {
      ids.insert(ids.end(), it->second.begin(), it->second.end());
      return;
    }
  }
  std::vector<TokenId> wordIds;
  for (auto [begin, end] : mergeWord(word)) appendPiece(std::string_view(word).substr(begin, end - begin), wordIds);
  ids.insert(ids.end(), wordIds.begin(), wordIds.end());
  if (cacheable) {
    std::lock_guard<std::mutex> lock(cacheMutex_);
    if (cache_.size() >= kMaxCacheEntries) cache_.clear();
    cache_.emplace(word, std::move(wordIds));
  }
}

std::vector<std::pair<std::uint32_t, std::uint32_t>> BpeModel::mergeWord(const std::string& word) const {
  struct Node {
    std::uint32_t begin, end;
    std::int32_t symbol;  // -1: not in any merge; kDeleted: merged into its left neighbour
    std::int32_t prev, next;
  };
  constexpr std::int32_t kDeleted = -2;
  struct Candidate {
    std::int32_t rank;
    std::uint32_t position;  // byte offset of the left symbol: ties go to the leftmost pair
    std::int32_t left, right, leftSymbol, rightSymbol, merged;
    bool operator>(const Candidate& o) const { return rank != o.rank ? rank > o.rank : position > o.position; }
  };

  std::vector<Node> nodes;
  for (std::uint32_t i = 0; i < word.size();) {
    std::uint32_t n = static_cast<std::uint32_t>(utf8Length(static_cast<unsigned char>(word[i])));
    auto it = symbols_.find(word.substr(i, n));
    std::int32_t index = static_cast<std::int32_t>(nodes.size());
    nodes.push_back({i, i + n, it == symbols_.end() ? -1 : it->second, index - 1, index + 1});
    i += n;
  }
  nodes.back().next = -1;

  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<Candidate>> queue;
  auto consider = [&](std::int32_t left) {
    if (left < 0) return;
    std::int32_t right = nodes[left].next;
    if (right < 0 || nodes[left].symbol < 0 || nodes[right].symbol < 0) return;
    auto it = merges_.find(pairKey(nodes[left].symbol, nodes[right].symbol));
    if (it == merges_.end()) return;
    queue.push({it->second.rank, nodes[left].begin, left, right, nodes[left].symbol, nodes[right].symbol,
                it->second.merged});
  };
  for (std::int32_t i = 0; i + 1 < static_cast<std::int32_t>(nodes.size()); ++i) consider(i);

  while (!queue.empty()) {
    Candidate c = queue.top();
    queue.pop();
    Node& left = nodes[c.left];
    // Stale: one side has merged since this pair was queued.
    if (left.symbol != c.leftSymbol || left.next != c.right || nodes[c.right].symbol != c.rightSymbol) continue;
    Node& right = nodes[c.right];
    left.end = right.end;
    left.symbol = c.merged;
    left.next = right.next;
    if (right.next >= 0) nodes[right.next].prev = c.left;
    right.symbol = kDeleted;
    consider(left.prev);
    consider(c.left);
  }

  std::vector<std::pair<std::uint32_t, std::uint32_t>> pieces;
  for (std::int32_t i = 0; i >= 0; i = nodes[i].next) pieces.emplace_back(nodes[i].begin, nodes[i].end);
  return pieces;
}

void BpeModel::appendPiece(std::string_view piece, std::vector<TokenId>& ids) const {
  auto it = tokenToId_.find(std::string(piece));
  if (it != tokenToId_.end()) {
    ids.push_back(it->second);
    return;
  }
  if (byteFallback_) {
    bool allBytes = true;
    for (unsigned char b : piece) allBytes = allBytes && byteIds_[b] != 0;
    if (allBytes) {
      for (unsigned char b : piece) ids.push_back(byteIds_[b] - 1);
      return;
    }
  }
  if (unkId_ < 0)
    throw InputError(source_.file.string() + ": BPE piece \"" + std::string(piece) +
                     "\" is not in the vocabulary and the model has no unk_token");
  ids.push_back(unkId_);
}

}  // namespace dmoe::hf
