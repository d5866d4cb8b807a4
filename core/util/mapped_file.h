// Read-only memory map of a whole regular file (token shards, safetensors),
// and the check every reader of a user's file makes first: only a regular
// file is opened (util/regular_file.h), so a FIFO, device or socket in a
// file's place is a named error instead of a read that blocks forever (or
// never ends). The mapping lives as long as the object; moving transfers it.
#pragma once
#include <cstddef>
#include <filesystem>
#include <string_view>

namespace dmoe {

// Throws InputError "<path>: not a regular file (a FIFO)" unless `path`,
// symbolic links followed, is a regular file; "cannot open <path>: …" when it
// cannot be examined (absent, no permission). Nothing is opened.
void requireRegularFile(const std::filesystem::path& path);

class MappedFile {
 public:
  MappedFile() = default;
  // Throws InputError naming the file: absent, not a regular file, unreadable.
  explicit MappedFile(const std::filesystem::path& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }
  std::string_view bytes() const { return {reinterpret_cast<const char*>(data_), size_}; }
  const std::filesystem::path& path() const { return path_; }

 private:
  void release();
  std::filesystem::path path_;
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace dmoe
