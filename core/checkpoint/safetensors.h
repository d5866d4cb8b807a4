// The safetensors file format, torch-free: a validating reader over a memory
// map and an atomic writer. Layout (FORMATS.md): 8-byte little-endian header
// length N, N bytes of JSON {name: {dtype, shape, data_offsets}, __metadata__},
// then the byte buffer the offsets point into. Converting entries to and from
// torch tensors is tensor_bridge.h; checkpoint folders are hf_checkpoint.h.
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/error.h"
#include "util/mapped_file.h"

namespace dmoe::safetensors {

enum class DType { F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL };

std::size_t dtypeSize(DType dtype);
const char* dtypeName(DType dtype);                       // "F32", "BF16", ...
std::optional<DType> dtypeFromName(std::string_view name);  // nullopt when unknown

// The largest header a reader accepts (the reference implementation's limit).
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

// Why a file was rejected; every kind has its own message and hint.
enum class ErrorKind {
  TooShort,           // fewer than 8 bytes
  HeaderTooLarge,     // N > file size - 8 or N > kMaxHeaderBytes
  HeaderStart,        // does not start with '{' (so is no JSON object)
  HeaderNotJson,      // not valid JSON (or not UTF-8)
  DuplicateName,      // a key appears twice in one object
  BadMetadata,        // __metadata__ is not a string → string map
  EntryNotObject,     // a tensor's value is not an object
  MissingField,       // dtype, shape or data_offsets absent
  UnknownDType,
  BadShape,           // not a list of non-negative integers
  BadOffsets,         // data_offsets not [begin, end] non-negative integers
  OffsetsReversed,    // end < begin
  BeyondBuffer,       // end past the end of the byte buffer
  SizeMismatch,       // end - begin != element count × dtype size (or it overflows)
  Overlap,            // two tensors share bytes
  Hole,               // bytes between tensors, or before the first
  TrailingBytes,      // buffer bytes after the last tensor
};

// An InputError with the rejected file, the tensor (empty when the problem is
// not about one) and the kind, for callers and tests that branch on them.
class FormatError : public InputError {
 public:
  FormatError(ErrorKind kind, std::string file, std::string tensor, const std::string& message);
  ErrorKind kind() const { return kind_; }
  const std::string& file() const { return file_; }
  const std::string& tensor() const { return tensor_; }

 private:
  ErrorKind kind_;
  std::string file_, tensor_;
};

struct TensorEntry {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0, end = 0;  // within the byte buffer, end exclusive

  std::int64_t numel() const;
  std::uint64_t byteSize() const { return end - begin; }
};

struct Header {
  std::vector<TensorEntry> tensors;  // sorted by name
  std::map<std::string, std::string> metadata;
  std::uint64_t bufferStart = 0;     // 8 + N: where the byte buffer begins in the file
};

// Validates a whole file's bytes (header and buffer bounds; the data itself
// is not read). `source` names the file in errors. Throws FormatError.
Header parseHeader(std::string_view fileBytes, const std::string& source);

// A mapped, validated file. Tensor bytes are views into the map: they live
// as long as the reader. A FIFO, device or folder in the file's place is an
// InputError naming it (util/mapped_file.h), never waited on.
class Reader {
 public:
  explicit Reader(const std::filesystem::path& file);  // throws InputError / FormatError

  const std::filesystem::path& path() const { return map_.path(); }
  const std::vector<TensorEntry>& tensors() const { return header_.tensors; }
  const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
  const TensorEntry* find(const std::string& name) const;  // nullptr when absent
  std::string_view bytes(const TensorEntry& entry) const;

 private:
  MappedFile map_;
  Header header_;
};

// One tensor to write: raw little-endian C-order bytes of numel × dtype size.
struct TensorData {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::int64_t> shape;
  std::string_view bytes;
};

// Writes the file atomically: tensors contiguous in name order, the header
// padded with spaces to a multiple of 8. Metadata defaults to {"format": "pt"},
// which transformers requires. Throws std::invalid_argument on a byte-size
// mismatch or a duplicate name (a caller bug, not bad input).
void write(const std::filesystem::path& file, const std::vector<TensorData>& tensors,
           const std::map<std::string, std::string>& metadata = {{"format", "pt"}});

}  // namespace dmoe::safetensors
