// Atomic file writes: data goes to ".dmoe-tmp-<pid>-<name>" (util/owned_paths.h) in the same folder, is
// flushed to disk, then renamed over the target. A crash never leaves a
// half-written file under the real name; readers see the old or the new file.
#pragma once
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "util/json.h"

namespace dmoe {

void writeFileAtomic(const std::filesystem::path& target, std::string_view data);
// writeFileAtomic unless `target` already holds exactly `data` (then nothing
// is written, so a run that finds everything current works in a read-only
// folder). Returns whether it wrote.
bool writeFileAtomicIfChanged(const std::filesystem::path& target, std::string_view data);

// Streaming variant for large outputs. Write to stream(), then commit();
// destroying an uncommitted writer removes the temporary file.
class AtomicFileWriter {
 public:
  explicit AtomicFileWriter(std::filesystem::path target);
  ~AtomicFileWriter();
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

  std::ofstream& stream() { return out_; }
  void commit();

 private:
  [[noreturn]] void failed(const char* what);  // removes the temporary file, throws naming target_ and errno

  std::filesystem::path target_, temp_;
  std::ofstream out_;
  bool committed_ = false;
};

// The whole file; InputError naming it unless it is a regular file that can
// be read (a FIFO is refused, never waited on: util/regular_file.h).
std::string readFile(const std::filesystem::path& path);
// JSON text from `source` (a file name, for messages); a syntax error or a number
// out of range throws InputError "<source>:<line>:<column>: not valid JSON …".
Json parseJsonText(const std::string& text, const std::string& source);
// readFile + parseJsonText.
Json readJsonFile(const std::filesystem::path& path);
// The JSON pointers of object keys that `text` gives more than once, each once,
// in document order ("/train/stage1/steps"). A parser keeps only the last value
// of such a key; callers warn. Empty for text that is not valid JSON.
std::vector<std::string> duplicateKeyPointers(const std::string& text);

}  // namespace dmoe
