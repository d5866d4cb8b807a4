#include "text_table.h"

#include <algorithm>

#include "corpus/jsonl_reader.h"

namespace dmoe::cli {

// Pads to `width` code points (not bytes), so names in any script line up.
static std::string padded(const std::string& text, std::size_t width, bool right) {
  auto length = static_cast<std::size_t>(countCodePoints(text));
  std::string fill(length < width ? width - length : 0, ' ');
  return right ? fill + text : text + fill;
}

void printTable(std::ostream& out, const std::vector<std::vector<std::string>>& rows, std::size_t numericFrom) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size(); ++c) {
      if (widths.size() <= c) widths.push_back(0);
      widths[c] = std::max(widths[c], static_cast<std::size_t>(countCodePoints(row[c])));
    }
  for (const auto& row : rows) {
    for (std::size_t c = 0; c < row.size(); ++c)
      out << (c ? "  " : "") << (c + 1 == row.size() && c < numericFrom ? row[c] : padded(row[c], widths[c], c >= numericFrom));
    out << '\n';
  }
}


void printCorpusStatsTable(std::ostream& out, const Json& stats) {
  auto count = [](const Json& entry, const char* key) {
    const Json& v = entry.contains(key) ? entry[key] : Json();
    return v.is_number() ? std::to_string(v.get<std::int64_t>()) : std::string("-");
  };
  auto row = [&](std::vector<std::string> head, const Json& entry) {
    for (const char* key : {"documents", "characters", "tokens", "pretrain_documents", "continual_documents",
                            "heldout_documents", "continual_tokens", "heldout_tokens", "issues"})
      head.push_back(count(entry, key));
    return head;
  };
  std::vector<std::vector<std::string>> rows{{"id", "tag", "name", "docs", "chars", "tokens", "pretrain docs",
                                              "continual docs", "held-out docs", "continual tokens",
                                              "held-out tokens", "issues"}};
  for (const Json& l : stats.at("languages"))
    rows.push_back(row({l.value("id", "") + (l.value("new", false) ? " (new)" : ""), l.value("tag", ""),
                        l.value("name", "")},
                       l));
  rows.push_back(row({"total", "", std::to_string(stats.at("languages").size()) + " languages"}, stats.at("total")));
  printTable(out, rows, 3);
}

}  // namespace dmoe::cli
