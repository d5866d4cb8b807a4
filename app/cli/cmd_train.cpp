// `dmoe pretrain <project>`: train the small base model from scratch.
// `dmoe eval-ppl <project> [--model DIR]`: held-out perplexity per language.
#include <cmath>
#include <iomanip>

#include "cli_context.h"
#include "project/project.h"
#include "runtime/device.h"
#include "stages/dmoe_variant.h"
#include "train/heldout_perplexity.h"
#include "model/load_model.h"
#include "stages/pretrain.h"
#include "runtime/runs_lock.h"

namespace dmoe::cli {

namespace {

Project loadProject(const std::string& file, Reporter& r) {
  Project p = Project::load(file);
  for (const Problem& w : p.warnings) r.warning(w.message, w.where);
  configureCompute(p);
  return p;
}

}  // namespace

void addTrainCommands(CLI::App& app, CliContext& ctx) {
  auto* pretrain = app.add_subcommand(
      "pretrain", "Pretrain the project's small Llama-family base model on its languages (not the new ones, kept unseen for adaptation; base_model.kind pretrain)");
  pretrain->footer("Writes <runs_dir>/pretrain/: metrics.jsonl, checkpoints/step-N/, model/ (a Hugging Face checkpoint).");
  auto file = std::make_shared<std::string>();
  auto options = std::make_shared<PretrainOptions>();
  pretrain->add_option("project", *file, "Project file (*.dmoe.json)")->required();
  pretrain->add_flag("--resume", options->resume, "Continue from the newest complete checkpoint of an interrupted run");
  pretrain->add_flag("--force", options->force, "Delete the earlier run folder and train from scratch");
  pretrain->add_option("--log-every", options->logEvery, "Report metrics every N steps")->check(CLI::PositiveNumber);
  pretrain->callback([&ctx, file, options] {
    Reporter r = ctx.reporter("pretrain");
    Project p = loadProject(*file, r);
    const auto lock = lockRunsFolder(p.runsDir());
    const std::filesystem::path model = endingStageOnThrow(r, [&] { return runPretrain(p, r, *options); });
    ctx.out() << "model: " << model.string() << '\n';
  });

  auto* eval = app.add_subcommand("eval-ppl", "Held-out perplexity per language (sliding window, SPEC 1.7)");
  auto evalFile = std::make_shared<std::string>();
  auto modelDir = std::make_shared<std::string>();
  eval->add_option("project", *evalFile, "Project file (*.dmoe.json)")->required();
  eval->add_option("--model", *modelDir, "Checkpoint folder to evaluate (default: <runs_dir>/pretrain/model)");
  auto routing = std::make_shared<std::string>("soft");
  eval->add_option("--routing", *routing,
                   "DMoE models: soft (the learned router, top-k) or hard (each language to its group's expert; "
                   "languages without one are left out)")
      ->check(CLI::IsMember({"soft", "hard"}));
  eval->callback([&ctx, evalFile, modelDir, routing] {
    Reporter r = ctx.reporter("eval-ppl");
    Project p = loadProject(*evalFile, r);
    const auto lock = lockRunsFolder(p.runsDir());
    std::filesystem::path dir = modelDir->empty() ? pretrainedModelDir(p) : std::filesystem::path(*modelDir);
    r.started({{"model", dir.string()}});
    auto model = loadCausalLM(dir, resolveDevice(p.device));
    std::function<bool(const Language&)> route;
    if (*routing == "hard") {
      const auto layout = readMoeLayout(model->config(), (dir / "config.json").string());
      if (!layout) throw InputError(dir.string() + ": --routing hard needs a DMoE model (config.json has no \"dmoe\" section)");
      route = [&, layout](const Language& l) { return routeLanguageHard(*model, *layout, l.id); };
    }
    const HeldoutPerplexity table = endingStageOnThrow(r, [&] { return evaluateHeldoutPerplexity(p, *model, r, route); });
    std::ostream& out = ctx.out();
    out << std::left << std::setw(12) << "language" << std::right << std::setw(8) << "docs" << std::setw(10)
        << "tokens" << std::setw(12) << "PPL" << '\n';
    out << std::fixed << std::setprecision(2);
    for (const LanguagePerplexity& l : table.languages) {
      out << std::left << std::setw(12) << (l.label + (l.isNew ? "*" : "")) << std::right << std::setw(8)
          << l.documents << std::setw(10) << l.total.tokens << std::setw(12);
      if (l.total.tokens > 0)
        out << l.total.perplexity() << '\n';
      else
        out << "–" << "  (not scored: no expert for it under hard routing)\n";
    }
    out << std::left << std::setw(30) << "average (languages)" << std::right << std::setw(12) << table.average << '\n';
    if (!std::isnan(table.newAverage))
      out << std::left << std::setw(30) << "average (new languages *)" << std::right << std::setw(12)
          << table.newAverage << '\n';
    for (const auto& [tier, ppl] : table.tierAverages)
      out << std::left << std::setw(30) << ("average (tier " + tier + ")") << std::right << std::setw(12) << ppl << '\n';
    r.finished("done");
  });
}

}  // namespace dmoe::cli
