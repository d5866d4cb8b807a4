#include "methods/grouping_methods.h"

#include "util/error.h"

namespace dmoe {

const std::vector<GroupingMethod>& groupingMethods() {
  static const std::vector<GroupingMethod> methods = {
      {"maximin-exhaustive",
       "group by group, the subset of the remaining languages whose largest distance is smallest; falls back to "
       "greedy above `exhaustive_limit` candidate subsets",
       {"exhaustive_limit"}},
      {"maximin-greedy", "seed a group with the closest pair, grow it by the language closest to all members", {}},
      {"random", "a seeded shuffle cut into balanced groups (the ablation)", {"seed"}},
      {"manual", "the groups listed in `manual` (each language exactly once)", {"manual"}, false},
  };
  return methods;
}

const GroupingMethod* findGroupingMethod(const std::string& name) {
  for (const GroupingMethod& m : groupingMethods())
    if (m.name == name) return &m;
  return nullptr;
}

const GroupingMethod& groupingMethod(const std::string& name) {
  if (const GroupingMethod* m = findGroupingMethod(name)) return *m;
  throw InputError("unknown grouping method '" + name + "' (expected " + groupingMethodNames(false) + ")");
}

std::string groupingMethodNames(bool similarityOnly) {
  std::vector<std::string> names;
  for (const GroupingMethod& m : groupingMethods())
    if (m.groupsSimilarity || !similarityOnly) names.push_back(m.name);
  std::string out;
  for (size_t i = 0; i < names.size(); ++i)
    out += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
  return out;
}

}  // namespace dmoe
