// Content hashes for manifests and cache invalidation (not cryptographic).
// 64-bit FNV-1a, printed as 16 hex digits; Hasher accumulates several parts.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace dmoe {

class Hasher {
 public:
  Hasher& add(std::string_view bytes);
  Hasher& add(std::uint64_t value);
  // Adds the file's bytes (streamed, any size); InputError unless it is a
  // regular file (util/regular_file.h) that can be read.
  Hasher& addFile(const std::filesystem::path& path);
  std::uint64_t value() const { return state_; }
  std::string hex() const;

 private:
  std::uint64_t state_ = 14695981039346656037ull;
};

std::string hashHex(std::string_view bytes);

}  // namespace dmoe
