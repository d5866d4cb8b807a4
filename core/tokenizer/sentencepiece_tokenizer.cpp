// SentencePieceTokenizer: thin adapter from the backend's model to Tokenizer.
#include "tokenizer/sentencepiece_tokenizer.h"

#include "util/error.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

SentencePieceTokenizer::SentencePieceTokenizer(const fs::path& modelFile) : file_(modelFile) {
  std::error_code ec;
  if (!fs::is_regular_file(modelFile, ec))
    throw InputError(modelFile.string() + ": no such sentencepiece model file");
  std::string error;
  model_.reset(sentencePiece().load(modelFile.string(), error));
  if (!model_)
    throw InputError(modelFile.string() + ": not a readable sentencepiece model (" + error + ")");
  fingerprint_ = Hasher().addFile(modelFile).hex();
}

std::vector<TokenId> SentencePieceTokenizer::encode(std::string_view text, bool addSpecialTokens) const {
  std::vector<int> ids;
  model_->encode(text, ids);
  if (addSpecialTokens) {
    if (model_->bosId() >= 0) ids.insert(ids.begin(), model_->bosId());
    else if (model_->eosId() >= 0) ids.push_back(model_->eosId());
  }
  return std::vector<TokenId>(ids.begin(), ids.end());
}

std::string SentencePieceTokenizer::decode(const std::vector<TokenId>& ids) const {
  return model_->decode(std::vector<int>(ids.begin(), ids.end()));
}

std::int64_t SentencePieceTokenizer::vocabSize() const { return model_->size(); }

std::string SentencePieceTokenizer::piece(TokenId id) const {
  if (id < 0 || id >= model_->size())
    throw InputError("token id " + std::to_string(id) + " is outside the vocabulary of " + file_.string() +
                     " (size " + std::to_string(model_->size()) + ")");
  return model_->piece(id);
}

TokenId SentencePieceTokenizer::bosId() const { return model_->bosId(); }
TokenId SentencePieceTokenizer::eosId() const { return model_->eosId(); }
TokenId SentencePieceTokenizer::padId() const { return model_->padId(); }
TokenId SentencePieceTokenizer::unkId() const { return model_->unkId(); }

}  // namespace dmoe
