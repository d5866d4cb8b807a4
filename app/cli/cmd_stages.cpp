// `dmoe deviation | select-layers | similarity | group | merge | train | eval |
// baselines | adapt | layermoe similarity | layermoe allocate |
// layermoe train | report
// <project>`: one command per method stage, generated
// from the stage table (core/pipeline/pipeline.h) so the CLI, `dmoe run` and
// the GUI list the same stages with the same help.
#include "cli_context.h"
#include "methods/grouping_methods.h"
#include "pipeline/pipeline.h"
#include "project/project.h"
#include "runtime/device.h"
#include "stages/deviation.h"
#include "stages/stages.h"
#include "util/atomic_file.h"
#include "runtime/runs_lock.h"

namespace dmoe::cli {

namespace {

// A method family's stages ("layermoe-similarity") nest under one command: `dmoe layermoe similarity`.
struct Family {
  const char* prefix;
  const char* help;
};
const Family kFamilies[] = {
    {"layermoe-", "LayerMoE (SPEC 2): layer-wise expert allocation for new languages — similarity, allocate, train"},
};

CLI::App* addStageCommand(CLI::App& app, const PipelineStage& stage) {
  for (const Family& family : kFamilies) {
    const std::string prefix = family.prefix;
    if (stage.name.rfind(prefix, 0) != 0) continue;
    const std::string parentName = prefix.substr(0, prefix.size() - 1);
    CLI::App* parent = nullptr;
    for (CLI::App* sub : app.get_subcommands([&](CLI::App* a) { return a->get_name() == parentName; })) parent = sub;
    if (!parent) {
      parent = app.add_subcommand(parentName, family.help);
      parent->require_subcommand(1);
    }
    return parent->add_subcommand(stage.name.substr(prefix.size()), stage.help);
  }
  return app.add_subcommand(stage.name, stage.help);
}

}  // namespace

void addStageCommands(CLI::App& app, CliContext& ctx) {
  for (const PipelineStage& stage : pipelineStages()) {
    if (!stage.command) continue;
    auto* cmd = addStageCommand(app, stage);
    cmd->footer("Skipped when its outputs are up to date (manifest.json in its folder under the runs folder); "
                "`dmoe run --from " + stage.name + "` runs it and every later stage.");
    auto file = std::make_shared<std::string>();
    auto force = std::make_shared<bool>(false);
    auto imported = std::make_shared<std::string>();
    cmd->add_option("project", *file, "Project file (*.dmoe.json)")->required();
    cmd->add_flag("--force", *force, "Recompute even when the outputs are up to date");
    if (stage.name == "group") {
      std::string methods = "Grouping methods (grouping.method in the project file):";
      for (const GroupingMethod& m : groupingMethods()) methods += "\n  " + m.name + " — " + m.help;
      cmd->footer(methods + "\n" + cmd->get_footer());
    }
    if (stage.name == "group")
      cmd->add_option("--similarity", *imported,
                      "Group this similarity matrix instead (.csv: header language,<id>,...; or a similarity.json), "
                      "with the project's grouping settings; prints the groups, writes nothing")
          ->check(CLI::ExistingFile);
    if (stage.name == "select-layers")
      cmd->add_option("--norms", *imported,
                      "Select from these deviation norms instead ({<lang>: {\"ffn\": [per layer]}} or a deviation.json), "
                      "with the project's ε and mode; prints the layers, writes nothing")
          ->check(CLI::ExistingFile);
    auto stationaritySlice = std::make_shared<std::string>();
    if (stage.name == "deviation")
      cmd->add_option("--stationarity", *stationaritySlice,
                      "Only measure the stationarity r of the base on this slice — continual (what the stage records) "
                      "or pretrain (the base's own training data, where a converged base gives r below the orthogonal "
                      "value) — and print it; writes nothing")
          ->check(CLI::IsMember({"continual", "pretrain"}))
          ->excludes("--force");
    const PipelineStage* entry = &stage;
    cmd->callback([&ctx, file, force, imported, stationaritySlice, entry] {
      Project project = Project::load(*file);
      Reporter r = ctx.reporter(entry->name);
      for (const Problem& w : project.warnings) r.warning(w.message, w.where);
      if (!imported->empty()) {
        endingStageOnThrow(r, [&] {
          if (entry->name == "group") groupSimilarityFile(project, *imported, r);
          else selectLayersFromFile(project, *imported, r);
        });
        return;
      }
      configureCompute(project);
      if (!stationaritySlice->empty()) {
        Reporter diagnostic = ctx.reporter("stationarity");  // not the deviation stage: that one did not run
        const Json result =
            endingStageOnThrow(diagnostic, [&] { return baseStationarity(project, *stationaritySlice, diagnostic); });
        ctx.out() << "stationarity r = " << (result["r"].is_number() ? std::to_string(result["r"].get<double>()) : "undefined")
                  << " on the " << *stationaritySlice << " slice, FFN gradients of layers " << result["layers"].dump()
                  << "; orthogonal pulls would give "
                  << (result["r_orthogonal"].is_number() ? std::to_string(result["r_orthogonal"].get<double>()) : "–")
                  << "\n";
        return;
      }
      PipelineOptions options;
      options.force = *force;
      const auto lock = lockRunsFolder(project.runsDir());
      endingStageOnThrow(r, [&] { entry->run(project, r, options); });
      const auto report = project.layout().reportFile();
      if (entry->name == "report" && std::filesystem::exists(report)) ctx.out() << '\n' << readFile(report);
    });
  }
}

}  // namespace dmoe::cli
