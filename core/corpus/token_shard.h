// Reader of one tokenized shard (<runs_dir>/tokens/<lang>/{pretrain,continual,heldout}.bin
// with its .idx), memory-mapped. Torch-free: training wraps data() with
// torch::from_blob itself.
//
// Format (written by token_cache.h):
//   X.bin  uint32 little-endian token ids, documents back to back;
//   X.idx  uint64 little-endian token offsets, documents + 1 entries:
//          0, end of document 0, …, total token count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>

#include "util/mapped_file.h"

namespace dmoe {

// A view of consecutive token ids inside a shard (C++17 has no std::span).
struct TokenSpan {
  const std::uint32_t* data = nullptr;
  std::size_t size = 0;
  const std::uint32_t* begin() const { return data; }
  const std::uint32_t* end() const { return data + size; }
  std::uint32_t operator[](std::size_t i) const { return data[i]; }
};

class TokenShard {
 public:
  // `binFile`: the .bin; the .idx beside it. Validates both (sizes, offsets
  // ascending, last offset = token count); throws InputError naming the file.
  explicit TokenShard(const std::filesystem::path& binFile);

  std::int64_t tokenCount() const { return static_cast<std::int64_t>(bin_.size() / sizeof(std::uint32_t)); }
  std::int64_t documentCount() const { return static_cast<std::int64_t>(idx_.size() / sizeof(std::uint64_t)) - 1; }
  TokenSpan document(std::int64_t i) const;  // throws std::out_of_range
  const std::uint32_t* data() const { return reinterpret_cast<const std::uint32_t*>(bin_.data()); }
  const std::uint64_t* offsets() const { return reinterpret_cast<const std::uint64_t*>(idx_.data()); }
  const std::filesystem::path& file() const { return bin_.path(); }

 private:
  MappedFile bin_, idx_;
};

// The .idx that belongs to a .bin.
std::filesystem::path tokenIndexFile(const std::filesystem::path& binFile);

}  // namespace dmoe
