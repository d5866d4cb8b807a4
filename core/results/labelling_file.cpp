// The labelling file's reader (see labelling_file.h).
#include "results/labelling_file.h"

#include <algorithm>
#include <sstream>

#include "util/atomic_file.h"
#include "util/csv.h"
#include "util/error.h"

namespace dmoe {

LabellingFile LabellingFile::fromCsv(const std::string& text, const std::string& source) {
  LabellingFile file;
  file.source = source;
  std::istringstream in(text);
  std::string line;
  std::int64_t lineNo = 0;
  auto where = [&](size_t column) { return source + ":" + std::to_string(lineNo) + ": column " + std::to_string(column + 1); };
  while (std::getline(in, line)) {
    ++lineNo;
    if (lineNo == 1 && line.rfind("\xEF\xBB\xBF", 0) == 0) line.erase(0, 3);  // a UTF-8 byte-order mark (spreadsheets write one)
    const std::vector<std::string> cells = splitCsvLine(line);
    if (lineNo == 1) {
      if (cells.size() < 2 || cells[0] != "language")
        throw InputError(source + ":1: expected a header row \"language,<labelling>[,<labelling>…]\", e.g. \"language,family,script\"; found \"" +
                         line.substr(0, 80) + "\"");
      for (size_t c = 1; c < cells.size(); ++c) {
        if (cells[c].empty()) throw InputError(where(c) + ": empty labelling name in the header");
        if (std::find(file.names.begin(), file.names.end(), cells[c]) != file.names.end())
          throw InputError(where(c) + ": labelling '" + cells[c] + "' appears twice in the header");
        file.names.push_back(cells[c]);
      }
      continue;
    }
    if (cells.size() == 1 && cells[0].empty()) continue;  // blank line
    if (cells.size() != file.names.size() + 1)
      throw InputError(source + ":" + std::to_string(lineNo) + ": expected " + std::to_string(file.names.size() + 1) +
                       " cells (language and " + std::to_string(file.names.size()) + " labels), found " +
                       std::to_string(cells.size()));
    for (size_t c = 0; c < cells.size(); ++c)
      if (cells[c].empty()) throw InputError(where(c) + ": empty cell; every language needs every label");
    if (file.byLanguage.count(cells[0])) throw InputError(where(0) + ": language '" + cells[0] + "' has a row already");
    file.byLanguage[cells[0]].assign(cells.begin() + 1, cells.end());
  }
  if (file.names.empty()) throw InputError(source + ": empty; expected a header row \"language,<labelling>…\" and one row per language");
  return file;
}

LabellingFile LabellingFile::read(const std::filesystem::path& file) {
  if (!std::filesystem::exists(file)) throw InputError(file.string() + ": no such labelling file (similarity.labelling)");
  return fromCsv(readFile(file), file.string());
}

std::vector<Labelling> LabellingFile::forLanguages(const std::vector<std::string>& ids) const {
  std::vector<std::string> missing;
  for (const std::string& id : ids)
    if (!byLanguage.count(id)) missing.push_back(id);
  if (!missing.empty()) {
    std::string list;
    for (const std::string& id : missing) list += (list.empty() ? "" : ", ") + id;
    throw InputError(source + ": no row for " + list + " (every project language needs one)");
  }
  std::vector<Labelling> out;
  for (size_t c = 0; c < names.size(); ++c) {
    Labelling l{names[c], {}};
    for (const std::string& id : ids) l.labels.push_back(byLanguage.at(id)[c]);
    out.push_back(std::move(l));
  }
  return out;
}

}  // namespace dmoe
