#include "util/hash.h"

#include <cstdio>
#include <fstream>
#include <vector>

#include "util/error.h"

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
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path)) throw InputError("cannot read " + path.string());
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
    add(std::string_view(buffer.data(), static_cast<size_t>(in.gcount())));
  }
  if (in.bad()) throw InputError("error while reading " + path.string());
  return *this;
}

std::string Hasher::hex() const {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(state_));
  return text;
}

std::string hashHex(std::string_view bytes) { return Hasher().add(bytes).hex(); }

}  // namespace dmoe
