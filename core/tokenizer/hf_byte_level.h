// GPT-2's byte-level alphabet (bytes_to_unicode): every byte maps to one
// printable code point, so BPE never sees raw control bytes or spaces.
#pragma once
#include <string>
#include <string_view>

namespace dmoe::hf {

// Each byte of `bytes` replaced by its code point's UTF-8.
std::string byteLevelEncode(std::string_view bytes);

// Appends the bytes that the byte-level code points of `text` (valid UTF-8)
// stand for; a code point outside the alphabet is kept as its own UTF-8.
void byteLevelDecodeAppend(std::string_view text, std::string& bytes);

}  // namespace dmoe::hf
