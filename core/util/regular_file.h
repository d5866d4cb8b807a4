// Opening a file the user named, for reading, only when it is a regular file
// (a link to one counts). A FIFO, a socket or a device is refused by name
// before a byte is read — "<path>: not a regular file (a FIFO)", InputError —
// since reading one blocks (a FIFO without a writer never even opens, a
// terminal waits for typing) or never ends (/dev/zero). A folder is refused
// the same way. Not here: what the bytes mean, or the files the workbench
// writes itself.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

namespace dmoe {

// A read-only descriptor of a regular file (close-on-exec, blocking reads),
// closed by the destructor. Opening never blocks: the path is checked with
// stat (requireRegularFile, util/mapped_file.h), opened non-blocking, checked
// again with fstat (a file swapped in between is caught too), then set back
// to blocking.
class RegularFile {
 public:
  // InputError "<path>: not a regular file (a FIFO | a socket | a device |
  // a folder)", or "cannot open|read <path>: <reason>".
  explicit RegularFile(const std::filesystem::path& path);
  ~RegularFile();
  RegularFile(const RegularFile&) = delete;
  RegularFile& operator=(const RegularFile&) = delete;

  int fd() const { return fd_; }  // for mmap or gzdopen(dup(fd)); still closed by the destructor
  // Up to `capacity` bytes from the current offset; 0 at the end of the file.
  // InputError "error while reading <path>: <reason>".
  std::size_t read(char* buffer, std::size_t capacity);
  // Everything from the current offset to the end.
  std::string readAll();

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  std::uint64_t size_ = 0;  // when opened
};

}  // namespace dmoe
