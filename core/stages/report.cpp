// The report stage (`dmoe report`): one Markdown and one JSON report of a
// project's results, laid out like the paper's tables: the groups with their
// minimum similarity, the selected layers, total/active parameters, the PPL
// table (methods × languages + average) and the adaptation results. Reads the
// other stages' outputs only; a stage that has not run is left out with a note.
#include <algorithm>
#include <cmath>
#include <functional>
#include <iomanip>
#include <map>
#include <optional>
#include <sstream>

#include "methods/fingerprint_diagnostics.h"
#include "methods/layer_selection.h"
#include "results/adaptation_file.h"
#include "results/deviation_file.h"
#include "results/expansion_file.h"
#include "results/similarity_file.h"
#include "results/report_file.h"
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

// The old languages split by the generation the base model records for them
// (a lifelong LayerMoE project's base: config.json "dmoe"/"generations"); one
// list (all of them) when the base records none.
std::vector<std::vector<Language>> languagesByGeneration(const Project& project, const std::vector<Language>& languages) {
  const fs::path config = baseModelDir(project) / "config.json";
  Json generations;
  if (project.base_model.kind == "checkpoint" && fs::exists(config)) {
    const Json j = readJsonFile(config);
    if (j.is_object() && j.contains("dmoe") && j["dmoe"].is_object()) generations = j["dmoe"].value("generations", Json());
  }
  if (!generations.is_array() || generations.empty()) return {languages};
  std::vector<std::vector<Language>> out(generations.size());
  for (const Language& l : languages)
    for (size_t g = 0; g < generations.size(); ++g)
      if (generations[g].is_array() && std::find(generations[g].begin(), generations[g].end(), Json(l.id)) != generations[g].end())
        out[g].push_back(l);
  return out;
}

// The three baselines' evaluation folders.
std::vector<fs::path> baselineEvalDirs(const RunLayout& runs) {
  std::vector<fs::path> dirs;
  for (const char* name : {RunLayout::kDenseContinue, RunLayout::kRandomGroups, RunLayout::kBranchTrainMix})
    dirs.push_back(RunLayout(runs.baselineDir(name)).evalDir());
  return dirs;
}

// Tokens a trainer run consumed: steps × batch_sequences × seq_len of its settings.json (0 when it has none).
std::int64_t trainedTokens(const fs::path& runDir) {
  if (!fs::exists(runDir / "settings.json")) return 0;
  const Json t = readJsonFile(runDir / "settings.json").value("training", Json::object());
  return t.value("steps", std::int64_t{0}) * t.value("batch_sequences", std::int64_t{0}) * t.value("seq_len", std::int64_t{0});
}

// The LayerMoE expansions the layermoe-train stage completed, by allocation (layer-wise first).
std::vector<std::pair<LayerMoeExpansion, Json>> layerMoeResults(const RunLayout& runs) {
  std::vector<std::pair<LayerMoeExpansion, Json>> out;
  for (const char* name : {"layer-wise", "uniform"}) {
    const fs::path dir = runs.layermoeDir(name);
    const auto expansion = readIfComplete<LayerMoeExpansion>(RunLayout::expansionIn(dir));
    const Json ppl = readIfComplete(RunLayout::perplexityIn(dir / "eval"));
    if (expansion && ppl.is_object()) out.emplace_back(*expansion, ppl.at("soft"));
  }
  return out;
}

