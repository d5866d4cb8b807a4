#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <system_error>

#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

// fsync a file or folder; false on failure.
static bool syncPath(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}

AtomicFileWriter::AtomicFileWriter(fs::path target) : target_(std::move(target)) {
  if (target_.has_parent_path()) fs::create_directories(target_.parent_path());
  temp_ = target_;
  temp_ += ".tmp-" + std::to_string(::getpid());
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error("cannot write " + target_.string() + ": " + std::strerror(errno));
}

void AtomicFileWriter::failed(const char* what) {
  const int cause = errno;  // the failed write's (ENOSPC, EIO, EDQUOT, …)
  out_.close();
  std::error_code ec;
  fs::remove(temp_, ec);
  committed_ = true;  // nothing left to clean up
  throw std::runtime_error("cannot " + std::string(what) + " " + target_.string() + ": " +
                           (cause ? std::strerror(cause) : "the stream reported an error"));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) {
    out_.close();
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFileWriter::commit() {
  if (!out_) failed("write");  // errno is still the failed write's
  out_.flush();
  if (!out_) failed("write");
  out_.close();
  if (!out_) failed("write");
  if (!syncPath(temp_)) failed("flush to disk");
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) throw std::runtime_error("cannot rename " + temp_.string() + " to " + target_.string() + ": " + ec.message());
  committed_ = true;
  // The rename itself lives in the folder: flush it too (best effort; some file systems refuse).
  syncPath(target_.has_parent_path() ? target_.parent_path() : fs::path("."));
}

void writeFileAtomic(const fs::path& target, std::string_view data) {
  AtomicFileWriter writer(target);
  writer.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  writer.commit();
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + path.string() + ": " + std::strerror(errno));
  if (fs::is_directory(path)) throw InputError("cannot read " + path.string() + ": it is a folder");
  std::ostringstream buffer;
  buffer << in.rdbuf();
  if (in.bad()) throw InputError("error while reading " + path.string() + ": " + std::strerror(errno));
  return buffer.str();
}

namespace {

// "line:column" of the 1-based byte offset `byte` of `text`.
std::string lineColumn(const std::string& text, size_t byte) {
  size_t line = 1, column = 1;
  for (size_t i = 0; i + 1 < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
  }
  return std::to_string(line) + ":" + std::to_string(column);
}

}  // namespace

Json parseJsonText(const std::string& text, const std::string& source) {
  try {
    return Json::parse(text);
  } catch (const Json::parse_error& e) {
    throw InputError(source + ":" + lineColumn(text, e.byte) + ": not valid JSON at byte " + std::to_string(e.byte) +
                     " (" + e.what() + ")");
  } catch (const Json::out_of_range& e) {
    // The lexer names the token ("number overflow parsing '1e999'") but not where it is.
    const std::string what = e.what();
    const size_t open = what.find('\''), close = what.rfind('\'');
    const size_t at = open != std::string::npos && close > open ? text.find(what.substr(open + 1, close - open - 1))
                                                               : std::string::npos;
    throw InputError(source + (at != std::string::npos ? ":" + lineColumn(text, at + 1) : std::string()) +
                     ": not valid JSON (" + what + ")");
  }
}

Json readJsonFile(const std::filesystem::path& path) { return parseJsonText(readFile(path), path.string()); }

}  // namespace dmoe
