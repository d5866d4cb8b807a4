// A whole corpus file, plain, gzip or zstd (corpus/line_stream.h): any bytes
// either read into documents and bad lines or end in an InputError (a
// truncated or damaged stream); never a crash, a hang or unbounded memory.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "corpus/jsonl_reader.h"
#include "util/error.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string file = "/tmp/dmoe-fuzz-corpus-file-" + std::to_string(getpid());
  {
    std::ofstream out(file, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    dmoe::JsonlReader reader(file, "text");
    dmoe::Document document;
    while (reader.next(document)) {
    }
  } catch (const dmoe::InputError&) {
  }
  return 0;
}
