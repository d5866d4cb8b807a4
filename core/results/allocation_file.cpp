#include "results/allocation_file.h"

#include <cmath>

#include "results/json_reader.h"

namespace dmoe {

std::int64_t ExpertAllocation::newExperts() const {
  std::int64_t total = 0;
  for (std::int64_t n : experts) total += n - 1;
  return total;
}

ExpertAllocation ExpertAllocation::fromJson(const Json& json, const std::string& source) {
  const JsonReader in(json, source);
  ExpertAllocation a;
  a.allocation = in.string(in.at(json, "allocation", ""), "/allocation");
  if (a.allocation != "layer-wise" && a.allocation != "uniform") in.fail("/allocation", "\"layer-wise\" or \"uniform\"");
  a.budgetSource = in.string(in.at(json, "budget_source", ""), "/budget_source");
  a.budget = in.integer(in.at(json, "budget", ""), "/budget");
  a.exact = in.boolean(in.at(json, "exact", ""), "/exact");
  a.nextAbove = in.integer(in.at(json, "next_above", ""), "/next_above");
  a.delta = in.numberOrNull(in.at(json, "delta", ""), "/delta");
  a.minExperts = in.integer(in.at(json, "min_experts", ""), "/min_experts");
  a.similarity = in.numbers(in.at(json, "similarity", ""), "/similarity");
  a.experts = in.integers(in.at(json, "experts", ""), "/experts");
  if (a.experts.size() != a.similarity.size())
    in.fail("/experts", "one expert count per layer (" + std::to_string(a.similarity.size()) + ")");
  for (size_t i = 0; i < a.experts.size(); ++i)
    if (a.experts[i] < 1) in.fail("/experts/" + std::to_string(i), "at least 1 expert");
  return a;
}

ExpertAllocation ExpertAllocation::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe layermoe allocate");
  return fromJson(in.root(), in.source());
}

Json ExpertAllocation::toJson() const {
  return Json{{"allocation", allocation},
              {"budget_source", budgetSource},
              {"budget", budget},
              {"exact", exact},
              {"next_above", nextAbove},
              {"delta", numberOrNull(delta)},
              {"min_experts", minExperts},
              {"similarity", similarity},
              {"experts", experts},
              {"new_experts", newExperts()}};
}

}  // namespace dmoe
