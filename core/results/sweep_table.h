// A sweep's tables (written by `dmoe sweep` into its output folder, read back
// for a later run's wall times): per cell × seed each method's average
// held-out PPL from the run's report.json and the paired differences against
// dense continued training in the same run, (method − dense) / dense × 100
// for DMoE, random groups and group-oracle routing; per cell the mean ±
// sample standard deviation of each over the seeds whose run is complete.
//
//   sweep.json        {"format": "dmoe-sweep-table/1", "sweep", "reference", "compared",
//                      "cells": [{cell, label, runs, n, averages: {method: {mean, sd, n}},
//                                 difference_pct: {method: {mean, sd, n}}, wall_s}],
//                      "runs": [{cell, seed, runs_dir, status, error?, averages: {method: PPL},
//                                difference_pct: {method: %}, precision, parameters: {total, active},
//                                wall_s, project_hash}]}
//   sweep.csv         one line per run (short column names: dense_ppl, dmoe_vs_dense_pct, …)
//   sweep-cells.csv   one line per cell: n and each summary's mean and sd
// A run's status: "complete" (it completed from its project as the sweep
// file makes it now, in this command or, as the earlier sweep.json records
// with the project's hash, in an earlier one: in the tables), "missing" (no
// report yet, or one that cannot be read: error says why), "stale" (a report
// that no completed run of the current project confirms: not in the tables),
// "failed" (it failed in this command; error says why). Numbers missing are
// null (JSON) or empty (CSV); an sd needs two runs.
//
// Not here: running the sweep (pipeline/sweep.h) or reading its file (results/sweep_file.h).
#pragma once
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "results/report_file.h"
#include "results/sweep_file.h"
#include "util/json.h"

namespace dmoe {

inline constexpr const char* kSweepTableFormat = "dmoe-sweep-table/1";

// The methods the tables show, with their CSV names, in the tables' order.
struct SweepMethod {
  const char* name;  // as report.json names it
  const char* key;    // CSV: "<key>_ppl", "<key>_vs_dense_pct"
  const char* title;  // the Markdown table's
};
const std::vector<SweepMethod>& sweepMethods();     // base, dense, dmoe, random, oracle
const std::vector<SweepMethod>& comparedMethods();  // dmoe, random, oracle: each against dense-continue

// (method − reference) / reference × 100; NaN unless both are finite and reference > 0.
double pairedDifferencePercent(double method, double reference);

struct MeanSd {
  double mean = 0, sd = 0;  // NaN without values; sd NaN below two
  std::int64_t n = 0;       // the finite values
};
// Mean and sample standard deviation (n − 1) of the finite values.
MeanSd meanSd(const std::vector<double>& values);

struct SweepTableRun {
  std::string cell;
  std::int64_t seed = 0;
  std::string runsDir;  // relative to the sweep's output folder
  std::string status;   // complete | missing | stale | failed
  std::string error;    // failed, missing: the message
  std::string projectHash;  // hashHex (util/hash.h) of the project file the run completed from
  std::optional<RunReport> report;   // complete runs only
  std::optional<double> wallSeconds;  // the command that completed it; none when unknown

  // The method's average in this run's report, NaN without one.
  double average(const std::string& method) const;
  // pairedDifferencePercent(method, dense-continue) in this run, NaN without a report.
  double differencePercent(const std::string& method) const;
};

struct SweepTable {
  std::string sweep;             // the sweep file, relative to the output folder
  std::vector<SweepCell> cells;  // name and label; in the file's order
  std::vector<SweepTableRun> runs;  // cell order, then seed order

  // Over the cell's complete runs.
  std::int64_t completeRuns(const std::string& cell) const;
  MeanSd cellAverage(const std::string& cell, const std::string& method) const;
  MeanSd cellDifference(const std::string& cell, const std::string& method) const;
  std::optional<double> cellWallSeconds(const std::string& cell) const;  // the sum of its known wall times

  Json toJson() const;            // sweep.json
  std::string runsCsv() const;    // sweep.csv
  std::string cellsCsv() const;   // sweep-cells.csv
  std::string markdown() const;   // one line per cell, for people

  // The runs a sweep.json records, by (cell, seed): status, project hash and
  // wall seconds (no reports); empty when the file is absent. Errors name the
  // file and the JSON path.
  static std::map<std::pair<std::string, std::int64_t>, SweepTableRun> recordedRuns(const std::filesystem::path& file);
};

}  // namespace dmoe
