#include "util/hash.h"

#include <cstdio>
#include <vector>

#include "util/regular_file.h"

namespace dmoe {

Hasher& Hasher::add(std::string_view bytes) {
  for (unsigned char c : bytes) {
    state_ ^= c;
    state_ *= 1099511628211ull;
  }
  return *this;
}

Hasher& Hasher::add(std::uint64_t value) {
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((value >> (8 * i)) & 0xff);
  return add(std::string_view(bytes, 8));
}

Hasher& Hasher::addFile(const std::filesystem::path& path) {
  RegularFile file(path);
  std::vector<char> buffer(1 << 20);
  while (const std::size_t n = file.read(buffer.data(), buffer.size())) add(std::string_view(buffer.data(), n));
  return *this;
}

std::string Hasher::hex() const {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(state_));
  return text;
}

std::string hashHex(std::string_view bytes) { return Hasher().add(bytes).hex(); }

}  // namespace dmoe
