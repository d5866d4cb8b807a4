#include "pipeline/sweep.h"

#include <chrono>
#include <map>
#include <optional>
#include <sstream>
#include <utility>

#include "pipeline/pipeline.h"
#include "project/schema.h"
#include "runtime/cancellation.h"
#include "runtime/device.h"
#include "runtime/runs_lock.h"
#include "stages/stage_folder.h"
#include "util/atomic_file.h"
#include "util/hash.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

const char* const kPathSettings[] = {"/corpus/root", "/tokenizer/path", "/base_model/path", "/similarity/labelling"};

// The object at `pointer` in `document`, created where absent or null; nullptr
// where something else is in the way (the project's check reports that).
Json* objectAt(Json& document, const std::string& pointer) {
  Json* node = &document;
  std::istringstream keys(pointer.substr(1));  // the pointers of sweepSeededSettings(): no escapes
  for (std::string key; std::getline(keys, key, '/');) {
    if (node->is_null()) *node = Json::object();
    if (!node->is_object()) return nullptr;
    node = &(*node)[key];
  }
  if (node->is_null()) *node = Json::object();
  return node->is_object() ? node : nullptr;
}

// Each path setting that is a relative path: resolved against `dir` (defaults too: the corpus root).
void makePathsAbsolute(Json& document, const fs::path& dir) {
  const Json defaulted = Schema::project().withDefaults(document);
  for (const char* setting : kPathSettings) {
    const Json::json_pointer pointer(setting);
    if (!defaulted.contains(pointer) || !defaulted.at(pointer).is_string()) continue;
    const std::string path = defaulted.at(pointer).get<std::string>();
    if (path.empty() || fs::path(path).is_absolute()) continue;
    document[pointer] = (dir / path).lexically_normal().string();
  }
}

std::string runName(const SweepRun& run) { return "cell '" + run.cell + "', seed " + std::to_string(run.seed); }

// Forwards every event; notes whether a stage computed (ended "done") rather than being up to date.
class ComputeWatch : public EventSink {
 public:
  explicit ComputeWatch(EventSink& next) : next_(next) {}
  void write(const Json& event) override {
    if (event.value("event", "") == "stage" && event.value("status", "") == "done") computed = true;
    next_.write(event);
  }
  bool computed = false;

 private:
  EventSink& next_;
};

