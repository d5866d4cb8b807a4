// `dmoe sweep <file.sweep.json>`: one project over a grid of settings × seeds
// (pipeline/sweep.h), then the table of DMoE, random groups and oracle
// routing against dense continued training per cell (results/sweep_table.h).
#include <filesystem>
#include <stdexcept>

#include "cli_context.h"
#include "pipeline/sweep.h"
#include "results/sweep_file.h"

namespace fs = std::filesystem;

namespace dmoe::cli {

namespace {

const char* const kSweepHelp =
    "Sweep file (format dmoe-sweep/1):\n"
    "  {\"format\": \"dmoe-sweep/1\", \"project\": \"<project file, relative to the sweep file>\",\n"
    "   \"seeds\": [1234, 2], \"description\": \"optional\",\n"
    "   \"cells\": {\"<name>\": {\"patch\": {<JSON merge patch of the project>}, \"label\": \"optional\"}, ...}}\n"
    "Cell names are folder names: letters, digits, '.', '_', '-' (first a letter or digit). Every cell x seed runs the\n"
    "whole pipeline in <out>/cells/<cell>/seed-<S>/ from <out>/cells/<cell>/seed-<S>.dmoe.json: the project with the\n"
    "cell's patch (RFC 7396; paths in it as in the project file), every training seed (base pretraining, deviation,\n"
    "merge's router, DMoE stages 1 and 2, adaptation, random grouping) set to S, every path absolute. The runs share\n"
    "the stage cache <out>/stage-cache: a stage with the inputs of one another run computed (the base, the deviation, ...)\n"
    "is restored, not computed. After each run <out>/sweep.json, sweep.csv (per run) and sweep-cells.csv (per cell)\n"
    "are rewritten from the reports present: each method's average PPL, (method - dense) / dense x 100 for DMoE,\n"
    "random groups and oracle routing in the same run, per cell the mean and sample sd over the seeds, and the wall\n"
    "seconds of the command that completed each run. Run it again to resume: finished runs are up to date. A failed\n"
    "run is reported with its cell and seed; the sweep goes on, and exits non-zero at the end.";

// The message of the error a sweep with failed runs ends with.
std::string failureSummary(const SweepOutcome& outcome, size_t runs) {
  std::string text = std::to_string(outcome.failures.size()) + " of " + std::to_string(runs) + " runs failed:";
  for (const std::string& failure : outcome.failures) text += "\n  " + failure;
  return text;
}

}  // namespace

void addSweepCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "sweep", "Run a project over a sweep file's cells x seeds and tabulate DMoE against dense continued training");
  cmd->footer(kSweepHelp);
  auto file = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto options = std::make_shared<SweepOptions>();
  cmd->add_option("sweep", *file, "Sweep file (*.sweep.json)")->required();
  cmd->add_option("--out", *out, "Output folder (default: beside the sweep file, its name without .sweep.json)");
  cmd->add_option("--only", options->only, "Run only these cells (names, or comma-separated); the tables still show every cell")
      ->delimiter(',');
  cmd->add_flag("--tabulate-only", options->tabulateOnly, "Run nothing: rebuild the tables from the reports present");
  cmd->callback([&ctx, file, out, options] {
    const SweepFile sweep = SweepFile::read(*file);
    for (const std::string& name : options->only) sweep.cell(name);  // an unknown name is an InputError
    const SweepPlan plan = planSweep(sweep, out->empty() ? sweep.defaultOutDir() : fs::path(*out));
    const auto lock = lockRunsFolder(plan.out);
    const SweepOutcome outcome = runSweep(plan, *ctx.sink, *options);
    ctx.out() << "\n" << outcome.table.markdown() << "(" << (plan.out / "sweep.json").string() << ")\n";
    if (outcome.failures.empty()) return;
    const std::string summary = failureSummary(outcome, plan.runs.size());
    if (outcome.failuresAreInputErrors) throw InputError(summary);
    throw std::runtime_error(summary);
  });
}

}  // namespace dmoe::cli