// "## Adding the new languages": base, the DMoE's adaptation and LayerMoE (and
// its uniform ablation) on the same new languages: parameters, training
// tokens, and every old and new language's held-out PPL with averages.
Json writeExpansionComparison(const Project& project, const std::optional<AdaptationResult>& adaptation,
                              const Json& eval, const std::optional<LayerSelection>& selection, const Json& merge,
                              std::ostringstream& md) {
  const RunLayout runs = project.layout();
  md << "\n## Adding the new languages: DMoE adaptation vs LayerMoE\n\n";
  struct Method {
    std::string name;
    std::map<std::string, double> ppl;
    std::int64_t newExperts = -1, total = 0, active = 0, tokens = 0;
  };
  std::vector<Method> methods;
  const auto expansions = layerMoeResults(runs);
  const std::int64_t base = selection ? selection->baseParameters
                                      : (expansions.empty() ? 0 : expansions.front().first.baseParameters);
  const std::int64_t baseActive = !selection && !expansions.empty() && expansions.front().first.baseActiveParameters >= 0
                                       ? expansions.front().first.baseActiveParameters
                                       : base;
  if (eval.is_object()) methods.push_back({kBaseMethod, pplOf(eval["base"]), 0, base, baseActive, 0});
  if (adaptation && selection && merge.contains("layout") && eval.contains("soft")) {
    // The adaptation's starting point: the trained DMoE, before any new expert.
    const Json& layout = merge.at("layout");
    const ParameterCounts c = dmoeParameterCounts(
        base, selection->ffnParameters, selection->hiddenSize, static_cast<std::int64_t>(selection->layers.size()),
        layout.at("num_experts").get<std::int64_t>(), layout.at("num_experts_per_tok").get<std::int64_t>());
    methods.push_back({"DMoE (trained; the adaptation's starting point)", pplOf(eval["soft"]), -1, c.total, c.active, 0});
  }
  if (adaptation && selection && merge.contains("layout")) {
    Method m{"DMoE + adaptation (copy the nearest expert)", {}, 0, 0, 0, trainedTokens(runs.adaptDir() / "train")};
    for (const AdaptationResult::Row& row : adaptation->rows)
      if (std::isfinite(row.softAfter)) m.ppl[row.language] = row.softAfter;
    const Json& layout = merge.at("layout");
    const auto experts = layout.at("num_experts").get<std::int64_t>() + static_cast<std::int64_t>(adaptation->newExperts.size());
    const auto layers = static_cast<std::int64_t>(selection->layers.size());
    m.newExperts = static_cast<std::int64_t>(adaptation->newExperts.size()) * layers;
    const ParameterCounts c = dmoeParameterCounts(base, selection->ffnParameters, selection->hiddenSize, layers, experts,
                                                  layout.at("num_experts_per_tok").get<std::int64_t>());
    m.total = c.total;
    m.active = c.active;
    methods.push_back(m);
  }
  for (const auto& [expansion, ppl] : expansions)
    methods.push_back({"LayerMoE, " + expansion.allocation + " allocation", pplOf(ppl), expansion.newExperts(),
                       expansion.parameters.total, expansion.parameters.active,
                       expansion.stage1Tokens + expansion.stage2Tokens});
  if (std::none_of(methods.begin(), methods.end(), [](const Method& m) { return m.newExperts > 0; })) {
    md << "_Neither `dmoe adapt` nor `dmoe layermoe train` has completed._\n";
    return Json();
  }
  const std::vector<Language> fresh = project.adaptationLanguages();
  auto average = [](const Method& m, const std::vector<Language>& languages) {
    double sum = 0;
    int n = 0;
    for (const Language& l : languages)
      if (m.ppl.count(l.id)) sum += m.ppl.at(l.id), ++n;
    return n == static_cast<int>(languages.size()) && n > 0 ? sum / n : NAN;
  };
  md << "| method | new experts | parameters over the base | total | active per token | training tokens | old Avg. PPL | "
        "new Avg. PPL |\n|---|---:|---:|---:|---:|---:|---:|---:|\n";
  Json rows = Json::array();
  for (const Method& m : methods) {
    const double oldAvg = average(m, project.languages), newAvg = average(m, fresh);
    md << "| " << m.name << " | " << (m.newExperts < 0 ? "–" : std::to_string(m.newExperts)) << " | "
       << (base ? millions(m.total - base) : "–") << " | "
       << (m.total ? millions(m.total) : "–") << " | " << (m.active ? millions(m.active) : "–") << " | " << m.tokens
       << " | " << fixedDecimals(oldAvg, 1) << " | " << fixedDecimals(newAvg, 1) << " |\n";
    Json ppl = Json::object();
    for (const auto& [id, value] : m.ppl) ppl[id] = value;
    rows.push_back({{"method", m.name}, {"new_experts", m.newExperts < 0 ? Json() : Json(m.newExperts)}, {"parameters_total", m.total},
                    {"parameters_active", m.active}, {"training_tokens", m.tokens}, {"old_average", numberOrNull(oldAvg)},
                    {"new_average", numberOrNull(newAvg)}, {"ppl", ppl}});
  }
  for (const auto& [expansion, ppl] : expansions) {
    const Method& m = *std::find_if(methods.begin(), methods.end(), [&, &e = expansion](const Method& x) {
      return x.name == "LayerMoE, " + e.allocation + " allocation";
    });
    md << "\nLayerMoE, " << expansion.allocation << ": after stage 1 old Avg. " << fixedDecimals(expansion.stage1OldAverage, 1)
       << ", new Avg. " << fixedDecimals(expansion.stage1NewAverage, 1) << "; after the review stage "
       << fixedDecimals(average(m, project.languages), 1) << " and " << fixedDecimals(average(m, fresh), 1) << " ("
       << expansion.frozenTensorsChecked << " frozen tensors verified bit-identical).\n";
    const std::vector<std::vector<Language>> byGeneration = languagesByGeneration(project, project.languages);
    if (byGeneration.size() < 2) continue;
    const auto baseRow = std::find_if(methods.begin(), methods.end(), [](const Method& x) { return x.name == kBaseMethod; });
    md << "By generation of the old languages (the base's PPL → after this expansion):";
    for (size_t g = 0; g < byGeneration.size(); ++g) {
      std::string ids;
      for (const Language& l : byGeneration[g]) ids += (ids.empty() ? "" : " ") + l.label();
      md << (g ? ";" : "") << " generation " << g << " (" << (g == 0 ? std::to_string(byGeneration[g].size()) + " languages" : ids)
         << ") " << (baseRow == methods.end() ? "–" : fixedDecimals(average(*baseRow, byGeneration[g]), 1)) << " → "
         << fixedDecimals(average(m, byGeneration[g]), 1);
    }
    md << ".\n";
  }
  md << "\nThe adaptation starts from the trained DMoE (its old languages already improved by the DMoE's own "
        "training) and trains one new expert per new group in every MoE layer; LayerMoE starts from the base and trains "
        "N_i − 1 new experts per layer (stage 1), then only the routers with old-language replay and LPR (stage 2). "
        "Compare each method's old languages with its own starting point. New experts are counted per layer; training "
        "tokens are those spent on adding the new languages. Learned-router PPL throughout.\n\n";
  std::vector<Language> all = project.languages;
  all.insert(all.end(), fresh.begin(), fresh.end());
  md << "| method |";
  for (size_t i = 0; i < all.size(); ++i) md << ' ' << all[i].label() << (i >= project.languages.size() ? " (new)" : "") << " |";
  md << "\n|---|";
  for (size_t i = 0; i < all.size(); ++i) md << "---:|";
  md << '\n';
  for (const Method& m : methods) {
    md << "| " << m.name << " |";
    for (const Language& l : all) md << ' ' << (m.ppl.count(l.id) ? fixedDecimals(m.ppl.at(l.id), 1) : "–") << " |";
    md << '\n';
  }
  return rows;
}

