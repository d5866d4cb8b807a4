#include "corpus/corpus_folder.h"

#include <algorithm>
#include <map>

#include "project/corpus_layout.h"
#include "project/schema.h"
#include "util/error.h"
#include "util/text.h"

namespace dmoe {

namespace fs = std::filesystem;

namespace {

bool isLanguageId(const std::string& id) {
  static const Schema idSchema(Schema::project().nodeAt("/languages/0/id"));
  std::vector<Problem> errors, warnings;
  idSchema.validate(id, errors, warnings);
  return errors.empty();
}

// Why `entry` is no language's corpus file: "" when it is one.
std::string whyNoLanguageFile(const fs::directory_entry& entry, const std::string& textKey) {
  const std::string name = entry.path().filename().string();
  const std::string id = corpusIdOf(name);
  if (id.empty()) return "no corpus file extension";
  if (!isLanguageId(id)) return "'" + id + "' is no language id";
  std::error_code ec;  // a dangling link is no language, not a failed listing
  if (!entry.is_regular_file(ec)) return "not a regular file";
  if (!endsWith(name, ".json")) return {};
  try {
    const std::string problem = firstLineProblem(entry.path(), textKey);
    return problem.empty() ? std::string() : "not JSON lines; line 1: " + problem.substr(0, problem.find(':'));
  } catch (const InputError&) {
    return {};  // unreadable: listed, with its problem
  }
}

// The language's preferred file with its compression, size and sample; a read error goes to problem.
CorpusFileInfo listedFile(const fs::path& root, const std::string& id, const std::string& textKey) {
  CorpusFileInfo info;
  info.id = id;
  info.file = corpusFileFor(root, id);
  std::error_code sizeError;
  const auto bytes = fs::file_size(info.file, sizeError);
  info.bytes = sizeError ? 0 : static_cast<std::int64_t>(bytes);
  try {
    JsonlReader reader(info.file, textKey);
    info.compression = reader.compression();
    Document first;
    if (reader.next(first)) info.sample = firstCodePoints(first.text, 160);  // a file of bad lines: no sample
  } catch (const InputError& e) {
    info.problem = e.what();
  }
  return info;
}

}  // namespace

Json CorpusFileInfo::toJson() const {
  Json j = {{"id", id},           {"file", file.filename().string()}, {"compression", compressionName(compression)},
            {"bytes", bytes},     {"sample", sample}};
  if (documents >= 0) j["documents"] = documents, j["bad_lines"] = badLines;
  if (!badLineExamples.empty()) {
    j["bad_line_examples"] = Json::array();
    for (const CorpusIssue& issue : badLineExamples)
      j["bad_line_examples"].push_back({{"line", issue.line}, {"reason", issue.reason}});
  }
  if (!problem.empty()) j["problem"] = problem;
  return j;
}

std::vector<CorpusFileInfo> listCorpusFolder(const fs::path& root, const std::string& textKey,
                                             std::vector<std::string>* skipped) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw InputError("corpus folder " + root.string() + " does not exist");
  std::map<std::string, std::vector<std::string>> namesOf;  // id -> its language files' names
  std::vector<std::string> others;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    std::error_code entryError;
    if (entry.is_directory(entryError)) continue;
    const std::string name = entry.path().filename().string();
    const std::string why = whyNoLanguageFile(entry, textKey);
    if (why.empty()) namesOf[corpusIdOf(name)].push_back(name);
    else others.push_back(name + " (" + why + ")");
  }
  if (ec) throw InputError("cannot list " + root.string() + ": " + ec.message());
  std::vector<CorpusFileInfo> out;
  for (const auto& [id, names] : namesOf) {
    out.push_back(listedFile(root, id, textKey));
    for (const std::string& name : names)
      if (name != out.back().file.filename()) others.push_back(name + " (" + out.back().file.filename().string() + " is read)");
  }
  if (skipped) {
    std::sort(others.begin(), others.end());
    *skipped = std::move(others);
  }
  return out;
}

void countCorpusDocuments(CorpusFileInfo& info, const std::string& textKey) {
  info.documents = 0;
  info.badLines = 0;
  info.badLineExamples.clear();
  try {
    JsonlReader reader(info.file, textKey);
    Document d;
    while (reader.next(d)) ++info.documents;
    info.badLines = reader.issueCount();
    info.badLineExamples = reader.issues();
  } catch (const InputError& e) {
    info.problem = e.what();
  }
}

}  // namespace dmoe
