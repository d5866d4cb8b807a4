// UTF-8 validation, WHATWG-style lossy decoding, JS white-space trimming.
#include "tokenizer/hf_utf8.h"

namespace dmoe::hf {

namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Scans one sequence at `i`; returns its end if valid, else the end of the
// maximal invalid subpart (the WHATWG decoder resumes there) with `valid` false.
std::size_t scanSequence(std::string_view s, std::size_t i, bool& valid) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  valid = true;
  if (b < 0x80) return i + 1;
  int need = 0;
  unsigned char lower = 0x80, upper = 0xBF;
  if (b >= 0xC2 && b <= 0xDF) {
    need = 1;
  } else if (b >= 0xE0 && b <= 0xEF) {
    need = 2;
    if (b == 0xE0) lower = 0xA0;
    if (b == 0xED) upper = 0x9F;
  } else if (b >= 0xF0 && b <= 0xF4) {
    need = 3;
    if (b == 0xF0) lower = 0x90;
    if (b == 0xF4) upper = 0x8F;
  } else {
    valid = false;
    return i + 1;
  }
  std::size_t j = i + 1;
  for (int seen = 0; seen < need; ++seen, ++j) {
    if (j >= s.size()) {
      valid = false;
      return j;
    }
    unsigned char c = static_cast<unsigned char>(s[j]);
    if (c < lower || c > upper) {
      valid = false;
      return j;
    }
    lower = 0x80;
    upper = 0xBF;
  }
  return j;
}

// Decodes the code point at `i` of valid UTF-8 and advances `i`.
char32_t nextCodePoint(std::string_view s, std::size_t& i) {
  unsigned char b = static_cast<unsigned char>(s[i]);
  std::size_t n = utf8Length(b);
  char32_t cp = n == 1 ? b : n == 2 ? (b & 0x1F) : n == 3 ? (b & 0x0F) : (b & 0x07);
  for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  i += n;
  return cp;
}

bool isJsWhitespace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) ||
         c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000 || c == 0xFEFF;
}

}  // namespace

bool isValidUtf8(std::string_view bytes) {
  std::size_t i = 0;
  while (i < bytes.size()) {
    if (static_cast<unsigned char>(bytes[i]) < 0x80) {
      ++i;
      continue;
    }
    bool valid = false;
    i = scanSequence(bytes, i, valid);
    if (!valid) return false;
  }
  return true;
}

std::string decodeUtf8Lossy(std::string_view bytes) {
  if (isValidUtf8(bytes)) return std::string(bytes);
  std::string out;
  out.reserve(bytes.size() + 8);
  std::size_t i = 0;
  while (i < bytes.size()) {
    bool valid = false;
    std::size_t end = scanSequence(bytes, i, valid);
    if (valid)
      out.append(bytes.substr(i, end - i));
    else
      out.append(kReplacement);
    i = end;
  }
  return out;
}

void appendUtf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string_view trimJsWhitespaceStart(std::string_view text) {
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t next = i;
    if (!isJsWhitespace(nextCodePoint(text, next))) break;
    i = next;
  }
  return text.substr(i);
}

std::string_view trimJsWhitespaceEnd(std::string_view text) {
  std::size_t keep = 0, i = 0;
  while (i < text.size()) {
    char32_t cp = nextCodePoint(text, i);
    if (!isJsWhitespace(cp)) keep = i;
  }
  return text.substr(0, keep);
}

}  // namespace dmoe::hf
