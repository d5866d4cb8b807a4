// computeCorpusStats: one streaming pass per language (see corpus_stats.h).
#include "stages/corpus_stats.h"

#include "corpus/data_slices.h"
#include "corpus/jsonl_reader.h"
#include "corpus/token_cache.h"
#include "stages/tokenizer_training.h"
#include "util/atomic_file.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

Json countsJson(const CorpusCounts& c) {
  auto tokens = [&](std::int64_t n) { return c.hasTokens ? Json(n) : Json(nullptr); };
  return {{"documents", c.documents},
          {"characters", c.characters},
          {"bytes", c.bytes},
          {"pretrain_documents", c.pretrain_documents},
          {"continual_documents", c.continual_documents},
          {"heldout_documents", c.heldout_documents},
          {"heldout_characters", c.heldout_characters},
          {"issues", c.issues},
          {"tokens", tokens(c.tokens)},
          {"pretrain_tokens", tokens(c.pretrain_tokens)},
          {"continual_tokens", tokens(c.continual_tokens)},
          {"heldout_tokens", tokens(c.heldout_tokens)}};
}

LanguageCorpusStats languageStats(const Project& project, const Language& language, bool isNew,
                                  const Tokenizer* tokenizer, Reporter& reporter) {
  LanguageCorpusStats stats{language.id, language.tag, language.name, isNew, project.corpusFile(language.id), {}};
  if (!fs::is_regular_file(stats.file))
    throw InputError("missing corpus file " + stats.file.string() + " for language '" + language.id +
                     "' (create it, or import it: dmoe corpus import " + project.file.string() + ")");
  JsonlReader reader(stats.file, project.corpus.text_key);
  // Characters per document, kept until the split (which needs the count) is known.
  std::vector<std::int64_t> characters;
  Document document;
  CorpusCounts& c = stats.counts;
  while (reader.next(document)) {
    characters.push_back(countCodePoints(document.text));
    c.characters += characters.back();
    c.bytes += static_cast<std::int64_t>(document.text.size());
  }
  c.documents = static_cast<std::int64_t>(characters.size());
  const std::vector<Slice> slices =
      documentSlices(c.documents, project.corpus, language.id, project.hasPretrainSlice(language.id));
  for (std::size_t i = 0; i < characters.size(); ++i) {
    if (slices[i] == Slice::pretrain) ++c.pretrain_documents;
    if (slices[i] == Slice::continual) ++c.continual_documents;
    if (slices[i] == Slice::heldout) {
      ++c.heldout_documents;
      c.heldout_characters += characters[i];
    }
  }
  c.issues = reader.issueCount();
  std::optional<LanguageTokenCounts> tokens;
  if (tokenizer) tokens = currentTokenCounts(project, *tokenizer, language.id);
  if (tokens) {
    c.hasTokens = true;
    c.tokens = tokens->tokens();
    c.pretrain_tokens = tokens->pretrain.tokens;
    c.continual_tokens = tokens->continual.tokens;
    c.heldout_tokens = tokens->heldout.tokens;
  }
  for (const CorpusIssue& issue : reader.issues()) reporter.warning(issue.reason, issue.where());
  if (c.issues > static_cast<std::int64_t>(reader.issues().size()))
    reporter.warning(std::to_string(c.issues - static_cast<std::int64_t>(reader.issues().size())) +
                         " more bad lines (the first " + std::to_string(reader.issues().size()) + " are listed)",
                     stats.file.string());
  return stats;
}

}  // namespace

CorpusCounts& CorpusCounts::operator+=(const CorpusCounts& o) {
  documents += o.documents;
  characters += o.characters;
  bytes += o.bytes;
  pretrain_documents += o.pretrain_documents;
  continual_documents += o.continual_documents;
  heldout_documents += o.heldout_documents;
  heldout_characters += o.heldout_characters;
  issues += o.issues;
  tokens += o.tokens;
  pretrain_tokens += o.pretrain_tokens;
  continual_tokens += o.continual_tokens;
  heldout_tokens += o.heldout_tokens;
  return *this;
}

Json CorpusStats::toJson() const {
  Json list = Json::array();
  for (const LanguageCorpusStats& l : languages) {
    Json entry = {{"id", l.id}, {"tag", l.tag}, {"name", l.name}, {"new", l.isNew}, {"file", l.file.string()}};
    entry.update(countsJson(l.counts));
    list.push_back(std::move(entry));
  }
  return {{"format", "dmoe-corpus-stats/1"},
          {"corpus_root", corpusRoot.string()},
          {"heldout", {{"fraction", heldout.fraction}, {"count", heldout.count}, {"min_documents", heldout.min_documents}, {"seed", heldout.seed}}},
          {"pretrain", {{"fraction", pretrain.fraction}, {"count", pretrain.count}, {"seed", pretrain.seed}}},
          {"languages", std::move(list)},
          {"total", countsJson(total)}};
}

CorpusStats computeCorpusStats(const Project& project, Reporter& reporter) {
  reporter.started({{"corpus_root", project.corpusRoot().string()}});
  CorpusStats stats;
  stats.corpusRoot = project.corpusRoot();
  stats.heldout = project.corpus.heldout;
  stats.pretrain = project.corpus.pretrain;
  std::vector<Language> all = project.allLanguages();
  // Token counts only from caches that match the current tokenizer and text.
  std::unique_ptr<Tokenizer> tokenizer;
  try {
    tokenizer = loadProjectTokenizer(project);
  } catch (const InputError&) {
    reporter.log("no tokenizer yet: token counts are left out");
  }
  stats.total.hasTokens = !all.empty();
  for (std::size_t i = 0; i < all.size(); ++i) {
    stats.languages.push_back(languageStats(project, all[i], i >= project.languages.size(), tokenizer.get(), reporter));
    stats.total += stats.languages.back().counts;
    stats.total.hasTokens = stats.total.hasTokens && stats.languages.back().counts.hasTokens;
    reporter.progress(static_cast<std::int64_t>(i + 1), static_cast<std::int64_t>(all.size()), "languages");
  }
  Json document = stats.toJson();
  fs::path file = project.layout().corpusStatsFile();
  // Unchanged statistics are not rewritten: a copied or read-only runs folder stays as it is.
  if (writeFileAtomicIfChanged(file, dumpJson(document, 2) + "\n")) reporter.artifact(file, "stats");
  reporter.result("corpus_stats", document);
  reporter.finished("done");
  return stats;
}

}  // namespace dmoe
