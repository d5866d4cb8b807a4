#include "results/adaptation_file.h"

#include "results/json_reader.h"

namespace dmoe {

AdaptationResult AdaptationResult::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe adapt");
  const Json& root = in.root();
  AdaptationResult a;
  const Json& added = in.at(root, "new_experts", "");
  if (!added.is_array()) in.fail("/new_experts", "a list of new experts");
  for (size_t i = 0; i < added.size(); ++i) {
    const std::string path = "/new_experts/" + std::to_string(i);
    a.newExperts.push_back({in.integer(in.at(added[i], "expert", path), path + "/expert"),
                            in.integer(in.at(added[i], "copied_from", path), path + "/copied_from"),
                            in.strings(in.at(added[i], "languages", path), path + "/languages")});
  }
  const Json& languages = in.at(root, "languages", "");
  if (!languages.is_array()) in.fail("/languages", "a list of languages");
  for (size_t i = 0; i < languages.size(); ++i) {
    const std::string path = "/languages/" + std::to_string(i);
    const Json& l = languages[i];
    Row row;
    row.language = in.string(in.at(l, "language", path), path + "/language");
    row.label = l.contains("label") ? in.string(l["label"], path + "/label") : row.language;
    row.isNew = in.boolean(in.at(l, "new", path), path + "/new");
    row.hardBefore = in.numberOrNull(in.at(l, "hard_before", path), path + "/hard_before");
    row.hardAfter = in.numberOrNull(in.at(l, "hard_after", path), path + "/hard_after");
    row.softBefore = in.numberOrNull(in.at(l, "soft_before", path), path + "/soft_before");
    row.softAfter = in.numberOrNull(in.at(l, "soft_after", path), path + "/soft_after");
    a.rows.push_back(std::move(row));
  }
  auto top = [&](const char* key) -> const Json& { return in.at(root, key, ""); };
  a.frozenTensorsChecked = in.integer(top("frozen_tensors_checked"), "/frozen_tensors_checked");
  a.frozenBitIdentical = in.boolean(top("frozen_bit_identical"), "/frozen_bit_identical");
  a.oldHardUnchanged = in.boolean(top("old_hard_ppl_unchanged"), "/old_hard_ppl_unchanged");
  a.softAverageBefore = in.numberOrNull(top("soft_average_before"), "/soft_average_before");
  a.softAverageAfter = in.numberOrNull(top("soft_average_after"), "/soft_average_after");
  a.newSoftAverageBefore = in.numberOrNull(top("new_soft_average_before"), "/new_soft_average_before");
  a.newHardAverageAfter = in.numberOrNull(top("new_hard_average_after"), "/new_hard_average_after");
  return a;
}

}  // namespace dmoe