// Runs one project's pipeline; the seconds it took when any stage computed, none when all were up to date.
std::optional<double> runOne(const SweepRun& run, const fs::path& stageCache, EventSink& sink, Reporter& sweep) {
  writeFileAtomicIfChanged(run.projectFile, run.projectText);
  const RunsFolderLock lock(run.project.runsDir());
  if (lock.removedScratch() > 0)
    sweep.log("removed " + std::to_string(lock.removedScratch()) + " scratch files or folders left by interrupted commands");
  for (const Problem& w : run.project.warnings) sweep.warning(w.message, w.where);
  useStageCache(stageCache, run.project);
  configureCompute(run.project);
  ComputeWatch watch(sink);
  const auto start = std::chrono::steady_clock::now();
  runPipeline(run.project, watch, PipelineOptions{});
  if (!watch.computed) return std::nullopt;
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

using RunKey = std::pair<std::string, std::int64_t>;

struct SweepState {
  std::map<RunKey, SweepTableRun> earlier;  // as the sweep.json found at the start records them
  std::map<RunKey, std::optional<double>> completed;  // in this command: the seconds when any stage computed
  std::map<RunKey, std::string> failures;             // in this command
};

// Whether the run completed from exactly `hash`'s project: in this command, or
// as the earlier table records. The wall seconds are this command's when it
// computed, else the earlier record's.
bool completedFrom(const SweepState& state, const RunKey& key, const std::string& hash, std::optional<double>& wall) {
  const auto earlier = state.earlier.find(key);
  const bool recorded = earlier != state.earlier.end() && earlier->second.status == "complete" &&
                        earlier->second.projectHash == hash;
  if (recorded) wall = earlier->second.wallSeconds;
  const auto now = state.completed.find(key);
  if (now == state.completed.end()) return recorded;
  if (now->second) wall = now->second;
  return true;
}

// The run's row: failed in this command, missing, its report when a completed run of its project confirms it, or stale.
SweepTableRun tableRun(const SweepPlan& plan, const SweepRun& run, const SweepState& state) {
  const RunKey key{run.cell, run.seed};
  SweepTableRun row;
  row.cell = run.cell;
  row.seed = run.seed;
  row.runsDir = run.project.runsDir().lexically_relative(plan.out).generic_string();
  row.projectHash = hashHex(run.projectText);
  const fs::path report = run.project.layout().reportDir() / "report.json";
  std::error_code ec;
  if (state.failures.count(key)) {
    row.status = "failed";
    row.error = state.failures.at(key);
  } else if (!fs::exists(report, ec)) {
    row.status = "missing";
  } else if (!completedFrom(state, key, row.projectHash, row.wallSeconds)) {
    row.status = "stale";
    row.wallSeconds.reset();
  } else {
    try {
      row.report = RunReport::read(report);
      row.status = "complete";
    } catch (const InputError& e) {
      row.status = "missing";
      row.error = e.what();
      row.wallSeconds.reset();
    }
  }
  return row;
}

SweepTable tabulate(const SweepPlan& plan, const SweepState& state) {
  SweepTable table;
  table.sweep = plan.sweep.file.lexically_relative(plan.out).generic_string();
  table.cells = plan.sweep.cells;
  for (const SweepRun& run : plan.runs) table.runs.push_back(tableRun(plan, run, state));
  return table;
}

SweepTable writeTables(const SweepPlan& plan, const SweepState& state, Reporter& sweep) {
  const SweepTable table = tabulate(plan, state);
  writeFileAtomic(plan.out / "sweep.json", dumpJson(table.toJson(), 1) + "\n");
  writeFileAtomic(plan.out / "sweep.csv", table.runsCsv());
  writeFileAtomic(plan.out / "sweep-cells.csv", table.cellsCsv());
  sweep.artifact(plan.out / "sweep.json", "sweep");
  return table;
}

// The runs an earlier sweep.json recorded; a damaged one is named and left to be rewritten.
std::map<RunKey, SweepTableRun> earlierRuns(const SweepPlan& plan, Reporter& sweep) {
  try {
    return SweepTable::recordedRuns(plan.out / "sweep.json");
  } catch (const InputError& e) {
    sweep.warning(std::string(e.what()) + ": the runs it records count as not completed (run them again)");
    return {};
  }
}

bool selected(const SweepOptions& options, const std::string& cell) {
  if (options.tabulateOnly) return false;
  if (options.only.empty()) return true;
  for (const std::string& name : options.only)
    if (name == cell) return true;
  return false;
}

// "cell 2 of 3 (budget-4x: 4× budget), seed 1234 (1 of 2)"
std::string runHeading(const SweepPlan& plan, const SweepRun& run) {
  size_t cell = 0, seed = 0;
  for (size_t i = 0; i < plan.sweep.cells.size(); ++i)
    if (plan.sweep.cells[i].name == run.cell) cell = i;
  for (size_t i = 0; i < plan.sweep.seeds.size(); ++i)
    if (plan.sweep.seeds[i] == run.seed) seed = i;
  const std::string& label = plan.sweep.cells[cell].label;
  return "cell " + std::to_string(cell + 1) + " of " + std::to_string(plan.sweep.cells.size()) + " (" + run.cell +
         (label.empty() ? "" : ": " + label) + "), seed " + std::to_string(run.seed) + " (" + std::to_string(seed + 1) +
         " of " + std::to_string(plan.sweep.seeds.size()) + ")";
}

// Runs one run of the plan and records how it ended: completed (with its
// seconds when it computed) or failed (reported, and the sweep goes on).
void runAndRecord(const SweepPlan& plan, const SweepRun& run, EventSink& sink, Reporter& sweep, SweepState& state,
                  SweepOutcome& outcome) {
  sweep.log(runHeading(plan, run) + ": " + run.projectFile.string());
  try {
    const std::optional<double> seconds = runOne(run, plan.stageCache(), sink, sweep);
    state.completed[{run.cell, run.seed}] = seconds;
    sweep.log(runName(run) + (seconds ? ": finished in " + fixedDecimals(*seconds, 1) + " s" : ": up to date"));
  } catch (const Cancelled&) {
    throw;
  } catch (const std::exception& e) {
    outcome.failuresAreInputErrors = outcome.failuresAreInputErrors && dynamic_cast<const InputError*>(&e) != nullptr;
    state.failures[{run.cell, run.seed}] = e.what();
    outcome.failures.push_back(runName(run) + ": " + e.what());
    sweep.warning(runName(run) + " failed: " + e.what(), run.projectFile.string());
  }
}

// Clears the process's stage cache when the sweep ends, however it ends.
struct StageCacheReset {
  ~StageCacheReset() { StageFolder::setCache({}); }
};

}  // namespace

