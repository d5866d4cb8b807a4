// Where a project may put its runs folder. The runs folder is the workbench's
// own (util/owned_paths.h): every stage replaces the folders it made there.
// So runs_dir may not be the file system's root, the home folder, the
// project's folder or a folder above it, the corpus folder, a folder above
// it (unless the corpus is imported: dmoe writes it, as the demos do in
// <runs>/corpus) or a folder inside it; and it may not name a file. Each
// problem is reported at /runs_dir with what was expected.
//
// Not here: the runs folder's contents (claimRunsFolder in
// util/owned_paths.h refuses a non-empty folder dmoe did not make when a
// command takes its lock), or whether the corpus exists (project.cpp).
#pragma once
#include <filesystem>
#include <vector>

#include "util/error.h"

namespace dmoe {

// Appends to `errors` what is wrong with `runsDir` as a project's runs folder
// (all paths absolute). `home` is the user's home folder ("" when unknown);
// `importedCorpus`: corpus.source is set, so dmoe writes the corpus folder.
void checkRunsFolderPlace(const std::filesystem::path& runsDir, const std::filesystem::path& projectDir,
                          const std::filesystem::path& corpusRoot, bool importedCorpus,
                          const std::filesystem::path& home, std::vector<Problem>& errors);

}  // namespace dmoe
