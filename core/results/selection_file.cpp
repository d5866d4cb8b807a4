#include "results/selection_file.h"

#include "results/json_reader.h"

namespace dmoe {

Json LayerSelection::toJson() const {
  return Json{{"scores", scores},
              {"normalized", normalized},
              {"epsilon", epsilon},
              {"mode", mode},
              {"layers", layers},
              {"hidden_size", hiddenSize},
              {"parameters", {{"base", baseParameters}, {"ffn_per_layer", ffnParameters}}}};
}

LayerSelection LayerSelection::fromJson(const Json& json, const std::string& source) {
  const JsonReader in(json, source);
  LayerSelection s;
  s.scores = in.numbers(in.at(json, "scores", ""), "/scores");
  s.normalized = in.numbers(in.at(json, "normalized", ""), "/normalized", s.scores.size());
  s.epsilon = in.number(in.at(json, "epsilon", ""), "/epsilon");
  s.mode = in.string(in.at(json, "mode", ""), "/mode");
  if (s.mode != "threshold" && s.mode != "top-fraction") in.fail("/mode", "\"threshold\" or \"top-fraction\"");
  s.layers = in.integers(in.at(json, "layers", ""), "/layers");
  for (size_t i = 0; i < s.layers.size(); ++i)
    if (s.layers[i] < 0 || s.layers[i] >= std::int64_t(s.scores.size()))
      in.fail("/layers/" + std::to_string(i), "a layer below " + std::to_string(s.scores.size()));
  s.hiddenSize = in.integer(in.at(json, "hidden_size", ""), "/hidden_size");
  const Json& p = in.at(json, "parameters", "");
  s.baseParameters = in.integer(in.at(p, "base", "/parameters"), "/parameters/base");
  s.ffnParameters = in.integer(in.at(p, "ffn_per_layer", "/parameters"), "/parameters/ffn_per_layer");
  return s;
}

LayerSelection LayerSelection::read(const std::filesystem::path& file) {
  const JsonReader in = JsonReader::file(file, "dmoe select-layers");
  return fromJson(in.root(), in.source());
}

}  // namespace dmoe
