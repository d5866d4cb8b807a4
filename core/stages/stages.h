// Entry points of the DMoE stages after deviation (stages/deviation.h), in
// pipeline order. Their result files' formats and readers are in results/.
// Each stage reports started/finished("done" | "skipped") on its Reporter,
// writes only into its own folder (results/run_layout.h) and records a
// manifest (stages/stage_folder.h).
// `force` recomputes even when up to date.
#pragma once
#include <filesystem>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"
#include "results/groups_file.h"
#include "results/selection_file.h"

namespace dmoe {

struct DeviationTable;    // results/deviation_file.h
struct SimilarityResult;  // results/similarity_file.h

// ---- select-layers (SPEC §1.4): <runs_dir>/select-layers/selection.json (results/selection_file.h)
// Scores, normalised scores and the layers ε selects, from FFN deviation norms
// (the stage reads its deviation.json; `dmoe select-layers --norms` any norms file).
LayerSelection selectLayersFromNorms(const DeviationTable& deviation, double epsilon, const std::string& mode);
void runSelectLayers(const Project& project, Reporter& reporter, bool force);
// `dmoe select-layers --norms FILE`: the selection of the project's ε and mode
// on an imported norms file (DeviationTable::importFile), reported; writes nothing.
LayerSelection selectLayersFromFile(const Project& project, const std::filesystem::path& normsFile, Reporter& reporter);

// ---- similarity (SPEC §1.2): <runs_dir>/similarity/similarity.{json,csv}
void runSimilarity(const Project& project, Reporter& reporter, bool force);

// ---- group (SPEC §1.3): <runs_dir>/group/groups.json (results/groups_file.h)
// The groups of `method` (maximin-exhaustive | maximin-greedy | random | manual)
// on the similarity stage's matrix, with each group's minimum similarity.
LanguageGroups computeGroups(const Project& project, const std::string& method);
// The same on any similarity matrix with the given settings (manual: the ids
// of settings.manual must be the matrix's).
LanguageGroups groupSimilarity(const SimilarityResult& similarity, const GroupingSettings& settings);
void runGroup(const Project& project, Reporter& reporter, bool force);
// `dmoe group --similarity FILE`: the project's grouping settings on an imported
// matrix (SimilarityResult::importFile: .csv or .json), reported; writes nothing.
LanguageGroups groupSimilarityFile(const Project& project, const std::filesystem::path& similarityFile, Reporter& reporter);

// ---- merge (SPEC §1.5): <runs_dir>/merge/model/ — also used by baselines for other groups
void runMerge(const Project& project, Reporter& reporter, bool force);

// ---- train (SPEC §1.6): <runs_dir>/train/{stage1,stage2,model}
void runTrain(const Project& project, Reporter& reporter, bool force);

// ---- eval (SPEC §1.7): <runs_dir>/eval/perplexity.json (base, DMoE soft and hard;
//      the base alone when it is already a mixture of experts)
void runEval(const Project& project, Reporter& reporter, bool force);

// ---- baselines: <runs_dir>/baselines/{dense-continue,random-groups}/, perplexity.json
void runBaselines(const Project& project, Reporter& reporter, bool force);

// ---- adapt (SPEC §1.8): <runs_dir>/adapt/{train,model,adaptation.json} (the probe inside adaptation.json)
void runAdapt(const Project& project, Reporter& reporter, bool force);

// ---- LayerMoE (SPEC §2), from the base model; skipped unless /adaptation/methods has "layermoe".
// similarity (§2.1): <runs_dir>/layermoe/similarity/layer_similarity.json (results/layer_similarity_file.h),
// the old languages and the adaptation languages measured on their continual slices.
void runLayerMoeSimilarity(const Project& project, Reporter& reporter, bool force);
// allocate (§2.2): <runs_dir>/layermoe/allocate/allocation.json (results/allocation_file.h).
void runLayerMoeAllocate(const Project& project, Reporter& reporter, bool force);
// train (§2.3): <runs_dir>/layermoe/<layer-wise|uniform>/{stage1,stage2,model,expansion.json,eval/perplexity.json}
// for the allocation, and the uniform ablation at the same number of new experts (/layermoe/uniform_ablation).
void runLayerMoeTrain(const Project& project, Reporter& reporter, bool force);

// ---- report: <runs_dir>/report/report.{md,json}; returns the Markdown
std::string runReport(const Project& project, Reporter& reporter, bool force);

}  // namespace dmoe
