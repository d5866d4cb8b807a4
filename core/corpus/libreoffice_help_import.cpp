// The LibreOffice help extractor and import (see libreoffice_help_import.h).
#include "corpus/libreoffice_help_import.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <map>
#include <optional>

#include "corpus/jsonl_reader.h"
#include "corpus/markup.h"
#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// Empty pages named in the log line, at most.
constexpr std::size_t kEmptyPagesNamed = 3;

bool isParagraphTag(const std::string& name) {
  return name == "p" || name == "li" || name == "td" || name == "th" || isHeadingTag(name);
}

bool isBlockTag(const std::string& name) {
  static const char* blocks[] = {"div", "table", "tr", "ol", "ul", "dl", "dt", "dd", "pre", "section", "aside", "nav"};
  return std::any_of(std::begin(blocks), std::end(blocks), [&](const char* b) { return name == b; });
}

// Collects a page's paragraphs as the scan goes (the rules are in the header).
class HelpExtractor {
 public:
  void text(std::string_view t) {
    if (inDisplay_ && paragraphDepth_ > 0 && macDepth_ == 0) buffer_ += t;
  }

  void tag(const MarkupTag& tag) {
    const std::string& n = tag.name;
    if (n == "span") {
      spanTag(tag);
    } else if (n == "br") {
      buffer_ += ' ';
    } else if (n == "footer") {
      endParagraph();
      inDisplay_ = false;
    } else if (isParagraphTag(n)) {
      endParagraph();
      paragraphDepth_ = std::max(0, paragraphDepth_ + (tag.closing ? -1 : 1));
    } else if (isBlockTag(n)) {
      endParagraph();
      if (n == "div" && !tag.closing && markupAttribute(tag.attributes, "id") == "DisplayArea") {
        inDisplay_ = true;
        sawDisplay_ = true;
      }
    }
  }

  std::vector<std::string> finish(bool* isHelpPage) {
    endParagraph();
    if (isHelpPage) *isHelpPage = sawDisplay_;
    return std::move(paragraphs_);
  }

 private:
  // <span class="MAC">…</span> is skipped, spans inside it counted to find its end.
  void spanTag(const MarkupTag& tag) {
    if (macDepth_ > 0) macDepth_ += tag.closing ? -1 : 1;
    else if (!tag.closing && markupAttribute(tag.attributes, "class") == "MAC") macDepth_ = 1;
  }

  void endParagraph() {
    std::string paragraph = collapseWhitespace(decodeEntities(buffer_));
    buffer_.clear();
    if (!paragraph.empty()) paragraphs_.push_back(std::move(paragraph));
  }

  std::vector<std::string> paragraphs_;
  std::string buffer_;
  bool inDisplay_ = false, sawDisplay_ = false;
  int paragraphDepth_ = 0, macDepth_ = 0;
};

std::string fetchCommand(const fs::path& dir, const std::string& id) {
  return "scripts/setup.sh demo-libreoffice fetches the packages the shipped projects name; or run: cd \"$(mktemp -d)\" "
         "&& apt-get download libreoffice-help-" + id + " && dpkg-deb -x libreoffice-help-" + id + "_*.deb " +
         (dir / id).string() + " (nothing is installed); or point DMOE_LIBREOFFICE_HELP_DIR at a folder of unpacked "
         "packages";
}

// The page's text, or why it is bad.
std::optional<std::string> readPage(const fs::path& page, std::string& problem) {
  std::string html;
  try {
    html = readFile(page);
  } catch (const InputError& e) {
    problem = std::string("unreadable help page: ") + e.what();
    return std::nullopt;
  }
  if (!isValidUtf8(html)) {
    problem = "help page is not UTF-8 (at byte " + std::to_string(firstInvalidUtf8(html)) + ")";
    return std::nullopt;
  }
  return html;
}

std::string pageName(const fs::path& page, const fs::path& helpFolder) {
  return page.lexically_relative(helpFolder).generic_string();
}

// Everything a language's output depends on: its pages (an unreadable one as such), the reference's hash, the rule.
std::string helpSourceHash(const fs::path& helpFolder, const std::string& referenceHash) {
  Hasher hasher;
  hasher.add(static_cast<std::uint64_t>(kMinHelpParagraphColumns)).add(referenceHash);
  for (const fs::path& page : listHelpPages(helpFolder)) {
    hasher.add(pageName(page, helpFolder)).add(std::uint64_t{0});
    try {
      hasher.addFile(page);
    } catch (const InputError&) {
      hasher.add("unreadable");
    }
  }
  return hasher.hex();
}

