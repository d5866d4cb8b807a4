// The deviation stage (see the header).
#include "stages/deviation.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include "checkpoint/tensor_bridge.h"
#include "corpus/token_cache.h"
#include "methods/similarity.h"
#include "model/model_family.h"
#include "stages/stage_folder.h"
#include "runtime/cancellation.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "stages/stage_inputs.h"
#include "model/load_model.h"
#include "train/stationarity.h"
#include "train/trainer.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/owned_paths.h"

namespace fs = std::filesystem;

namespace dmoe {

std::vector<std::int64_t> deltaLayersToKeep(const Project& project, std::int64_t numLayers) {
  std::vector<std::int64_t> layers;
  const SimilaritySettings& s = project.similarity;
  if (s.layer_set == "last") {
    for (std::int64_t l = std::max<std::int64_t>(0, numLayers - s.last_n); l < numLayers; ++l) layers.push_back(l);
  } else if (s.layer_set == "list") {
    for (std::int64_t l : s.layers) {
      if (l >= numLayers)
        throw InputError(project.file.string() + " /similarity/layers: layer " + std::to_string(l) +
                         " does not exist (the base model has " + std::to_string(numLayers) + " layers)");
      layers.push_back(l);
    }
    std::sort(layers.begin(), layers.end());
    layers.erase(std::unique(layers.begin(), layers.end()), layers.end());
  } else {
    for (std::int64_t l = 0; l < numLayers; ++l) layers.push_back(l);
  }
  return layers;
}

bool deviationSplitsHalves(const Project& project) {
  return project.similarity.split_half && project.similarity.source == "weights";
}

fs::path deltaFile(const Project& project, const std::string& language, int half) {
  const fs::path dir = project.layout().deviationDir() / language;
  return (half < 0 ? dir : dir / (std::string("half_") + halfName(half))) / "ffn_delta.safetensors";
}

namespace {

// Norms of one fine-tune's deviation, and the FFN deltas of `keep` layers.
struct LanguageDeviation {
  std::map<std::string, std::vector<double>> squared;  // kind → per-layer Σ Δ²
  Json other = Json::object();                         // non-layer tensor → ‖Δ‖
  NamedTensors ffnDeltas;
};

LanguageDeviation measure(const CausalLMImpl& model, const std::map<std::string, torch::Tensor>& base,
                          const std::vector<std::int64_t>& keep) {
  const std::int64_t layers = model.config().num_hidden_layers;
  const ModelFamily& family = modelFamily(model.config().model_type);
  LanguageDeviation d;
  for (const std::string& kind : deviationKinds()) d.squared[kind].assign(static_cast<size_t>(layers), 0.0);
  std::map<std::int64_t, std::vector<torch::Tensor>> ffnParts;
  torch::NoGradGuard noGrad;
  for (const auto& p : model.named_parameters(true)) {
    const torch::Tensor delta = (p.value().detach().to(torch::kCPU, torch::kFloat32) - base.at(p.key()));
    const double squared = delta.pow(2).sum().item<double>();
    const ParameterModule m = parameterModule(family, p.key());
    if (m.layer < 0) {
      d.other[p.key()] = std::sqrt(squared);
      continue;
    }
    auto& all = d.squared["all"];
    all[static_cast<size_t>(m.layer)] += squared;
    if (m.kind == ModuleKind::Ffn || m.kind == ModuleKind::Attention || m.kind == ModuleKind::Norm)
      d.squared[moduleKindName(m.kind)][static_cast<size_t>(m.layer)] += squared;
    if (m.kind == ModuleKind::Ffn && std::find(keep.begin(), keep.end(), m.layer) != keep.end())
      ffnParts[m.layer].push_back(delta.reshape({-1}));
  }
  for (auto& [layer, parts] : ffnParts) d.ffnDeltas.emplace_back(deltaTensorName(layer), torch::cat(parts));
  return d;
}

std::vector<double> roots(const std::vector<double>& squared) {
  std::vector<double> out;
  for (double v : squared) out.push_back(std::sqrt(v));
  return out;
}

// The stationarity diagnostic at the base (train/stationarity.h), on one
// slice. gₓ: the mean gradient of the `keep` layers' FFN weights over the
// windows of language x's first deviation step (the same sampler and seed as
// its fine-tune: the batch that step 1 sees, batch_sequences × seq_len
// tokens, one step's cost); nₓ: the slice's tokens, the weight pretraining
// and training give the language. A slice shorter than one window is left
// out with a warning (pretraining skips those too).
Json measureStationarity(CausalLMImpl& model, const Project& project, const TrainingSettings& settings,
                         const std::vector<std::int64_t>& keep, const std::string& slice, Reporter& reporter) {
  std::vector<torch::Tensor> parameters;
  for (const auto& p : model.named_parameters(true)) {
    const ParameterModule m = parameterModule(modelFamily(model.config().model_type), p.key());
    if (m.kind == ModuleKind::Ffn && std::find(keep.begin(), keep.end(), m.layer) != keep.end()) parameters.push_back(p.value());
  }
  if (parameters.empty())
    throw InputError("stationarity: the base model has no FFN weights in layers " + Json(keep).dump());
  StationarityRatio ratio;
  Json sampled = Json::object(), sliceTokens = Json::object(), norms = Json::object();
  const auto n = static_cast<std::int64_t>(project.languages.size());
  for (std::int64_t i = 0; i < n; ++i) {
    throwIfCancelled();
    reporter.progress(i, n, "languages (stationarity)");
    const Language& language = project.languages[static_cast<size_t>(i)];
    LanguageShards shards = openShards(project, {language.id}, slice);
    const std::int64_t tokens = shards.tokens(0);
    sliceTokens[language.id] = tokens;
    if (tokens < settings.seq_len + 1) {
      reporter.warning(language.id + ": its " + slice + " slice (" + std::to_string(tokens) +
                       " tokens) is shorter than one window; left out of the stationarity r");
      continue;
    }
    SequenceSampler sampler(shards.streams(), settings.seq_len, static_cast<std::uint64_t>(settings.seed));
    const SummedGradient g = summedGradient(model, parameters, sampler, settings.batch_sequences, settings.micro_batch);
    const torch::Tensor weighted =  // nₓ gₓ, in float64 like the ratio's sums
        g.gradient.to(torch::kFloat64) * (static_cast<double>(tokens) / static_cast<double>(g.tokens));
    ratio.add(weighted);
    sampled[language.id] = g.tokens;
    norms[language.id] = weighted.norm().item<double>();
  }
  reporter.progress(n, n, "languages (stationarity)");
  const double r = ratio.r(), orthogonal = ratio.orthogonal();
  if (!ratio.finite()) reporter.warning("stationarity: a gradient at the base is not finite; r is undefined");
  reporter.log("stationarity r = " + std::to_string(r) + " on the " + slice + " slice; orthogonal pulls would give " +
               std::to_string(orthogonal) +
               " (above: the languages' data pulls the base the same way; below: the pulls cancel, the base "
               "converged on this data)");
  return Json{{"r", numberOrNull(r)},
              {"r_orthogonal", numberOrNull(orthogonal)},
              {"finite", ratio.finite()},
              {"slice", slice},
              {"layers", keep},
              {"sampled_tokens", sampled},
              {"slice_tokens", sliceTokens},
              {"weighted_gradient_norms", norms}};
}

// A deviation.json written before the stage measured r gets it (the norms and
// deltas stay as they are: only the diagnostic is added, at the base).
void addMissingStationarity(const fs::path& file, CausalLMImpl& model, const Project& project,
                            const TrainingSettings& settings, const std::vector<std::int64_t>& keep, Reporter& reporter) {
  Json tables = readJsonFile(file);
  if (tables.contains("stationarity")) return;
  reporter.log("measuring the stationarity diagnostic this deviation.json was written without");
  tables["stationarity"] = measureStationarity(model, project, settings, keep, "continual", reporter);
  writeFileAtomic(file, dumpJson(tables, 1) + "\n");
}

void writeTables(const fs::path& dir, const Project& project, std::int64_t layers, const Json& stationarity) {
  Json modules = Json::object();
  for (const std::string& kind : deviationKinds()) modules[kind] = Json::array();
  std::ostringstream csv;
  csv << "language,layer";
  for (const std::string& kind : deviationKinds()) csv << ',' << kind;
  csv << '\n';
  std::vector<std::string> ids, labels;
  for (const Language& l : project.languages) {
    Json norms = readJsonFile(dir / l.id / "norms.json");
    ids.push_back(l.id);
    labels.push_back(l.label());
    for (const std::string& kind : deviationKinds()) modules[kind].push_back(norms.at(kind));
    for (std::int64_t layer = 0; layer < layers; ++layer) {
      csv << l.id << ',' << layer;
      for (const std::string& kind : deviationKinds()) csv << ',' << norms.at(kind).at(static_cast<size_t>(layer)).get<double>();
      csv << '\n';
    }
  }
  writeFileAtomic(project.layout().deviationFile(),
                  dumpJson(Json{{"languages", ids},
                                {"labels", labels},
                                {"layers", layers},
                                {"modules", modules},
                                {"stationarity", stationarity}},
                           1) + "\n");
  writeFileAtomic(dir / "deviation.csv", csv.str());
}

// One fine-tune from the base θ on `streams` into `runDir` (settings.json,
// metrics.jsonl); the model is left at the fine-tuned θ'.
TrainResult fineTune(const std::shared_ptr<CausalLMImpl>& model, const std::map<std::string, torch::Tensor>& base,
                     std::vector<TokenStream> streams, const Project& project, const std::string& device,
                     const TrainingSettings& settings, const fs::path& runDir, Json extraSettings, Reporter& reporter) {
  {
    torch::NoGradGuard noGrad;
    for (auto& p : model->named_parameters(true)) p.value().copy_(base.at(p.key()));
  }
  SequenceSampler sampler(std::move(streams), settings.seq_len, static_cast<std::uint64_t>(settings.seed));
  TrainerOptions options;
  options.settings = settings;
  options.runDir = runDir;
  options.projectFile = project.file;
  options.settingsPointer = "/deviation";
  options.device = device;
  options.checkpoints = false;  // 10-step runs: the language is the unit of resumption
  options.extraSettings = std::move(extraSettings);
  torch::manual_seed(static_cast<std::uint64_t>(settings.seed));
  Trainer trainer(model, sampler, options, reporter);
  return trainer.run();
}

// The split-half fine-tunes of one language (similarity.split_half): the same
// settings and seed on each half of its continual slice, each half's FFN
// deltas written to deltaFile(…, half).
void fineTuneHalves(const std::shared_ptr<CausalLMImpl>& model, const std::map<std::string, torch::Tensor>& base,
                    const Project& project, const Language& language, const std::string& device,
                    const TrainingSettings& settings, const std::vector<std::int64_t>& keep, Reporter& reporter) {
  const TokenShard shard(tokenShardFile(project, language.id, "continual"));
  for (int half = 0; half < kSplitHalves; ++half) {
    throwIfCancelled();
    const std::vector<std::uint32_t> tokens = halfTokens(shard, half, language.id);
    const std::string name = language.id + " (half " + halfName(half) + ")";
    const fs::path file = deltaFile(project, language.id, half);
    Reporter halfReporter = reporter.forStage("deviation:" + language.id + ":" + halfName(half));
    fineTune(model, base, {TokenStream{name, tokens.data(), static_cast<std::int64_t>(tokens.size()), 1.0}}, project,
             device, settings, file.parent_path(),
             {{"stage", "deviation"}, {"language", language.id}, {"half", halfName(half)}}, halfReporter);
    writeTensors(file, measure(*model, base, keep).ffnDeltas);
  }
}

// Fine-tunes each language not done yet in `dir` (an interrupted run resumes
// at the first language without norms.json), with its split halves when
// asked, then the tables and the stationarity diagnostic; returns what the
// manifest records. Of several processes, process r fine-tunes languages r,
// r + N, r + 2N, … alone (each the same computation as in one process) and
// rank 0 then writes the tables.
Json computeDeviation(const Project& project, const std::shared_ptr<CausalLMImpl>& model, const std::string& device,
                      const TrainingSettings& settings, const std::vector<std::int64_t>& keep, bool splitHalf,
                      const fs::path& dir, Reporter& reporter) {
  const ModelConfig& config = model->config();
  std::map<std::string, torch::Tensor> base;  // θ, on the CPU in fp32, to reset each fine-tune and subtract
  for (const auto& p : model->named_parameters(true)) base[p.key()] = p.value().detach().to(torch::kCPU, torch::kFloat32).clone();
  const auto n = static_cast<std::int64_t>(project.languages.size());
  for (std::int64_t i = processRank(); i < n; i += processCount()) {
    throwIfCancelled();  // languages done so far are kept: a re-run resumes at this one
    SoloScope alone;     // one fine-tune per process, writing its own language's folder
    const Language& language = project.languages[static_cast<size_t>(i)];
    reporter.progress(i, n, "languages");
    const fs::path languageDir = dir / language.id;
    if (fs::exists(languageDir / "norms.json")) {
      reporter.log(language.id + ": done in an earlier run");
      continue;
    }
    removeMade(languageDir);  // a fine-tune interrupted mid-way starts over (inside the marked stage folder)
    LanguageShards shards = openShards(project, {language.id});
    Reporter trainReporter = reporter.forStage("deviation:" + language.id);
    TrainResult result = fineTune(model, base, shards.streams(), project, device, settings, languageDir,
                                  {{"stage", "deviation"}, {"language", language.id}}, trainReporter);
    LanguageDeviation d = measure(*model, base, keep);
    writeTensors(deltaFile(project, language.id), d.ffnDeltas);
    if (splitHalf) fineTuneHalves(model, base, project, language, device, settings, keep, reporter);
    Json norms{{"language", language.id}, {"layers", config.num_hidden_layers}};
    for (const std::string& kind : deviationKinds()) norms[kind] = roots(d.squared[kind]);
    norms["other"] = d.other;
    norms["final_loss"] = result.losses.empty() ? Json() : Json(result.losses.back());
    writeFileAtomic(languageDir / "norms.json", dumpJson(norms, 1) + "\n");  // last: the language is done
    reporter.log(language.id + ": mean FFN deviation " +
                 std::to_string(std::accumulate(norms["ffn"].begin(), norms["ffn"].end(), 0.0,
                                                [](double a, const Json& v) { return a + v.get<double>(); }) /
                                static_cast<double>(config.num_hidden_layers)));
  }
  barrier("the languages' fine-tunes");
  reporter.progress(n, n, "languages");
  runOnMain("the deviation tables", [&] {
    {
      torch::NoGradGuard noGrad;  // back to the base: the diagnostic is measured there
      for (auto& p : model->named_parameters(true)) p.value().copy_(base.at(p.key()));
    }
    const Json stationarity = measureStationarity(*model, project, settings, keep, "continual", reporter);
    writeTables(dir, project, config.num_hidden_layers, stationarity);
    reporter.artifact(project.layout().deviationFile(), "deviation");
    reporter.result("deviation", readJsonFile(project.layout().deviationFile()));
  });
  return {{"languages", n}, {"layers", config.num_hidden_layers}, {"delta_layers", keep}};
}

}  // namespace

void runDeviation(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const fs::path baseDir = baseModelDir(project);
  const std::string device = resolveDevice(project.device);
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(baseDir, device);
  const ModelConfig& config = model->config();
  const TrainingSettings settings = cappedToContext(project.deviation, config.max_position_embeddings);
  const std::vector<std::int64_t> keep = deltaLayersToKeep(project, config.num_hidden_layers);
  const bool splitHalf = deviationSplitsHalves(project);

  Json inputs{{"training", toJson(settings)},
              {"base_model", baseModelFingerprint(project)},
              {"shards", shardsFingerprint(project, project.languages)},
              {"languages", languageIds(project.languages)},
              {"delta_layers", keep}};
  if (splitHalf) inputs["split_half"] = true;  // absent when off: a run without the halves stays valid
  StageFolder folder(project.layout().deviationDir(), inputs);
  const bool done = folder.run(force, reporter, "deviation table", project.layout().deviationFile(), [&] {
    return computeDeviation(project, model, device, settings, keep, splitHalf, folder.dir(), reporter);
  });
  // Tables written before the stationarity diagnostic existed get it, in place.
  if (!done)
    runOnMain("the stationarity diagnostic", [&] {
      addMissingStationarity(project.layout().deviationFile(), *model, project, settings, keep, reporter);
    });
  reporter.finished(done ? "done" : "skipped");
}

Json baseStationarity(const Project& project, const std::string& slice, Reporter& reporter) {
  reporter.started();
  if (slice != "continual" && slice != "pretrain")
    throw InputError("stationarity slice \"" + slice + "\": expected continual or pretrain");
  baseModelFingerprint(project);  // a missing base: names the command that makes it
  if (slice == "pretrain" && !project.languages.empty() && !project.hasPretrainSlice(project.languages.front().id))
    throw InputError(project.file.string() + " /base_model: the base is a checkpoint not pretrained on this corpus (pretrained_on_slice is false), so there is no pretrain slice");
  const std::string device = resolveDevice(project.device);
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(baseModelDir(project), device);
  const TrainingSettings settings = cappedToContext(project.deviation, model->config().max_position_embeddings);
  const std::vector<std::int64_t> keep = deltaLayersToKeep(project, model->config().num_hidden_layers);
  Json result = measureStationarity(*model, project, settings, keep, slice, reporter);
  reporter.result("stationarity", result);
  reporter.finished("done");
  return result;
}

}  // namespace dmoe
