// The group stage (`dmoe group`, SPEC §1.3): the project's languages
// partitioned by the configured method on the similarity stage's matrix
// (distance = 1 − similarity), or the manual groups of the project file
// (validated when the project loads: each language exactly once). Each group
// is reported with its minimum within-group similarity.
#include <algorithm>
#include <functional>
#include <set>

#include "methods/grouping.h"
#include "methods/grouping_methods.h"
#include "methods/similarity.h"
#include "stages/stage_folder.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// The similarity stage's combined matrix, for the project's languages.
SimilarityResult readSimilarity(const Project& project) {
  const fs::path file = project.layout().similarityFile();
  SimilarityResult m = SimilarityResult::read(file);
  if (m.languages != languageIds(project.languages))
    throw InputError(file.string() + ": its languages differ from the project's; re-run `dmoe similarity`");
  return m;
}

// Identity of the matrix the groups are formed on: its languages and values.
std::string matrixFingerprint(const SimilarityResult& similarity) {
  return hashHex(Json{{"languages", similarity.languages}, {"matrix", similarity.combined}}.dump());
}

}  // namespace

LanguageGroups groupSimilarity(const SimilarityResult& sim, const GroupingSettings& settings) {
  const DistanceMatrix distance = similarityToDistance(sim.combined);
  LanguageGroups out;
  out.method = settings.method;
  Groups indices;
  if (!groupingMethod(settings.method).groupsSimilarity) {  // manual
    out.methodUsed = "manual";
    for (const auto& group : settings.manual) {
      indices.emplace_back();
      for (const std::string& id : group) {
        const auto at = std::find(sim.languages.begin(), sim.languages.end(), id);
        if (at == sim.languages.end()) throw InputError("manual group language '" + id + "' is not in the similarity matrix");
        indices.back().push_back(static_cast<int>(at - sim.languages.begin()));
      }
    }
  } else {
    GroupingOptions options;
    options.method = settings.method;
    options.groups = static_cast<int>(settings.groups);
    options.seed = static_cast<std::uint64_t>(settings.seed);
    options.exhaustiveLimit = static_cast<std::uint64_t>(settings.exhaustive_limit);
    GroupingResult result = groupLanguages(distance, options);
    indices = result.groups;
    out.methodUsed = result.methodUsed;
  }
  const std::vector<double> largest = largestWithinGroupDistance(distance, indices);
  for (size_t g = 0; g < indices.size(); ++g) {
    out.groups.emplace_back();
    for (int i : indices[g]) out.groups.back().push_back(sim.languages[static_cast<size_t>(i)]);
    out.minSimilarity.push_back(1.0 - largest[g]);
  }
  return out;
}

LanguageGroups computeGroups(const Project& project, const std::string& method) {
  GroupingSettings settings = project.grouping;
  settings.method = method;
  return groupSimilarity(readSimilarity(project), settings);
}

namespace {
void logGroups(const LanguageGroups& groups, Reporter& reporter, const std::function<std::string(const std::string&)>& label) {
  if (groups.methodUsed != groups.method)
    reporter.warning("maximin-exhaustive needs more than exhaustive_limit candidate subsets here: fell back to " +
                         groups.methodUsed,
                     "/grouping/exhaustive_limit");
  for (size_t g = 0; g < groups.groups.size(); ++g) {
    std::string line = "group " + std::to_string(g + 1) + ":";
    for (const std::string& id : groups.groups[g]) line += " " + label(id);
    reporter.log(line + "   (min similarity " + std::to_string(groups.minSimilarity[g]) + ")");
  }
}
}  // namespace

LanguageGroups groupSimilarityFile(const Project& project, const fs::path& similarityFile, Reporter& reporter) {
  reporter.started();
  if (!groupingMethod(project.grouping.method).groupsSimilarity)  // manual
    throw InputError(project.file.string() + " /grouping/method: manual groups need no similarity matrix; choose " +
                     groupingMethodNames(true) + " to group an imported matrix");
  const SimilarityResult sim = SimilarityResult::importFile(similarityFile);
  reporter.log("imported similarity matrix: " + similarityFile.string() + " (" + std::to_string(sim.languages.size()) +
               " languages); grouping settings from " + project.file.string() + "; nothing is written");
  const LanguageGroups groups = groupSimilarity(sim, project.grouping);
  logGroups(groups, reporter, [](const std::string& id) { return id; });
  reporter.result("groups", groups.toJson());
  reporter.finished("done");
  return groups;
}

void runGroup(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  // The settings the method reads (its registry row), spelled as the project file spells them.
  const Json grouping = toJson(project.grouping);
  Json settings{{"method", project.grouping.method}, {"groups", project.grouping.groups}};
  for (const std::string& key : groupingMethod(project.grouping.method).settings) settings[key] = grouping.at(key);
  // The groups depend on the matrix alone, not on the similarity stage's
  // diagnostics: a new labelling or split-half setting leaves them (and the
  // merge and training after them) as they are.
  StageFolder folder(runs.groupDir(), Json{{"settings", settings}, {"similarity", matrixFingerprint(readSimilarity(project))}});
  const bool done = folder.run(force, reporter, "groups", runs.groupsFile(), [&] {
    const LanguageGroups groups = computeGroups(project, project.grouping.method);
    logGroups(groups, reporter, [&](const std::string& id) { return project.findLanguage(id)->label(); });
    writeFileAtomic(runs.groupsFile(), dumpJson(groups.toJson(), 2) + "\n");
    reporter.artifact(runs.groupsFile(), "groups");
    reporter.result("groups", groups.toJson());
    return Json{{"groups", groups.groups.size()}};
  });
  reporter.finished(done ? "done" : "skipped");
}

}  // namespace dmoe
