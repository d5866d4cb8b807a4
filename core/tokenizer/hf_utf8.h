// UTF-8 helpers for the tokenizer.json tokenizer: the WHATWG decoder's
// treatment of invalid bytes (what the reference, TextDecoder, does), code
// point stepping over valid text, and JavaScript's notion of white space (the
// added-token lstrip/rstrip of the reference trims with it).
#pragma once
#include <cstddef>
#include <string>
#include <string_view>

namespace dmoe::hf {

bool isValidUtf8(std::string_view bytes);

// `bytes` with every maximal invalid subpart replaced by U+FFFD (WHATWG
// "decode"), so the result is valid UTF-8; valid input comes back unchanged.
std::string decodeUtf8Lossy(std::string_view bytes);

// Length in bytes of the code point starting with `lead` in valid UTF-8.
inline std::size_t utf8Length(unsigned char lead) {
  return lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

void appendUtf8(std::string& out, char32_t codePoint);

// Strip JavaScript white space (String.prototype.trimStart / trimEnd) from valid UTF-8.
std::string_view trimJsWhitespaceStart(std::string_view text);
std::string_view trimJsWhitespaceEnd(std::string_view text);

}  // namespace dmoe::hf