// The "Fingerprints" section: the similarity stage's reading, each
// language's split-half reliability and each labelling's family score.
void writeFingerprints(const SimilarityResult& similarity, const std::function<std::string(const std::string&)>& label,
                       std::ostringstream& md) {
  md << "## Fingerprints\n\nSource: " << similarity.source << " (similarity.source).";
  const std::string reading = similarity.reading();
  if (!reading.empty()) md << " " << reading;
  md << "\n\n";
  if (similarity.splitHalf) {
    const SplitHalf& h = *similarity.splitHalf;
    md << "| language | split-half cosine | own half nearest |\n|---|---:|:---:|\n";
    for (size_t i = 0; i < similarity.languages.size(); ++i)
      md << "| " << label(similarity.languages[i]) << " | " << fixedDecimals(h.reliability[i], 3) << " | "
         << (h.ownHalfNearest[i] ? "yes" : "no") << " |\n";
    md << "\n";
  }
  if (!similarity.families.empty()) {
    md << "| labelling | within | across | within − across | p | relatives on top | by chance | ARI of the tree |\n"
          "|---|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const FamilyScore& f : similarity.families)
      md << "| " << f.labelling << " | " << fixedDecimals(f.within, 3) << " | " << fixedDecimals(f.across, 3) << " | "
         << fixedDecimals(f.gap, 3) << " | " << fixedDecimals(f.pValue, 4) << " | " << f.relativesOnTop << " of "
         << f.withRelatives << " | " << fixedDecimals(f.relativesOnTopByChance, 1) << " | " << fixedDecimals(f.clusterAri, 2)
         << " |\n";
    md << "\n";
  }
}

