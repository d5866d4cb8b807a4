#include "pipeline/pipeline.h"

#include <map>
#include <stdexcept>

#include "pipeline/stage_catalog.h"
#include "stages/corpus_stats.h"
#include "corpus/token_cache.h"
#include "corpus/corpus_sources.h"
#include "runtime/cancellation.h"
#include "runtime/distributed.h"
#include "stages/tokenizer_training.h"
#include "stages/deviation.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "stages/pretrain.h"

namespace dmoe {

namespace {

// Make-style freshness: stats.json is newer than every file it summarises.
bool statsAreCurrent(const Project& p) {
  namespace fs = std::filesystem;
  const fs::path stats = p.layout().corpusStatsFile();
  if (!fs::exists(stats)) return false;
  const auto written = fs::last_write_time(stats);
  std::vector<fs::path> inputs{p.file, projectTokenizerPath(p)};
  for (const Language& l : p.allLanguages()) {
    inputs.push_back(p.corpusFile(l.id));
    inputs.push_back(tokenCacheDir(p, l.id) / "manifest.json");
  }
  for (const fs::path& input : inputs)
    if (!fs::exists(input) || fs::last_write_time(input) > written) return false;
  return true;
}

using StageRun = std::function<void(const Project&, Reporter&, const PipelineOptions&)>;

// A DMoE stage (deviation … adapt): it grows a dense base, so it skips a
// mixture-of-experts base (a lifelong LayerMoE project's) and says why.
StageRun dmoeStage(void (*run)(const Project&, Reporter&, bool)) {
  return [run](const Project& p, Reporter& r, const PipelineOptions& o) {
    if (baseIsMixtureOfExperts(p)) {
      r.started();
      r.log("the base model is already a mixture of experts (" + p.base_model.path +
            "): DMoE grows a dense base, so this stage does not apply; LayerMoE expands it further");
      r.finished("skipped");
      return;
    }
    run(p, r, o.force);
  };
}

// Each catalogue entry's entry point, by name.
const std::map<std::string, StageRun>& stageRunners() {
  static const std::map<std::string, StageRun> runners = {
      {"corpus",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         if (!p.corpus.source) {
           r.started();
           r.log("corpus given as files; nothing to import");
           r.finished("skipped");
           return;
         }
         ImportOptions import;
         // `dmoe run --udhr-dir`; the other sources take their folder from the environment or the cache.
         if (p.corpus.source->kind == "udhr") import.sourceDir = o.udhrDir;
         import.force = o.force;
         importCorpus(p, r, import);
       }},
      {"tokenizer", [](const Project& p, Reporter& r, const PipelineOptions& o) { trainTokenizer(p, r, o.force); }},
      {"tokens",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         buildTokenCache(p, *loadProjectTokenizer(p), r, o.force);
       }},
      {"stats",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         if (!o.force && statsAreCurrent(p)) {
           r.started();
           r.log("corpus statistics are newer than the corpus, tokenizer and token caches");
           r.finished("skipped");
           return;
         }
         computeCorpusStats(p, r);
       }},
      {"pretrain",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         if (p.base_model.kind != "pretrain") {
           r.started();
           r.log("base model is a checkpoint: " + p.base_model.path);
           r.finished("skipped");
           return;
         }
         PretrainOptions options;
         options.resume = true;  // continue an interrupted run of the same inputs
         options.force = o.force;
         runPretrain(p, r, options);
       }},
      {"deviation", dmoeStage(runDeviation)},
      {"select-layers", dmoeStage(runSelectLayers)},
      {"similarity", dmoeStage(runSimilarity)},
      {"group", dmoeStage(runGroup)},
      {"merge", dmoeStage(runMerge)},
      {"train", dmoeStage(runTrain)},
      {"eval", [](const Project& p, Reporter& r, const PipelineOptions& o) { runEval(p, r, o.force); }},
      {"baselines", dmoeStage(runBaselines)},
      {"adapt",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         if (!p.adaptation.runs("dmoe-adapt")) {
           r.started();
           r.log("\"dmoe-adapt\" is not among /adaptation/methods: nothing to do");
           r.finished("skipped");
           return;
         }
         dmoeStage(runAdapt)(p, r, o);
       }},
      {"layermoe-similarity",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runLayerMoeSimilarity(p, r, o.force); }},
      {"layermoe-allocate", [](const Project& p, Reporter& r, const PipelineOptions& o) { runLayerMoeAllocate(p, r, o.force); }},
      {"layermoe-train", [](const Project& p, Reporter& r, const PipelineOptions& o) { runLayerMoeTrain(p, r, o.force); }},
      {"report", [](const Project& p, Reporter& r, const PipelineOptions& o) { runReport(p, r, o.force); }},
  };
  return runners;
}

// A stage that does not split over the processes of a job runs on rank 0 while the others wait.
StageRun onProcesses(const StageInfo& info, StageRun run) {
  if (info.splits) return run;
  return [name = info.name, run = std::move(run)](const Project& p, Reporter& r, const PipelineOptions& o) {
    runOnMain("stage " + name, [&] { run(p, r, o); });
  };
}

}  // namespace

const std::vector<PipelineStage>& pipelineStages() {
  static const std::vector<PipelineStage> stages = [] {
    const auto& runners = stageRunners();
    if (runners.size() != stageCatalog().size())
      throw std::logic_error("pipeline: " + std::to_string(runners.size()) + " entry points for " +
                             std::to_string(stageCatalog().size()) + " catalogued stages");
    std::vector<PipelineStage> out;
    for (const StageInfo& info : stageCatalog()) {
      const auto it = runners.find(info.name);
      if (it == runners.end()) throw std::logic_error("pipeline: stage '" + info.name + "' has no entry point");
      out.push_back({info.name, info.help, onProcesses(info, it->second), info.command});
    }
    return out;
  }();
  return stages;
}

static size_t stageIndex(const std::string& name) {
  const auto& stages = pipelineStages();
  for (size_t i = 0; i < stages.size(); ++i)
    if (stages[i].name == name) return i;
  std::string names;
  for (const auto& s : stages) names += (names.empty() ? "" : ", ") + s.name;
  throw InputError("unknown stage '" + name + "' (stages: " + names + ")");
}

void runPipeline(const Project& project, EventSink& sink, const PipelineOptions& options) {
  const auto& stages = pipelineStages();
  size_t first = options.from.empty() ? 0 : stageIndex(options.from);
  size_t last = options.until.empty() ? stages.size() - 1 : stageIndex(options.until);
  if (first > last)
    throw InputError("--from " + stages[first].name + " comes after --until " + stages[last].name + ": nothing to run");
  Reporter overall(sink, "run");
  for (size_t i = first; i <= last; ++i) {
    Reporter reporter = overall.forStage(stages[i].name);
    overall.progress(static_cast<std::int64_t>(i - first), static_cast<std::int64_t>(last - first + 1), "stages");
    try {
      throwIfCancelled();
      stages[i].run(project, reporter, options);
    } catch (const Cancelled&) {
      reporter.finished("cancelled");
      throw;
    } catch (...) {
      reporter.finished("failed");
      throw;
    }
  }
  overall.progress(static_cast<std::int64_t>(last - first + 1), static_cast<std::int64_t>(last - first + 1), "stages");
}

}  // namespace dmoe
