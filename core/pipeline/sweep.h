// `dmoe sweep`: one project run over a sweep file's cells (settings patches,
// results/sweep_file.h) × seeds, each run a whole pipeline in its own runs
// folder, all sharing one stage cache, so a base or deviation the cells have
// in common is computed once (the tokenizer and token shards keep records of
// their own and are made again, identically); after each run the tables
// (results/sweep_table.h) are rewritten from the report.json files present.
//
// The output folder:
//   cells/<cell>/seed-<S>.dmoe.json   the run's project (written only when it changes)
//   cells/<cell>/seed-<S>/            its runs folder
//   stage-cache/                      the shared stage cache (stages/stage_folder.h)
//   sweep.json, sweep.csv, sweep-cells.csv
// The output folder is held like a runs folder (runtime/runs_lock.h, by the
// command): marked as dmoe's when new or empty, a non-empty folder dmoe did
// not mark refused before anything is written. Runs go in cell order, then seed order, and report through the event
// stream ("sweep": a progress event and a log line per run, "cell i of n").
// An interrupted sweep resumes when run again: finished runs find every
// stage up to date. A report counts in the tables once a run completed from
// the run's current project, in this command or an earlier one (sweep.json
// records each completed run's project hash and wall time, which carry
// over). A run that fails is reported as a warning with its cell and seed
// and the sweep goes on; the outcome lists the failures.
//
// Not here: reading the sweep file or the tables' arithmetic (results/), the
// stages themselves (pipeline/pipeline.h), the command line (app/cli/cmd_sweep.cpp).
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "events/event_sink.h"
#include "project/project.h"
#include "results/sweep_file.h"
#include "results/sweep_table.h"

namespace dmoe {

// The stage cache of this process (stages/stage_folder.h) at `dir` ("": none)
// for runs of `project`, named with its languages as the results display them.
// `dmoe run --stage-cache` and the sweep.
void useStageCache(const std::filesystem::path& dir, const Project& project);

// The keys whose "seed" a sweep sets: every training run's (base pretraining,
// deviation, the router initialisation of merge, DMoE stages 1 and 2,
// adaptation) and random grouping's. The data slices, tokenizer sample and
// held-out documents keep the project's.
const std::vector<std::string>& sweepSeededSettings();  // JSON pointers, "/train/stage1"

// The project document `document` (read from `file`) for one run: `patch`
// merged in (RFC 7396), every sweepSeededSettings() seed set to `seed`, the
// name marked with the cell and seed, runs_dir "seed-<S>" (beside the run's
// project file), and every path setting (corpus root, tokenizer and base
// model paths, similarity labelling) absolute, resolved against `file`'s
// folder; an imported corpus (corpus.source) goes into the run's own runs
// folder, "seed-<S>/corpus", as the demos keep theirs.
Json sweepRunProject(const Json& document, const std::filesystem::path& file, const SweepCell& cell, std::int64_t seed);

struct SweepRun {
  std::string cell;
  std::int64_t seed = 0;
  std::filesystem::path projectFile;  // <out>/cells/<cell>/seed-<S>.dmoe.json
  std::string projectText;            // what it holds
  Project project;                    // loaded from projectText at projectFile
};

struct SweepPlan {
  SweepFile sweep;
  std::filesystem::path out;    // absolute
  std::vector<SweepRun> runs;   // cell order, then seed order
  std::filesystem::path stageCache() const { return out / "stage-cache"; }
};

// Every run's project, checked: a patch that makes an invalid project throws
// ValidationError naming the sweep file and the cell. Writes nothing.
SweepPlan planSweep(const SweepFile& sweep, const std::filesystem::path& out);

struct SweepOptions {
  std::vector<std::string> only;  // cells to run (empty: all); the others are tabulated only
  bool tabulateOnly = false;      // run nothing: rebuild the tables from the reports present
};

struct SweepOutcome {
  SweepTable table;
  std::vector<std::string> failures;  // "cell '<name>', seed <S>: <message>"
  bool failuresAreInputErrors = true;  // every failure was bad input (exit 2), none a failed computation
};

// Runs the plan (options) and writes the tables into plan.out. The caller
// holds plan.out's lock; each run's runs folder is locked while it runs.
// dmoe::Cancelled propagates (the tables stay as the last finished run left them).
SweepOutcome runSweep(const SweepPlan& plan, EventSink& sink, const SweepOptions& options);

}  // namespace dmoe
