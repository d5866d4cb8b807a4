// The report stage (`dmoe report`): one Markdown and one JSON report of a
// project's results, laid out like the paper's tables: the groups with their
// minimum similarity, the selected layers, total/active parameters, the PPL
// table (methods × languages + average) and the adaptation results. Reads the
// other stages' outputs only; a stage that has not run is left out with a note.
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <optional>
#include <sstream>

#include "results/adaptation_file.h"
#include "results/deviation_file.h"
#include "stages/stage_folder.h"
#include "stages/stage_inputs.h"
#include "stages/stages.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// A stage's result file when the stage completed (its folder has a manifest).
bool complete(const fs::path& file) {
  return fs::exists(file.parent_path() / "manifest.json") && fs::exists(file);
}

Json readIfComplete(const fs::path& file) { return complete(file) ? readJsonFile(file) : Json(); }

template <class T>
std::optional<T> readIfComplete(const fs::path& file) {
  return complete(file) ? std::optional<T>(T::read(file)) : std::nullopt;
}

std::string millions(std::int64_t n) { return fixedDecimals(static_cast<double>(n) / 1e6, 2) + " M"; }

// The "languages" rows of a perplexity table → id → PPL.
std::map<std::string, double> pplOf(const Json& table) {
  std::map<std::string, double> out;
  if (!table.is_object()) return out;
  for (const Json& row : table.value("languages", Json::array()))
    if (row.contains("ppl") && row["ppl"].is_number()) out[row["language"].get<std::string>()] = row["ppl"].get<double>();
  return out;
}

// deviation.json's stationarity diagnostic (none when the stage has not run or did not record it).
std::optional<DeviationTable::Stationarity> stationarityOf(const Project& project) {
  const auto deviation = readIfComplete<DeviationTable>(project.layout().deviationFile());
  return deviation ? deviation->stationarity : std::nullopt;
}

// The three baselines' evaluation folders.
std::vector<fs::path> baselineEvalDirs(const RunLayout& runs) {
  std::vector<fs::path> dirs;
  for (const char* name : {RunLayout::kDenseContinue, RunLayout::kRandomGroups, RunLayout::kBranchTrainMix})
    dirs.push_back(RunLayout(runs.baselineDir(name)).evalDir());
  return dirs;
}

