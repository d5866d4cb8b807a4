// One DMoE built end to end from a set of groups: merge (SPEC §1.5), then
// training stage 1 and stage 2 (SPEC §1.6). The pipeline's own DMoE uses the
// group stage's groups in <runs_dir>/merge and <runs_dir>/train; the
// random-groups baseline the same code with its own groups and folders, so
// the two differ in nothing but the grouping.
#pragma once
#include <filesystem>
#include <memory>
#include <string>

#include "events/event_sink.h"
#include "model/dmoe_model.h"
#include "project/project.h"
#include "stages/stages.h"
#include "train/trainer.h"

namespace dmoe {

struct DmoeVariant {
  std::string name;                     // "dmoe" | "random-groups" (messages, settings.json)
  std::filesystem::path mergeDir;       // <mergeDir>/model/
  std::filesystem::path trainDir;       // <trainDir>/{stage1,stage2,model}/
  LanguageGroups groups;
  std::string groupsFingerprint;        // identity of the groups for manifests
  std::string init;                     // expert initialisation: "upcycle" | "branch-train-mix"
};

DmoeVariant mainVariant(const Project& project);  // the group stage's groups (InputError if absent)

// Each returns false when its folder was up to date (nothing done). They log
// on `reporter` but leave started/finished to the calling stage. Merge: stages/merge.cpp.
bool mergeVariant(const Project& project, const DmoeVariant& variant, Reporter& reporter, bool force);
bool trainVariant(const Project& project, const DmoeVariant& variant, Reporter& reporter, bool force);

// Token budget of training stage 1 + stage 2 (steps × sequences × seq_len,
// seq_len capped at the context): what dense-continue is given too.
std::int64_t dmoeTrainingTokens(const Project& project, std::int64_t context);

// Perplexity of a saved model on every project language's held-out shard:
// {"soft": table} for a DMoE (learned router) plus {"hard": table} (group
// oracle; languages without an expert unscored; absent when no expert serves
// a language, as in LayerMoE), {"dense": table} otherwise.
Json evaluateModel(const Project& project, const std::filesystem::path& modelDir, Reporter& reporter);

// Per batch row, the expert of its language: streamExpert[batch.sources[r]].
std::vector<std::int64_t> rowExperts(const TrainBatch& batch, const std::vector<std::int64_t>& streamExpert);
// The trainer term weight · L_RC over the model's MoE layers, every token of a
// row labelled with its row's expert (stage 1 and adaptation).
LossTerm routerLossTerm(std::vector<std::shared_ptr<MoeFeedForwardImpl>> moe, std::vector<std::int64_t> streamExpert,
                        double weight);

// The trainer term weight · Switch balance loss, mean over the model's MoE layers (soft routing).
LossTerm balanceLossTerm(std::vector<std::shared_ptr<MoeFeedForwardImpl>> moe, double weight);

// The perplexity table of evaluateModel() into <dir>/perplexity.json, skipped
// when up to date for `modelIdentity` and the evaluation settings. False when skipped.
bool evaluateInto(const Project& project, const std::filesystem::path& dir, const std::filesystem::path& modelDir,
                  const Json& modelIdentity, Reporter& reporter, bool force);

// Hard routing of a language: its group's expert in every MoE layer. False
// (routing unchanged) when the model has no expert for it.
bool routeLanguageHard(CausalLMImpl& model, const MoeLayout& layout, const std::string& languageId);

}  // namespace dmoe
