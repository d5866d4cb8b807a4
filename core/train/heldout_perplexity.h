// The held-out perplexity table (`dmoe eval-ppl`, SPEC §1.7): every project
// language's held-out shard scored with documentsNll (window from
// evaluation.window, 0 = the model's context; stride half of it), optionally
// the first evaluation.max_documents_per_language documents only.
// Averages are plain means of per-language PPL (as the paper reports them):
// over the project's languages, over new_languages, and per resource tier.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"
#include "train/perplexity.h"

namespace dmoe {

struct LanguagePerplexity {
  std::string id, label, tier;
  bool isNew = false;  // from new_languages
  std::int64_t documents = 0;
  NllTotal total;
};

struct HeldoutPerplexity {
  std::vector<LanguagePerplexity> languages;  // languages, then new_languages
  double average = 0;     // mean PPL over project languages (NaN if none scored)
  double newAverage = 0;  // mean PPL over new_languages (NaN if none)
  std::vector<std::pair<std::string, double>> tierAverages;  // in first-seen tier order
  Json toJson() const;
};

// Reads <runs_dir>/tokens/<lang>/heldout.* (throws InputError naming a missing
// shard, or a language whose NLL is not finite: a broken model, never a null).
// A PPL that is not finite (unscored, or beyond double's range) is written null.
// Reports progress per language and the table as result "perplexity".
// `beforeLanguage` (optional) runs before each language is scored, e.g. to set
// an MoE model's routing for it; returning false leaves the language unscored
// (its row stays, with 0 tokens and PPL null).
// `tokensPerLanguage` > 0 scores only each language's first that many
// held-out tokens (leadingTokens); 0, the results' case, scores them all.
// Of a job (runtime/distributed.h, outside a SoloScope) every process must
// call it: the languages split over the processes (beforeLanguage runs only
// for a process's own), and every process returns the whole table.
HeldoutPerplexity evaluateHeldoutPerplexity(const Project& project, CausalLMImpl& model, Reporter& reporter,
                                            const std::function<bool(const Language&)>& beforeLanguage = {},
                                            std::int64_t tokensPerLanguage = 0);

// For TrainerOptions::evaluate (evaluation.every_steps): the same table for
// the languages `languageIds` (beforeLanguage as above) on each one's first
// evaluation.tokens_during_training held-out tokens, reporting nothing, as
// {language id: PPL} of those scored. `project` and `model` must outlive it.
std::function<Json()> heldoutEvaluation(const Project& project, CausalLMImpl& model, std::vector<std::string> languageIds,
                                        std::function<bool(const Language&)> beforeLanguage = {});

}  // namespace dmoe
