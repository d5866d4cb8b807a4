// What every corpus source's import shares (corpus_sources.h lists the
// sources): the options, the per-language result, and the import loop itself —
// one <corpus root>/<id>.jsonl per project language, written atomically; the
// <root>/.import.json record (package, unit, per-language source and output
// hashes) that lets an unchanged language be skipped; never overwriting a file
// an import did not write; progress, an artifact per written file, a log line
// per language and the result "corpus_import". A source supplies only how to
// hash a language's inputs and how to turn them into JSON lines.
//
// Not here: reading any particular package (udhr_import.h,
// libreoffice_help_import.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"

namespace dmoe {

struct ImportOptions {
  std::filesystem::path sourceDir;  // the source's unpacked package(s); empty: the source's default (the set-up cache)
  std::string unit;                 // empty: the project's corpus.source.unit (sources with a choice of unit)
  bool force = false;               // rewrite files that are up to date
};

struct ImportedLanguage {
  std::string id;
  std::filesystem::path file;
  std::int64_t documents = 0;
  bool upToDate = false;  // skipped: same source, unit and output as last time
};

// One language's output as a source's extractor makes it.
struct ImportedText {
  std::string jsonl;               // the file's bytes: one {"text": …} object a line
  std::int64_t documents = 0;
  Json counts = Json::object();    // source-specific counts, kept in .import.json and the result row
  std::string summary;             // the log line after "<id>: ", e.g. "12 documents"
};

// How one source imports: what it is called and records, and its two steps per language.
struct ImportPlan {
  std::string sourceName;  // for messages: "UDHR", "LibreOffice-help"
  std::string package;     // recorded; a change re-imports every language
  std::string unit;        // recorded; a change re-imports every language
  Json started;            // the stage's started event
  // A hash of everything the language's output depends on (its source files).
  std::function<std::string(const Language&)> sourceHash;
  std::function<ImportedText(const Language&)> extract;
};

// Imports every language of the project (languages, then new_languages) as
// the plan says, skipping those whose source hash and output are as the last
// import recorded (unless `force`).
std::vector<ImportedLanguage> runImport(const Project& project, Reporter& reporter, const ImportPlan& plan, bool force);

// ${XDG_CACHE_HOME:-$HOME/.cache}/dmoe-workbench: where scripts/setup.sh puts downloads.
std::filesystem::path workbenchCacheDir();

// The JSON path of language i of project.allLanguages(): "/languages/<i>/id"
// or, past the training languages, "/new_languages/<j>/id".
std::string languageIdPointer(const Project& project, std::size_t i);

}  // namespace dmoe
