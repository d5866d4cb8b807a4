// The similarity stage (`dmoe similarity`, SPEC §1.2): the language × language
// cosine of the languages' fingerprints over the configured layer set (last
// n, all, the ε-selected layers, or a list), one matrix per layer, streamed
// from disk (methods/similarity.h), optionally as a checked sketch; plus the
// average-linkage order and dendrogram for display, and the diagnostics
// (methods/fingerprint_diagnostics.h): split-half reliability and the family
// score against the project's labelling.
//
// Fingerprints (similarity.source):
//   weights     — the deviation stage's FFN weight deltas (the paper's), and
//                 its split halves' deltas;
//   activations — each layer's mean unit FFN input (train/ffn_input_means.h)
//                 at the base over the language's continual slice, centred
//                 by subtracting the languages' mean (without that, a
//                 component every language shares makes all cosines ≈ 1);
//                 the halves are the two halves of the same pass (alternate
//                 documents), centred over the halves, so they cost nothing
//                 extra. Written to <similarity>/fingerprints/ in the
//                 deltas' format, so one reader computes both matrices.
#include "checkpoint/hf_checkpoint.h"
#include "checkpoint/tensor_bridge.h"
#include "corpus/token_cache.h"
#include "methods/clustering.h"
#include "methods/fingerprint_diagnostics.h"
#include "methods/similarity.h"
#include "model/load_model.h"
#include "runtime/cancellation.h"
#include "runtime/device.h"
#include "stages/deviation.h"
#include "stages/stage_folder.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "train/ffn_input_means.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/hash.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// The permutations of the p-values draw from this seed: fixed, so a matrix's
// p-values are the same in every run (9,999 permutations make them stable to
// about ±0.005 at p = 0.05 whatever the seed).
constexpr std::uint64_t kPermutationSeed = 1234;

// One fingerprint file per language (and per half: index 2i half a, 2i + 1 half b).
struct FingerprintFiles {
  DeltaFiles whole, halves;
};

std::string halfId(const std::string& language, int half) { return language + "." + halfName(half); }

FingerprintFiles weightFingerprints(const Project& project) {
  FingerprintFiles f;
  for (const Language& l : project.languages) {
    f.whole.languages.push_back(l.id);
    f.whole.files.push_back(deltaFile(project, l.id));
    if (!project.similarity.split_half) continue;
    for (int half = 0; half < kSplitHalves; ++half) {
      const fs::path file = deltaFile(project, l.id, half);
      if (!fs::exists(file))
        throw InputError(file.string() + " is missing: the deviation stage ran without the split-half check; run "
                         "`dmoe deviation` again (similarity.split_half is on), or set it to false");
      f.halves.languages.push_back(halfId(l.id, half));
      f.halves.files.push_back(file);
    }
  }
  return f;
}

// Per half, each layer's mean unit FFN input over alternate documents of the
// language's continual slice, up to `tokens`/2 tokens per half.
struct HalfMeans {
  std::vector<std::vector<double>> means[kSplitHalves];  // [layer][hidden]
  std::int64_t tokens[kSplitHalves] = {0, 0};
};

HalfMeans measureHalves(const Project& project, const std::string& id, FfnInputMeans& means, std::int64_t perDocument) {
  const TokenShard shard(tokenShardFile(project, id, "continual"));
  const std::int64_t target = project.similarity.activation_tokens / kSplitHalves;
  HalfMeans out;
  for (int half = 0; half < kSplitHalves; ++half) {
    means.reset();
    for (std::int64_t d : halfDocuments(shard.documentCount(), half)) {
      if (means.tokens() >= target) break;
      throwIfCancelled();
      means.addDocument(shard.document(d), std::min(perDocument, target - means.tokens()));
    }
    if (means.tokens() == 0)
      throw InputError(shard.file().string() + ": half " + halfName(half) + " of " + id +
                       "'s continual slice has no tokens; the activations fingerprint needs two documents or more");
    out.means[half] = means.means();
    out.tokens[half] = means.tokens();
  }
  return out;
}

// rows [k, layers, hidden] minus their mean over k, each row written as one
// fingerprint file of the kept layers.
void writeCentred(const torch::Tensor& rows, const std::vector<std::int64_t>& layers, const std::vector<fs::path>& files) {
  const torch::Tensor centred = rows - rows.mean(0, true);
  for (size_t i = 0; i < files.size(); ++i) {
    NamedTensors tensors;
    for (std::int64_t layer : layers)
      tensors.emplace_back(deltaTensorName(layer), centred[static_cast<std::int64_t>(i)][layer].to(torch::kFloat32).contiguous());
    writeTensors(files[i], tensors);
  }
}

