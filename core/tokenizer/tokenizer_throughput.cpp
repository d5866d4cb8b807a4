// Timing encode() over a text set (see tokenizer_throughput.h).
#include "tokenizer/tokenizer_throughput.h"

#include <chrono>

namespace dmoe {

TokenizerThroughput measureTokenizerThroughput(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                               int repeats) {
  TokenizerThroughput result;
  auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < repeats; ++r) {
    for (const std::string& text : texts) {
      result.tokens += static_cast<std::int64_t>(tokenizer.encode(text).size());
      result.bytes += static_cast<std::int64_t>(text.size());
      ++result.texts;
    }
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace dmoe
