// PCRE2-backed patterns for tokenizer.json (see hf_regex.h).
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer/hf_regex.h"

#include <pcre2.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <new>

#include "tokenizer/hf_utf8.h"

namespace dmoe::hf {

namespace {

// PCRE2 counts its match limit per start position of one pcre2_match call.
// The Llama-3 and Qwen patterns take about one step per byte of a whitespace
// run (`\s*[\r\n]+` backtracks over it: measured n + 19 steps for n spaces,
// under 320 on 1 MB of mixed UDHR text), so PCRE2's fixed default of 10^7
// would reject a 10 MB run of spaces. The limit is that default plus 16 steps
// per byte of the text: room for patterns with several such alternatives,
// while exponential backtracking (2^n steps for "(x|x)+y" on n x's) still
// reaches it (about 50 ms with JIT for a 64 KB text).
constexpr std::uint64_t kMatchLimitBase = 10'000'000;
constexpr std::uint64_t kMatchLimitPerByte = 16;
// PCRE2's own JIT stack (32 KiB) runs out on a group repeated over ~10^4
// characters ("(?:ab)+"); 8 MiB, reserved and used as needed, holds ~10^6.
constexpr std::size_t kJitStackStart = 32 * 1024;
constexpr std::size_t kJitStackMax = 8 * 1024 * 1024;
// Without JIT the interpreter keeps its backtracking frames on the heap,
// which PCRE2 caps at 20 GB by default; 1 GiB here.
constexpr std::uint32_t kHeapLimitKiB = 1024 * 1024;

// One thread's match context (limits, JIT stack): findAll runs once per word
// and a JIT stack is a mapping, so each thread makes them once.
class MatchContext {
 public:
  MatchContext()
      : context_(pcre2_match_context_create(nullptr)),
        stack_(pcre2_jit_stack_create(kJitStackStart, kJitStackMax, nullptr)) {
    if (!context_) throw std::bad_alloc();
    pcre2_set_heap_limit(context_, kHeapLimitKiB);
    pcre2_jit_stack_assign(context_, nullptr, stack_);  // a null stack_: PCRE2's 32 KiB
  }
  ~MatchContext() {
    pcre2_jit_stack_free(stack_);
    pcre2_match_context_free(context_);
  }
  MatchContext(const MatchContext&) = delete;
  MatchContext& operator=(const MatchContext&) = delete;

  // The context with the match limit for a text of `bytes` bytes.
  pcre2_match_context* forText(std::size_t bytes) {
    const std::uint64_t limit = kMatchLimitBase + kMatchLimitPerByte * bytes;
    pcre2_set_match_limit(context_, static_cast<std::uint32_t>(std::min<std::uint64_t>(limit, UINT32_MAX)));
    return context_;
  }

 private:
  pcre2_match_context* context_;
  pcre2_jit_stack* stack_;
};

std::string pcre2Message(int code) {
  PCRE2_UCHAR message[256];
  pcre2_get_error_message(code, message, sizeof message);
  return reinterpret_cast<const char*>(message);
}

// A pcre2_match error other than "no match": a limit reached while searching
// from byte `start`, or text that is not UTF-8.
[[noreturn]] void throwMatchError(const ConfigSource& source, const std::string& pattern, int rc, std::size_t start,
                                  std::size_t textBytes) {
  const std::string what = "regex \"" + pattern + "\"";
  const std::string text = std::to_string(textBytes) + "-byte text";
  if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21)
    throwConfigError(source, what + " was given a " + text + " that is not valid UTF-8: " + pcre2Message(rc));
  throwConfigError(source, what + " gave up searching from byte " + std::to_string(start) + " of a " + text + ": " +
                               pcre2Message(rc) +
                               " (PCRE2 backtracks where the tokenizers library does not; a nested repeat such as "
                               "(x|x)+ takes exponential time), so the text cannot be split as the file intends");
}

}  // namespace

struct Regex::Compiled {
  pcre2_code* code = nullptr;
  ~Compiled() { pcre2_code_free(code); }
};

Regex::Regex(const std::string& pattern, const ConfigSource& source)
    : compiled_(std::make_unique<Compiled>()), pattern_(pattern), source_(source) {
  int errorCode = 0;
  PCRE2_SIZE errorOffset = 0;
  compiled_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                                  &errorCode, &errorOffset, nullptr);
  if (!compiled_->code)
    throwConfigError(source, "regex \"" + pattern + "\" does not compile at offset " + std::to_string(errorOffset) +
                                 ": " + pcre2Message(errorCode));
  // Without JIT support PCRE2 interprets the pattern: slower, same matches.
  pcre2_jit_compile(compiled_->code, PCRE2_JIT_COMPLETE);
}

Regex::~Regex() = default;

std::vector<std::pair<std::size_t, std::size_t>> Regex::findAll(std::string_view text) const {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  thread_local MatchContext threadContext;
  pcre2_match_context* context = threadContext.forText(text.size());
  const std::unique_ptr<pcre2_match_data, decltype(&pcre2_match_data_free)> data(
      pcre2_match_data_create_from_pattern(compiled_->code, nullptr), &pcre2_match_data_free);
  if (!data) throw std::bad_alloc();
  const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::uint32_t options = 0;  // the first call checks that the whole text is UTF-8
  std::size_t start = 0;
  while (start <= text.size()) {
    int rc = pcre2_match(compiled_->code, subject, text.size(), start, options, data.get(), context);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) throwMatchError(source_, pattern_, rc, start, text.size());
    options = PCRE2_NO_UTF_CHECK;
    std::size_t begin = ovector[0], end = ovector[1];
    if (end > begin) {
      matches.emplace_back(begin, end);
      start = end;
    } else {
      if (begin >= text.size()) break;
      start = begin + utf8Length(static_cast<unsigned char>(text[begin]));
    }
  }
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
