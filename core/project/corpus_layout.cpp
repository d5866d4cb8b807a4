#include "project/corpus_layout.h"

namespace dmoe {

namespace fs = std::filesystem;

const std::vector<std::string>& corpusFileExtensions() {
  static const std::vector<std::string> extensions = {".jsonl", ".jsonl.gz", ".jsonl.zst", ".json"};
  return extensions;
}

std::vector<fs::path> existingCorpusFiles(const fs::path& root, const std::string& id) {
  std::vector<fs::path> found;
  std::error_code ec;
  for (const std::string& extension : corpusFileExtensions())
    if (fs::is_regular_file(root / (id + extension), ec)) found.push_back(root / (id + extension));
  return found;
}

fs::path corpusFileFor(const fs::path& root, const std::string& id) {
  const std::vector<fs::path> found = existingCorpusFiles(root, id);
  return found.empty() ? root / (id + corpusFileExtensions().front()) : found.front();
}

std::string corpusIdOf(const std::string& name) {
  for (const std::string& extension : corpusFileExtensions())
    if (name.size() > extension.size() && name.compare(name.size() - extension.size(), extension.size(), extension) == 0)
      return name.substr(0, name.size() - extension.size());
  return {};
}

}  // namespace dmoe