std::string countsSummary(const HelpCounts& c, std::int64_t documents) {
  std::string line = std::to_string(documents) + " documents from " + std::to_string(c.pages) + " pages (" +
                     std::to_string(c.emptyPages) + " with no kept paragraph";
  for (std::size_t i = 0; i < c.emptyPageNames.size(); ++i)
    line += (i == 0 ? ", e.g. " : ", ") + c.emptyPageNames[i];
  line += "; " + std::to_string(c.badPages) + " bad); paragraphs: " + std::to_string(c.paragraphs) + " kept, " +
          std::to_string(c.untranslated) + " untranslated (as in en-US), " + std::to_string(c.narrow) +
          " under " + std::to_string(kMinHelpParagraphColumns) + " columns; " +
          fixedDecimals(static_cast<double>(c.characters) / 1e6, 2) + " M characters";
  return line;
}

Json countsJson(const HelpCounts& c) {
  return {{"pages", c.pages},           {"empty_pages", c.emptyPages}, {"bad_pages", c.badPages},
          {"paragraphs", c.paragraphs}, {"untranslated", c.untranslated}, {"narrow", c.narrow},
          {"characters", c.characters}};
}

// East Asian wide and fullwidth code points (wcwidth 2), as [first, last] ranges.
bool isWide(char32_t c) {
  static const std::pair<char32_t, char32_t> wide[] = {
      {0x1100, 0x115F}, {0x2E80, 0x303E}, {0x3041, 0x33FF}, {0x3400, 0x4DBF}, {0x4E00, 0x9FFF},
      {0xA000, 0xA4CF}, {0xAC00, 0xD7A3}, {0xF900, 0xFAFF}, {0xFE30, 0xFE4F}, {0xFF00, 0xFF60},
      {0xFFE0, 0xFFE6}, {0x20000, 0x2FFFD}, {0x30000, 0x3FFFD}};
  return std::any_of(std::begin(wide), std::end(wide), [&](const auto& r) { return c >= r.first && c <= r.second; });
}

}  // namespace

std::int64_t displayColumns(std::string_view text) {
  std::int64_t columns = 0;
  for (std::size_t i = 0; i < text.size();) {
    const auto lead = static_cast<unsigned char>(text[i]);
    const std::size_t length = lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
    char32_t c = length == 1 ? lead : lead & (0x7F >> length);
    for (std::size_t k = 1; k < length && i + k < text.size(); ++k)
      c = (c << 6) | (static_cast<unsigned char>(text[i + k]) & 0x3F);
    columns += isWide(c) ? 2 : 1;
    i += length;
  }
  return columns;
}

std::vector<std::string> extractHelpParagraphs(std::string_view html, bool* isHelpPage) {
  HelpExtractor extractor;
  scanMarkup(html, [&](std::string_view t) { extractor.text(t); }, [&](const MarkupTag& t) { extractor.tag(t); });
  return extractor.finish(isHelpPage);
}

fs::path defaultLibreOfficeHelpDir() {
  if (const char* dir = std::getenv("DMOE_LIBREOFFICE_HELP_DIR"); dir && *dir) return dir;
  return workbenchCacheDir() / "deb" / "libreoffice-help";
}

fs::path libreOfficeHelpFolder(const fs::path& dir, const std::string& id) {
  const fs::path help = dir / id / "usr" / "share" / "libreoffice" / "help";
  if (!fs::is_directory(help))
    throw InputError("the package libreoffice-help-" + id + " is not unpacked at " + (dir / id).string() + " (no folder " +
                     help.string() + "): " + fetchCommand(dir, id));
  for (const auto& entry : fs::directory_iterator(help)) {
    std::string name = entry.path().filename().string();
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (name == id && entry.is_directory() && fs::is_directory(entry.path() / "text")) return entry.path();
  }
  throw InputError("the package libreoffice-help-" + id + " at " + (dir / id).string() +
                   " holds no help pages (no folder " + (help / id / "text").string() +
                   "; Debian 12's libreoffice-help-sk, for one, ships none): leave the language out");
}

std::vector<fs::path> listHelpPages(const fs::path& helpFolder) {
  std::vector<fs::path> pages;
  for (const auto& entry : fs::recursive_directory_iterator(helpFolder / "text"))
    if (!entry.is_directory() && entry.path().extension() == ".html") pages.push_back(entry.path());
  std::sort(pages.begin(), pages.end());
  return pages;
}

