// group/groups.json (written by the group stage, SPEC §1.3; a copy in each
// baseline that groups): the language groups, group g = expert g, with each
// group's minimum within-group similarity. Read by merge, training, the
// baselines, the report and the GUI's analysis views and group editor.
//
// Not here: forming the groups (methods/grouping.h, stages/stages.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "util/error.h"
#include "util/json.h"

namespace dmoe {

// The index of the list in `groups` that holds `language`, or −1: the expert of
// a language (the group stage's groups and a DMoE model's layout list them alike).
std::int64_t expertOf(const std::vector<std::vector<std::string>>& groups, const std::string& language);

// What keeps `groups` from being a partition of `languages` (each exactly once,
// no empty group): one Problem per empty group, unknown or repeated entry
// (`where(g, i)` names entry i of group g; `unknown(id)` says why an id does not
// belong), and one naming `whole` for the languages in no group. Empty ids are
// skipped (entries a caller has already reported as malformed).
std::vector<Problem> partitionProblems(const std::vector<std::vector<std::string>>& groups,
                                       const std::vector<std::string>& languages,
                                       const std::function<std::string(size_t g, size_t i)>& where,
                                       const std::function<std::string(const std::string& id)>& unknown,
                                       const std::string& whole);

struct LanguageGroups {
  std::string method, methodUsed;
  std::vector<std::vector<std::string>> groups;  // language ids; group g = expert g
  std::vector<double> minSimilarity;             // per group (1 for a single language; NaN when the file has null)

  // The expert (group index) of `language`, or −1 when no group lists it.
  std::int64_t expertOf(const std::string& language) const { return dmoe::expertOf(groups, language); }

  // {method, method_used, groups: [{expert, languages, min_similarity}]}
  Json toJson() const;
  // Errors name `source` and the JSON path; "expert" must be the group's index when given.
  static LanguageGroups fromJson(const Json& json, const std::string& source);
  // Missing: "run `dmoe group` first".
  static LanguageGroups read(const std::filesystem::path& file);
  // As read(), and every language of `languages` in exactly one group, no
  // other, no group empty: a hand-edited file that is not such a partition is
  // an InputError listing each problem with its JSON path.
  static LanguageGroups readPartition(const std::filesystem::path& file, const std::vector<std::string>& languages);
};

}  // namespace dmoe
