// Tokenizer speed: how many tokens per second encode() produces over a set
// of texts (for test logs and the benchmark). Not a profiler.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "tokenizer/tokenizer.h"

namespace dmoe {

struct TokenizerThroughput {
  std::int64_t texts = 0;
  std::int64_t bytes = 0;
  std::int64_t tokens = 0;
  double seconds = 0.0;
  double tokensPerSecond() const { return seconds > 0.0 ? static_cast<double>(tokens) / seconds : 0.0; }
  double bytesPerSecond() const { return seconds > 0.0 ? static_cast<double>(bytes) / seconds : 0.0; }
};

// Encodes every text `repeats` times (without special tokens) and times it.
// Per-word caches are warm after the first repeat, as they are on a corpus.
TokenizerThroughput measureTokenizerThroughput(const Tokenizer& tokenizer, const std::vector<std::string>& texts,
                                               int repeats = 1);

}  // namespace dmoe
