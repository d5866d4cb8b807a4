#include "results/sweep_table.h"

#include <cmath>
#include <sstream>

#include "results/json_reader.h"
#include "util/csv.h"
#include "util/text.h"

namespace fs = std::filesystem;

namespace dmoe {

namespace {

// A number as the CSV writes it: JSON's shortest form, empty when there is none.
std::string csvNumber(double v) { return std::isfinite(v) ? Json(v).dump() : ""; }

std::string csvNumber(const std::optional<double>& v) { return v ? csvNumber(*v) : ""; }

Json summaryJson(const MeanSd& s) { return {{"mean", numberOrNull(s.mean)}, {"sd", numberOrNull(s.sd)}, {"n", s.n}}; }

Json runJson(const SweepTableRun& run) {
  Json row{{"cell", run.cell}, {"seed", run.seed}, {"runs_dir", run.runsDir}, {"status", run.status}};
  if (!run.error.empty()) row["error"] = run.error;
  Json averages = Json::object(), differences = Json::object(), parameters;
  std::string precision;
  if (run.report) {
    for (const RunReport::Method& m : run.report->perplexity) averages[m.name] = numberOrNull(m.average);
    for (const SweepMethod& m : comparedMethods()) differences[m.name] = numberOrNull(run.differencePercent(m.name));
    precision = run.report->precisionSummary();
    if (run.report->parametersTotal)
      parameters = {{"total", *run.report->parametersTotal}, {"active", run.report->parametersActive ? Json(*run.report->parametersActive) : Json()}};
  }
  row["averages"] = averages;
  row["difference_pct"] = differences;
  row["precision"] = precision.empty() ? Json() : Json(precision);
  row["parameters"] = parameters;
  row["wall_s"] = run.wallSeconds ? Json(*run.wallSeconds) : Json();
  row["project_hash"] = run.projectHash;
  return row;
}

// "+0.6 % ± 0.3", "+0.6 %" from one run, "–" from none.
std::string percentText(const MeanSd& s) {
  if (s.n == 0) return "–";
  return signedDecimals(s.mean, 1) + " %" + (s.n > 1 ? " ± " + fixedDecimals(s.sd, 1) : "");
}

std::string pplText(const MeanSd& s) {
  if (s.n == 0) return "–";
  return fixedDecimals(s.mean, 1) + (s.n > 1 ? " ± " + fixedDecimals(s.sd, 1) : "");
}

std::string durationText(const std::optional<double>& seconds) {
  if (!seconds) return "–";
  return *seconds < 120 ? fixedDecimals(*seconds, 0) + " s" : fixedDecimals(*seconds / 60, 1) + " min";
}

}  // namespace

const std::vector<SweepMethod>& sweepMethods() {
  static const std::vector<SweepMethod> methods = {{kBaseMethod, "base", "base"},
                                                   {kDenseContinueMethod, "dense", "dense"},
                                                   {kDmoeMethod, "dmoe", "DMoE"},
                                                   {kRandomGroupsMethod, "random", "random groups"},
                                                   {kOracleRoutingMethod, "oracle", "oracle routing"}};
  return methods;
}

const std::vector<SweepMethod>& comparedMethods() {
  static const std::vector<SweepMethod> methods(sweepMethods().begin() + 2, sweepMethods().end());
  return methods;
}

double pairedDifferencePercent(double method, double reference) {
  if (!std::isfinite(method) || !std::isfinite(reference) || reference <= 0) return NAN;
  return (method - reference) / reference * 100.0;
}

MeanSd meanSd(const std::vector<double>& values) {
  MeanSd s;
  double sum = 0;
  for (double v : values)
    if (std::isfinite(v)) sum += v, ++s.n;
  s.mean = s.n > 0 ? sum / static_cast<double>(s.n) : NAN;
  double squares = 0;
  for (double v : values)
    if (std::isfinite(v)) squares += (v - s.mean) * (v - s.mean);
  s.sd = s.n > 1 ? std::sqrt(squares / static_cast<double>(s.n - 1)) : NAN;
  return s;
}

double SweepTableRun::average(const std::string& method) const { return report ? report->average(method) : NAN; }

double SweepTableRun::differencePercent(const std::string& method) const {
  return pairedDifferencePercent(average(method), average(kDenseContinueMethod));
}

std::int64_t SweepTable::completeRuns(const std::string& cell) const {
  std::int64_t n = 0;
  for (const SweepTableRun& run : runs) n += run.cell == cell && run.report ? 1 : 0;
  return n;
}

MeanSd SweepTable::cellAverage(const std::string& cell, const std::string& method) const {
  std::vector<double> values;
  for (const SweepTableRun& run : runs)
    if (run.cell == cell) values.push_back(run.average(method));
  return meanSd(values);
}

MeanSd SweepTable::cellDifference(const std::string& cell, const std::string& method) const {
  std::vector<double> values;
  for (const SweepTableRun& run : runs)
    if (run.cell == cell) values.push_back(run.differencePercent(method));
  return meanSd(values);
}

std::optional<double> SweepTable::cellWallSeconds(const std::string& cell) const {
  std::optional<double> total;
  for (const SweepTableRun& run : runs)
    if (run.cell == cell && run.wallSeconds) total = total.value_or(0) + *run.wallSeconds;
  return total;
}

Json SweepTable::toJson() const {
  Json compared = Json::array(), cellRows = Json::array(), runRows = Json::array();
  for (const SweepMethod& m : comparedMethods()) compared.push_back(m.name);
  for (const SweepCell& cell : cells) {
    Json averages = Json::object(), differences = Json::object();
    for (const SweepMethod& m : sweepMethods()) averages[m.name] = summaryJson(cellAverage(cell.name, m.name));
    for (const SweepMethod& m : comparedMethods()) differences[m.name] = summaryJson(cellDifference(cell.name, m.name));
    std::int64_t planned = 0;
    for (const SweepTableRun& run : runs) planned += run.cell == cell.name ? 1 : 0;
    const std::optional<double> wall = cellWallSeconds(cell.name);
    cellRows.push_back({{"cell", cell.name}, {"label", cell.label}, {"runs", planned}, {"n", completeRuns(cell.name)},
                        {"averages", averages}, {"difference_pct", differences}, {"wall_s", wall ? Json(*wall) : Json()}});
  }
  for (const SweepTableRun& run : runs) runRows.push_back(runJson(run));
  return {{"format", kSweepTableFormat}, {"sweep", sweep},      {"reference", kDenseContinueMethod},
          {"compared", compared},       {"cells", cellRows}, {"runs", runRows}};
}

std::string SweepTable::runsCsv() const {
  std::ostringstream csv;
  csv << "cell,label,seed,status";
  for (const SweepMethod& m : sweepMethods()) csv << ',' << m.key << "_ppl";
  for (const SweepMethod& m : comparedMethods()) csv << ',' << m.key << "_vs_dense_pct";
  csv << ",precision,parameters_total,parameters_active,wall_s,runs_dir\n";
  for (const SweepTableRun& run : runs) {
    std::string label;
    for (const SweepCell& c : cells) label = c.name == run.cell ? c.label : label;
    csv << csvField(run.cell) << ',' << csvField(label) << ',' << run.seed << ',' << run.status;
    for (const SweepMethod& m : sweepMethods()) csv << ',' << csvNumber(run.average(m.name));
    for (const SweepMethod& m : comparedMethods()) csv << ',' << csvNumber(run.differencePercent(m.name));
    const RunReport* r = run.report ? &*run.report : nullptr;
    csv << ',' << (r ? r->precisionSummary() : "") << ','
        << (r && r->parametersTotal ? std::to_string(*r->parametersTotal) : "") << ','
        << (r && r->parametersActive ? std::to_string(*r->parametersActive) : "") << ',' << csvNumber(run.wallSeconds)
        << ',' << csvField(run.runsDir) << '\n';
  }
  return csv.str();
}

std::string SweepTable::cellsCsv() const {
  std::ostringstream csv;
  csv << "cell,label,runs,n";
  for (const SweepMethod& m : sweepMethods()) csv << ',' << m.key << "_ppl_mean," << m.key << "_ppl_sd";
  for (const SweepMethod& m : comparedMethods())
    csv << ',' << m.key << "_vs_dense_pct_mean," << m.key << "_vs_dense_pct_sd";
  csv << ",wall_s\n";
  for (const SweepCell& cell : cells) {
    std::int64_t planned = 0;
    for (const SweepTableRun& run : runs) planned += run.cell == cell.name ? 1 : 0;
    csv << csvField(cell.name) << ',' << csvField(cell.label) << ',' << planned << ',' << completeRuns(cell.name);
    for (const SweepMethod& m : sweepMethods()) {
      const MeanSd s = cellAverage(cell.name, m.name);
      csv << ',' << csvNumber(s.mean) << ',' << csvNumber(s.sd);
    }
    for (const SweepMethod& m : comparedMethods()) {
      const MeanSd s = cellDifference(cell.name, m.name);
      csv << ',' << csvNumber(s.mean) << ',' << csvNumber(s.sd);
    }
    csv << ',' << csvNumber(cellWallSeconds(cell.name)) << '\n';
  }
  return csv.str();
}

std::string SweepTable::markdown() const {
  std::ostringstream md;
  md << "| cell | seeds | dense PPL |";
  for (const SweepMethod& m : comparedMethods()) md << ' ' << m.title << " vs dense |";
  md << " wall |\n|---|---:|---:|";
  for (size_t i = 0; i < comparedMethods().size(); ++i) md << "---:|";
  md << "---:|\n";
  for (const SweepCell& cell : cells) {
    std::int64_t planned = 0;
    for (const SweepTableRun& run : runs) planned += run.cell == cell.name ? 1 : 0;
    md << "| " << cell.name << (cell.label.empty() ? "" : " (" + cell.label + ")") << " | " << completeRuns(cell.name)
       << " of " << planned << " | " << pplText(cellAverage(cell.name, kDenseContinueMethod)) << " |";
    for (const SweepMethod& m : comparedMethods()) md << ' ' << percentText(cellDifference(cell.name, m.name)) << " |";
    md << ' ' << durationText(cellWallSeconds(cell.name)) << " |\n";
  }
  return md.str();
}

std::map<std::pair<std::string, std::int64_t>, SweepTableRun> SweepTable::recordedRuns(const fs::path& file) {
  std::map<std::pair<std::string, std::int64_t>, SweepTableRun> out;
  if (!fs::exists(file)) return out;
  const JsonReader in = JsonReader::file(file, "dmoe sweep");
  const Json& runs = in.at(in.root(), "runs", "");
  if (!runs.is_array()) in.fail("/runs", "a list of runs");
  for (size_t i = 0; i < runs.size(); ++i) {
    const std::string at = "/runs/" + std::to_string(i);
    SweepTableRun run;
    run.cell = in.string(in.at(runs[i], "cell", at), at + "/cell");
    run.seed = in.integer(in.at(runs[i], "seed", at), at + "/seed");
    run.status = in.string(in.at(runs[i], "status", at), at + "/status");
    run.projectHash = in.string(in.at(runs[i], "project_hash", at), at + "/project_hash");
    const Json& wall = in.at(runs[i], "wall_s", at);
    if (!wall.is_null()) run.wallSeconds = in.number(wall, at + "/wall_s");
    out[{run.cell, run.seed}] = run;
  }
  return out;
}

}  // namespace dmoe
