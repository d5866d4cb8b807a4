#include "results/adaptation_file.h"

#include <cmath>

#include "results/json_reader.h"

namespace dmoe {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

AdaptationResult::NewExpert readNewExpert(const JsonReader& in, const Json& e, const std::string& path) {
  AdaptationResult::NewExpert x;
  x.expert = in.integer(in.at(e, "expert", path), path + "/expert");
  x.copiedFrom = in.integer(in.at(e, "copied_from", path), path + "/copied_from");
  x.languages = in.strings(in.at(e, "languages", path), path + "/languages");
  if (e.contains("router_row_max_abs_diff_from_source"))
    x.routerRowMaxAbsDiff =
        in.numberOrNull(e["router_row_max_abs_diff_from_source"], path + "/router_row_max_abs_diff_from_source");
  if (e.contains("learned_router_top1_share")) {
    const Json& shares = e["learned_router_top1_share"];
    const std::string at = path + "/learned_router_top1_share";
    if (!shares.is_object()) in.fail(at, "an object of languages");
    for (const auto& [id, share] : shares.items()) x.top1Share.emplace_back(id, in.number(share, at + "/" + id));
  }
  return x;
}

AdaptationResult::Row readRow(const JsonReader& in, const Json& l, const std::string& path) {
  AdaptationResult::Row row;
  row.language = in.string(in.at(l, "language", path), path + "/language");
  row.label = l.contains("label") ? in.string(l["label"], path + "/label") : row.language;
  row.isNew = in.boolean(in.at(l, "new", path), path + "/new");
  row.hardBefore = in.numberOrNull(in.at(l, "hard_before", path), path + "/hard_before");
  row.hardAfter = in.numberOrNull(in.at(l, "hard_after", path), path + "/hard_after");
  row.softBefore = in.numberOrNull(in.at(l, "soft_before", path), path + "/soft_before");
  row.softAfter = in.numberOrNull(in.at(l, "soft_after", path), path + "/soft_after");
  return row;
}

}  // namespace

AdaptationResult AdaptationResult::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe adapt");
  const Json& root = in.root();
  AdaptationResult a;
  if (root.contains("probe")) a.probe = ProbeTable::rowsFromJson(in, root["probe"], "/probe", 0);
  const Json& added = in.at(root, "new_experts", "");
  if (!added.is_array()) in.fail("/new_experts", "a list of new experts");
  for (size_t i = 0; i < added.size(); ++i) a.newExperts.push_back(readNewExpert(in, added[i], "/new_experts/" + std::to_string(i)));
  const Json& languages = in.at(root, "languages", "");
  if (!languages.is_array()) in.fail("/languages", "a list of languages");
  for (size_t i = 0; i < languages.size(); ++i) a.rows.push_back(readRow(in, languages[i], "/languages/" + std::to_string(i)));
  auto top = [&](const char* key) -> const Json& { return in.at(root, key, ""); };
  auto optionalNumber = [&](const char* key) {
    return root.contains(key) ? in.numberOrNull(root[key], std::string("/") + key) : kNaN;
  };
  a.frozenTensorsChecked = in.integer(top("frozen_tensors_checked"), "/frozen_tensors_checked");
  a.frozenBitIdentical = in.boolean(top("frozen_bit_identical"), "/frozen_bit_identical");
  a.oldHardUnchanged = in.boolean(top("old_hard_ppl_unchanged"), "/old_hard_ppl_unchanged");
  a.finalLoss = optionalNumber("final_loss");
  a.softAverageBefore = in.numberOrNull(top("soft_average_before"), "/soft_average_before");
  a.softAverageAfter = in.numberOrNull(top("soft_average_after"), "/soft_average_after");
  a.newSoftAverageBefore = in.numberOrNull(top("new_soft_average_before"), "/new_soft_average_before");
  a.newSoftAverageAfter = optionalNumber("new_soft_average_after");
  a.newHardAverageAfter = in.numberOrNull(top("new_hard_average_after"), "/new_hard_average_after");
  return a;
}

Json AdaptationResult::toJson() const {
  Json experts = Json::array();
  for (const NewExpert& e : newExperts) {
    Json x{{"expert", e.expert}, {"copied_from", e.copiedFrom}, {"languages", e.languages}};
    if (std::isfinite(e.routerRowMaxAbsDiff)) x["router_row_max_abs_diff_from_source"] = e.routerRowMaxAbsDiff;
    if (!e.top1Share.empty()) {
      Json shares = Json::object();
      for (const auto& [id, share] : e.top1Share) shares[id] = share;
      x["learned_router_top1_share"] = shares;
    }
    experts.push_back(x);
  }
  Json languages = Json::array();
  for (const Row& r : rows)
    languages.push_back({{"language", r.language}, {"label", r.label}, {"new", r.isNew},
                         {"hard_before", numberOrNull(r.hardBefore)}, {"hard_after", numberOrNull(r.hardAfter)},
                         {"soft_before", numberOrNull(r.softBefore)}, {"soft_after", numberOrNull(r.softAfter)}});
  return Json{{"probe", ProbeTable::rowsJson(probe)},
              {"new_experts", experts},
              {"frozen_tensors_checked", frozenTensorsChecked},
              {"frozen_bit_identical", frozenBitIdentical},
              {"old_hard_ppl_unchanged", oldHardUnchanged},
              {"final_loss", numberOrNull(finalLoss)},
              {"languages", languages},
              {"soft_average_before", numberOrNull(softAverageBefore)},
              {"soft_average_after", numberOrNull(softAverageAfter)},
              {"new_soft_average_before", numberOrNull(newSoftAverageBefore)},
              {"new_soft_average_after", numberOrNull(newSoftAverageAfter)},
              {"new_hard_average_after", numberOrNull(newHardAverageAfter)}};
}

}  // namespace dmoe
