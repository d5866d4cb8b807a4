// The tokenized corpus cache: each language's documents encoded once into
// memory-mappable shards (token_shard.h), rebuilt only when what they were
// built from changes.
//
//   <runs_dir>/tokens/<lang>/pretrain.{bin,idx}   the pretrain slice (data_slices.h; empty
//                                                 for new languages and a checkpoint base)
//   <runs_dir>/tokens/<lang>/continual.{bin,idx}  the continual slice
//   <runs_dir>/tokens/<lang>/heldout.{bin,idx}    the held-out slice
//   <runs_dir>/tokens/<lang>/manifest.json        inputs + counts
//
// A document is stored as [BOS] + encode(text) + [EOS] (BOS/EOS only if the
// tokenizer has them): BOS marks document starts in the training stream, and
// EOS lets held-out evaluation score the end of each document. Documents keep
// corpus order within each slice.
//
// The manifest's "inputs" are the tokenizer fingerprint, the hash of the
// corpus file's bytes, the text key and the slice settings. A language is
// rebuilt when they differ from the current ones, or its files are missing
// or inconsistent with the recorded counts. The manifest is removed before a
// rebuild and written last, so an interrupted build is never taken as valid.
#pragma once
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"
#include "tokenizer/tokenizer.h"

namespace dmoe {

struct TokenSplitCounts {
  std::int64_t documents = 0, tokens = 0;
};

struct LanguageTokenCounts {
  std::string language;
  TokenSplitCounts pretrain, continual, heldout;
  bool rebuilt = false;  // false: was up to date
  std::int64_t tokens() const { return pretrain.tokens + continual.tokens + heldout.tokens; }
};

std::filesystem::path tokenCacheDir(const Project& project, const std::string& languageId);
// split: "pretrain" | "continual" | "heldout" (sliceName); the .bin of that shard.
std::filesystem::path tokenShardFile(const Project& project, const std::string& languageId, std::string_view split);

// Builds (or keeps) the cache of every project language, "new" ones included.
// `force` rebuilds all. Throws InputError naming an unreadable corpus file.
std::vector<LanguageTokenCounts> buildTokenCache(const Project& project, const Tokenizer& tokenizer,
                                                 Reporter& reporter, bool force = false);

// The counts of a language's cache if it is current for this corpus text,
// tokenizer and split (the same check a build makes); nullopt otherwise.
std::optional<LanguageTokenCounts> currentTokenCounts(const Project& project, const Tokenizer& tokenizer,
                                                      const std::string& languageId);

}  // namespace dmoe
