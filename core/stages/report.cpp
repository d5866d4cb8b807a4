// The report stage (`dmoe report`): one Markdown and one JSON report of a
// project's results, laid out like the paper's tables: the groups with their
// minimum similarity, the selected layers, total/active parameters, the PPL
// table (methods × languages + average) and the adaptation results. Reads the
// other stages' outputs only; a stage that has not run is left out with a note.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "pipeline/stage_folder.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

Json readIfComplete(const fs::path& dir, const std::string& file) {
  if (!fs::exists(dir / "manifest.json") || !fs::exists(dir / file)) return Json();
  return readJsonFile(dir / file);
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "–";
  std::ostringstream s;
  s << std::fixed << std::setprecision(digits) << v;
  return s.str();
}

std::string millions(std::int64_t n) { return fixed(static_cast<double>(n) / 1e6, 2) + " M"; }

// The "languages" rows of a perplexity table → id → PPL.
std::map<std::string, double> pplOf(const Json& table) {
  std::map<std::string, double> out;
  if (!table.is_object()) return out;
  for (const Json& row : table.value("languages", Json::array()))
    if (row.contains("ppl") && row["ppl"].is_number()) out[row["language"].get<std::string>()] = row["ppl"].get<double>();
  return out;
}

// deviation.json's "stationarity" (null when the stage has not run or did not record it).
Json stationarityOf(const Project& project) {
  const Json deviation = readIfComplete(stageDir(project, "deviation"), "deviation.json");
  return deviation.is_object() && deviation.contains("stationarity") ? deviation["stationarity"] : Json();
}

std::string stationarityLine(const Json& s) {
  if (!s.is_object() || !s.contains("r") || !s["r"].is_number()) return {};
  std::string layers;
  if (s.contains("layers") && s["layers"].is_array())
    for (const Json& l : s["layers"]) layers += (layers.empty() ? "" : ", ") + l.dump();
  std::string line = "Stationarity of the base on the continual data: r = " + fixed(s["r"].get<double>(), 2) +
                     " (FFN gradients, layers " + layers + ")";
  if (!s.contains("r_orthogonal") || !s["r_orthogonal"].is_number()) return line + ".\n\n";
  return line + "; independent, orthogonal pulls would give " + fixed(s["r_orthogonal"].get<double>(), 2) +
         ". Above that the languages' continual data pulls the base the same way; below it the pulls cancel and "
         "the deviations mostly measure competition between languages.\n\n";
}

}  // namespace

