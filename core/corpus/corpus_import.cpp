// The import loop every corpus source shares (see corpus_import.h).
#include "corpus/corpus_import.h"

#include <cstdlib>

#include "util/atomic_file.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// <root>/.import.json: what the last import wrote, so unchanged languages are skipped.
// Hashes, not modification times: npm pack gives every file the same 1985 mtime.
Json readManifest(const fs::path& file) {
  if (!fs::exists(file)) return Json::object();
  Json manifest = Json::parse(readFile(file), nullptr, false);
  return manifest.is_object() ? manifest : Json::object();
}

// A corpus file is written only when absent or when an earlier import wrote
// it (.import.json records it): the user's own file of that name is never
// overwritten. (An imported file edited since is the import's output and is
// written again, as the import's up-to-date check promises.)
void refuseUnlessImported(const fs::path& file, const Json& recorded, const std::string& sourceName) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(file, ec)) || recorded.contains("output")) return;
  throw InputError(file.string() + " exists and was not written by the " + sourceName +
                   " import (.import.json does not record it): dmoe never overwrites it; move it away, or set "
                   "/corpus/root to another folder");
}

}  // namespace

std::vector<ImportedLanguage> runImport(const Project& project, Reporter& reporter, const ImportPlan& plan, bool force) {
  reporter.started(plan.started);
  const std::vector<Language> languages = project.allLanguages();
  const fs::path root = project.corpusRoot();
  const fs::path manifestFile = root / ".import.json";
  const Json manifest = readManifest(manifestFile);
  const Json recorded = manifest.value("languages", Json::object());
  Json entries = manifest.value("package", "") == plan.package && manifest.value("unit", "") == plan.unit
                     ? recorded
                     : Json::object();

  // Written after every language, so an interrupted import resumes: the
  // languages done are recorded, and the ones not reached yet keep their
  // earlier record (their files stay replaceable).
  auto record = [&](const Json& languagesRecord) {
    writeFileAtomic(manifestFile,
                    dumpJson(Json{{"package", plan.package}, {"unit", plan.unit}, {"languages", languagesRecord}}, 2) + "\n");
  };
  std::vector<ImportedLanguage> imported;
  Json table = Json::array();
  bool wroteAny = false;
  for (std::size_t i = 0; i < languages.size(); ++i) {
    const std::string& id = languages[i].id;
    ImportedLanguage result{id, root / (id + ".jsonl")};
    const std::string sourceHash = plan.sourceHash(languages[i]);
    const Json previous = entries.value(id, Json::object());
    result.upToDate = !force && previous.value("source", "") == sourceHash && fs::exists(result.file) &&
                      previous.value("output", "") == Hasher().addFile(result.file).hex();
    Json counts = previous.value("counts", Json::object());
    if (result.upToDate) {
      result.documents = previous.value("documents", std::int64_t{0});
      reporter.log(id + ": up to date (" + std::to_string(result.documents) + " documents)");
    } else {
      refuseUnlessImported(result.file, recorded.value(id, Json::object()), plan.sourceName);
      ImportedText text = plan.extract(languages[i]);
      writeFileAtomic(result.file, text.jsonl);
      result.documents = text.documents;
      counts = std::move(text.counts);
      entries[id] = {{"source", sourceHash}, {"output", hashHex(text.jsonl)}, {"documents", result.documents}};
      if (!counts.empty()) entries[id]["counts"] = counts;
      reporter.artifact(result.file, "corpus");
      reporter.log(id + ": " + text.summary);
      wroteAny = true;
      Json sofar = recorded;
      sofar.update(entries);
      record(sofar);
    }
    Json row = {{"id", id},
                {"file", result.file.string()},
                {"documents", result.documents},
                {"status", result.upToDate ? "up to date" : "written"}};
    if (!counts.empty()) row["counts"] = counts;
    table.push_back(std::move(row));
    imported.push_back(std::move(result));
    reporter.progress(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(languages.size()), "languages");
  }
  if (wroteAny || recorded != entries) {
    record(entries);
    reporter.artifact(manifestFile, "manifest");
  }
  reporter.result("corpus_import",
                  {{"package", plan.package}, {"unit", plan.unit}, {"root", root.string()}, {"languages", table}});
  reporter.finished(wroteAny ? "done" : "skipped");
  return imported;
}

std::string languageIdPointer(const Project& project, std::size_t i) {
  const bool isNew = i >= project.languages.size();
  return (isNew ? "/new_languages/" : "/languages/") + std::to_string(isNew ? i - project.languages.size() : i) + "/id";
}

fs::path workbenchCacheDir() {
  fs::path cache;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) cache = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) cache = fs::path(home) / ".cache";
  else cache = ".cache";
  return cache / "dmoe-workbench";
}

}  // namespace dmoe
