// A tokenizer.json: loaded as transformers would (normalizer, pre-tokenizer,
// model, post-processor, decoder, added tokens), then a multilingual sample and
// the whole input, as text, are encoded and decoded: the input carries the
// text its own patterns must split (a seed's "(x|x)+y" and its run of x's
// reach PCRE2's match limit). InputError only, that limit's included.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

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
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    for (std::string_view text : {std::string_view("Hello, wörld! Всем привет. 你好 "), input})
      (void)tokenizer->decode(tokenizer->encode(text, true));
    (void)tokenizer->vocabSize();
  } catch (const dmoe::InputError&) {
  }
  return 0;
}
