// The boundary between dmoe_core and sentencepiece.
//
// Why a boundary: Debian's libsentencepiece bundles protobuf-lite and exports
// it; linked into a process beside LibTorch (which loads the full
// libprotobuf), the two interpose on each other and the process crashes at
// start-up. So sentencepiece lives in a small module (spm_module/) that core
// loads with RTLD_LOCAL | RTLD_DEEPBIND: its protobuf stays private. Calls go
// through this abstract interface (vtables, no symbol lookups); no exception
// crosses it — errors come back as strings.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dmoe {

class SentencePieceModel {
 public:
  virtual ~SentencePieceModel() = default;
  virtual void encode(std::string_view text, std::vector<int>& ids) const = 0;
  virtual std::string decode(const std::vector<int>& ids) const = 0;
  virtual int size() const = 0;
  virtual std::string piece(int id) const = 0;
  virtual int pieceToId(std::string_view piece) const = 0;
  virtual int bosId() const = 0;  // -1 when the model has none
  virtual int eosId() const = 0;
  virtual int unkId() const = 0;
  virtual int padId() const = 0;
  virtual bool isByte(int id) const = 0;
  virtual bool isControl(int id) const = 0;
};

class SentencePieceBackend {
 public:
  virtual ~SentencePieceBackend() = default;
  // `options`: sentencepiece trainer flags without the dashes; a map, so paths
  // may contain spaces. Its "input" (a text file, one sentence a line) is read
  // by the module and not handed to sentencepiece, and nothing is written:
  // the model's bytes come back in `model` and its vocabulary ("piece\tscore"
  // lines, as sentencepiece's .vocab) in `vocab`. So no path lands in the
  // model, and training the same sample twice gives the same bytes.
  // "" on success, else the error.
  virtual std::string train(const std::map<std::string, std::string>& options, std::string& model, std::string& vocab) = 0;
  // nullptr on failure, with the reason in `error`.
  virtual SentencePieceModel* load(const std::string& path, std::string& error) = 0;
};

// The process-wide backend; loads the module on first use. Throws
// std::runtime_error naming the module path if it cannot be loaded.
SentencePieceBackend& sentencePiece();

}  // namespace dmoe

// The module's one exported symbol.
extern "C" dmoe::SentencePieceBackend* dmoe_sentencepiece_backend();
