// deviation/deviation.json (written by the deviation stage, SPEC §1.1): the
// deviation norms per language, layer and module kind, and the stationarity
// diagnostic. Also reads the reference code's per-language norms files
// (DMoE's log/delta-stat/*.json), so `dmoe select-layers --norms` and the
// published-answer tests use the same reader as the stages and the GUI.
//
// Not here: how the norms are computed (stages/deviation.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "util/json.h"

namespace dmoe {

// The module kinds of deviation.json, in the order the stage writes them:
// "ffn" (the FFN's weight matrices: SPEC 1.4's score), "attention", "norms", "all".
const std::vector<std::string>& deviationKinds();

struct DeviationTable {
  std::vector<std::string> languages;  // project order
  std::vector<std::string> labels;     // display names (the ids when the file has none)
  std::int64_t layers = 0;
  std::map<std::string, std::vector<std::vector<double>>> modules;  // kind → [language][layer] ‖Δθ‖₂
  // The stationarity diagnostic (train/stationarity.h): r and r⊥ (NaN: null)
  // and its layers; absent in files written before the stage recorded it.
  struct Stationarity {
    double r = 0, orthogonal = 0;
    std::vector<std::int64_t> layers;
    Json record;  // the object as written (also slice, token counts, gradient norms): the report embeds it
    // How to read r, in one sentence for people (the report and the Deviation
    // tab say the same): "Stationarity of the base on the continual data: r =
    // 0.42 (FFN gradients, layers 1, 2); independent, orthogonal pulls would
    // give 0.24. Above that …". Empty when r is not finite.
    std::string reading() const;
  };
  std::optional<Stationarity> stationarity;

  // Either layout: deviation.json's {languages, labels?, layers, modules: {kind:
  // [[per layer]]}, stationarity?} (every kind, languages × layers), or the
  // reference code's {<lang>: {"ffn": [...], "attention": [...]}} (kinds
  // missing there stay absent; every language needs an "ffn" list of the same
  // length). Errors name `source` and the JSON path.
  static DeviationTable fromJson(const Json& json, const std::string& source);
  // The deviation stage's deviation.json; missing: "run `dmoe deviation` first".
  static DeviationTable read(const std::filesystem::path& file);
  // A norms file a user imports (`dmoe select-layers --norms`), either layout; missing: "no such file".
  static DeviationTable importFile(const std::filesystem::path& file);
};

}  // namespace dmoe
