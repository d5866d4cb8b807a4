#include "util/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <system_error>

#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

static void syncFile(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

AtomicFileWriter::AtomicFileWriter(fs::path target) : target_(std::move(target)) {
  if (target_.has_parent_path()) fs::create_directories(target_.parent_path());
  temp_ = target_;
  temp_ += ".tmp-" + std::to_string(::getpid());
  out_.open(temp_, std::ios::binary | std::ios::trunc);
  if (!out_) throw std::runtime_error("cannot write " + temp_.string() + ": " + std::strerror(errno));
}

AtomicFileWriter::~AtomicFileWriter() {
  if (!committed_) {
    out_.close();
    std::error_code ec;
    fs::remove(temp_, ec);
  }
}

void AtomicFileWriter::commit() {
  out_.flush();
  if (!out_) throw std::runtime_error("write failed: " + temp_.string());
  out_.close();
  syncFile(temp_);
  std::error_code ec;
  fs::rename(temp_, target_, ec);
  if (ec) throw std::runtime_error("cannot rename " + temp_.string() + " to " + target_.string() + ": " + ec.message());
  committed_ = true;
}

void writeFileAtomic(const fs::path& target, std::string_view data) {
  AtomicFileWriter writer(target);
  writer.stream().write(data.data(), static_cast<std::streamsize>(data.size()));
  writer.commit();
}

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError("cannot read " + path.string() + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace dmoe
