#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <system_error>

#include "util/error.h"
#include "util/owned_paths.h"
#include "util/regular_file.h"

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
  temp_ = scratchPath(target_);
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

bool writeFileAtomicIfChanged(const fs::path& target, std::string_view data) {
  std::error_code ec;
  if (fs::is_regular_file(target, ec) && fs::file_size(target, ec) == data.size()) {
    std::ifstream in(target, std::ios::binary);
    std::string held(data.size(), '\0');
    if (in.read(held.data(), static_cast<std::streamsize>(held.size())) && held == data) return false;
  }
  writeFileAtomic(target, data);
  return true;
}

std::string readFile(const fs::path& path) { return RegularFile(path).readAll(); }

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

namespace {

// SAX events → the pointer of each repeated key. A container frame holds the
// keys seen (objects) or the next index (arrays); `pending` is the token of the
// value about to start.
class DuplicateKeyFinder {
 public:
  std::vector<std::string> found;

  bool null() { return value(); }
  bool boolean(bool) { return value(); }
  bool number_integer(Json::number_integer_t) { return value(); }
  bool number_unsigned(Json::number_unsigned_t) { return value(); }
  bool number_float(Json::number_float_t, const Json::string_t&) { return value(); }
  bool string(Json::string_t&) { return value(); }
  bool binary(Json::binary_t&) { return value(); }
  bool start_object(std::size_t) { return open(true); }
  bool start_array(std::size_t) { return open(false); }
  bool end_object() { return close(); }
  bool end_array() { return close(); }
  bool key(Json::string_t& k) {
    Frame& f = frames_.back();
    pending_ = jsonPointerToken(k);
    const std::string pointer = pointerOfChild();
    if (!f.keys.insert(k).second && reported_.insert(pointer).second) found.push_back(pointer);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) { return false; }

 private:
  struct Frame {
    bool object;
    std::string pointer;
    std::set<std::string> keys;
    size_t next = 0;
  };
  // The pointer of the value about to start inside the innermost container.
  std::string pointerOfChild() const {
    const Frame& f = frames_.back();
    return f.pointer + "/" + (f.object ? pending_ : std::to_string(f.next));
  }
  bool value() {
    if (!frames_.empty() && !frames_.back().object) ++frames_.back().next;
    return true;
  }
  bool open(bool object) {
    std::string pointer = frames_.empty() ? std::string() : pointerOfChild();
    value();
    frames_.push_back({object, std::move(pointer), {}, 0});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
  std::vector<Frame> frames_;
  std::set<std::string> reported_;
  std::string pending_;
};

}  // namespace

std::vector<std::string> duplicateKeyPointers(const std::string& text) {
  DuplicateKeyFinder finder;
  if (!Json::sax_parse(text, &finder)) return {};
  return finder.found;
}

}  // namespace dmoe