void useStageCache(const fs::path& dir, const Project& project) {
  Json languages = Json::array();  // as the results display them
  for (const Language& l : project.allLanguages()) languages.push_back({l.id, l.label(), l.tier});
  StageFolder::setCache(dir, dumpJson(languages));
}

const std::vector<std::string>& sweepSeededSettings() {
  static const std::vector<std::string> settings = {"/base_model/pretrain", "/deviation",   "/merge",   "/train/stage1",
                                                    "/train/stage2",        "/adaptation", "/grouping"};
  return settings;
}

Json sweepRunProject(const Json& document, const fs::path& file, const SweepCell& cell, std::int64_t seed) {
  Json p = document;
  p.merge_patch(cell.patch);
  if (!p.is_object()) return p;  // the project's check says what is wrong
  makePathsAbsolute(p, fs::absolute(file).parent_path());
  const std::string runs = "seed-" + std::to_string(seed);
  p["runs_dir"] = runs;
  if (p.contains("corpus") && p["corpus"].is_object() && p["corpus"].contains("source"))
    p["corpus"]["root"] = runs + "/corpus";
  for (const std::string& setting : sweepSeededSettings())
    if (Json* settings = objectAt(p, setting)) (*settings)["seed"] = seed;
  const std::string name = p.contains("name") && p["name"].is_string() ? p["name"].get<std::string>()
                                                                     : file.filename().string();
  p["name"] = name + " — " + cell.name + ", seed " + std::to_string(seed);
  return p;
}

SweepPlan planSweep(const SweepFile& sweep, const fs::path& out) {
  std::error_code ec;
  if (!fs::is_regular_file(sweep.project, ec))
    throw InputError(sweep.file.string() + ": /project: expected a project file (" + sweep.project.string() +
                     " does not exist)");
  const Json document = readJsonFile(sweep.project);
  SweepPlan plan{sweep, fs::absolute(out).lexically_normal(), {}};
  for (const SweepCell& cell : sweep.cells)
    for (std::int64_t seed : sweep.seeds) {
      SweepRun run;
      run.cell = cell.name;
      run.seed = seed;
      run.projectFile = plan.out / "cells" / cell.name / ("seed-" + std::to_string(seed) + ".dmoe.json");
      const Json project = sweepRunProject(document, sweep.project, cell, seed);
      run.projectText = dumpJson(project, 2) + "\n";
      try {
        run.project = Project::fromJson(project, run.projectFile);
      } catch (const ValidationError& e) {
        throw ValidationError(sweep.file.string() + ": /cells/" + jsonPointerToken(cell.name) + " (seed " +
                                  std::to_string(seed) + ") makes a project with problems",
                              e.problems());
      }
      plan.runs.push_back(std::move(run));
    }
  return plan;
}

SweepOutcome runSweep(const SweepPlan& plan, EventSink& sink, const SweepOptions& options) {
  const StageCacheReset reset;
  Reporter sweep(sink, "sweep");
  sweep.started({{"sweep", plan.sweep.file.string()}, {"out", plan.out.string()}, {"runs", plan.runs.size()}});
  SweepState state{earlierRuns(plan, sweep), {}, {}};
  SweepOutcome outcome;
  const auto total = static_cast<std::int64_t>(plan.runs.size());
  try {
    for (size_t i = 0; i < plan.runs.size(); ++i) {
      if (!selected(options, plan.runs[i].cell)) continue;
      sweep.progress(static_cast<std::int64_t>(i), total, "runs");
      runAndRecord(plan, plan.runs[i], sink, sweep, state, outcome);
      writeTables(plan, state, sweep);
    }
  } catch (const Cancelled&) {
    sweep.finished("cancelled");
    throw;
  }
  sweep.progress(total, total, "runs");
  outcome.table = writeTables(plan, state, sweep);
  sweep.result("sweep", outcome.table.toJson());
  sweep.finished(outcome.failures.empty() ? "done" : "failed");
  return outcome;
}

}  // namespace dmoe
