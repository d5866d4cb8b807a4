// `dmoe routing <project> [--model DIR]`: where the trained mixture of experts
// sends each language's held-out tokens, per MoE layer (stages/routing_stats.h);
// the table the Routing tab shows.
#include <iomanip>

#include "cli_context.h"
#include "project/project.h"
#include "runtime/device.h"
#include "stages/routing_stats.h"
#include "runtime/runs_lock.h"

namespace dmoe::cli {

void addRoutingCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "routing", "Share of each language's held-out tokens that the trained MoE routes to each expert, per MoE layer");
  cmd->footer(
      "Reads <runs_dir>/train/model (made by `dmoe train`) or --model (e.g. runs/…/layermoe/layer-wise/model),\n"
      "writes <runs_dir>/routing/<model>.json, named by the model folder (train.json, layermoe-layer-wise.json, …):\n"
      "  {\"model\", \"layers\": [MoE layers], \"experts\": [per layer], \"languages\", \"labels\", \"new\", \"tokens\",\n"
      "   \"top1\": [layer][language][expert] share of tokens whose largest router probability is the expert,\n"
      "   \"probability\": [layer][language][expert] mean router probability}\n"
      "Learned (soft) routing; documents as the evaluation reads them.");
  auto file = std::make_shared<std::string>();
  auto model = std::make_shared<std::string>();
  cmd->add_option("project", *file, "Project file (*.dmoe.json)")->required();
  cmd->add_option("--model", *model, "A mixture-of-experts model folder (DMoE, adaptation, LayerMoE) instead of <runs_dir>/train/model")->check(CLI::ExistingDirectory);
  cmd->callback([&ctx, file, model] {
    Project project = Project::load(*file);
    const auto lock = lockRunsFolder(project.runsDir());
    Reporter r = ctx.reporter("routing");
    for (const Problem& w : project.warnings) r.warning(w.message, w.where);
    configureCompute(project);
    const RoutingTable t = endingStageOnThrow(r, [&] { return runRouting(project, r, *model); });
    std::ostream& out = ctx.out();
    out << std::fixed << std::setprecision(0);
    for (size_t m = 0; m < t.layers.size(); ++m) {
      out << "layer " << t.layers[m] << ", % of tokens to each expert (top-1):\n" << std::left << std::setw(12) << "language";
      for (std::int64_t e = 0; e < t.experts[m]; ++e) out << std::right << std::setw(6) << e;
      out << '\n';
      for (size_t a = 0; a < t.languages.size(); ++a) {
        out << std::left << std::setw(12) << t.labels[a] << std::right;
        for (double share : t.top1[m][a]) out << std::setw(6) << 100 * share;
        out << '\n';
      }
    }
  });
}

}  // namespace dmoe::cli
