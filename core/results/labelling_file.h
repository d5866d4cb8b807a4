// A labelling file (similarity.labelling): which family, script or other
// class each language belongs to, for the family score of the similarity
// stage (methods/fingerprint_diagnostics.h) and the ARI of the groups.
//
//   language,family,script
//   de,germanic,latin
//   ru,slavic,cyrillic
//
// The first header cell is "language"; each further one names a labelling.
// One row per language id, every cell filled. Rows for languages the project
// does not have are allowed (one file can serve several projects).
//
// Not here: scoring (methods/fingerprint_diagnostics.h).
#pragma once
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace dmoe {

// One labelling of a list of languages: labels[i] is language i's class.
struct Labelling {
  std::string name;  // the header cell, e.g. "family"
  std::vector<std::string> labels;
};

struct LabellingFile {
  std::string source;                                        // for messages
  std::vector<std::string> names;                            // the labellings, in header order
  std::map<std::string, std::vector<std::string>> byLanguage;  // id → one label per name

  // Errors name `source`, the line and the column: a header whose first cell
  // is not "language" or without a labelling, an empty or repeated labelling
  // name, a row with another cell count, an empty cell, a language twice.
  static LabellingFile fromCsv(const std::string& text, const std::string& source);
  static LabellingFile read(const std::filesystem::path& file);  // missing: InputError naming it

  // Each labelling restricted to `ids`, in that order. InputError naming the
  // file and every id without a row.
  std::vector<Labelling> forLanguages(const std::vector<std::string>& ids) const;
};

}  // namespace dmoe
