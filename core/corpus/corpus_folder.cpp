#include "corpus/corpus_folder.h"

#include <algorithm>
#include <set>

#include "corpus/jsonl_reader.h"
#include "project/corpus_layout.h"
#include "util/error.h"
#include "util/text.h"

namespace dmoe {

namespace fs = std::filesystem;

Json CorpusFileInfo::toJson() const {
  Json j = {{"id", id},           {"file", file.filename().string()}, {"compression", compressionName(compression)},
            {"bytes", bytes},     {"sample", sample}};
  if (documents >= 0) j["documents"] = documents, j["bad_lines"] = badLines;
  if (!problem.empty()) j["problem"] = problem;
  return j;
}

std::vector<CorpusFileInfo> listCorpusFolder(const fs::path& root, const std::string& textKey) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) throw InputError("corpus folder " + root.string() + " does not exist");
  std::set<std::string> ids;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    const std::string id = corpusIdOf(entry.path().filename().string());
    std::error_code entryError;  // a dangling link is no language, not a failed listing
    if (!id.empty() && entry.is_regular_file(entryError)) ids.insert(id);
  }
  if (ec) throw InputError("cannot list " + root.string() + ": " + ec.message());
  std::vector<CorpusFileInfo> out;
  for (const std::string& id : ids) {
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
      for (int tries = 0; tries < 1000 && info.sample.empty(); ++tries) {  // a file of bad lines: no sample
        if (!reader.next(first)) break;
        info.sample = firstCodePoints(first.text, 160);
      }
    } catch (const InputError& e) {
      info.problem = e.what();
    }
    out.push_back(std::move(info));
  }
  return out;
}

void countCorpusDocuments(CorpusFileInfo& info, const std::string& textKey) {
  info.documents = 0;
  info.badLines = 0;
  try {
    JsonlReader reader(info.file, textKey);
    Document d;
    while (reader.next(d)) ++info.documents;
    info.badLines = static_cast<std::int64_t>(reader.issues().size());
  } catch (const InputError& e) {
    info.problem = e.what();
  }
}

}  // namespace dmoe
