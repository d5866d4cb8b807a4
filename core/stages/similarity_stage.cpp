// The similarity stage (`dmoe similarity`, SPEC §1.2): the language × language
// cosine of the deviation stage's FFN weight deltas over the configured layer
// set (last n, all, the ε-selected layers, or a list), one matrix per layer,
// streamed from disk (methods/similarity.h), optionally as a checked sketch;
// plus the average-linkage order and dendrogram for display.
#include "methods/clustering.h"
#include "methods/similarity.h"
#include "stages/stage_folder.h"
#include "stages/deviation.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// The matrices of `layers` from the deviation stage's deltas, with the
// display order and dendrogram, written to similarity.{json,csv}.
void writeSimilarity(const Project& project, const std::vector<std::int64_t>& layers, Reporter& reporter) {
  const RunLayout runs = project.layout();
  const SimilaritySettings& s = project.similarity;
  DeltaFiles deltas;
  for (const Language& l : project.languages) {
    deltas.languages.push_back(l.id);
    deltas.files.push_back(runs.deviationDir() / l.id / "ffn_delta.safetensors");
  }
  SimilarityOptions options;
  options.layers = layers;
  options.sketchDim = s.sketch_dim;
  options.sketchSeed = static_cast<std::uint64_t>(s.sketch_seed);
  options.checkPairs = s.sketch_check_pairs;
  SimilarityResult result =
      computeSimilarity(deltas, options, [&](std::int64_t done, std::int64_t total) { reporter.progress(done, total, "blocks"); });
  if (result.sketch)
    reporter.log("sketch k = " + std::to_string(result.sketch->dim) + ": max |error| " +
                 std::to_string(result.sketch->maxAbsError) + ", mean " + std::to_string(result.sketch->meanAbsError) +
                 " on " + std::to_string(result.sketch->pairs) + " pairs (expected std error " +
                 std::to_string(result.sketch->expectedStdError) + ")");

  const Dendrogram tree = averageLinkage(similarityToDistance(result.combined));
  for (const Language& l : project.languages) result.labels.push_back(l.label());
  result.clusterOrder = tree.leafOrder;
  result.dendrogram = tree.merges;
  const Json j = result.toJson();
  writeFileAtomic(runs.similarityFile(), dumpJson(j, 1) + "\n");
  writeFileAtomic(runs.similarityCsvFile(), result.toCsv());
  reporter.artifact(runs.similarityFile(), "similarity");
  reporter.result("similarity", j);
}

}  // namespace

void runSimilarity(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  const SimilaritySettings& s = project.similarity;
  const fs::path deviation = runs.deviationDir();
  const Json deviationOutputs = StageFolder(deviation, Json()).outputs();
  const auto numLayers = deviationOutputs.at("layers").get<std::int64_t>();

  std::vector<std::int64_t> layers;
  Json inputs{{"settings", {{"layer_set", s.layer_set}, {"sketch_dim", s.sketch_dim}}},
              {"deviation", StageFolder::fingerprint(deviation, "dmoe deviation")}};
  if (s.layer_set == "selected") {
    layers = LayerSelection::read(runs.selectionFile()).layers;
    inputs["selection"] = StageFolder::fingerprint(runs.selectionDir(), "dmoe select-layers");
    if (layers.empty())
      throw InputError(project.file.string() + " /similarity/layer_set: \"selected\", but ε selects no layer");
  } else {
    layers = deltaLayersToKeep(project, numLayers);
  }
  inputs["layers"] = layers;
  if (s.sketch_dim > 0) inputs["settings"]["sketch"] = {{"kind", "count"}, {"seed", s.sketch_seed}, {"check_pairs", s.sketch_check_pairs}};
  StageFolder folder(runs.similarityDir(), inputs);
  const bool done = folder.run(force, reporter, "similarity", runs.similarityFile(), [&] {
    writeSimilarity(project, layers, reporter);
    return Json{{"layers", layers}};
  });
  reporter.finished(done ? "done" : "skipped");
}

}  // namespace dmoe
