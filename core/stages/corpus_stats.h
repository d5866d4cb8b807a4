// Corpus statistics per language — documents, characters (Unicode code
// points), bytes (UTF-8 of the texts), the documents (and tokens) of each data
// slice (pretrain / continual / held-out), and how
// many lines were bad — as shown by `dmoe corpus stats` and the GUI's
// language table. Token counts come from token caches that are current for the
// present text and tokenizer (the
// `tokens` stage runs before `stats`); they are null until it has run.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"

namespace dmoe {

struct CorpusCounts {
  std::int64_t documents = 0, characters = 0, bytes = 0;
  // The data protocol's slices (corpus/data_slices.h): documents in each.
  std::int64_t pretrain_documents = 0, continual_documents = 0, heldout_documents = 0;
  std::int64_t heldout_characters = 0;
  std::int64_t issues = 0;
  // From the token cache (BOS/EOS included); hasTokens false: not tokenized yet.
  bool hasTokens = false;
  std::int64_t tokens = 0, pretrain_tokens = 0, continual_tokens = 0, heldout_tokens = 0;
  CorpusCounts& operator+=(const CorpusCounts& other);
};

struct LanguageCorpusStats {
  std::string id, tag, name;
  bool isNew = false;  // one of the project's new_languages
  std::filesystem::path file;
  CorpusCounts counts;
};

struct CorpusStats {
  std::filesystem::path corpusRoot;
  HeldoutSettings heldout;
  PretrainSliceSettings pretrain;
  std::vector<LanguageCorpusStats> languages;  // languages, then new_languages
  CorpusCounts total;
  // The stats.json document: {"format": "dmoe-corpus-stats/1", "corpus_root",
  // "heldout": {settings}, "pretrain": {settings}, "languages": [{"id", "tag", "name", "new", "file",
  // counts…}], "total": {counts…}}; counts = documents, characters, bytes,
  // pretrain_documents, continual_documents, heldout_documents,
  // heldout_characters, issues, tokens, pretrain_tokens, continual_tokens,
  // heldout_tokens (the token counts null when the language has no token cache yet).
  Json toJson() const;
};

// Reads every language's corpus file once (streaming), applies the held-out
// split, reports each bad line as a warning (where = file:line) and progress
// per language, writes <runs_dir>/corpus/stats.json atomically (artifact
// "stats") and reports it as result "corpus_stats". InputError if a corpus
// file is missing.
CorpusStats computeCorpusStats(const Project& project, Reporter& reporter);

}  // namespace dmoe
