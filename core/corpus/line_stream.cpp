#include "corpus/line_stream.h"

#include <zlib.h>
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <vector>

#include "util/error.h"

namespace dmoe {

namespace {

constexpr size_t kChunk = 1 << 16;
constexpr size_t kMaxLine = size_t{256} << 20;  // a longer line is no document: a named error, not all memory

Compression sniff(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  unsigned char magic[4] = {0, 0, 0, 0};
  in.read(reinterpret_cast<char*>(magic), 4);
  const auto got = in.gcount();
  if (got >= 2 && magic[0] == 0x1f && magic[1] == 0x8b) return Compression::Gzip;
  if (got == 4 && magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) return Compression::Zstd;
  return Compression::None;
}

}  // namespace

// Reads decompressed bytes; 0 at the end. Throws InputError with `what` for damaged data.
class LineStream::Source {
 public:
  virtual ~Source() = default;
  virtual size_t read(char* out, size_t size) = 0;
  virtual Compression kind() const = 0;
};

namespace {

class PlainSource : public LineStream::Source {
 public:
  explicit PlainSource(const std::filesystem::path& file) : in_(file, std::ios::binary) {
    if (!in_) throw InputError("cannot open corpus file " + file.string());
  }
  size_t read(char* out, size_t size) override {
    in_.read(out, static_cast<std::streamsize>(size));
    return static_cast<size_t>(in_.gcount());
  }
  Compression kind() const override { return Compression::None; }

 private:
  std::ifstream in_;
};

// Every member in turn (zlib's gzread would end quietly at bytes after a
// member that do not start another one): whatever follows a member must be a
// whole member too, or the file is damaged or truncated.
class GzipSource : public LineStream::Source {
 public:
  explicit GzipSource(const std::filesystem::path& file) : in_(file, std::ios::binary), input_(kChunk) {
    if (!in_) throw InputError("cannot open corpus file " + file.string());
    if (inflateInit2(&z_, 15 + 16) != Z_OK) throw std::bad_alloc();  // 15 + 16: gzip members only
  }
  ~GzipSource() override { inflateEnd(&z_); }
  size_t read(char* out, size_t size) override {
    z_.next_out = reinterpret_cast<Bytef*>(out);
    z_.avail_out = static_cast<uInt>(size);
    while (z_.avail_out == size) {
      if (z_.avail_in == 0 && !fileEnded_) refill();
      if (z_.avail_in == 0 && !memberOpen_) return 0;
      if (!memberOpen_) {
        inflateReset(&z_);
        memberOpen_ = true;
      }
      const int code = inflate(&z_, Z_NO_FLUSH);
      const bool wantsInput = code == Z_BUF_ERROR && z_.avail_in == 0;  // no progress without more bytes
      if (code == Z_STREAM_END) memberOpen_ = false;
      else if (wantsInput && fileEnded_) throw InputError("gzip data is truncated");
      else if (code == Z_MEM_ERROR) throw std::bad_alloc();
      else if (code != Z_OK && !wantsInput)
        throw InputError(std::string("damaged gzip data (") + (z_.msg ? z_.msg : "zlib code " + std::to_string(code)) + ")");
    }
    return size - z_.avail_out;
  }
  Compression kind() const override { return Compression::Gzip; }

 private:
  void refill() {
    in_.read(input_.data(), static_cast<std::streamsize>(input_.size()));
    z_.next_in = reinterpret_cast<Bytef*>(input_.data());
    z_.avail_in = static_cast<uInt>(in_.gcount());
    fileEnded_ = z_.avail_in == 0;
  }

  std::ifstream in_;
  std::vector<char> input_;
  z_stream z_{};
  bool memberOpen_ = false;  // inside a member: the file may not end here
  bool fileEnded_ = false;
};

class ZstdSource : public LineStream::Source {
 public:
  explicit ZstdSource(const std::filesystem::path& file) : in_(file, std::ios::binary) {
    if (!in_) throw InputError("cannot open corpus file " + file.string());
    stream_ = ZSTD_createDStream();  // after the last throw before it: the destructor frees it
    if (!stream_) throw std::bad_alloc();
    input_.resize(ZSTD_DStreamInSize());
  }
  ~ZstdSource() override { ZSTD_freeDStream(stream_); }
  size_t read(char* out, size_t size) override {
    ZSTD_outBuffer output{out, size, 0};
    while (output.pos == 0) {
      if (in_buffer_.pos == in_buffer_.size) {
        in_.read(input_.data(), static_cast<std::streamsize>(input_.size()));
        in_buffer_ = {input_.data(), static_cast<size_t>(in_.gcount()), 0};
        if (in_buffer_.size == 0) {
          if (frameOpen_) throw InputError("zstd data is truncated");
          return 0;
        }
      }
      const size_t left = ZSTD_decompressStream(stream_, &output, &in_buffer_);
      if (ZSTD_isError(left)) throw InputError(std::string("damaged zstd data (") + ZSTD_getErrorName(left) + ")");
      frameOpen_ = left != 0;  // 0: a frame ended exactly here
    }
    return output.pos;
  }
  Compression kind() const override { return Compression::Zstd; }

 private:
  std::ifstream in_;
  ZSTD_DStream* stream_ = nullptr;
  std::vector<char> input_;
  ZSTD_inBuffer in_buffer_{nullptr, 0, 0};
  bool frameOpen_ = false;
};

}  // namespace

const char* compressionName(Compression compression) {
  switch (compression) {
    case Compression::Gzip: return "gzip";
    case Compression::Zstd: return "zstd";
    case Compression::None: break;
  }
  return "plain";
}

LineStream::LineStream(const std::filesystem::path& file) : file_(file) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) throw InputError("cannot open corpus file " + file.string());
  switch (sniff(file)) {
    case Compression::Gzip: source_ = std::make_unique<GzipSource>(file); break;
    case Compression::Zstd: source_ = std::make_unique<ZstdSource>(file); break;
    case Compression::None: source_ = std::make_unique<PlainSource>(file); break;
  }
}

LineStream::~LineStream() = default;

Compression LineStream::compression() const { return source_->kind(); }

bool LineStream::next(std::string& line) {
  for (;;) {
    const size_t newline = buffer_.find('\n', std::max(begin_, scanned_));
    if (newline != std::string::npos) {
      line.assign(buffer_, begin_, newline - begin_);
      begin_ = newline + 1;
      ++lines_;
      return true;
    }
    if (ended_) {
      if (begin_ == buffer_.size()) return false;
      line.assign(buffer_, begin_, std::string::npos);
      begin_ = buffer_.size();
      ++lines_;
      return true;
    }
    buffer_.erase(0, begin_);
    begin_ = 0;
    if (buffer_.size() > kMaxLine)
      throw InputError(file_.string() + ": line " + std::to_string(lines_ + 1) + " is longer than 256 MiB");
    const size_t kept = buffer_.size();
    scanned_ = kept;  // no newline in what is kept: a long line is scanned once
    buffer_.resize(kept + kChunk);
    size_t got = 0;
    try {
      got = source_->read(buffer_.data() + kept, kChunk);
    } catch (const InputError& e) {
      throw InputError(file_.string() + ": " + e.what() + " after line " + std::to_string(lines_));
    }
    buffer_.resize(kept + got);
    ended_ = got == 0;
  }
}

}  // namespace dmoe
