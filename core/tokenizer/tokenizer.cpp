// loadTokenizer: picks the Tokenizer implementation from a file or a
// checkpoint folder; encodeInPieces: long texts in bounded memory.
#include "tokenizer/tokenizer.h"

#include "tokenizer/hf_tokenizer.h"
#include "tokenizer/sentencepiece_tokenizer.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

void Tokenizer::encodeInPieces(std::string_view text, std::vector<TokenId>& out) const {
  for (std::string_view piece : splitLongLine(text, kPieceBytes)) {
    const std::vector<TokenId> ids = encode(piece);
    out.insert(out.end(), ids.begin(), ids.end());
  }
}

std::unique_ptr<Tokenizer> loadTokenizer(const fs::path& path) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    // As transformers does: the fast tokenizer.json first.
    if (fs::is_regular_file(path / "tokenizer.json", ec)) return loadHfTokenizer(path / "tokenizer.json");
    if (fs::is_regular_file(path / "tokenizer.model", ec))
      return std::make_unique<SentencePieceTokenizer>(path / "tokenizer.model");
    throw InputError(path.string() + ": the folder holds neither tokenizer.json nor tokenizer.model");
  }
  if (!fs::exists(path, ec)) throw InputError(path.string() + ": no such tokenizer file or checkpoint folder");
  if (path.extension() == ".json") return loadHfTokenizer(path);
  return std::make_unique<SentencePieceTokenizer>(path);
}

}  // namespace dmoe
