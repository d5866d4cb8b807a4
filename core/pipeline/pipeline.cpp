#include "pipeline/pipeline.h"

#include "corpus/corpus_stats.h"
#include "corpus/token_cache.h"
#include "corpus/udhr_import.h"
#include "runtime/cancellation.h"
#include "tokenizer/tokenizer_training.h"
#include "stages/deviation.h"
#include "stages/stages.h"
#include "train/pretrain.h"

namespace dmoe {

namespace {

// Make-style freshness: stats.json is newer than every file it summarises.
bool statsAreCurrent(const Project& p) {
  namespace fs = std::filesystem;
  const fs::path stats = p.runsDir() / "corpus" / "stats.json";
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

}  // namespace

const std::vector<PipelineStage>& pipelineStages() {
  static const std::vector<PipelineStage> stages = {
      {"corpus", "Create the corpus from its source (UDHR import) when the project names one",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         if (!p.corpus.has_source) {
           r.started();
           r.log("corpus given as files; nothing to import");
           r.finished("skipped");
           return;
         }
         ImportOptions import;
         import.udhrDir = o.udhrDir;
         import.force = o.force;
         importCorpus(p, r, import);
       }},
      {"tokenizer", "Train the shared sentencepiece model on a language-balanced sample (or check the given one)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { trainTokenizer(p, r, o.force); }},
      {"tokens", "Tokenize every language once into memory-mapped train/held-out shards",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         buildTokenCache(p, *loadProjectTokenizer(p), r, o.force);
       }},
      {"stats", "Corpus statistics per language: documents, characters, tokens, held-out size",
       [](const Project& p, Reporter& r, const PipelineOptions& o) {
         if (!o.force && statsAreCurrent(p)) {
           r.started();
           r.log("corpus statistics are newer than the corpus, tokenizer and token caches");
           r.finished("skipped");
           return;
         }
         computeCorpusStats(p, r);
       }},
      {"pretrain", "Pretrain the small Llama-family base from scratch (base_model.kind pretrain); resumes after a crash",
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
      {"deviation", "Fine-tune the base on each language alone; per-layer deviation norms and FFN deltas (SPEC 1.1)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runDeviation(p, r, o.force); }, true},
      {"select-layers", "Score layers by FFN deviation and choose those to expand with ε; parameter counts (SPEC 1.4)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runSelectLayers(p, r, o.force); }, true},
      {"similarity", "Language × language cosine of FFN deltas, streamed from disk, per layer too (SPEC 1.2)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runSimilarity(p, r, o.force); }, true},
      {"group", "Partition the languages into groups that share an expert (SPEC 1.3)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runGroup(p, r, o.force); }, true},
      {"merge", "Build the DMoE model: the selected layers' FFNs become one expert per group plus a router (SPEC 1.5)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runMerge(p, r, o.force); }, true},
      {"train", "Train the DMoE: stage 1 hard routing + router loss, stage 2 soft top-k + balance loss (SPEC 1.6)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runTrain(p, r, o.force); }, true},
      {"eval", "Held-out perplexity per language: base, DMoE with learned and with group-oracle routing (SPEC 1.7)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runEval(p, r, o.force); }, true},
      {"baselines", "The comparisons on the same token budget: dense-continue and DMoE with random groups",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runBaselines(p, r, o.force); }, true},
      {"adapt", "Add the new languages: probe experts, copy the nearest, train only the new expert (SPEC 1.8)",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runAdapt(p, r, o.force); }, true},
      {"report", "Markdown and JSON report: groups, layers, parameters, the PPL table, adaptation",
       [](const Project& p, Reporter& r, const PipelineOptions& o) { runReport(p, r, o.force); }, true},
  };
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
