// The grouping methods as a registry (mergekit's merge-method registry): each
// one's name (the project's grouping.method), one line of help, the
// grouping.* settings it reads besides `method` and `groups`, and whether it
// groups a similarity matrix (manual does not: the project lists the groups).
// The project schema's choices and help for /grouping/method (so validation,
// `dmoe … --help` and the GUI's settings form), the group stage's manifest
// and the error messages all come from these rows.
//
// Not here: the algorithms (methods/grouping.h).
#pragma once
#include <string>
#include <vector>

namespace dmoe {

struct GroupingMethod {
  std::string name;
  std::string help;
  std::vector<std::string> settings;  // grouping.* keys it reads besides method and groups
  bool groupsSimilarity = true;       // false: the groups are given (manual)
};

// In the order help and messages list them.
const std::vector<GroupingMethod>& groupingMethods();
// The row of `name`, or nullptr.
const GroupingMethod* findGroupingMethod(const std::string& name);
// The row of `name`; InputError naming it and the methods otherwise.
const GroupingMethod& groupingMethod(const std::string& name);
// "maximin-exhaustive, maximin-greedy or random" (only those that group a
// similarity matrix when `similarityOnly`): for messages.
std::string groupingMethodNames(bool similarityOnly);

}  // namespace dmoe
