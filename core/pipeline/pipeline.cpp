#include "pipeline/pipeline.h"

#include "corpus/corpus_stats.h"
#include "corpus/token_cache.h"
#include "corpus/udhr_import.h"
#include "tokenizer/tokenizer_training.h"
#include "train/pretrain.h"

namespace dmoe {

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
       [](const Project& p, Reporter& r, const PipelineOptions&) { computeCorpusStats(p, r); }},
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
      stages[i].run(project, reporter, options);
    } catch (...) {
      reporter.finished("failed");
      throw;
    }
  }
  overall.progress(static_cast<std::int64_t>(last - first + 1), static_cast<std::int64_t>(last - first + 1), "stages");
}

}  // namespace dmoe