// Writes report.md and report.json from the stages' result files (a stage that has not completed is said so).
void writeReport(const Project& project, const std::optional<DeviationTable::Stationarity>& stationarity,
                 Reporter& reporter) {
  const RunLayout runs = project.layout();
  const fs::path dir = runs.reportDir();
  const std::vector<fs::path> baselineEvals = baselineEvalDirs(runs);
  const fs::path &denseEval = baselineEvals[0], &randomEval = baselineEvals[1], &btmEval = baselineEvals[2];
  const Json stationarityRecord = stationarity ? stationarity->record : Json();
  const auto groups = readIfComplete<LanguageGroups>(runs.groupsFile());
  const auto selection = readIfComplete<LayerSelection>(runs.selectionFile());
  const Json merge = fs::exists(runs.mergeDir() / "manifest.json") ? StageFolder(runs.mergeDir(), Json()).outputs() : Json();
  const Json eval = readIfComplete(RunLayout::perplexityIn(runs.evalDir()));
  const Json dense = readIfComplete(RunLayout::perplexityIn(denseEval));
  const Json random = readIfComplete(RunLayout::perplexityIn(randomEval));
  const Json btm = readIfComplete(RunLayout::perplexityIn(btmEval));
  const auto adaptation = readIfComplete<AdaptationResult>(runs.adaptationFile());
  auto label = [&](const std::string& id) {
    const Language* l = project.findLanguage(id);
    return l ? l->label() : id;
  };

  std::ostringstream md;
  md << "# " << (project.name.empty() ? project.file.filename().string() : project.name) << " — DMoE report\n\n";

  if (stationarity && !stationarity->reading().empty()) md << stationarity->reading() << "\n\n";
  md << "## Groups\n\n";
  if (groups) {
    md << "Method: " << groups->method;
    if (groups->methodUsed != groups->method) md << " (fell back to " << groups->methodUsed << ")";
    md << "\n\n| expert | languages | min similarity |\n|---:|---|---:|\n";
    for (size_t g = 0; g < groups->groups.size(); ++g) {
      std::string members;
      for (const std::string& id : groups->groups[g]) members += (members.empty() ? "" : " ") + label(id);
      md << "| " << g << " | " << members << " | " << fixedDecimals(groups->minSimilarity[g], 3) << " |\n";
    }
  } else {
    md << "_The group stage has not run._\n";
  }

  md << "\n## Expanded layers\n\n";
  if (selection) {
    std::string layers;
    for (std::int64_t l : selection->layers) layers += (layers.empty() ? "" : ", ") + std::to_string(l);
    md << "ε = " << selection->epsilon << " (" << selection->mode << "): layers " << (layers.empty() ? "none" : layers)
       << " of " << selection->scores.size();
    if (merge.contains("parameters")) {  // E, top-k and the counts are the merge's
      const Json& layout = merge.at("layout");
      const Json& p = merge.at("parameters");
      md << ", " << layout.at("num_experts").get<std::int64_t>() << " experts each, top-"
         << layout.at("num_experts_per_tok").get<std::int64_t>() << " routing.\n\n"
         << "| parameters | count |\n|---|---:|\n"
         << "| base model | " << millions(p.at("base").get<std::int64_t>()) << " |\n"
         << "| DMoE total | " << millions(p.at("total").get<std::int64_t>()) << " |\n"
         << "| DMoE active per token | " << millions(p.at("active").get<std::int64_t>()) << " |\n";
    } else if (merge.is_object()) {
      md << ".\n\n_This merge recorded no parameter counts (it predates them): run `dmoe merge --force`._\n";
    } else {
      md << ".\n\n_The merge stage has not run: the experts and parameter counts follow from it._\n";
    }
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
        md << ' ' << (it == r.ppl.end() ? "–" : fixedDecimals(it->second, 1)) << " |";
        if (it != r.ppl.end()) sum += it->second, ++n, values[l.id] = it->second;
      }
      const double average = n ? sum / n : NAN;
      md << " **" << fixedDecimals(average, 1) << "** |\n";
      pplJson.push_back({{"method", r.method}, {"ppl", values}, {"average", n ? Json(average) : Json()}});
    }
    md << "\nPPL = exp(Σ NLL / Σ tokens) per language on its held-out documents; Avg. = mean of the languages' PPL. "
          "All trained methods see the same number of training tokens.\n";
  }

  md << "\n## New-language adaptation\n\n";
  if (adaptation) {
    md << "| new language | nearest expert | probe PPL (best) | PPL before (learned router) | PPL after (own expert) | "
          "after (learned router) |\n|---|---:|---:|---:|---:|---:|\n";
    for (const AdaptationResult::Row& row : adaptation->rows) {
      if (!row.isNew) continue;
      const auto probe = std::find_if(adaptation->probe.begin(), adaptation->probe.end(),
                                      [&](const ProbeTable::Row& p) { return p.language == row.language; });
      if (probe == adaptation->probe.end())
        throw InputError(runs.adaptationFile().string() + ": /probe has no entry for new language '" + row.language + "'");
      md << "| " << label(row.language) << " | " << probe->best << " | "
         << fixedDecimals(probe->ppl[static_cast<size_t>(probe->best)], 1) << " | " << fixedDecimals(row.softBefore, 1) << " | "
         << fixedDecimals(row.hardAfter, 1) << " | " << fixedDecimals(row.softAfter, 1) << " |\n";
    }
    md << "\nNew experts:";
    for (const AdaptationResult::NewExpert& e : adaptation->newExperts) {
      std::string members;
      for (const std::string& id : e.languages) members += (members.empty() ? "" : " ") + label(id);
      md << " expert " << e.expert << " = copy of " << e.copiedFrom << " for {" << members << "};";
    }
    // Tokens the learned router sends top-1 to each new expert (SPEC 1.8 step 3).
    md << "\n\nLearned router, share of a new language's held-out tokens routed top-1 to its new expert (over MoE layers):";
    for (const AdaptationResult::NewExpert& e : adaptation->newExperts)
      for (const auto& [id, share] : e.top1Share) md << " " << label(id) << " " << fixedDecimals(100 * share, 0) << " %;";
    md << "\n\nOld languages: " << adaptation->frozenTensorsChecked
       << " frozen tensors verified bit-identical after training; hard-routed PPL "
       << (adaptation->oldHardUnchanged ? "unchanged" : "CHANGED") << "; learned-router average PPL "
       << fixedDecimals(adaptation->softAverageBefore, 2) << " → " << fixedDecimals(adaptation->softAverageAfter, 2) << ".\n";
  } else {
    md << "_The adapt stage has not run (or the project has no new languages)._\n";
  }

  const std::string markdown = md.str();
  const Json report{{"project", project.name},
                    {"stationarity", stationarityRecord},
                    {"groups", groups ? groups->toJson() : Json()},
                    {"selection", selection ? selection->toJson() : Json()},
                    {"merge", merge},
                    {"perplexity", pplJson}, {"adaptation", adaptation ? adaptation->toJson() : Json()}};
  writeFileAtomic(runs.reportFile(), markdown);
  writeFileAtomic(dir / "report.json", report.dump(1) + "\n");
  reporter.artifact(runs.reportFile(), "report");
  reporter.result("report", report);
}

}  // namespace

std::string runReport(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  const fs::path dir = runs.reportDir();
  std::vector<fs::path> upstream = {runs.deviationDir(), runs.groupDir(), runs.selectionDir(), runs.mergeDir(),
                                    runs.evalDir()};
  for (const fs::path& eval : baselineEvalDirs(runs)) upstream.push_back(eval);
  upstream.push_back(runs.adaptDir());
  Json inputs = Json::object();
  for (const fs::path& stage : upstream)
    inputs[stage.lexically_relative(runs.root()).generic_string()] =
        fs::exists(stage / "manifest.json") ? Json(StageFolder::fingerprint(stage, "dmoe run")) : Json();
  const auto stationarity = stationarityOf(project);
  // Added to deviation.json by a later run, so not in the deviation stage's manifest.
  inputs["stationarity"] = stationarity ? stationarity->record : Json();
  const bool done = StageFolder(dir, inputs).run(force, reporter, "report", runs.reportFile(), [&] {
    writeReport(project, stationarity, reporter);
    return Json::object();
  });
  reporter.finished(done ? "done" : "skipped");
  return readFile(runs.reportFile());
}

}  // namespace dmoe