FingerprintFiles activationFingerprints(const Project& project, const std::vector<std::int64_t>& layers, Reporter& reporter) {
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(baseModelDir(project), resolveDevice(project.device));
  const std::int64_t layerCount = model->config().num_hidden_layers, width = model->config().hidden_size;
  const auto n = static_cast<std::int64_t>(project.languages.size());
  torch::Tensor whole = torch::zeros({n, layerCount, width}, torch::kFloat64);
  torch::Tensor halves = torch::zeros({kSplitHalves * n, layerCount, width}, torch::kFloat64);
  FfnInputMeans means(*model);
  for (std::int64_t i = 0; i < n; ++i) {
    reporter.progress(i, n, "languages (FFN inputs)");
    const Language& l = project.languages[static_cast<size_t>(i)];
    const HalfMeans h = measureHalves(project, l.id, means, model->config().max_position_embeddings);
    for (int half = 0; half < kSplitHalves; ++half) {
      torch::Tensor m = torch::empty({layerCount, width}, torch::kFloat64);
      for (std::int64_t layer = 0; layer < layerCount; ++layer)
        m[layer].copy_(torch::tensor(h.means[half][static_cast<size_t>(layer)], torch::kFloat64));
      halves[kSplitHalves * i + half].copy_(m);
      whole[i].add_(m * static_cast<double>(h.tokens[half]) / static_cast<double>(h.tokens[0] + h.tokens[1]));
    }
  }
  reporter.progress(n, n, "languages (FFN inputs)");
  const fs::path dir = project.layout().similarityDir() / "fingerprints";
  fs::create_directories(dir);
  FingerprintFiles f;
  for (const Language& l : project.languages) {
    f.whole.languages.push_back(l.id);
    f.whole.files.push_back(dir / (l.id + ".safetensors"));
    for (int half = 0; half < kSplitHalves; ++half) {
      f.halves.languages.push_back(halfId(l.id, half));
      f.halves.files.push_back(dir / (halfId(l.id, half) + ".safetensors"));
    }
  }
  writeCentred(whole, layers, f.whole.files);
  if (project.similarity.split_half) writeCentred(halves, layers, f.halves.files);
  else f.halves = {};
  return f;
}

SimilarityResult similarityOf(const DeltaFiles& files, const SimilarityOptions& options, const std::string& what,
                              Reporter& reporter) {
  SimilarityResult result = computeSimilarity(
      files, options, [&](std::int64_t done, std::int64_t total) { reporter.progress(done, total, what); });
  if (result.sketch)
    reporter.log(what + ": sketch k = " + std::to_string(result.sketch->dim) + ": max |error| " +
                 std::to_string(result.sketch->maxAbsError) + ", mean " + std::to_string(result.sketch->meanAbsError) +
                 " on " + std::to_string(result.sketch->pairs) + " pairs (expected std error " +
                 std::to_string(result.sketch->expectedStdError) + ")");
  return result;
}

// The matrices of `layers`, with the display order and dendrogram and the
// diagnostics, written to similarity.{json,csv}.
void writeSimilarity(const Project& project, const std::vector<std::int64_t>& layers, Reporter& reporter) {
  const RunLayout runs = project.layout();
  const SimilaritySettings& s = project.similarity;
  const FingerprintFiles files =
      s.source == "activations" ? activationFingerprints(project, layers, reporter) : weightFingerprints(project);
  SimilarityOptions options;
  options.layers = layers;
  options.sketchDim = s.sketch_dim;
  options.sketchSeed = static_cast<std::uint64_t>(s.sketch_seed);
  options.checkPairs = s.sketch_check_pairs;
  SimilarityResult result = similarityOf(files.whole, options, "blocks", reporter);
  result.source = s.source;

  const Dendrogram tree = averageLinkage(similarityToDistance(result.combined));
  for (const Language& l : project.languages) result.labels.push_back(l.label());
  result.clusterOrder = tree.leafOrder;
  result.dendrogram = tree.merges;
  if (!files.halves.files.empty()) {
    const SimilarityResult halves = similarityOf(files.halves, options, "blocks (split halves)", reporter);
    result.splitHalf = splitHalfDiagnostics(halves.combined, halves.perLayer, s.permutations, kPermutationSeed);
  }
  if (!s.labelling.empty())
    for (const Labelling& labelling : LabellingFile::read(project.resolve(s.labelling)).forLanguages(result.languages))
      result.families.push_back(familyScore(result.combined, labelling, s.permutations, kPermutationSeed));
  const std::string reading = result.reading();
  if (!reading.empty()) reporter.log(reading);
  const Json j = result.toJson();
  writeFileAtomic(runs.similarityFile(), dumpJson(j, 1) + "\n");
  writeFileAtomic(runs.similarityCsvFile(), result.toCsv());
  reporter.artifact(runs.similarityFile(), "similarity");
  reporter.result("similarity", j);
}

// What the matrix depends on besides the deviation stage and the layers.
Json similaritySettings(const Project& project) {
  const SimilaritySettings& s = project.similarity;
  Json settings{{"layer_set", s.layer_set}, {"sketch_dim", s.sketch_dim}, {"source", s.source},
                {"split_half", s.split_half}, {"permutations", s.permutations}};
  if (s.source == "activations") {
    settings["activation_tokens"] = s.activation_tokens;
    settings["base_model"] = baseModelFingerprint(project);
    settings["shards"] = shardsFingerprint(project, project.languages);
  }
  if (!s.labelling.empty()) {
    const fs::path file = project.resolve(s.labelling);
    if (!fs::exists(file)) throw InputError(project.file.string() + " /similarity/labelling: " + file.string() + ": no such file");
    settings["labelling"] = {{"file", s.labelling}, {"hash", hashHex(readFile(file))}};
  }
  return settings;
}

}  // namespace

void runSimilarity(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  const SimilaritySettings& s = project.similarity;
  Json inputs{{"settings", similaritySettings(project)}};
  std::int64_t numLayers = 0;
  if (s.source == "activations") {  // from the base alone (its fingerprint is in the settings)
    numLayers = readModelConfig(HfCheckpoint::open(baseModelDir(project))).num_hidden_layers;
  } else {
    const fs::path deviation = runs.deviationDir();
    numLayers = StageFolder(deviation, Json()).outputs().at("layers").get<std::int64_t>();
    inputs["deviation"] = StageFolder::fingerprint(deviation, "dmoe deviation");
  }

  std::vector<std::int64_t> layers;
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
