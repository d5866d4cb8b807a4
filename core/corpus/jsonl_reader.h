// Streaming reader of one language's corpus file in the jsonl-per-language
// layout (CulturaX / MADLAD-400 exports): one JSON object per line, the text
// under `text_key`; plain, gzip or zstd (corpus/line_stream.h). Streams:
// multi-gigabyte files never sit in memory. A truncated or damaged compressed
// file is an InputError naming the file and the line it broke after.
//
// Bad lines never stop a read and are never dropped silently: each is counted
// (issueCount) and the first kCorpusIssueExamples become CorpusIssues (file,
// 1-based line, reason) — empty line, invalid UTF-8, not JSON, not an object,
// no text key, text not a string, empty text. Later ones are counted only:
// memory does not grow with the number of bad lines.
// Lines may end in LF or CRLF; a UTF-8 byte-order mark before line 1 is skipped.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace dmoe {

class LineStream;
enum class Compression;

// How many bad lines of a file are kept as examples (the rest are counted).
constexpr std::size_t kCorpusIssueExamples = 20;

struct CorpusIssue {
  std::filesystem::path file;
  std::int64_t line = 0;
  std::string reason;
  std::string where() const { return file.string() + ":" + std::to_string(line); }
};

struct Document {
  std::string text;
  std::int64_t line = 0;   // 1-based line in the file
  std::int64_t index = 0;  // 0-based index among the file's valid documents
};

// One corpus line: "" with `text` set to the document, or the line's problem
// (empty, invalid UTF-8 at byte n, not JSON, not an object, no `textKey`
// string, blank text). Never throws for any bytes.
std::string parseCorpusLine(std::string_view line, const std::string& textKey, std::string& text);

// The problem of the file's first line as a corpus line ("" when it is a
// document), reading that line only: tells a JSON-lines file from another
// JSON file. InputError when the file cannot be read.
std::string firstLineProblem(const std::filesystem::path& file, const std::string& textKey);

class JsonlReader {
 public:
  // Throws InputError naming the file if it cannot be opened.
  JsonlReader(std::filesystem::path file, std::string textKey = "text");
  ~JsonlReader();
  // Next valid document; false at the end. Bad lines are skipped into issueCount().
  bool next(Document& document);
  // The first kCorpusIssueExamples bad lines read so far, in file order.
  const std::vector<CorpusIssue>& issues() const { return issues_; }
  // Every bad line read so far.
  std::int64_t issueCount() const { return issueCount_; }
  const std::filesystem::path& file() const { return file_; }
  Compression compression() const;

 private:
  std::filesystem::path file_;
  std::string textKey_;
  std::unique_ptr<LineStream> in_;
  std::string buffer_;
  std::int64_t line_ = 0, index_ = 0, issueCount_ = 0;
  std::vector<CorpusIssue> issues_;
};

// True if `bytes` is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF).
bool isValidUtf8(std::string_view bytes);
// Byte offset of the first ill-formed sequence, or npos if the text is valid.
std::size_t firstInvalidUtf8(std::string_view bytes);
// Unicode code points in valid UTF-8 text (= bytes that do not continue a sequence).
std::int64_t countCodePoints(std::string_view validUtf8);
// True if valid UTF-8 text holds only Unicode White_Space characters (or nothing).
bool isBlankText(std::string_view validUtf8);

}  // namespace dmoe
