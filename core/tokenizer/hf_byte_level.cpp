// The GPT-2 bytes_to_unicode table and its inverse.
#include "tokenizer/hf_byte_level.h"

#include <array>
#include <unordered_map>

#include "tokenizer/hf_utf8.h"

namespace dmoe::hf {

namespace {

struct ByteLevelTables {
  std::array<std::string, 256> byteToText;
  std::unordered_map<char32_t, unsigned char> codePointToByte;

  ByteLevelTables() {
    // Printable Latin-1 bytes map to themselves; the rest to 256, 257, ... in byte order.
    auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF); };
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      char32_t cp = printable(b) ? static_cast<char32_t>(b) : next++;
      appendUtf8(byteToText[b], cp);
      codePointToByte.emplace(cp, static_cast<unsigned char>(b));
    }
  }
};

const ByteLevelTables& tables() {
  static const ByteLevelTables instance;
  return instance;
}

}  // namespace

std::string byteLevelEncode(std::string_view bytes) {
  const auto& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t.byteToText[b];
  return out;
}

void byteLevelDecodeAppend(std::string_view text, std::string& bytes) {
  const auto& t = tables();
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t n = utf8Length(static_cast<unsigned char>(text[i]));
    char32_t cp = static_cast<unsigned char>(text[i]) & (n == 1 ? 0x7F : n == 2 ? 0x1F : n == 3 ? 0x0F : 0x07);
    for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    auto it = t.codePointToByte.find(cp);
    if (it != t.codePointToByte.end())
      bytes.push_back(static_cast<char>(it->second));
    else
      bytes.append(text.substr(i, n));
    i += n;
  }
}

}  // namespace dmoe::hf
