// The sentencepiece module (see ../sentencepiece_backend.h for why it exists).
// Built as a shared module linking libsentencepiece; loaded by core with
// RTLD_LOCAL | RTLD_DEEPBIND. Only dmoe_sentencepiece_backend() is exported.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <unordered_map>

#include "tokenizer/sentencepiece_backend.h"

namespace {

class Model final : public dmoe::SentencePieceModel {
 public:
  sentencepiece::SentencePieceProcessor processor;

  void encode(std::string_view text, std::vector<int>& ids) const override {
    ids.clear();
    processor.Encode(text, &ids).IgnoreError();
  }
  std::string decode(const std::vector<int>& ids) const override {
    std::string text;
    processor.Decode(ids, &text).IgnoreError();
    return text;
  }
  int size() const override { return processor.GetPieceSize(); }
  std::string piece(int id) const override { return processor.IdToPiece(id); }
  int pieceToId(std::string_view piece) const override { return processor.PieceToId(piece); }
  int bosId() const override { return processor.bos_id(); }
  int eosId() const override { return processor.eos_id(); }
  int unkId() const override { return processor.unk_id(); }
  int padId() const override { return processor.pad_id(); }
  bool isByte(int id) const override { return processor.IsByte(id); }
  bool isControl(int id) const override { return processor.IsControl(id); }
};

class Backend final : public dmoe::SentencePieceBackend {
 public:
  std::string train(const std::map<std::string, std::string>& options) override {
    const std::unordered_map<std::string, std::string> kwargs(options.begin(), options.end());
    auto status = sentencepiece::SentencePieceTrainer::Train(kwargs);
    return status.ok() ? std::string() : status.ToString();
  }
  dmoe::SentencePieceModel* load(const std::string& path, std::string& error) override {
    auto model = std::make_unique<Model>();
    auto status = model->processor.Load(path);
    if (!status.ok()) {
      error = status.ToString();
      return nullptr;
    }
    return model.release();
  }
};

}  // namespace

extern "C" __attribute__((visibility("default"))) dmoe::SentencePieceBackend* dmoe_sentencepiece_backend() {
  static Backend backend;
  return &backend;
}
