// PCRE2-backed patterns for tokenizer.json (see hf_regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/hf_regex.h"

#include <pcre2.h>

#include <cctype>

#include "tokenizer/hf_utf8.h"

namespace dmoe::hf {

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, const ConfigSource& source) : compiled_(std::make_unique<Compiled>()) {
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                  &errorCode, &errorOffset, nullptr);
  if (!compiled_->code) {
    PCRE2_UCHAR message[256];
    pcre2_get_error_message(errorCode, message, sizeof message);
    throwConfigError(source, "regex \"" + pattern + "\" does not compile at offset " + std::to_string(errorOffset) +
                                 ": " + reinterpret_cast<const char*>(message));
  }
  // Without JIT support PCRE2 interprets the pattern: slower, same matches.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> Regex::findAll(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  pcre2_match_data* data = pcre2_match_data_create_from_pattern(compiled_->code, nullptr);
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(compiled_->code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, data, nullptr);
    if (rc < 0) break;  // PCRE2_ERROR_NOMATCH, or a resource limit: no further matches
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data);
    std::size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      start = end;
    } else {
      if (begin >= text.size()) break;
      start = begin + utf8Length(static_cast<unsigned char>(text[begin]));
    }
  }
  pcre2_match_data_free(data);
  return matches;
}

std::string Regex::replaceAll(std::string_view text, std::string_view replacement) const {
  std::string out;
  std::size_t last = 0;
  for (auto [begin, end] : findAll(text)) {
    out.append(text.substr(last, begin - last));
    out.append(replacement);
    last = end;
  }
  out.append(text.substr(last));
  return out;
}

std::string hfPattern(const nlohmann::json& pattern, const ConfigSource& source) {
  if (pattern.is_object() && pattern.contains("String") && pattern["String"].is_string()) {
    std::string literal;
    for (char c : pattern["String"].get<std::string>()) {
      unsigned char u = static_cast<unsigned char>(c);
      if (u < 0x80 && !std::isalnum(u)) literal.push_back('\\');
      literal.push_back(c);
    }
    return literal;
  }
  if (pattern.is_object() && pattern.contains("Regex") && pattern["Regex"].is_string()) {
    std::string regex = pattern["Regex"].get<std::string>();
    // BLOOM's pre-tokenizer nests a character class, which Rust's regex reads
    // as a union and PCRE2 cannot parse; flatten it to the same set.
    const std::string bloomNested = "[^(\\s|[.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C])]";
    const std::string bloomFlat = "[^(\\s|.,!?\xE2\x80\xA6\xE3\x80\x82\xEF\xBC\x8C\xE3\x80\x81\xE0\xA5\xA4\xDB\x94\xD8\x8C]";
    for (std::size_t at = regex.find(bloomNested); at != std::string::npos; at = regex.find(bloomNested, at))
      regex.replace(at, bloomNested.size(), bloomFlat);
    return regex;
  }
  throwConfigError(source, "expected a pattern object {\"String\": ...} or {\"Regex\": ...}");
}

}  // namespace dmoe::hf