// The adjusted Rand index of the groups against each labelling the
// similarity stage scored (its languages and labels), by name.
std::map<std::string, double> groupsAri(const LanguageGroups& groups, const SimilarityResult& similarity) {
  std::map<std::string, double> out;
  std::vector<int> expert;
  for (const std::string& id : similarity.languages) expert.push_back(static_cast<int>(groups.expertOf(id)));
  for (const FamilyScore& f : similarity.families) out[f.labelling] = adjustedRandIndex(expert, classIds(f.labels));
  return out;
}

// report.json's "fingerprints": the diagnostics without the matrices, and the groups' ARI.
Json fingerprintsJson(const SimilarityResult& similarity, const std::optional<LanguageGroups>& groups) {
  Json j = similarity.toJson();
  Json out{{"source", similarity.source}, {"reading", similarity.reading()}};
  if (j.contains("split_half")) {
    j["split_half"].erase("halves");
    out["split_half"] = j["split_half"];
  }
  if (j.contains("families")) out["families"] = j["families"];
  if (groups && !similarity.families.empty()) out["groups_ari"] = groupsAri(*groups, similarity);
  return out;
}

// Which precision computed each stage behind the report's figures, from the
// precision its manifest records ("bf16", or none for fp32): {folder: "bf16" | "fp32"}
// of those that completed, in pipeline order; a manifest that cannot be read is left out.
Json stagePrecisions(const RunLayout& runs) {
  std::vector<fs::path> stages{runs.pretrainDir(), runs.deviationDir(), runs.similarityDir(), runs.mergeDir(),
                               runs.trainDir(),    runs.evalDir()};
  for (const char* name : {RunLayout::kDenseContinue, RunLayout::kRandomGroups, RunLayout::kBranchTrainMix}) {
    const RunLayout baseline(runs.baselineDir(name));
    stages.push_back(baseline.trainDir());
    stages.push_back(baseline.evalDir());
  }
  stages.push_back(runs.adaptDir());
  for (const char* name : {"layer-wise", "uniform"}) {
    stages.push_back(runs.layermoeDir(name));
    stages.push_back(runs.layermoeDir(name) / "eval");
  }
  Json out = Json::object();
  for (const fs::path& dir : stages) {
    if (!fs::exists(dir / "manifest.json")) continue;
    try {
      out[dir.lexically_relative(runs.root()).generic_string()] =
          StageFolder(dir, Json()).recordedInputs().value("precision", std::string("fp32"));
    } catch (const InputError&) {
      // damaged: the stage recomputes at its next run, and the report says nothing of it
    }
  }
  return out;
}

