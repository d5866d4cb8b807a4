// The LayerMoE stages (see stages/stages.h; SPEC §2).
#include <algorithm>
#include <cmath>
#include <sstream>

#include "corpus/token_cache.h"
#include "corpus/token_shard.h"
#include "methods/layer_allocation.h"
#include "methods/layer_similarity.h"
#include "model/load_model.h"
#include "results/adaptation_file.h"
#include "results/allocation_file.h"
#include "results/layer_similarity_file.h"
#include "results/selection_file.h"
#include "runtime/cancellation.h"
#include "runtime/device.h"
#include "runtime/distributed.h"
#include "stages/stage_folder.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "train/ffn_input_means.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// The stage runs only when the project asks for LayerMoE; otherwise it says why.
bool layerMoeEnabled(const Project& project, Reporter& reporter) {
  if (project.adaptation.runs("layermoe")) return true;
  reporter.log("\"layermoe\" is not among /adaptation/methods: nothing to do");
  reporter.finished("skipped");
  return false;
}

// The old languages, then the new ones LayerMoE adds.
std::vector<Language> measuredLanguages(const Project& project) {
  std::vector<Language> all = project.languages;
  for (const Language& l : project.adaptationLanguages()) all.push_back(l);
  return all;
}

// The first `target` tokens of a language's continual slice, in corpus order,
// each document read up to `perDocument` tokens.
std::int64_t measureLanguage(const Project& project, const std::string& id, std::int64_t target,
                             std::int64_t perDocument, FfnInputMeans& means) {
  const TokenShard shard(tokenShardFile(project, id, "continual"));
  for (std::int64_t d = 0; d < shard.documentCount() && means.tokens() < target; ++d) {
    throwIfCancelled();
    means.addDocument(shard.document(d), std::min(perDocument, target - means.tokens()));
  }
  return means.tokens();
}

// Of a job, process r measures languages r, r + N, …; their tokens and mean
// vectors are then summed over the processes (each row one process's, the
// others' zeros: exact), so every process has every language's.
LayerSimilarity measureLayerSimilarity(const Project& project, const std::vector<Language>& languages,
                                       Reporter& reporter) {
  std::shared_ptr<CausalLMImpl> model = loadCausalLM(baseModelDir(project), resolveDevice(project.device));
  const std::int64_t perDocument =
      std::min(project.layermoe.max_document_tokens, model->config().max_position_embeddings);
  const auto n = static_cast<std::int64_t>(languages.size());
  const std::int64_t layers = model->config().num_hidden_layers, width = model->config().hidden_size;
  torch::Tensor tokenCounts = torch::zeros({n}, torch::kFloat64);
  torch::Tensor meanVectors = torch::zeros({n, layers, width}, torch::kFloat64);
  FfnInputMeans means(*model);
  for (std::int64_t i = processRank(); i < n; i += processCount()) {
    const Language& l = languages[static_cast<size_t>(i)];
    means.reset();
    const std::int64_t tokens = measureLanguage(project, l.id, project.layermoe.similarity_tokens, perDocument, means);
    if (tokens == 0)
      throw InputError(tokenShardFile(project, l.id, "continual").string() + ": no continual tokens to measure " + l.id +
                       " on");
    if (tokens < project.layermoe.similarity_tokens)
      reporter.log(l.label() + ": " + std::to_string(tokens) + " tokens (its whole continual slice; asked for " +
                   std::to_string(project.layermoe.similarity_tokens) + ")");
    tokenCounts[i] = static_cast<double>(tokens);
    const std::vector<std::vector<double>> unit = means.means();
    for (std::int64_t layer = 0; layer < layers; ++layer)
      meanVectors[i][layer].copy_(torch::tensor(unit.at(static_cast<size_t>(layer)), torch::kFloat64));
    reporter.progress(i + 1, n, "languages");
  }
  allReduceSum({tokenCounts, meanVectors});
  std::vector<std::string> ids;
  std::vector<bool> isNew;
  std::vector<std::int64_t> tokens;
  std::vector<std::vector<std::vector<double>>> meanUnit(static_cast<size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    ids.push_back(languages[static_cast<size_t>(i)].id);
    isNew.push_back(static_cast<size_t>(i) >= project.languages.size());
    tokens.push_back(static_cast<std::int64_t>(tokenCounts[i].item<double>()));
    const torch::Tensor rows = meanVectors[i].contiguous();
    for (std::int64_t layer = 0; layer < layers; ++layer) {
      const double* v = rows[layer].data_ptr<double>();
      meanUnit[static_cast<size_t>(i)].emplace_back(v, v + width);
    }
  }
  return layerSimilarity(ids, isNew, tokens, meanUnit);
}

std::string joined(const std::vector<std::int64_t>& values) {
  std::string out;
  for (std::int64_t v : values) out += (out.empty() ? "" : ",") + std::to_string(v);
  return out;
}

// Budget 0: as many new experts as the DMoE adaptation added (its new experts in each MoE layer).
std::int64_t dmoeAdaptBudget(const Project& project) {
  const RunLayout runs = project.layout();
  if (!fs::exists(runs.adaptDir() / "manifest.json"))
    throw InputError(project.file.string() + " /layermoe/budget: 0 means the DMoE adaptation's number of new experts, "
                     "but `dmoe adapt` has not run; run it or set the budget");
  const AdaptationResult adapted = AdaptationResult::read(runs.adaptationFile());
  const LayerSelection selection = LayerSelection::read(runs.selectionFile());
  return static_cast<std::int64_t>(adapted.newExperts.size() * selection.layers.size());
}

