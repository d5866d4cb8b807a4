#include "pipeline/stage_catalog.h"

namespace dmoe {

const std::vector<StageInfo>& stageCatalog() {
  static const std::vector<StageInfo> stages = {
      {"corpus", "Create the corpus from its source (corpus.source.kind: udhr, libreoffice-help) when the project names one"},
      {"tokenizer", "Train the shared sentencepiece model on a language-balanced sample (or check the given one)"},
      {"tokens", "Tokenize every language once into memory-mapped train/held-out shards"},
      {"stats", "Corpus statistics per language: documents, characters, tokens, held-out size"},
      {"pretrain", "Pretrain the small Llama-family base from scratch (base_model.kind pretrain); resumes after a crash",
       false, true},
      {"deviation", "Fine-tune the base on each language alone; per-layer deviation norms and FFN deltas (SPEC 1.1)", true,
       true},
      {"select-layers", "Score layers by FFN deviation and choose those to expand with ε (SPEC 1.4)", true},
      {"similarity", "Language × language cosine of FFN deltas, streamed from disk, per layer too (SPEC 1.2)", true},
      {"group", "Partition the languages into groups that share an expert (SPEC 1.3)", true},
      {"merge",
       "Build the DMoE model: the selected layers' FFNs become one expert per group plus a router; parameter counts "
       "(SPEC 1.5)",
       true},
      {"train", "Train the DMoE: stage 1 hard routing + router loss, stage 2 soft top-k + balance loss (SPEC 1.6)", true,
       true},
      {"eval", "Held-out perplexity per language: base, DMoE with learned and with group-oracle routing (SPEC 1.7)", true,
       true},
      {"baselines", "The comparisons on the same token budget: dense-continue and DMoE with random groups", true,
       true},
      {"adapt", "Add the new languages: probe experts, copy the nearest, train only the new expert (SPEC 1.8)", true,
       true},
      {"layermoe-similarity",
       "LayerMoE: per layer, how alike the new languages' FFN inputs are to each other and to the old ones' (SPEC 2.1)",
       true, true},
      {"layermoe-allocate",
       "LayerMoE: experts per layer by 1/S_i for a budget of new experts, or uniform at the same budget (SPEC 2.2)", true},
      {"layermoe-train",
       "LayerMoE: expand the base (frozen original expert 0 + new copies per layer), stage 1 on the new languages, "
       "stage 2 review with old replay and LPR; held-out PPL; also the uniform ablation (SPEC 2.3)",
       true, true},
      {"report", "Markdown and JSON report: groups, layers, parameters, the PPL table, adaptation", true},
  };
  return stages;
}

bool commandRunsInJob(const std::string& command) {
  if (command == "run") return true;
  for (const StageInfo& stage : stageCatalog()) {
    // `dmoe <stage>` of a stage command, or of a stage that splits (pretrain);
    // `dmoe <family> <step>` of a family's commands. Not `tokenizer`: that
    // command is not the pipeline's stage runner.
    if (stage.name == command && (stage.command || stage.splits)) return true;
    if (stage.command && stage.name.rfind(command + "-", 0) == 0) return true;
  }
  return false;
}

}  // namespace dmoe
