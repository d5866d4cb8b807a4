// The select-layers stage (`dmoe select-layers`, SPEC §1.4): scores from the
// deviation stage's FFN norms, ε applied, and the parameter counts of the DMoE
// model that would result (base and FFN sizes read from the base checkpoint's
// headers, so nothing is loaded).
#include <sstream>

#include "checkpoint/hf_checkpoint.h"
#include "methods/layer_selection.h"
#include "model/model_family.h"
#include "stages/stage_folder.h"
#include "stages/deviation.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

LayerSelection selectLayersFromNorms(const DeviationTable& deviation, double epsilon, const std::string& mode) {
  LayerSelection s;
  s.scores = layerScores(deviation.modules.at("ffn"));
  s.normalized = normalizedScores(s.scores);
  s.epsilon = epsilon;
  s.mode = mode;
  s.layers = selectLayers(s.normalized, s.epsilon, s.mode);
  return s;
}

LayerSelection selectLayersFromFile(const Project& project, const fs::path& normsFile, Reporter& reporter) {
  reporter.started();
  const DeviationTable norms = DeviationTable::importFile(normsFile);
  const LayerSelection s = selectLayersFromNorms(norms, project.layer_selection.epsilon, project.layer_selection.mode);
  std::string layers;
  for (std::int64_t l : s.layers) layers += (layers.empty() ? "" : " ") + std::to_string(l);
  reporter.log("imported deviation norms: " + normsFile.string() + " (" + std::to_string(norms.languages.size()) +
               " languages × " + std::to_string(norms.layers) + " layers); ε = " + std::to_string(s.epsilon) + " (" +
               s.mode + ") from " + project.file.string() + " selects " + std::to_string(s.layers.size()) +
               " layers: " + layers + "; nothing is written");
  reporter.result("selection", Json{{"scores", s.scores}, {"normalized", s.normalized}, {"epsilon", s.epsilon},
                                    {"mode", s.mode}, {"layers", s.layers}});
  reporter.finished("done");
  return s;
}

void runSelectLayers(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  const Json settings{{"epsilon", project.layer_selection.epsilon},
                      {"mode", project.layer_selection.mode},
                      {"experts", project.grouping.experts()},
                      {"top_k", project.merge.top_k}};
  StageFolder folder(runs.selectionDir(), Json{{"settings", settings},
                               {"deviation", StageFolder::fingerprint(project.layout().deviationDir(), "dmoe deviation")}});
  if (!force && folder.upToDate()) {
    reporter.log("layer selection is up to date: " + runs.selectionFile().string());
    reporter.finished("skipped");
    return;
  }
  folder.begin(force, reporter);

  LayerSelection s = selectLayersFromNorms(DeviationTable::read(project.layout().deviationFile()), project.layer_selection.epsilon,
                                           project.layer_selection.mode);
  s.experts = project.grouping.experts();
  s.topK = project.merge.top_k;

  const HfCheckpoint base = HfCheckpoint::open(baseModelDir(project));
  const ModelFamily& family = modelFamily(base.config.value("model_type", std::string()));
  for (const std::string& name : base.tensors.names()) {
    const std::int64_t numel = base.tensors.entry(name).numel();
    s.baseParameters += numel;
    const ParameterModule m = parameterModule(family, name);
    if (m.layer == 0 && (m.kind == ModuleKind::Ffn || m.kind == ModuleKind::FfnBias)) s.ffnParameters += numel;
  }
  s.hiddenSize = base.config.value("hidden_size", base.config.value("n_embed", std::int64_t{0}));
  s.counts = dmoeParameterCounts(s.baseParameters, s.ffnParameters, s.hiddenSize,
                                 static_cast<std::int64_t>(s.layers.size()), s.experts, s.topK);

  std::ostringstream table;
  table << "layer  score      normalized  expand\n";
  for (size_t l = 0; l < s.scores.size(); ++l)
    table << "  " << l << (l < 10 ? "    " : "   ") << s.scores[l] << "  " << s.normalized[l] << "  "
          << (std::find(s.layers.begin(), s.layers.end(), static_cast<std::int64_t>(l)) != s.layers.end() ? "yes" : "")
          << "\n";
  table << s.layers.size() << " of " << s.scores.size() << " layers expand (ε = " << s.epsilon << ", " << s.mode
        << ") into " << s.experts << " experts each; parameters: base " << s.baseParameters << ", DMoE total "
        << s.counts.total << ", active per token " << s.counts.active << " (top-" << std::min(s.topK, s.experts) << ")";
  reporter.log(table.str());
  writeFileAtomic(runs.selectionFile(), s.toJson().dump(2) + "\n");
  reporter.result("selection", s.toJson());
  folder.complete({{"layers", s.layers}, {"parameters", s.toJson().at("parameters")}});
  reporter.finished("done");
}

}  // namespace dmoe
