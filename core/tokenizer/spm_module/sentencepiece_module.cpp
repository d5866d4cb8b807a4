// The sentencepiece module (see ../sentencepiece_backend.h for why it exists).
// Built as a shared module linking libsentencepiece; loaded by core with
// RTLD_LOCAL | RTLD_DEEPBIND. Only dmoe_sentencepiece_backend() is exported.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <fstream>
#include <sstream>
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

// The lines of a text file, for the trainer (which then records no input path).
class FileLines final : public sentencepiece::SentenceIterator {
 public:
  explicit FileLines(const std::string& path) : in_(path, std::ios::binary) {
    if (!in_) status_ = sentencepiece::util::Status(sentencepiece::util::StatusCode::kNotFound, "cannot read " + path);
    Next();
  }
  bool done() const override { return done_; }
  void Next() override { done_ = !std::getline(in_, line_); }
  const std::string& value() const override { return line_; }
  sentencepiece::util::Status status() const override { return status_; }

 private:
  std::ifstream in_;
  std::string line_;
  bool done_ = false;
  sentencepiece::util::Status status_;
};

class Backend final : public dmoe::SentencePieceBackend {
 public:
  std::string train(const std::map<std::string, std::string>& options, std::string& model, std::string& vocab) override {
    std::unordered_map<std::string, std::string> kwargs(options.begin(), options.end());
    const auto input = kwargs.find("input");
    if (input == kwargs.end()) return "no \"input\" file to train on";
    FileLines lines(input->second);
    kwargs.erase("input");
    kwargs.erase("model_prefix");
    auto status = sentencepiece::SentencePieceTrainer::Train(kwargs, &lines, &model);
    if (!status.ok()) return status.ToString();
    sentencepiece::SentencePieceProcessor processor;
    status = processor.LoadFromSerializedProto(model);
    if (!status.ok()) return status.ToString();
    std::ostringstream out;
    for (int id = 0; id < processor.GetPieceSize(); ++id) out << processor.IdToPiece(id) << '\t' << processor.GetScore(id) << '\n';
    vocab = out.str();
    return {};
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
