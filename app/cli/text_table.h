// Aligned text tables for people (stdout of the CLI); widths count code
// points, so names in any script line up. Not used under --events jsonl.
#pragma once
#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe::cli {

// Columns from `numericFrom` on are right-aligned.
void printTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows, std::size_t numericFrom);

// The stats.json document of computeCorpusStats (format dmoe-corpus-stats/1), one row per language and a total.
void printCorpusStatsTable(std::ostream& out, const Json& stats);

}  // namespace dmoe::cli
