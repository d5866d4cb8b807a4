// Reads the corpus-statistics artifact `dmoe corpus stats` writes
// (<runs_dir>/corpus/stats.json, format "dmoe-corpus-stats/1", see
// core/stages/corpus_stats.h) into the per-language form the language table
// takes: {"<id>": {"documents", "characters", "bytes", "pretrain_documents",
// "continual_documents", "heldout_documents",
// "tokens"?, ...}}.
#pragma once
#include <filesystem>

#include "project/project.h"
#include "util/json.h"

namespace dmoe::views {

std::filesystem::path corpusStatsFile(const dmoe::Project& project);

// Throws dmoe::InputError naming the file when it is unreadable, not JSON, or
// not a dmoe-corpus-stats/1 document.
dmoe::Json readCorpusStatsByLanguage(const std::filesystem::path& file);

}  // namespace dmoe::views
