// The select-layers stage (`dmoe select-layers`, SPEC §1.4): scores from the
// deviation stage's FFN norms and ε applied; an ε that expands no layer fails
// here. Also records the base model's sizes (from the checkpoint's headers,
// nothing is loaded) from which merge and the ε panel count parameters.
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

namespace {

// The base model's sizes the parameter counts need (merge counts them, the ε
// panel previews them), from the checkpoint's headers: nothing is loaded.
void recordBaseSizes(const Project& project, LayerSelection& s) {
  const HfCheckpoint base = HfCheckpoint::open(baseModelDir(project));
  const ModelFamily& family = modelFamily(base.config.value("model_type", std::string()));
  for (const std::string& name : base.tensors.names()) {
    const std::int64_t numel = base.tensors.entry(name).numel();
    s.baseParameters += numel;
    const ParameterModule m = parameterModule(family, name);
    if (m.layer == 0 && (m.kind == ModuleKind::Ffn || m.kind == ModuleKind::FfnBias)) s.ffnParameters += numel;
  }
  s.hiddenSize = base.config.value("hidden_size", base.config.value("n_embed", std::int64_t{0}));
}

void logSelection(const LayerSelection& s, Reporter& reporter) {
  std::ostringstream table;
  table << "layer  score      normalized  expand\n";
  for (size_t l = 0; l < s.scores.size(); ++l)
    table << "  " << l << (l < 10 ? "    " : "   ") << s.scores[l] << "  " << s.normalized[l] << "  "
          << (std::find(s.layers.begin(), s.layers.end(), static_cast<std::int64_t>(l)) != s.layers.end() ? "yes" : "")
          << "\n";
  table << s.layers.size() << " of " << s.scores.size() << " layers expand (ε = " << s.epsilon << ", " << s.mode
        << ")";
  if (s.baseParameters > 0) table << "; base model: " << s.baseParameters << " parameters, " << s.ffnParameters << " per FFN";
  reporter.log(table.str());
}

}  // namespace

// Reads ε and the mode only: the grouping and the merge settings do not
// change which layers expand (merge counts the parameters for its E and top-k).
void runSelectLayers(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  const LayerSelectionSettings& settings = project.layer_selection;
  StageFolder folder(runs.selectionDir(),
                     Json{{"settings", {{"epsilon", settings.epsilon}, {"mode", settings.mode}}},
                          {"deviation", StageFolder::fingerprint(runs.deviationDir(), "dmoe deviation")}});
  LayerSelection s = selectLayersFromNorms(DeviationTable::read(runs.deviationFile()), settings.epsilon, settings.mode);
  if (s.layers.empty()) {  // before the folder is touched: the last good selection stays for the ε panel
    logSelection(s, reporter);
    throw InputError(project.file.string() + " /layer_selection/epsilon: ε = " + std::to_string(s.epsilon) + " (" +
                     s.mode + ") expands no layer of " + std::to_string(s.scores.size()) +
                     "; lower ε (the normalised scores are listed above)");
  }
  const bool done = folder.run(force, reporter, "layer selection", runs.selectionFile(), [&] {
    recordBaseSizes(project, s);
    logSelection(s, reporter);
    writeFileAtomic(runs.selectionFile(), dumpJson(s.toJson(), 2) + "\n");
    reporter.result("selection", s.toJson());
    return Json{{"layers", s.layers}};
  });
  reporter.finished(done ? "done" : "skipped");
}

}  // namespace dmoe
