// A corpus folder in the jsonl-per-language layout (project/corpus_layout.h
// says which file is a language's) as the New Project flow lists it:
// per language its file, compression, size, a sample document and, counted on
// request, its documents and bad lines (the first few as examples). Reads
// only; never writes to the folder.
//
// A language's file is <id>.jsonl, .jsonl.gz, .jsonl.zst or .json whose id
// is a valid language id (the project schema's), a regular file, and for
// .json — a name any JSON file has, as a project or stats file — one whose
// first line is a document. Every other file is skipped, with the reason.
// Not here: reading documents (corpus/jsonl_reader.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "corpus/jsonl_reader.h"
#include "corpus/line_stream.h"
#include "util/json.h"

namespace dmoe {

struct CorpusFileInfo {
  std::string id;
  std::filesystem::path file;
  Compression compression = Compression::None;
  std::int64_t bytes = 0;       // on disk
  std::string sample;           // the first document's first 160 characters (whole code points)
  std::int64_t documents = -1;  // −1: not counted
  std::int64_t badLines = 0;    // lines that are no document (counted with documents)
  std::vector<CorpusIssue> badLineExamples;  // the first kCorpusIssueExamples of them
  std::string problem;          // the file could not be read (a damaged compressed file, …)
  Json toJson() const;
};

// Every language file directly under `root`, sorted by id (the preferred file
// of an id only), with a sample but no counts: quick on any corpus size.
// `skipped`, when given, gets "<name> (<why>)" for every other file (sorted;
// folders are not listed). InputError when `root` is not a folder.
std::vector<CorpusFileInfo> listCorpusFolder(const std::filesystem::path& root, const std::string& textKey,
                                             std::vector<std::string>* skipped = nullptr);

// Streams the file to fill documents, badLines and their examples; a read error goes to problem.
void countCorpusDocuments(CorpusFileInfo& info, const std::string& textKey);

}  // namespace dmoe
