// One interface for every tokenizer the workbench reads:
//   sentencepiece `tokenizer.model` (Llama-2, Gemma, mT5; and the ones we train),
//   Hugging Face `tokenizer.json` (BLOOM, Qwen2/3, Llama-3).
// loadTokenizer() picks the implementation from the file or checkpoint folder.
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dmoe {

using TokenId = std::int32_t;

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // addSpecialTokens: the checkpoint's own BOS/EOS rules (post-processor); the
  // corpus token cache encodes documents without them and adds BOS itself.
  virtual std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens = false) const = 0;
  virtual std::string decode(const std::vector<TokenId>& ids) const = 0;
  virtual std::int64_t vocabSize() const = 0;
  virtual std::string piece(TokenId id) const = 0;
  virtual TokenId bosId() const = 0;  // -1 when the tokenizer has none
  virtual TokenId eosId() const = 0;
  virtual TokenId padId() const = 0;
  virtual TokenId unkId() const = 0;
  virtual std::string kind() const = 0;         // "sentencepiece" | "tokenizer.json"
  // Hash of the tokenizer's defining files: caches built with it are valid while it holds.
  virtual std::string fingerprint() const = 0;

  // encode() of a text of any length in bounded memory, appended to `out`: a
  // text over kPieceBytes is cut after a space (splitLongLine, util/text.h) and
  // encoded piece by piece, so a 50 MB document needs memory for 64 KiB of it.
  // Near each cut the ids may differ from encoding the whole text at once by
  // a token (equal for the sentencepiece models the workbench trains, which
  // drop extra whitespace, when the cut is after a space; a cut with no space
  // within 64 KiB, or a model that keeps whitespace, may differ); shorter texts
  // are encode() exactly.
  static constexpr std::size_t kPieceBytes = std::size_t{1} << 16;
  void encodeInPieces(std::string_view text, std::vector<TokenId>& out) const;
};

// `path`: a tokenizer.model, a tokenizer.json, or a checkpoint folder holding
// one of them (tokenizer.json preferred, as transformers does). Throws
// InputError naming the path when nothing usable is there.
std::unique_ptr<Tokenizer> loadTokenizer(const std::filesystem::path& path);

}  // namespace dmoe
