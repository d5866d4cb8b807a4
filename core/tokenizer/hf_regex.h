// The regular expressions of tokenizer.json (Split / Replace patterns),
// compiled with PCRE2 (UTF + Unicode properties, JIT when available).
// Patterns are written for Rust's regex crate (the one the `tokenizers`
// library uses); hfPattern() turns a {"String"| "Regex"} object into PCRE2
// syntax, rewriting the few constructs PCRE2 reads differently.
//
// PCRE2 backtracks where Rust's regex crate does not, so a pattern can give
// up on a text (match, depth or heap limit, JIT stack): that is an InputError
// naming the file, the JSON path and the pattern, never a shorter list of
// matches. The limits leave room for the real tokenizers' patterns on any
// text (see kMatchLimitPerByte in hf_regex.cpp); exponential backtracking
// such as "(x|x)+y" still reaches them within a fraction of a second.
#pragma once
#include <cstddef>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tokenizer/hf_config.h"

namespace dmoe::hf {

class Regex {
 public:
  // Throws InputError naming `source` when the pattern does not compile.
  Regex(const std::string& pattern, const ConfigSource& source);
  ~Regex();
  Regex(const Regex&) = delete;
  Regex& operator=(const Regex&) = delete;

  // Non-overlapping matches, left to right, as [begin, end) byte offsets of
  // `text`. An empty match advances by one code point. InputError naming the
  // source and the pattern when PCRE2 gives up or `text` is not valid UTF-8.
  std::vector<std::pair<std::size_t, std::size_t>> findAll(std::string_view text) const;

  // `text` with every match replaced by `replacement` (taken literally).
  std::string replaceAll(std::string_view text, std::string_view replacement) const;

 private:
  struct Compiled;
  std::unique_ptr<Compiled> compiled_;
  std::string pattern_;
  ConfigSource source_;
};

// PCRE2 pattern for a tokenizer.json pattern object: {"String": s} matches s
// literally, {"Regex": r} is r as the Rust regex crate reads it.
std::string hfPattern(const nlohmann::json& pattern, const ConfigSource& source);

}  // namespace dmoe::hf
