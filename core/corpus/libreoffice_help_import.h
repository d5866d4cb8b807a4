// The LibreOffice-help corpus source (corpus.source.kind "libreoffice-help",
// a row of corpus_sources.h): the translated help pages of Debian's
// libreoffice-help-<id> packages (Debian 12: LibreOffice 7.4), which
// `scripts/setup.sh demo-libreoffice` fetches with `apt-get download` and
// unpacks with `dpkg-deb -x` into <dir>/<id>/ (never installed). A language's
// pages are <dir>/<id>/usr/share/libreoffice/help/<ID>/text/**/*.html, where
// <ID> is the id in the package's case (pt-BR, zh-CN). The project's language
// id is the package suffix: de, pt-br, zh-cn. en-US is the reference for
// untranslated text.
//
// One document per page: the page's paragraphs that are long enough
// (kMinHelpParagraphColumns) and not found verbatim in the en-US help (text
// the translators left in English), joined by "\n". A page with no such
// paragraph gives no document and is counted; a page that cannot be read, is
// not UTF-8 or is not a help page (no DisplayArea) is named in a warning and
// counted as bad.
//
// Not a general HTML parser: a small extractor for the pages' regular,
// generated markup —
//   <header>…</header><aside>…</aside>
//   <div id="DisplayArea"> <h1>…</h1> <p class="paragraph">…</p>
//     <table><tr><td><p>…</p></td></tr></table> <ol><li><p>…</p></li></ol> … </div>
//   <footer>…debug info…</footer>
// A paragraph is the text of a <p>, <h1>–<h6>, <li>, <td> or <th> inside the
// page from <div id="DisplayArea"> to <footer> (the DisplayArea's end is not
// tracked: in Debian 12's pages only the empty SearchFrame and DonationFrame
// divs lie between them); a nested one ends its parent's text, so an
// <li>'s own text and its <p>s are separate paragraphs; other block tags end a
// paragraph too, <br> is a space. Entities are decoded, inner tags stripped,
// whitespace collapsed. The macOS spelling of a key (<span class="MAC">, the
// viewer shows it or the default one) is left out.
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "corpus/corpus_sources.h"

namespace dmoe {

// Narrower paragraphs are left out: they are mostly interface labels, menu
// paths, table headings and code fragments ("Text", "OK", "Format - Cells"),
// which repeat the UI's strings rather than the language's prose. Measured in
// display columns, as a terminal shows text: an East Asian wide character
// (Han, kana, Hangul, fullwidth forms) is two, any other one — so a Chinese
// paragraph needs 10 characters where a Latin one needs 20, about the same
// content (20 code points would drop most short Chinese sentences).
inline constexpr std::int64_t kMinHelpParagraphColumns = 20;

// Display columns of valid UTF-8 text: 2 for each East Asian wide or
// fullwidth code point (Markus Kuhn's wcwidth ranges), 1 for any other.
std::int64_t displayColumns(std::string_view validUtf8);

// Every paragraph of one page, in order, none left out; `isHelpPage` is set
// false when the page has no DisplayArea.
std::vector<std::string> extractHelpParagraphs(std::string_view html, bool* isHelpPage = nullptr);

// $DMOE_LIBREOFFICE_HELP_DIR, else ${XDG_CACHE_HOME:-$HOME/.cache}/dmoe-workbench/deb/libreoffice-help
// (where scripts/setup.sh demo-libreoffice unpacks the packages).
std::filesystem::path defaultLibreOfficeHelpDir();

// <dir>/<id>/usr/share/libreoffice/help/<ID>: the unpacked package's help
// folder for language `id`. InputError saying how to fetch the package when it
// is not there, or that the package holds no help pages (libreoffice-help-sk).
std::filesystem::path libreOfficeHelpFolder(const std::filesystem::path& dir, const std::string& id);

// Every text/**/*.html under a help folder (anything but a folder, so a broken
// link is listed and named when read), sorted by path.
std::vector<std::filesystem::path> listHelpPages(const std::filesystem::path& helpFolder);

// Per language, what the extraction found.
struct HelpCounts {
  std::int64_t pages = 0;         // *.html under text/
  std::int64_t emptyPages = 0;    // pages with no kept paragraph (no document)
  std::int64_t badPages = 0;      // unreadable, not UTF-8, or not a help page (each named in a warning)
  std::int64_t paragraphs = 0;    // kept
  std::int64_t untranslated = 0;  // long enough, but found verbatim in the en-US help
  std::int64_t narrow = 0;        // under kMinHelpParagraphColumns wide
  std::int64_t characters = 0;    // code points of the kept paragraphs
  std::vector<std::string> emptyPageNames;  // relative to the help folder, the first few
};

// Every paragraph of every page under the en-US help folder (the reference).
std::unordered_set<std::string> readHelpReference(const std::filesystem::path& enUsHelpFolder, Reporter& reporter);

// The documents of one language as JSON lines
//   {"text":"…","libreoffice_help":{"page":"text/shared/guide/autocorr_url.html"}}
// with the counts; warns (naming the file) for each bad page.
std::string extractHelpLanguage(const std::filesystem::path& helpFolder,
                                const std::unordered_set<std::string>& reference, Reporter& reporter,
                                HelpCounts& counts);

// Imports every language of the project from <options.sourceDir, else
// defaultLibreOfficeHelpDir()>/<id> through runImport (corpus_import.h),
// logging each language's counts. Checks first that en-us and every
// language's package are there: an InputError, or a ValidationError naming
// each missing language, saying how to fetch them. importCorpus calls it for
// kind "libreoffice-help".
std::vector<ImportedLanguage> importLibreOfficeHelpCorpus(const Project& project, Reporter& reporter,
                                                          const ImportOptions& options);

}  // namespace dmoe
