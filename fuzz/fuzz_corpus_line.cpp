// One corpus line: parseCorpusLine returns the document or the line's problem
// and never throws.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "corpus/jsonl_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text;
  (void)dmoe::parseCorpusLine(std::string_view(reinterpret_cast<const char*>(data), size), "text", text);
  return 0;
}
