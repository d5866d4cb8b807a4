#include "results/groups_file.h"

#include <map>
#include <set>

#include "results/json_reader.h"
#include "util/error.h"

namespace dmoe {

std::int64_t expertOf(const std::vector<std::vector<std::string>>& groups, const std::string& language) {
  for (size_t g = 0; g < groups.size(); ++g)
    for (const std::string& l : groups[g])
      if (l == language) return static_cast<std::int64_t>(g);
  return -1;
}

std::vector<Problem> partitionProblems(const std::vector<std::vector<std::string>>& groups,
                                       const std::vector<std::string>& languages,
                                       const std::function<std::string(size_t g, size_t i)>& where,
                                       const std::function<std::string(const std::string& id)>& unknown,
                                       const std::string& whole) {
  const std::set<std::string> known(languages.begin(), languages.end());
  std::map<std::string, std::string> placed;
  std::vector<Problem> problems;
  for (size_t g = 0; g < groups.size(); ++g) {
    if (groups[g].empty()) problems.push_back({where(g, 0).substr(0, where(g, 0).rfind('/')), "group is empty"});
    for (size_t i = 0; i < groups[g].size(); ++i) {
      const std::string& id = groups[g][i];
      if (id.empty()) continue;
      if (!known.count(id))
        problems.push_back({where(g, i), unknown(id)});
      else if (placed.count(id))
        problems.push_back({where(g, i), "language '" + id + "' is in two groups (also at " + placed[id] + ")"});
      else
        placed[id] = where(g, i);
    }
  }
  std::string missing;
  for (const std::string& id : languages)
    if (!placed.count(id)) missing += (missing.empty() ? "" : ", ") + id;
  if (!missing.empty()) problems.push_back({whole, "languages in no group: " + missing});
  return problems;
}

Json LanguageGroups::toJson() const {
  Json list = Json::array();
  for (size_t g = 0; g < groups.size(); ++g)
    list.push_back({{"expert", g}, {"languages", groups[g]}, {"min_similarity", minSimilarity[g]}});
  return Json{{"method", method}, {"method_used", methodUsed}, {"groups", list}};
}

LanguageGroups LanguageGroups::fromJson(const Json& json, const std::string& source) {
  if (!json.is_object()) throw InputError(source + ": expected a JSON object");
  const JsonReader in(json, source);
  LanguageGroups out;
  out.method = in.string(in.at(json, "method", ""), "/method");
  out.methodUsed = json.contains("method_used") ? in.string(json["method_used"], "/method_used") : out.method;
  const Json& groups = in.at(json, "groups", "");
  if (!groups.is_array()) in.fail("/groups", "a list of groups");
  for (size_t g = 0; g < groups.size(); ++g) {
    const std::string path = "/groups/" + std::to_string(g);
    if (groups[g].contains("expert") && in.integer(groups[g]["expert"], path + "/expert") != std::int64_t(g))
      in.fail(path + "/expert", std::to_string(g) + " (group g is expert g)");
    out.groups.push_back(in.strings(in.at(groups[g], "languages", path), path + "/languages"));
    out.minSimilarity.push_back(in.numberOrNull(in.at(groups[g], "min_similarity", path), path + "/min_similarity"));
  }
  return out;
}

LanguageGroups LanguageGroups::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe group");
  return fromJson(in.root(), in.source());
}

LanguageGroups LanguageGroups::readPartition(const std::filesystem::path& file, const std::vector<std::string>& languages) {
  LanguageGroups out = read(file);
  const std::vector<Problem> problems = partitionProblems(
      out.groups, languages,
      [](size_t g, size_t i) { return "/groups/" + std::to_string(g) + "/languages/" + std::to_string(i); },
      [](const std::string& id) { return "'" + id + "' is not a training language of the project (/languages)"; },
      "/groups");
  if (problems.empty()) return out;
  std::string message = file.string() + " does not split the project's languages into groups:";
  for (const Problem& p : problems) message += "\n  " + p.where + ": " + p.message;
  throw InputError(message + "\n(edit the groups in the group editor, or run `dmoe group --force`)");
}

}  // namespace dmoe
