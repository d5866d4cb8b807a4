#include "util/error.h"

namespace dmoe {

static std::string describe(const std::string& source, const std::vector<Problem>& problems) {
  std::string text = source + ": " + std::to_string(problems.size()) +
                     (problems.size() == 1 ? " problem" : " problems");
  for (const Problem& p : problems) text += "\n  " + p.where + ": " + p.message;
  return text;
}

ValidationError::ValidationError(std::string source, std::vector<Problem> problems)
    : InputError(describe(source, problems)), source_(std::move(source)), problems_(std::move(problems)) {}

}  // namespace dmoe