std::string runReport(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const fs::path dir = stageDir(project, "report");
  Json inputs = Json::object();
  for (const char* stage : {"deviation", "group", "select-layers", "eval", "baselines/dense-continue/eval",
                            "baselines/random-groups/eval", "baselines/branch-train-mix/eval", "adapt"})
    inputs[stage] = fs::exists(stageDir(project, stage) / "manifest.json")
                        ? Json(StageFolder::fingerprint(stageDir(project, stage), "dmoe run"))
                        : Json();
  const Json stationarity = stationarityOf(project);
  inputs["stationarity"] = stationarity;  // added to deviation.json by a later run: not in its manifest
  StageFolder folder(dir, inputs);
  if (!force && folder.upToDate() && fs::exists(dir / "report.md")) {
    reporter.log("report is up to date: " + (dir / "report.md").string());
    reporter.finished("skipped");
    return readFile(dir / "report.md");
  }
  folder.begin(force, reporter);

  const Json groups = readIfComplete(stageDir(project, "group"), "groups.json");
  const Json selection = readIfComplete(stageDir(project, "select-layers"), "selection.json");
  const Json eval = readIfComplete(stageDir(project, "eval"), "perplexity.json");
  const Json dense = readIfComplete(stageDir(project, "baselines/dense-continue/eval"), "perplexity.json");
  const Json random = readIfComplete(stageDir(project, "baselines/random-groups/eval"), "perplexity.json");
  const Json btm = readIfComplete(stageDir(project, "baselines/branch-train-mix/eval"), "perplexity.json");
  const Json adaptation = readIfComplete(stageDir(project, "adapt"), "adaptation.json");
  auto label = [&](const std::string& id) {
    const Language* l = project.findLanguage(id);
    return l ? l->label() : id;
  };

  std::ostringstream md;
  md << "# " << (project.name.empty() ? project.file.filename().string() : project.name) << " — DMoE report\n\n";

  md << stationarityLine(stationarity);
  md << "## Groups\n\n";
  if (groups.is_object()) {
    md << "Method: " << groups["method"].get<std::string>();
    if (groups["method_used"] != groups["method"]) md << " (fell back to " << groups["method_used"].get<std::string>() << ")";
    md << "\n\n| expert | languages | min similarity |\n|---:|---|---:|\n";
    for (const Json& g : groups["groups"]) {
      std::string members;
      for (const Json& id : g["languages"]) members += (members.empty() ? "" : " ") + label(id.get<std::string>());
      md << "| " << g["expert"].get<int>() << " | " << members << " | " << fixed(g["min_similarity"].get<double>(), 3) << " |\n";
    }
  } else {
    md << "_The group stage has not run._\n";
  }

  md << "\n## Expanded layers\n\n";
  if (selection.is_object()) {
    std::string layers;
    for (const Json& l : selection["layers"]) layers += (layers.empty() ? "" : ", ") + std::to_string(l.get<int>());
    const Json& p = selection["parameters"];
    md << "ε = " << selection["epsilon"].get<double>() << " (" << selection["mode"].get<std::string>() << "): layers "
       << (layers.empty() ? "none" : layers) << " of " << selection["scores"].size() << ", "
       << selection["experts"].get<int>() << " experts each, top-" << selection["top_k"].get<int>() << " routing.\n\n"
       << "| parameters | count |\n|---|---:|\n"
       << "| base model | " << millions(p["base"].get<std::int64_t>()) << " |\n"
       << "| DMoE total | " << millions(p["total"].get<std::int64_t>()) << " |\n"
       << "| DMoE active per token | " << millions(p["active"].get<std::int64_t>()) << " |\n";
  } else {
    md << "_The select-layers stage has not run._\n";
  }

  // PPL table: methods × languages + average, as the paper's Table 1.
  md << "\n## Held-out perplexity\n\n";
  struct Row {
    std::string method;
    std::map<std::string, double> ppl;
  };
  std::vector<Row> rows;
  if (eval.is_object()) rows.push_back({"Base", pplOf(eval["base"])});
  if (dense.is_object()) rows.push_back({"+Pre-train (dense-continue)", pplOf(dense["dense"])});
  if (random.is_object()) rows.push_back({"DMoE, random groups", pplOf(random["soft"])});
  if (btm.is_object() && project.baselines.branch_train_mix)
    rows.push_back({"DMoE, Branch-Train-Mix init", pplOf(btm["soft"])});
  if (eval.is_object()) {
    rows.push_back({"DMoE", pplOf(eval["soft"])});
    rows.push_back({"DMoE, group-oracle routing", pplOf(eval["hard"])});
  }
  Json pplJson = Json::array();
  if (rows.empty()) {
    md << "_The eval stage has not run._\n";
  } else {
    md << "| method |";
    for (const Language& l : project.languages) md << ' ' << l.label() << " |";
    md << " Avg. |\n|---|";
    for (size_t i = 0; i <= project.languages.size(); ++i) md << "---:|";
    md << '\n';
    for (const Row& r : rows) {
      md << "| " << r.method << " |";
      double sum = 0;
      int n = 0;
      Json values = Json::object();
      for (const Language& l : project.languages) {
        auto it = r.ppl.find(l.id);
        md << ' ' << (it == r.ppl.end() ? "–" : fixed(it->second, 1)) << " |";
        if (it != r.ppl.end()) sum += it->second, ++n, values[l.id] = it->second;
      }
      const double average = n ? sum / n : NAN;
      md << " **" << fixed(average, 1) << "** |\n";
      pplJson.push_back({{"method", r.method}, {"ppl", values}, {"average", n ? Json(average) : Json()}});
    }
    md << "\nPPL = exp(Σ NLL / Σ tokens) per language on its held-out documents; Avg. = mean of the languages' PPL. "
          "All trained methods see the same number of training tokens.\n";
  }

  md << "\n## New-language adaptation\n\n";
  if (adaptation.is_object()) {
    md << "| new language | nearest expert | probe PPL (best) | PPL before (learned router) | PPL after (own expert) | "
          "after (learned router) |\n|---|---:|---:|---:|---:|---:|\n";
    for (const Json& row : adaptation["languages"]) {
      if (!row["new"].get<bool>()) continue;
      const std::string id = row["language"].get<std::string>();
      const Json& p = adaptation["probe"][id];
      const auto& perExpert = p["ppl_per_expert"];
      md << "| " << label(id) << " | " << p["best_expert"].get<int>() << " | "
         << fixed(perExpert[p["best_expert"].get<size_t>()].get<double>(), 1) << " | "
         << (row["soft_before"].is_number() ? fixed(row["soft_before"].get<double>(), 1) : "–") << " | "
         << (row["hard_after"].is_number() ? fixed(row["hard_after"].get<double>(), 1) : "–") << " | "
         << (row["soft_after"].is_number() ? fixed(row["soft_after"].get<double>(), 1) : "–") << " |\n";
    }
    md << "\nNew experts:";
    for (const Json& e : adaptation["new_experts"]) {
      std::string members;
      for (const Json& id : e["languages"]) members += (members.empty() ? "" : " ") + label(id.get<std::string>());
      md << " expert " << e["expert"].get<int>() << " = copy of " << e["copied_from"].get<int>() << " for {" << members << "};";
    }
    // Tokens the learned router sends top-1 to each new expert (SPEC 1.8 step 3).
    md << "\n\nLearned router, share of a new language's held-out tokens routed top-1 to its new expert (over MoE layers):";
    for (const Json& e : adaptation["new_experts"]) {
      const Json shares = e.value("learned_router_top1_share", Json::object());
      for (const auto& [id, share] : shares.items()) md << " " << label(id) << " " << fixed(100 * share.get<double>(), 0) << " %;";
    }
    md << "\n\nOld languages: " << adaptation["frozen_tensors_checked"].get<std::int64_t>()
       << " frozen tensors verified bit-identical after training; hard-routed PPL "
       << (adaptation["old_hard_ppl_unchanged"].get<bool>() ? "unchanged" : "CHANGED") << "; learned-router average PPL "
       << fixed(adaptation["soft_average_before"].get<double>(), 2) << " → "
       << fixed(adaptation["soft_average_after"].get<double>(), 2) << ".\n";
  } else {
    md << "_The adapt stage has not run (or the project has no new languages)._\n";
  }

  const std::string markdown = md.str();
  const Json report{{"project", project.name}, {"stationarity", stationarity}, {"groups", groups}, {"selection", selection},
                    {"perplexity", pplJson}, {"adaptation", adaptation}};
  writeFileAtomic(dir / "report.md", markdown);
  writeFileAtomic(dir / "report.json", report.dump(1) + "\n");
  reporter.artifact(dir / "report.md", "report");
  reporter.result("report", report);
  folder.complete();
  reporter.finished("done");
  return markdown;
}

}  // namespace dmoe
