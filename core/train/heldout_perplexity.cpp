// Per-language held-out perplexity (see the header).
#include "train/heldout_perplexity.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "corpus/token_cache.h"
#include "corpus/token_shard.h"
#include "runtime/cancellation.h"
#include "runtime/distributed.h"

namespace dmoe {

namespace {

double meanPerplexity(const std::vector<const LanguagePerplexity*>& rows) {
  double sum = 0;
  int n = 0;
  for (const LanguagePerplexity* r : rows)
    if (r->total.tokens > 0) sum += r->total.perplexity(), ++n;
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

Json HeldoutPerplexity::toJson() const {
  Json rows = Json::array();
  for (const LanguagePerplexity& l : languages)
    rows.push_back({{"language", l.id},
                    {"label", l.label},
                    {"tier", l.tier},
                    {"new", l.isNew},
                    {"documents", l.documents},
                    {"tokens", l.total.tokens},
                    {"nll", l.total.nll},
                    {"ppl", numberOrNull(l.total.perplexity())}});
  Json tiers = Json::object();
  for (const auto& [tier, ppl] : tierAverages) tiers[tier] = numberOrNull(ppl);
  return Json{{"languages", rows}, {"average", numberOrNull(average)}, {"new_average", numberOrNull(newAverage)}, {"tiers", tiers}};
}

HeldoutPerplexity evaluateHeldoutPerplexity(const Project& project, CausalLMImpl& model, Reporter& reporter,
                                            const std::function<bool(const Language&)>& beforeLanguage,
                                            std::int64_t tokensPerLanguage) {
  PerplexityOptions options;
  options.window = project.evaluation.window;
  if (options.window > model.config().max_position_embeddings)
    throw InputError(project.file.string() + " /evaluation/window: " + std::to_string(options.window) +
                     " is longer than the model's context (" + std::to_string(model.config().max_position_embeddings) +
                     "); use 0 for the context length");
  HeldoutPerplexity out;
  std::vector<Language> all = project.allLanguages();
  // Of several processes, process r scores languages r, r + N, …; the rows
  // are then summed over the processes (each row is one process's, the
  // others' zeros: exact), so every process returns the whole table.
  const auto rows = static_cast<std::int64_t>(all.size());
  torch::Tensor shares = torch::zeros({rows, 3}, torch::kFloat64);  // documents, tokens, nll
  auto share = shares.accessor<double, 2>();
  for (std::size_t i = 0; i < all.size(); ++i) {
    // Alone, a cancel stops between languages; in a job every process must reach the sum below.
    if (processCount() == 1) throwIfCancelled();
    const Language& l = all[i];
    if (static_cast<int>(i % static_cast<std::size_t>(processCount())) != processRank()) continue;
    TokenShard shard(tokenShardFile(project, l.id, "heldout"));
    const bool scored = !beforeLanguage || beforeLanguage(l);
    std::int64_t n = scored ? shard.documentCount() : 0;
    if (project.evaluation.max_documents_per_language > 0) n = std::min(n, project.evaluation.max_documents_per_language);
    std::vector<TokenSpan> documents;
    for (std::int64_t d = 0; d < n; ++d) documents.push_back(shard.document(d));
    documents = leadingTokens(documents, tokensPerLanguage);
    LanguagePerplexity row{l.id, l.label(), l.tier, i >= project.languages.size(),
                           static_cast<std::int64_t>(documents.size()), documentsNll(model, documents, options)};
    if (scored)
      reporter.log(row.label + ": PPL " + std::to_string(row.total.perplexity()) + " over " +
                   std::to_string(row.total.tokens) + " tokens");
    share[static_cast<std::int64_t>(i)][0] = static_cast<double>(row.documents);
    share[static_cast<std::int64_t>(i)][1] = static_cast<double>(row.total.tokens);
    share[static_cast<std::int64_t>(i)][2] = row.total.nll;
    reporter.progress(static_cast<std::int64_t>(i + 1), rows, "languages");
  }
  allReduceSum({shares});
  for (std::size_t i = 0; i < all.size(); ++i) {
    const Language& l = all[i];
    LanguagePerplexity row{l.id, l.label(), l.tier, i >= project.languages.size(),
                           static_cast<std::int64_t>(share[static_cast<std::int64_t>(i)][0]), {}};
    row.total.tokens = static_cast<std::int64_t>(share[static_cast<std::int64_t>(i)][1]);
    row.total.nll = share[static_cast<std::int64_t>(i)][2];
    if (!std::isfinite(row.total.nll))
      throw InputError("held-out perplexity: the model's NLL on " + l.id + " is not finite (" +
                       std::to_string(row.total.nll) + " over " + std::to_string(row.total.tokens) +
                       " tokens): its weights are not finite, or it diverged");
    out.languages.push_back(row);
  }
  std::vector<const LanguagePerplexity*> known, fresh;
  for (const LanguagePerplexity& r : out.languages) (r.isNew ? fresh : known).push_back(&r);
  out.average = meanPerplexity(known);
  out.newAverage = meanPerplexity(fresh);
  for (const LanguagePerplexity& r : out.languages) {
    if (r.tier.empty() || r.isNew) continue;
    bool seen = false;
    for (const auto& t : out.tierAverages) seen = seen || t.first == r.tier;
    if (seen) continue;
    std::vector<const LanguagePerplexity*> inTier;
    for (const LanguagePerplexity* k : known)
      if (k->tier == r.tier) inTier.push_back(k);
    out.tierAverages.emplace_back(r.tier, meanPerplexity(inTier));
  }
  reporter.result("perplexity", out.toJson());
  return out;
}

std::function<Json()> heldoutEvaluation(const Project& project, CausalLMImpl& model, std::vector<std::string> languageIds,
                                        std::function<bool(const Language&)> beforeLanguage) {
  return [&project, &model, ids = std::move(languageIds), beforeLanguage = std::move(beforeLanguage)] {
    NullSink quiet;
    Reporter reporter(quiet, "evaluation");
    const HeldoutPerplexity table = evaluateHeldoutPerplexity(project, model, reporter, [&](const Language& l) {
      return std::find(ids.begin(), ids.end(), l.id) != ids.end() && (!beforeLanguage || beforeLanguage(l));
    }, project.evaluation.tokens_during_training);
    Json ppl = Json::object();
    for (const LanguagePerplexity& l : table.languages)
      if (l.total.tokens > 0) ppl[l.id] = l.total.perplexity();
    return ppl;
  };
}

}  // namespace dmoe
