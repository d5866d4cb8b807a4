#include "results/expansion_file.h"

#include "results/json_reader.h"

namespace dmoe {

std::int64_t LayerMoeExpansion::newExperts() const {
  std::int64_t total = 0;
  for (std::int64_t n : experts) total += n - 1;
  return total;
}

LayerMoeExpansion LayerMoeExpansion::fromJson(const Json& json, const std::string& source) {
  const JsonReader in(json, source);
  LayerMoeExpansion e;
  e.allocation = in.string(in.at(json, "allocation", ""), "/allocation");
  if (e.allocation != "layer-wise" && e.allocation != "uniform") in.fail("/allocation", "\"layer-wise\" or \"uniform\"");
  e.experts = in.integers(in.at(json, "experts", ""), "/experts");
  for (size_t i = 0; i < e.experts.size(); ++i)
    if (e.experts[i] < 1) in.fail("/experts/" + std::to_string(i), "at least 1 expert");
  if (json.contains("generation")) e.generation = in.integer(json.at("generation"), "/generation");
  if (e.generation < 1) in.fail("/generation", "a generation ≥ 1 (0 is the base's languages)");
  if (json.contains("previous_experts")) {
    e.previousExperts = in.integers(json.at("previous_experts"), "/previous_experts");
    if (e.previousExperts.size() != e.experts.size())
      in.fail("/previous_experts", std::to_string(e.experts.size()) + " counts, one per layer like /experts");
  }
  const Json& p = in.at(json, "parameters", "");
  e.baseParameters = in.integer(in.at(p, "base", "/parameters"), "/parameters/base");
  if (p.contains("base_active")) e.baseActiveParameters = in.integer(p.at("base_active"), "/parameters/base_active");
  e.parameters.total = in.integer(in.at(p, "total", "/parameters"), "/parameters/total");
  e.parameters.active = in.integer(in.at(p, "active", "/parameters"), "/parameters/active");
  e.stage1Tokens = in.integer(in.at(json, "stage1_tokens", ""), "/stage1_tokens");
  e.stage2Tokens = in.integer(in.at(json, "stage2_tokens", ""), "/stage2_tokens");
  e.replayShare = in.number(in.at(json, "replay_share", ""), "/replay_share");
  e.frozenTensorsChecked = in.integer(in.at(json, "frozen_tensors_checked", ""), "/frozen_tensors_checked");
  e.frozenBitIdentical = in.boolean(in.at(json, "frozen_bit_identical", ""), "/frozen_bit_identical");
  e.stage1FinalLoss = in.numberOrNull(in.at(json, "stage1_final_loss", ""), "/stage1_final_loss");
  e.stage2FinalLoss = in.numberOrNull(in.at(json, "stage2_final_loss", ""), "/stage2_final_loss");
  e.stage1OldAverage = in.numberOrNull(in.at(json, "stage1_old_average", ""), "/stage1_old_average");
  e.stage1NewAverage = in.numberOrNull(in.at(json, "stage1_new_average", ""), "/stage1_new_average");
  return e;
}

LayerMoeExpansion LayerMoeExpansion::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe layermoe train");
  return fromJson(in.root(), in.source());
}

Json LayerMoeExpansion::toJson() const {
  Json j{{"allocation", allocation},
              {"generation", generation},
              {"experts", experts},
              {"new_experts", newExperts()},
              {"parameters", {{"base", baseParameters}, {"total", parameters.total}, {"active", parameters.active}}},
              {"stage1_tokens", stage1Tokens},
              {"stage2_tokens", stage2Tokens},
              {"replay_share", replayShare},
              {"frozen_tensors_checked", frozenTensorsChecked},
              {"frozen_bit_identical", frozenBitIdentical},
              {"stage1_final_loss", numberOrNull(stage1FinalLoss)},
              {"stage2_final_loss", numberOrNull(stage2FinalLoss)},
              {"stage1_old_average", numberOrNull(stage1OldAverage)},
              {"stage1_new_average", numberOrNull(stage1NewAverage)}};
  if (!previousExperts.empty()) j["previous_experts"] = previousExperts;
  if (baseActiveParameters >= 0) j["parameters"]["base_active"] = baseActiveParameters;
  return j;
}

}  // namespace dmoe
