// A tokenizer.json: loaded as transformers would (normalizer, pre-tokenizer,
// model, post-processor, decoder, added tokens), then a multilingual sample and
// the input's own first bytes are encoded and decoded. InputError only.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>

#include "tokenizer/hf_tokenizer.h"
#include "util/error.h"

namespace {
// A folder of this process for the file the loader reads, removed at exit.
struct ScratchFolder {
  std::filesystem::path dir = std::filesystem::temp_directory_path() / ("dmoe-fuzz-" + std::to_string(::getpid()));
  ScratchFolder() { std::filesystem::create_directories(dir); }
  ~ScratchFolder() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};
const std::filesystem::path& scratchFile() {
  static const ScratchFolder folder;
  static const std::filesystem::path file = folder.dir / "tokenizer.json";
  return file;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  {
    std::ofstream out(scratchFile(), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    const auto tokenizer = dmoe::loadHfTokenizer(scratchFile());
    const std::string sample = std::string("Hello, wörld! Всем привет. 你好 ") +
                               std::string(reinterpret_cast<const char*>(data), size < 64 ? size : 64);
    (void)tokenizer->decode(tokenizer->encode(sample, true));
    (void)tokenizer->vocabSize();
  } catch (const dmoe::InputError&) {
  }
  return 0;
}
