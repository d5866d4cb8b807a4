// Where a project may put its runs folder (see the header).
#include "project/runs_place.h"

#include <string>

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// The path with links resolved as far as it exists, so "runs/.." and a
// linked folder compare as the folders they are.
fs::path real(const fs::path& path) {
  std::error_code ec;
  fs::path p = fs::weakly_canonical(path, ec);
  if (ec) p = path.lexically_normal();
  return p.has_filename() || p == p.root_path() ? p : p.parent_path();  // "project/" → "project"
}

// Whether `folder` is `path` or a folder above it.
bool sameOrAbove(const fs::path& folder, const fs::path& path) {
  const fs::path relative = path.lexically_relative(folder);
  return !relative.empty() && *relative.begin() != "..";
}

}  // namespace

void checkRunsFolderPlace(const fs::path& runsDir, const fs::path& projectDir, const fs::path& corpusRoot,
                          bool importedCorpus, const fs::path& home, std::vector<Problem>& errors) {
  const fs::path runs = real(runsDir), project = real(projectDir), corpus = real(corpusRoot);
  const std::string what = "runs folder " + runs.string() + " ";
  const std::string expected = ": give runs_dir a folder of its own, e.g. \"runs/<project>\"";
  std::error_code ec;
  if (fs::exists(runs, ec) && !fs::is_directory(runs, ec))
    errors.push_back({"/runs_dir", what + "is a file: runs_dir must name a folder" + expected});
  else if (runs == runs.root_path())
    errors.push_back({"/runs_dir", what + "is the file system's root" + expected});
  else if (!home.empty() && runs == real(home))
    errors.push_back({"/runs_dir", what + "is the home folder" + expected});
  else if (sameOrAbove(runs, project))
    errors.push_back({"/runs_dir", what + (runs == project ? "is" : "contains") + " the project's folder " +
                                       project.string() + expected});
  else if (sameOrAbove(runs, corpus) && !(importedCorpus && runs != corpus))
    errors.push_back({"/runs_dir", what + (runs == corpus ? "is" : "contains") + " the corpus folder " +
                                       corpus.string() + " (/corpus/root)" + expected});
  else if (sameOrAbove(corpus, runs))
    errors.push_back({"/runs_dir", what + "is inside the corpus folder " + corpus.string() + " (/corpus/root)" + expected});
}

}  // namespace dmoe
