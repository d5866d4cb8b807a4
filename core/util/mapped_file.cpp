#include "util/mapped_file.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "util/error.h"
#include "util/regular_file.h"

namespace dmoe {

namespace {

// What a non-regular file is, for the message ("a FIFO"); empty for a regular file.
const char* nonRegularKind(mode_t mode) {
  if (S_ISREG(mode)) return "";
  if (S_ISDIR(mode)) return "a folder";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "a device";
  return "not a file";
}

}  // namespace

void requireRegularFile(const std::filesystem::path& path) {
  struct stat info {};
  if (::stat(path.c_str(), &info) != 0) throw InputError("cannot open " + path.string() + ": " + std::strerror(errno));
  const std::string kind = nonRegularKind(info.st_mode);
  if (!kind.empty()) throw InputError(path.string() + ": not a regular file (" + kind + ")");
}

MappedFile::MappedFile(const std::filesystem::path& path) : path_(path) {
  const RegularFile file(path);  // a FIFO or a device is refused by name, never waited on
  struct stat info {};
  if (::fstat(file.fd(), &info) != 0) throw InputError("cannot stat " + path.string() + ": " + std::strerror(errno));
  size_ = static_cast<std::size_t>(info.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, file.fd(), 0);
    if (p == MAP_FAILED) throw InputError("cannot map " + path.string() + ": " + std::strerror(errno));
    data_ = static_cast<const unsigned char*>(p);
  }
}

MappedFile::~MappedFile() { release(); }

MappedFile::MappedFile(MappedFile&& other) noexcept
    : path_(std::move(other.path_)), data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

MappedFile& MappedFile::operator=(MappedFile&& other) noexcept {
  if (this != &other) {
    release();
    path_ = std::move(other.path_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

void MappedFile::release() {
  if (data_) ::munmap(const_cast<unsigned char*>(data_), size_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace dmoe
