// LineStream: the lines of a corpus file, read as a stream whatever its
// compression — plain, gzip (MADLAD-400's *.jsonl.gz; several concatenated
// members read as one) or zstd (*.jsonl.zst). The compression is told by the
// file's first bytes, not its name. Memory is one buffer and the longest line,
// whatever the file's size.
//
// A damaged or truncated compressed file is an InputError naming the file
// and the last whole line read before it ("…: gzip data is truncated after
// line 41"), never a crash or a silently shortened corpus: bytes after a
// gzip member or zstd frame must be another whole one (a damaged header, or
// trailing garbage, is "damaged gzip data (…) after line 60"); so is a line
// longer than 256 MiB (a decompression bomb cannot take all memory).
//
// Not here: what a line means (corpus/jsonl_reader.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

namespace dmoe {

enum class Compression { None, Gzip, Zstd };

// "plain", "gzip" or "zstd".
const char* compressionName(Compression compression);

class LineStream {
 public:
  // InputError naming the file when it cannot be opened.
  explicit LineStream(const std::filesystem::path& file);
  ~LineStream();
  LineStream(const LineStream&) = delete;
  LineStream& operator=(const LineStream&) = delete;

  // The next line without its "\n" (a final line without one counts); false at the end.
  bool next(std::string& line);
  Compression compression() const;

  class Source;  // the decoder (line_stream.cpp)

 private:
  std::filesystem::path file_;
  std::unique_ptr<Source> source_;
  std::string buffer_;
  size_t begin_ = 0;    // unread bytes are buffer_[begin_, end)
  size_t scanned_ = 0;  // buffer_[begin_, scanned_) holds no newline
  bool ended_ = false;
  std::int64_t lines_ = 0;
};

}  // namespace dmoe
