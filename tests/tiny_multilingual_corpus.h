// Test fixture shared by the tokenizer and token-cache suites: a generated
// corpus of four small languages in three scripts (Latin en/de, Cyrillic ru,
// Greek el — el is a "new" language) and a project file naming it.
// Deterministic: the same call always writes the same bytes.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "project/project.h"
#include "test_support.h"

namespace dmoe::test {

inline const std::vector<std::string>& tinyLanguages() {
  static const std::vector<std::string> ids{"en", "de", "ru", "el"};
  return ids;
}

// Document i of a language: "<i>: " and eight words picked by a small LCG.
inline std::string tinyDocument(const std::string& language, int i) {
  static const std::vector<std::string> en{"the", "house", "river", "people", "free", "right", "law", "every"},
      de{"das", "Haus", "Fluss", "Menschen", "frei", "Würde", "Gesetz", "jeder"},
      ru{"дом", "река", "люди", "свобода", "право", "закон", "каждый", "мир"},
      el{"σπίτι", "ποτάμι", "άνθρωποι", "ελευθερία", "δίκαιο", "νόμος", "κάθε", "ειρήνη"};
  const std::vector<std::string>& words = language == "en" ? en : language == "de" ? de : language == "ru" ? ru : el;
  std::uint32_t state = static_cast<std::uint32_t>(i * 2654435761u + language[0]);
  std::string text = std::to_string(i) + ":";
  for (int w = 0; w < 8; ++w) {
    state = state * 1664525u + 1013904223u;
    text += " " + words[(state >> 16) % words.size()];
  }
  return text + ".";
}

// <dir>/corpus/<lang>.jsonl with `documents` lines each (plus one bad line in
// "de", which readers must skip), and <dir>/tiny.dmoe.json.
inline std::filesystem::path writeTinyProject(const std::filesystem::path& dir, int documents = 50,
                                              std::int64_t vocabSize = 400) {
  for (const std::string& id : tinyLanguages()) {
    std::string lines;
    for (int i = 0; i < documents; ++i) {
      lines += Json{{"text", tinyDocument(id, i)}}.dump() + "\n";
      if (id == "de" && i == 3) lines += "not json\n";
    }
    writeText(dir / "corpus" / (id + ".jsonl"), lines);
  }
  Json project = {{"format", "dmoe-project/1"},
                  {"name", "tiny"},
                  {"languages", {{{"id", "en"}}, {{"id", "de"}}, {{"id", "ru"}}}},
                  {"new_languages", {{{"id", "el"}}}},
                  {"corpus", {{"root", "corpus"}, {"heldout", {{"fraction", 0.2}, {"seed", 7}}}}},
                  {"tokenizer", {{"vocab_size", vocabSize}, {"sample_documents_per_language", 30}, {"seed", 3}}},
                  {"grouping", {{"groups", 2}}},
                  {"runs_dir", "runs"}};
  writeText(dir / "tiny.dmoe.json", project.dump(2));
  return dir / "tiny.dmoe.json";
}

}  // namespace dmoe::test