ExpertAllocation allocate(const Project& project, const LayerSimilarity& similarity, Reporter& reporter) {
  const LayerMoeSettings& s = project.layermoe;
  ExpertAllocation a;
  a.allocation = s.allocation;
  a.minExperts = s.min_experts;
  a.similarity = similarity.combined;
  const std::string where = project.file.string() + " /layermoe: ";
  try {
    if (s.delta > 0) {
      const LayerAllocation given = allocateExperts(similarity.combined, s.delta, s.min_experts);
      a.budgetSource = "delta";
      a.delta = given.delta;
      a.experts = given.experts;
      a.budget = given.newExperts();
      return a;
    }
    a.budgetSource = s.budget > 0 ? "setting" : "dmoe-adapt";
    a.budget = s.budget > 0 ? s.budget : dmoeAdaptBudget(project);
    if (s.allocation == "uniform") {
      a.experts = uniformAllocation(static_cast<std::int64_t>(similarity.layers()), a.budget, s.min_experts).experts;
      return a;
    }
    const BudgetAllocation b = allocateForBudget(similarity.combined, a.budget, s.min_experts);
    a.experts = b.allocation.experts;
    a.delta = b.allocation.delta;
    a.exact = b.exact;
    a.nextAbove = b.nextAbove;
    if (!b.exact)
      reporter.warning("no δ gives exactly " + std::to_string(a.budget) + " new experts (the ceiling steps from " +
                           std::to_string(b.allocation.newExperts()) + " to " + std::to_string(b.nextAbove) + "): using " +
                           std::to_string(b.allocation.newExperts()),
                       "/layermoe/budget");
    return a;
  } catch (const InputError& e) {
    throw InputError(where + e.what());
  }
}

}  // namespace

void runLayerMoeSimilarity(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  if (!layerMoeEnabled(project, reporter)) return;
  const std::vector<Language> languages = measuredLanguages(project);
  if (languages.size() == project.languages.size())
    throw InputError(project.file.string() + " /new_languages: LayerMoE adds new languages, and the project lists none");
  const RunLayout runs = project.layout();
  StageFolder folder(runs.layermoeDir("similarity"),
                     Json{{"base_model", baseModelFingerprint(project)},
                          {"shards", shardsFingerprint(project, languages)},
                          {"languages", languageIds(project.languages)},
                          {"new_languages", languageIds(project.adaptationLanguages())},
                          {"similarity_tokens", project.layermoe.similarity_tokens},
                          {"max_document_tokens", project.layermoe.max_document_tokens}});
  const bool done = folder.run(force, reporter, "layer similarity", runs.layerSimilarityFile(), [&] {
    const LayerSimilarity s = measureLayerSimilarity(project, languages, reporter);
    if (isMainProcess()) writeFileAtomic(runs.layerSimilarityFile(), dumpJson(s.toJson(), 1) + "\n");
    std::string line = "S_i per layer:";
    for (double v : s.combined) line += " " + fixedDecimals(v, 3);
    reporter.log(line);
    reporter.artifact(runs.layerSimilarityFile(), "layer-similarity");
    reporter.result("layer_similarity", s.toJson());
    return Json{{"layers", s.layers()}, {"tokens", s.tokens}};
  });
  reporter.finished(done ? "done" : "skipped");
}

void runLayerMoeAllocate(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  if (!layerMoeEnabled(project, reporter)) return;
  const RunLayout runs = project.layout();
  const LayerMoeSettings& s = project.layermoe;
  Json inputs{{"similarity", StageFolder::fingerprint(runs.layermoeDir("similarity"), "dmoe layermoe similarity")},
              {"budget", s.budget},
              {"delta", s.delta},
              {"min_experts", s.min_experts},
              {"allocation", s.allocation}};
  if (s.delta <= 0 && s.budget == 0) inputs["dmoe_adapt"] = StageFolder::fingerprint(runs.adaptDir(), "dmoe adapt");
  StageFolder folder(runs.layermoeDir("allocate"), inputs);
  const bool done = folder.run(force, reporter, "expert allocation", runs.allocationFile(), [&] {
    const ExpertAllocation a = allocate(project, LayerSimilarity::read(runs.layerSimilarityFile()), reporter);
    writeFileAtomic(runs.allocationFile(), dumpJson(a.toJson(), 1) + "\n");
    reporter.log(a.allocation + " allocation, " + std::to_string(a.newExperts()) + " new experts (budget " +
                 std::to_string(a.budget) + ", from " + a.budgetSource + ")" +
                 (std::isfinite(a.delta) ? ", δ = " + fixedDecimals(a.delta, 3) : std::string()) + ": N_i = " + joined(a.experts));
    reporter.artifact(runs.allocationFile(), "allocation");
    reporter.result("allocation", a.toJson());
    return Json{{"new_experts", a.newExperts()}};
  });
  reporter.finished(done ? "done" : "skipped");
}

}  // namespace dmoe
