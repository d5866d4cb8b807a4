// A sentencepiece `tokenizer.model` behind the Tokenizer interface: the ones
// shipped with Llama-2, Gemma and mT5 checkpoints, and the ones we train
// (tokenizer_training.h). The library itself is reached only through the
// dlopen'd backend (sentencepiece_backend.h).
#pragma once
#include <filesystem>
#include <memory>

#include "tokenizer/sentencepiece_backend.h"
#include "tokenizer/tokenizer.h"

namespace dmoe {

class SentencePieceTokenizer final : public Tokenizer {
 public:
  // Throws InputError naming `modelFile` if it is missing or not a sentencepiece model.
  explicit SentencePieceTokenizer(const std::filesystem::path& modelFile);

  // addSpecialTokens follows the model families' conventions: BOS in front when
  // the model has one (Llama-2, Gemma), otherwise EOS at the end (mT5).
  std::vector<TokenId> encode(std::string_view text, bool addSpecialTokens = false) const override;
  std::string decode(const std::vector<TokenId>& ids) const override;
  std::int64_t vocabSize() const override;
  std::string piece(TokenId id) const override;
  TokenId bosId() const override;
  TokenId eosId() const override;
  TokenId padId() const override;
  TokenId unkId() const override;
  std::string kind() const override { return "sentencepiece"; }
  // Hash of the model file's bytes.
  std::string fingerprint() const override { return fingerprint_; }

  const std::filesystem::path& file() const { return file_; }

 private:
  std::filesystem::path file_;
  std::unique_ptr<SentencePieceModel> model_;
  std::string fingerprint_;
};

}  // namespace dmoe
