#include "results/groups_file.h"

#include "results/json_reader.h"
#include "util/error.h"

namespace dmoe {

std::int64_t expertOf(const std::vector<std::vector<std::string>>& groups, const std::string& language) {
  for (size_t g = 0; g < groups.size(); ++g)
    for (const std::string& l : groups[g])
      if (l == language) return static_cast<std::int64_t>(g);
  return -1;
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

}  // namespace dmoe
