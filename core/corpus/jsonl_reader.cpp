// JsonlReader and the UTF-8 checks it relies on. The raw bytes of a line are
// checked before the JSON parser sees them: nlohmann_json throws on invalid
// UTF-8 inside strings, and "invalid UTF-8 at byte N" says more than its message.
#include "corpus/jsonl_reader.h"

#include "corpus/line_stream.h"

#include <nlohmann/json.hpp>

#include "util/error.h"

namespace dmoe {

namespace {

// Length of the well-formed sequence starting at bytes[i], or 0 (RFC 3629 table 3-7).
std::size_t sequenceLength(std::string_view bytes, std::size_t i) {
  auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
  unsigned char b = byte(i);
  if (b < 0x80) return 1;
  std::size_t length;
  unsigned char low = 0x80, high = 0xBF;  // range of the second byte
  if (b >= 0xC2 && b <= 0xDF) length = 2;
  else if (b == 0xE0) length = 3, low = 0xA0;
  else if (b == 0xED) length = 3, high = 0x9F;  // no surrogates
  else if (b >= 0xE1 && b <= 0xEF) length = 3;
  else if (b == 0xF0) length = 4, low = 0x90;
  else if (b == 0xF4) length = 4, high = 0x8F;  // ≤ U+10FFFF
  else if (b >= 0xF1 && b <= 0xF3) length = 4;
  else return 0;
  if (i + length > bytes.size()) return 0;
  if (byte(i + 1) < low || byte(i + 1) > high) return 0;
  for (std::size_t k = 2; k < length; ++k)
    if (byte(i + k) < 0x80 || byte(i + k) > 0xBF) return 0;
  return length;
}

char32_t decodeAt(std::string_view bytes, std::size_t i, std::size_t length) {
  auto byte = [&](std::size_t k) { return static_cast<char32_t>(static_cast<unsigned char>(bytes[k])); };
  static const char32_t leadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t c = byte(i) & leadMask[length];
  for (std::size_t k = 1; k < length; ++k) c = (c << 6) | (byte(i + k) & 0x3F);
  return c;
}

bool isWhiteSpace(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F ||
         c == 0x3000;
}

std::string withoutExceptionPrefix(const std::string& message) {
  std::size_t end = message.rfind("] ", message.find(' '));
  return end == std::string::npos ? message : message.substr(end + 2);
}

// A raw line without its "\r" (CRLF) and, on line 1, a UTF-8 byte-order mark.
std::string_view lineContent(std::string_view line, std::int64_t number) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  if (number == 1 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
  return line;
}

}  // namespace

std::size_t firstInvalidUtf8(std::string_view bytes) {
  for (std::size_t i = 0; i < bytes.size();) {
    std::size_t length = sequenceLength(bytes, i);
    if (length == 0) return i;
    i += length;
  }
  return std::string_view::npos;
}

bool isValidUtf8(std::string_view bytes) { return firstInvalidUtf8(bytes) == std::string_view::npos; }

std::int64_t countCodePoints(std::string_view validUtf8) {
  std::int64_t count = 0;
  for (unsigned char b : validUtf8) count += (b & 0xC0) != 0x80;
  return count;
}

bool isBlankText(std::string_view validUtf8) {
  for (std::size_t i = 0; i < validUtf8.size();) {
    std::size_t length = sequenceLength(validUtf8, i);
    if (length == 0 || !isWhiteSpace(decodeAt(validUtf8, i, length))) return false;
    i += length;
  }
  return true;
}

JsonlReader::JsonlReader(std::filesystem::path file, std::string textKey)
    : file_(std::move(file)), textKey_(std::move(textKey)), in_(std::make_unique<LineStream>(file_)) {}

JsonlReader::~JsonlReader() = default;

Compression JsonlReader::compression() const { return in_->compression(); }

bool JsonlReader::next(Document& document) {
  while (in_->next(buffer_)) {
    ++line_;
    std::string reason = parseCorpusLine(lineContent(buffer_, line_), textKey_, document.text);
    if (!reason.empty()) {
      ++issueCount_;
      if (issues_.size() < kCorpusIssueExamples) issues_.push_back({file_, line_, std::move(reason)});
      continue;
    }
    document.line = line_;
    document.index = index_++;
    return true;
  }
  return false;
}

std::string parseCorpusLine(std::string_view line, const std::string& textKey, std::string& text) {
  if (line.find_first_not_of(" \t\f\v") == std::string_view::npos) return "empty line";
  std::size_t bad = firstInvalidUtf8(line);
  if (bad != std::string_view::npos) return "invalid UTF-8 at byte " + std::to_string(bad + 1) + " of the line";
  nlohmann::json value;
  try {
    value = nlohmann::json::parse(line);
  } catch (const nlohmann::json::exception& e) {
    return "not JSON: " + withoutExceptionPrefix(e.what());
  }
  if (!value.is_object()) return std::string("not a JSON object (got ") + value.type_name() + ")";
  auto found = value.find(textKey);
  if (found == value.end()) return "no \"" + textKey + "\" key";
  if (!found->is_string()) return "\"" + textKey + "\" is not a string (got " + found->type_name() + ")";
  text = found->get_ref<const std::string&>();
  if (isBlankText(text)) return text.empty() ? "empty text" : "text is only whitespace";
  return {};
}

std::string firstLineProblem(const std::filesystem::path& file, const std::string& textKey) {
  LineStream in(file);
  std::string line, text;
  if (!in.next(line)) return "empty file";
  return parseCorpusLine(lineContent(line, 1), textKey, text);
}

}  // namespace dmoe
