// `dmoe export <model dir> <out dir> [--format qwen2-moe]`: a DMoE model as a
// Hugging Face Qwen2-MoE checkpoint that other tools load (model/moe_export.h).
#include "cli_context.h"
#include "model/moe_export.h"

namespace dmoe::cli {

void addExportCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("export", "Write a DMoE model as a Hugging Face Qwen2-MoE checkpoint (transformers loads it)");
  cmd->footer(
      "Llama- and Qwen2-family DMoE models (and LayerMoE models with one expert count and no classifier)\n"
      "export exactly: the same logits (zero q/k/v biases for a Llama base; the mandatory shared expert with\n"
      "all-zero weights). BLOOM and Gemma bases, and LayerMoE classifiers, are refused with the reason.");
  auto model = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  auto format = std::make_shared<std::string>("qwen2-moe");
  auto shardMb = std::make_shared<std::uint64_t>(5000);
  cmd->add_option("model", *model, "The DMoE model folder (e.g. runs/<project>/train/model)")->required()->check(CLI::ExistingDirectory);
  auto force = std::make_shared<bool>(false);
  cmd->add_option("out", *out,
                  "The folder to write: created, or replaced whole (atomically) when it holds an earlier export of dmoe; "
                  "any other non-empty folder is refused")
      ->required();
  cmd->add_flag("--force", *force,
                "Write into a non-empty folder dmoe did not export: that folder is kept whole, renamed to "
                "<out>.before-dmoe-<n>, never deleted");
  cmd->add_option("--format", *format, "Checkpoint format")->check(CLI::IsMember({"qwen2-moe"}))->capture_default_str();
  cmd->add_option("--shard-mb", *shardMb, "Shard the weights above this many MB, with an index")->capture_default_str();
  cmd->callback([&ctx, model, out, shardMb, force] {
    Reporter r = ctx.reporter("export");
    r.started();
    const MoeExportReport report = exportQwen2Moe(*model, *out, *shardMb * 1'000'000, *force);
    if (report.setAside) r.warning(*out + " held files dmoe had not written: kept whole as " + report.setAside->string(), "");
    r.artifact(*out, "model");
    r.result("export", Json{{"out", *out}, {"format", "qwen2-moe"}, {"tensors", report.tensors},
                            {"added_tensors", report.addedTensors}, {"moe_layers", report.moeLayers},
                            {"experts", report.experts}});
    r.finished("done");
    ctx.out() << "wrote " << *out << " (Qwen2-MoE): " << report.moeLayers << " MoE layers of " << report.experts
              << " experts, " << report.tensors << " tensors (" << report.addedTensors
              << " zero-filled: q/k/v biases, shared expert)\n";
  });
}

}  // namespace dmoe::cli
