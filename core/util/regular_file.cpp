// Regular files only (see the header).
#include "util/regular_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "util/error.h"
#include "util/mapped_file.h"  // requireRegularFile

namespace fs = std::filesystem;

namespace dmoe {

namespace {

[[noreturn]] void cannotRead(const fs::path& path, int cause) {
  throw InputError("cannot read " + path.string() + ": " + std::strerror(cause));
}

}  // namespace

RegularFile::RegularFile(const fs::path& path) : path_(path) {
  requireRegularFile(path);  // a FIFO or a device is named without being opened at all
  fd_ = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
  if (fd_ < 0) cannotRead(path, errno);
  auto fail = [&](int cause) {
    ::close(fd_);
    cannotRead(path, cause);
  };
  struct stat info {};
  if (::fstat(fd_, &info) != 0) fail(errno);
  if (!S_ISREG(info.st_mode)) {  // swapped in after the check: named by checking again
    ::close(fd_);
    requireRegularFile(path);
    throw InputError(path.string() + ": replaced while it was being opened");
  }
  // Reads of a regular file never wait anyway; cleared so the descriptor behaves as any other.
  const int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags & ~O_NONBLOCK) != 0) fail(errno);
  size_ = static_cast<std::uint64_t>(info.st_size);
}

RegularFile::~RegularFile() { ::close(fd_); }

std::size_t RegularFile::read(char* buffer, std::size_t capacity) {
  for (;;) {
    const ssize_t n = ::read(fd_, buffer, capacity);
    if (n >= 0) return static_cast<std::size_t>(n);
    if (errno != EINTR) throw InputError("error while reading " + path_.string() + ": " + std::strerror(errno));
  }
}

std::string RegularFile::readAll() {
  std::string bytes;
  bytes.reserve(size_);
  char chunk[1 << 16];
  while (const std::size_t n = read(chunk, sizeof chunk)) bytes.append(chunk, n);
  return bytes;
}

}  // namespace dmoe