std::unordered_set<std::string> readHelpReference(const fs::path& enUsHelpFolder, Reporter& reporter) {
  std::unordered_set<std::string> reference;
  for (const fs::path& page : listHelpPages(enUsHelpFolder)) {
    std::string problem;
    if (std::optional<std::string> html = readPage(page, problem))
      for (std::string& paragraph : extractHelpParagraphs(*html)) reference.insert(std::move(paragraph));
    else
      reporter.warning(problem + " (en-US, the reference)", page.string());
  }
  return reference;
}

std::string extractHelpLanguage(const fs::path& helpFolder, const std::unordered_set<std::string>& reference,
                                Reporter& reporter, HelpCounts& counts) {
  counts = {};
  std::string jsonl;
  for (const fs::path& page : listHelpPages(helpFolder)) {
    ++counts.pages;
    std::string problem;
    std::optional<std::string> html = readPage(page, problem);
    bool isHelpPage = true;
    std::vector<std::string> paragraphs = html ? extractHelpParagraphs(*html, &isHelpPage) : std::vector<std::string>{};
    if (html && !isHelpPage) problem = "not a LibreOffice help page (no <div id=\"DisplayArea\">)";
    if (!problem.empty()) {
      ++counts.badPages;
      reporter.warning(problem, page.string());
      continue;
    }
    std::string text;
    for (const std::string& paragraph : paragraphs) {
      if (displayColumns(paragraph) < kMinHelpParagraphColumns) {
        ++counts.narrow;
      } else if (reference.count(paragraph)) {
        ++counts.untranslated;
      } else {
        ++counts.paragraphs;
        counts.characters += countCodePoints(paragraph);
        text += (text.empty() ? "" : "\n") + paragraph;
      }
    }
    const std::string name = pageName(page, helpFolder);
    if (text.empty()) {
      ++counts.emptyPages;
      if (counts.emptyPageNames.size() < kEmptyPagesNamed) counts.emptyPageNames.push_back(name);
      continue;
    }
    jsonl += Json{{"text", text}, {"libreoffice_help", {{"page", name}}}}.dump(-1, ' ', false,
                                                                              Json::error_handler_t::replace);
    jsonl += '\n';
  }
  return jsonl;
}

std::vector<ImportedLanguage> importLibreOfficeHelpCorpus(const Project& project, Reporter& reporter,
                                                          const ImportOptions& options) {
  if (!options.unit.empty())
    throw InputError("the libreoffice-help source has one document per page: --unit (" + options.unit +
                     ") applies to the udhr source only");
  const fs::path dir = options.sourceDir.empty() ? defaultLibreOfficeHelpDir() : options.sourceDir;

  // The reference and every language's package must be there before anything is written.
  const fs::path enUs = libreOfficeHelpFolder(dir, "en-us");
  const std::vector<Language> languages = project.allLanguages();
  std::map<std::string, fs::path> folders;  // by language id
  std::vector<Problem> missing;
  for (std::size_t i = 0; i < languages.size(); ++i) {
    try {
      folders[languages[i].id] = libreOfficeHelpFolder(dir, languages[i].id);
    } catch (const InputError& e) {
      missing.push_back({languageIdPointer(project, i), e.what()});
    }
  }
  if (!missing.empty()) throw ValidationError(project.file.string(), missing);

  // The reference is read once, and only when a language is extracted.
  std::string referenceHash;
  std::optional<std::unordered_set<std::string>> reference;
  const std::unordered_set<std::string> none;

  ImportPlan plan;
  plan.sourceName = "LibreOffice-help";
  plan.package = "libreoffice-help";
  plan.unit = "page";
  plan.started = {{"package", plan.package}, {"unit", plan.unit}, {"libreoffice_help_dir", dir.string()},
                  {"min_paragraph_columns", kMinHelpParagraphColumns}};
  plan.sourceHash = [&](const Language& l) {
    if (referenceHash.empty()) referenceHash = helpSourceHash(enUs, "en-US");
    return helpSourceHash(folders.at(l.id), referenceHash);
  };
  plan.extract = [&](const Language& l) {
    // en-us as a project language is its own reference: nothing of it is untranslated.
    if (!reference && l.id != "en-us") reference = readHelpReference(enUs, reporter);
    HelpCounts counts;
    ImportedText text;
    text.jsonl = extractHelpLanguage(folders.at(l.id), l.id == "en-us" ? none : *reference, reporter, counts);
    text.documents = counts.pages - counts.emptyPages - counts.badPages;
    text.counts = countsJson(counts);
    text.summary = countsSummary(counts, text.documents);
    return text;
  };
  return runImport(project, reporter, plan, options.force);
}

}  // namespace dmoe
