// `dmoe project check|describe`: validate a project file; list every setting.
#include <iomanip>
#include <iostream>

#include "cli_context.h"
#include "project/project.h"

namespace dmoe::cli {

void addProjectCommands(CLI::App& app, CliContext& ctx) {
  auto* project = app.add_subcommand("project", "Check project files and list their settings");
  project->require_subcommand(1);

  auto* check = project->add_subcommand("check", "Validate a project file; every problem is listed with its JSON path (exit 2 if any)");
  auto file = std::make_shared<std::string>();
  check->add_option("project", *file, "Project file (*.dmoe.json)")->required();
  check->callback([&ctx, file] {
    Reporter r = ctx.reporter("project");
    Project p = Project::load(*file);
    for (const Problem& w : p.warnings) r.warning(w.message, w.where);
    r.result("project", Json{{"file", p.file.string()}, {"languages", p.languages.size()},
                             {"new_languages", p.new_languages.size()}});
    ctx.out() << p.file.string() << ": ok (" << p.languages.size() << " languages, " << p.new_languages.size()
              << " new)\n";
  });

  auto* describe = project->add_subcommand("describe", "List every project setting with its type, default and meaning");
  describe->callback([&ctx] {
    Json leaves = describeProjectSettings();
    ctx.reporter("project").result("settings", leaves);
    for (const Json& leaf : leaves) {
      std::string type = leaf.contains("enum") ? leaf["enum"].dump() : leaf.value("type", "");
      ctx.out() << std::left << std::setw(44) << leaf["pointer"].get<std::string>() << ' ' << std::setw(26) << type
                << " default " << (leaf.contains("default") ? leaf["default"].dump() : "-") << "\n    "
                << leaf.value("description", "") << '\n';
    }
  });
}

}  // namespace dmoe::cli
