// Comma-separated values as the workbench's files use them (RFC 4180 quoting:
// a field holding a comma, quote or line break is quoted, quotes doubled).
// Header-only, torch-free and Qt-free. One line at a time: a quoted field that
// spans lines is not supported (none of the workbench's CSV files has one).
//
// Not here: what a file's columns mean (each results/*_file.h reader says).
#pragma once
#include <string>
#include <vector>

namespace dmoe {

// The cells of one line (a trailing '\r' dropped). An empty line is one empty cell.
inline std::vector<std::string> splitCsvLine(std::string line) {
  if (!line.empty() && line.back() == '\r') line.pop_back();
  std::vector<std::string> cells;
  std::string cell;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quoted) {
      if (c == '"' && i + 1 < line.size() && line[i + 1] == '"') cell += c, ++i;
      else if (c == '"') quoted = false;
      else cell += c;
    } else if (c == '"') {
      quoted = true;
    } else if (c == ',') {
      cells.push_back(cell);
      cell.clear();
    } else {
      cell += c;
    }
  }
  cells.push_back(cell);
  return cells;
}

// `text` as one field: quoted when it must be.
inline std::string csvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) quoted += c == '"' ? std::string("\"\"") : std::string(1, c);
  return quoted + "\"";
}

}  // namespace dmoe