// "Computed in bf16 …" or which stages ran in which precision.
std::string precisionLine(const Json& precisions) {
  std::map<std::string, std::string> byPrecision;
  for (const auto& [stage, precision] : precisions.items())
    byPrecision[precision.get<std::string>()] += (byPrecision[precision.get<std::string>()].empty() ? "" : ", ") + stage;
  const std::string meaning = "bf16: bf16 matrix products, fp32 weights, optimizer state and losses (`precision`)";
  if (byPrecision.size() == 1)
    return "Computed in " + byPrecision.begin()->first + " (" + byPrecision.begin()->second + ")" +
           (byPrecision.count("bf16") ? "; " + meaning : "") + ".";
  std::string line = "Computed in mixed precision:";
  for (const auto& [precision, stages] : byPrecision) line += " " + precision + " in " + stages + ";";
  return line + " " + meaning + ".";
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
  const auto similarity = readIfComplete<SimilarityResult>(runs.similarityFile());
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

  const Json precisions = stagePrecisions(runs);
  if (!precisions.empty()) md << precisionLine(precisions) << "\n\n";
  if (stationarity && !stationarity->reading().empty()) md << stationarity->reading() << "\n\n";
  if (similarity) writeFingerprints(*similarity, label, md);
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
    if (similarity)
      for (const auto& [name, ari] : groupsAri(*groups, *similarity))
        md << "\nARI of the groups against the " << name << " labelling: " << fixedDecimals(ari, 2) << ".\n";
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
  if (eval.is_object()) rows.push_back({kBaseMethod, pplOf(eval["base"])});
  if (dense.is_object()) rows.push_back({kDenseContinueMethod, pplOf(dense["dense"])});
  if (random.is_object()) rows.push_back({kRandomGroupsMethod, pplOf(random["soft"])});
  if (btm.is_object() && project.baselines.branch_train_mix)
    rows.push_back({"DMoE, Branch-Train-Mix init", pplOf(btm["soft"])});
  if (eval.contains("soft")) {
    rows.push_back({kDmoeMethod, pplOf(eval["soft"])});
    rows.push_back({kOracleRoutingMethod, pplOf(eval["hard"])});
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

  const Json expansion = project.adaptation.runs("layermoe") && !project.adaptationLanguages().empty()
                             ? writeExpansionComparison(project, adaptation, eval, selection, merge, md)
                             : Json();
  const std::string markdown = md.str();
  Json report{{"project", project.name},
                    {"precision", precisions},
                    {"stationarity", stationarityRecord},
                    {"fingerprints", similarity ? fingerprintsJson(*similarity, groups) : Json()},
                    {"groups", groups ? groups->toJson() : Json()},
                    {"selection", selection ? selection->toJson() : Json()},
                    {"merge", merge},
                    {"perplexity", pplJson}, {"adaptation", adaptation ? adaptation->toJson() : Json()}};
  if (!expansion.is_null()) report["expansion"] = expansion;
  writeFileAtomic(runs.reportFile(), markdown);
  writeFileAtomic(dir / "report.json", dumpJson(report, 1) + "\n");
  reporter.artifact(runs.reportFile(), "report");
  reporter.result("report", report);
}

}  // namespace

std::string runReport(const Project& project, Reporter& reporter, bool force) {
  reporter.started();
  const RunLayout runs = project.layout();
  const fs::path dir = runs.reportDir();
  std::vector<fs::path> upstream = {runs.deviationDir(), runs.similarityDir(), runs.groupDir(), runs.selectionDir(), runs.mergeDir(),
                                    runs.evalDir()};
  for (const fs::path& eval : baselineEvalDirs(runs)) upstream.push_back(eval);
  upstream.push_back(runs.adaptDir());
  if (project.adaptation.runs("layermoe"))
    for (const char* name : {"layer-wise", "uniform"}) {
      upstream.push_back(runs.layermoeDir(name));
      upstream.push_back(runs.layermoeDir(name) / "eval");
    }
  Json inputs = Json::object();
  for (const fs::path& stage : upstream)
    inputs[stage.lexically_relative(runs.root()).generic_string()] =
        fs::exists(stage / "manifest.json") ? Json(StageFolder::fingerprint(stage, "dmoe run")) : Json();
  const auto stationarity = stationarityOf(project);
  // Added to deviation.json by a later run, so not in the deviation stage's manifest.
  inputs["stationarity"] = stationarity ? stationarity->record : Json();
  StageFolder folder(dir, inputs);
  folder.keepOutOfCache();  // it names its project, which its inputs do not
  const bool done = folder.run(force, reporter, "report", runs.reportFile(), [&] {
    writeReport(project, stationarity, reporter);
    return Json::object();
  });
  reporter.finished(done ? "done" : "skipped");
  return readFile(runs.reportFile());
}

}  // namespace dmoe
