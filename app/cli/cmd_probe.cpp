// `dmoe probe <project> [--languages id,...]`: step 1 of adaptation alone —
// each language's perplexity with every expert of the trained DMoE forced —
// so a user (or the GUI's adaptation wizard) can see which expert a language
// is nearest before choosing which languages to adapt.
#include <iomanip>

#include "cli_context.h"
#include "project/project.h"
#include "runtime/device.h"
#include "stages/expert_probe.h"
#include "runtime/runs_lock.h"

namespace dmoe::cli {

void addProbeCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "probe", "Perplexity of languages with every expert of the trained DMoE forced, and the nearest expert of each "
               "(step 1 of `dmoe adapt`, SPEC 1.8)");
  cmd->footer(
      "Reads <runs_dir>/train/model (made by `dmoe train`), writes <runs_dir>/probe/probe.json:\n"
      "  {\"model\": fingerprint of the train stage, \"experts\": [[member language ids of expert 0], ...],\n"
      "   \"languages\": {id: {\"ppl_per_expert\": [...], \"best_expert\": c, \"documents\": n}}}\n"
      "Each language is scored on the first documents of its training split (evaluation.max_documents_per_language, "
      "else 32), with the evaluation window.");
  auto file = std::make_shared<std::string>();
  auto languages = std::make_shared<std::vector<std::string>>();
  cmd->add_option("project", *file, "Project file (*.dmoe.json)")->required();
  cmd->add_option("--languages", *languages,
                  "Comma-separated language ids to probe (default: the adaptation languages — adaptation.languages, "
                  "or every new language). Any language of the project whose token shards exist may be probed, "
                  "not only new ones")
      ->delimiter(',');
  cmd->callback([&ctx, file, languages] {
    Project project = Project::load(*file);
    const auto lock = lockRunsFolder(project.runsDir());
    Reporter r = ctx.reporter("probe");
    for (const Problem& w : project.warnings) r.warning(w.message, w.where);
    configureCompute(project);
    Json result = endingStageOnThrow(r, [&] { return runProbe(project, r, *languages); });
    std::ostream& out = ctx.out();
    out << std::left << std::setw(12) << "language" << std::right << std::setw(6) << "docs";
    for (size_t e = 0; e < result["experts"].size(); ++e) out << std::setw(12) << ("expert " + std::to_string(e));
    out << std::setw(8) << "best" << '\n' << std::fixed << std::setprecision(2);
    for (const auto& [id, row] : result["languages"].items()) {
      out << std::left << std::setw(12) << id << std::right << std::setw(6) << row["documents"].get<std::int64_t>();
      for (const Json& ppl : row["ppl_per_expert"]) out << std::setw(12) << ppl.get<double>();
      out << std::setw(8) << row["best_expert"].get<std::int64_t>() << '\n';
    }
    for (size_t e = 0; e < result["experts"].size(); ++e) {
      out << "expert " << e << ":";
      for (const Json& id : result["experts"][e]) out << ' ' << id.get<std::string>();
      out << '\n';
    }
  });
}

}  // namespace dmoe::cli
