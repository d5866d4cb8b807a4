// `dmoe parity <checkpoint dir>`: the workbench's logits, loss and gradient
// norms against a reference recorded by another implementation
// (train/parity.h), one row per quantity with max |diff|, the failing rows
// listed first — or, with --record, the workbench's own outputs written in
// that format.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <map>
#include <sstream>

#include "cli_context.h"
#include "train/parity.h"
#include "runtime/device.h"
#include "text_table.h"

namespace fs = std::filesystem;

namespace dmoe::cli {

namespace {

std::string number(double v, int digits = 6) {
  std::ostringstream s;
  s << std::setprecision(digits) << v;
  return s.str();
}

Json toJson(const ParityReport& report) {
  Json rows = Json::array();
  for (const ParityRow& r : report.rows) {
    Json row{{"quantity", r.quantity}, {"reference", r.reference}, {"actual", r.actual},
             {"max_abs_diff", r.maxAbsDiff}, {"ok", r.ok}};
    row["relative"] = std::isfinite(r.relative) ? Json(r.relative) : Json(nullptr);
    if (!r.note.empty()) row["note"] = r.note;
    rows.push_back(row);
  }
  Json json{{"tolerance", report.tolerance}, {"ok", report.ok()}, {"failures", report.failures()}, {"rows", rows}};
  if (std::isfinite(report.minRouterMargin)) json["min_router_margin"] = report.minRouterMargin;
  return json;
}

// The rows as a table; `failingOnly`: just those outside the tolerance.
void printRows(std::ostream& out, const ParityReport& report, bool failingOnly) {
  std::vector<std::vector<std::string>> rows{{"quantity", "reference", "workbench", "max |diff|", "relative", ""}};
  for (const ParityRow& r : report.rows)
    if (!failingOnly || !r.ok)
      rows.push_back({r.quantity, r.note.empty() ? number(r.reference) : "", r.note.empty() ? number(r.actual) : "",
                      r.note.empty() ? number(r.maxAbsDiff, 3) : "", r.note.empty() ? number(r.relative, 3) : "",
                      r.ok ? "ok" : "FAIL" + (r.note.empty() ? std::string() : ": " + r.note)});
  printTable(out, rows, 1);
}

// "logits, loss, grad_norm/… and 4 more": the failing quantities for the error line.
std::string failingNames(const ParityReport& report, std::size_t shown = 3) {
  std::vector<std::string> names;
  for (const ParityRow& r : report.rows)
    if (!r.ok) names.push_back(r.quantity);
  std::string text;
  for (std::size_t i = 0; i < std::min(shown, names.size()); ++i) text += (i == 0 ? "" : ", ") + names[i];
  if (names.size() > shown) text += " and " + std::to_string(names.size() - shown) + " more";
  return text;
}

// The failing rows first (a long table hides them), then every row, then the verdict.
void printReport(std::ostream& out, const ParityReport& report) {
  if (!report.ok()) {
    out << "failing (" << report.failures() << " of " << report.rows.size() << "):\n";
    printRows(out, report, true);
    out << "\nall quantities:\n";
  }
  printRows(out, report, false);
  out << (report.ok() ? "parity: all " : "parity: " + std::to_string(report.failures()) + " of ")
      << report.rows.size() << " quantities within " << number(report.tolerance, 3)
      << " (logits: max |diff| / max |reference|; loss, gradient norms: |diff| / |reference|)\n";
  if (std::isfinite(report.minRouterMargin))
    out << "router: smallest top-k margin " << number(report.minRouterMargin, 3)
        << (report.minRouterMargin < 1e-6 ? " (a near tie: a routing difference would explain large differences)" : "")
        << "\n";
}

}  // namespace

void addParityCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand(
      "parity", "Compare the workbench's logits, loss and gradient norms on a checkpoint with a reference "
                "recorded by another implementation (e.g. transformers), per tensor");
  cmd->footer(
      "The reference (default <checkpoint>/expected.safetensors, format dmoe-hf-fixture/1, made by\n"
      "scripts/device/make_hf_fixtures.py) holds input_ids [B,T], logits [B,T,V], loss (the token mean of\n"
      "-log p(id[t+1] | ids[..t]), transformers' loss with labels = ids) and grad_norm/<tensor> per checkpoint\n"
      "tensor. The workbench loads the folder as every stage does, runs those ids in fp32, backpropagates the\n"
      "loss, and prints max |diff| per quantity, the failing ones first. Exit 0 when every quantity is within the\n"
      "tolerance, 1 when not.\n"
      "--record FILE writes the workbench's own outputs in that format instead: ids drawn with --seed, the\n"
      "pad id left out; for a mixture of experts the first seed from --seed on whose every top-k router\n"
      "choice wins by at least 1e-3 in probability (as make_hf_fixtures.py), so no rounding flips a route.");
  auto dir = std::make_shared<std::string>(), expected = std::make_shared<std::string>();
  auto record = std::make_shared<std::string>(), device = std::make_shared<std::string>("cpu");
  auto tolerance = std::make_shared<double>(1e-4);
  auto batch = std::make_shared<std::int64_t>(2), seq = std::make_shared<std::int64_t>(12);
  auto seed = std::make_shared<std::uint64_t>(1000);
  cmd->add_option("checkpoint", *dir, "Hugging Face checkpoint folder")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--expected", *expected, "Reference file (default <checkpoint>/expected.safetensors)");
  cmd->add_option("--device", *device, "cpu, cuda or auto")->capture_default_str();
  cmd->add_option("--tolerance", *tolerance, "Largest relative difference accepted")
      ->check(CLI::PositiveNumber)->capture_default_str();
  auto* rec = cmd->add_option("--record", *record, "Write the workbench's outputs to this file instead of comparing");
  cmd->add_option("--batch", *batch, "Rows of ids drawn for --record")->check(CLI::Range(1, 64))->capture_default_str()->needs(rec);
  cmd->add_option("--seq", *seq, "Positions per row for --record")->check(CLI::Range(2, 4096))->capture_default_str()->needs(rec);
  cmd->add_option("--seed", *seed, "First seed tried for the ids of --record")->capture_default_str()->needs(rec);
  cmd->callback([&ctx, dir, expected, record, device, tolerance, batch, seq, seed] {
    Reporter r = ctx.reporter("parity");
    r.started();
    endingStageOnThrow(r, [&] {
      const std::string where = resolveDevice(*device);
      if (!record->empty()) {
        const ParityIds ids = drawParityIds(*dir, *batch, *seq, *seed);
        const bool routed = std::isfinite(ids.minRouterMargin);
        if (routed && ids.minRouterMargin < kParityRouterMargin)
          r.warning("no seed from " + std::to_string(*seed) + " gives every token's top-k router choice a margin of " +
                    number(kParityRouterMargin, 3) + "; the best (seed " + std::to_string(ids.seed) + ") has " +
                    number(ids.minRouterMargin, 3) + ": another implementation may route some token differently");
        const ParityOutputs outputs = computeParityOutputs(*dir, ids.ids, where);
        std::map<std::string, std::string> metadata{
            {"made_by", "dmoe parity --record"}, {"device", where}, {"seed", std::to_string(ids.seed)}};
        if (routed) metadata["min_router_margin"] = number(ids.minRouterMargin, 6);
        writeParityOutputs(*record, outputs, metadata);
        r.artifact(*record, "parity reference");
        Json result{{"recorded", *record}, {"seed", ids.seed}, {"loss", outputs.loss}, {"tensors", outputs.gradNorms.size()}};
        if (routed) result["min_router_margin"] = ids.minRouterMargin;
        r.result("parity", result);
        r.finished("done");
        ctx.out() << "wrote " << *record << ": ids of seed " << ids.seed << ", loss " << number(outputs.loss, 8) << ", "
                  << outputs.gradNorms.size() << " gradient norms"
                  << (routed ? ", smallest router top-k margin " + number(ids.minRouterMargin, 3) : std::string()) << "\n";
        return;
      }
      const ParityReport report = checkParity(*dir, where, *tolerance, *expected);
      r.result("parity", toJson(report));
      printReport(ctx.out(), report);
      if (!report.ok())
        throw std::runtime_error("parity: " + std::to_string(report.failures()) + " of " +
                                 std::to_string(report.rows.size()) + " quantities outside " + number(*tolerance, 3) +
                                 ": " + failingNames(report));
      r.finished("done");
    });
  });
}

}  // namespace dmoe::cli
