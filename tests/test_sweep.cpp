// `dmoe sweep` (pipeline/sweep.h): the sweep file's checks, each naming its
// JSON path; the merge patch (RFC 7396's examples); a run's project (every
// training seed set, every path absolute, its own runs folder); the tables'
// arithmetic on hand-computed numbers; and end to end on the micro project,
// two cells that differ only in stage 2's steps: the second cell takes the
// base and deviation from the shared stage cache, sweep.json repeats the
// reports' averages, and a second sweep computes nothing and writes the same
// tables.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "pipeline/sweep.h"
#include "results/report_file.h"
#include "results/sweep_file.h"
#include "results/sweep_table.h"
#include "util/atomic_file.h"
#include "util/error.h"
#include "util/json.h"

#include <QtTest>
#include <cmath>
#include <sstream>

#include "micro_project.h"
#include "test_support.h"

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

const Json kValidSweep = {{"format", "dmoe-sweep/1"},
                          {"project", "micro.dmoe.json"},
                          {"seeds", {1234, 2}},
                          {"cells",
                           {{"budget-4x", {{"patch", {{"train", {{"stage2", {{"steps", 9}}}}}}}, {"label", "4x budget"}}},
                            {"baseline", Json::object()}}}};

// The InputError SweepFile::fromJson gives for kValidSweep with `patch` merged in.
std::string sweepError(const Json& patch) {
  Json document = kValidSweep;
  document.merge_patch(patch);
  return test::inputErrorOf([&] { SweepFile::fromJson(document, "/x/grid.sweep.json"); });
}

// The events of a jsonl stream.
std::vector<Json> events(const std::string& out) {
  std::vector<Json> list;
  std::istringstream lines(out);
  for (std::string line; std::getline(lines, line);)
    if (!line.empty()) list.push_back(Json::parse(line));
  return list;
}

// The events after the "sweep" log line that starts with `heading`, up to the next run's.
std::vector<Json> eventsOfRun(const std::vector<Json>& all, const std::string& heading) {
  std::vector<Json> run;
  bool inside = false;
  for (const Json& e : all) {
    const bool runLine = e["stage"] == "sweep" && e["event"] == "log" &&
                         e["message"].get<std::string>().rfind("cell ", 0) == 0 &&
                         e["message"].get<std::string>().find(" of ") != std::string::npos &&
                         e["message"].get<std::string>().find(".dmoe.json") != std::string::npos;
    if (runLine) inside = e["message"].get<std::string>().rfind(heading, 0) == 0;
    if (inside) run.push_back(e);
  }
  return run;
}

// Whether a stage other than the sweep itself computed something.
bool anyStageComputed(const std::vector<Json>& list) {
  for (const Json& e : list)
    if (e["event"] == "stage" && e["status"] == "done" && e["stage"] != "sweep") return true;
  return false;
}

bool finishedAs(const std::vector<Json>& list, const std::string& stage, const std::string& status) {
  for (const Json& e : list)
    if (e["event"] == "stage" && e["stage"] == stage && e["status"] == status) return true;
  return false;
}

bool logged(const std::vector<Json>& list, const std::string& stage, const std::string& part) {
  for (const Json& e : list)
    if (e["event"] == "log" && e["stage"] == stage && e["message"].get<std::string>().find(part) != std::string::npos)
      return true;
  return false;
}

SweepTableRun tableRun(const std::string& cell, std::int64_t seed, double dense, double dmoe, double random) {
  SweepTableRun run;
  run.cell = cell;
  run.seed = seed;
  run.status = "complete";
  run.report = RunReport{};
  run.report->perplexity = {{kBaseMethod, 300}, {kDenseContinueMethod, dense}, {kRandomGroupsMethod, random},
                            {kDmoeMethod, dmoe}, {kOracleRoutingMethod, NAN}};
  run.report->precision = {{"pretrain", "fp32"}, {"train", "fp32"}};
  return run;
}

}  // namespace

class TestSweep : public QObject {
  Q_OBJECT

 private slots:
  void aValidSweepFileKeepsItsCellOrder() {
    const SweepFile sweep = SweepFile::fromJson(kValidSweep, "/x/grid.sweep.json");
    QCOMPARE(sweep.project, fs::path("/x/micro.dmoe.json"));
    QCOMPARE(sweep.seeds, (std::vector<std::int64_t>{1234, 2}));
    QCOMPARE(sweep.cells.size(), size_t{2});
    QCOMPARE(sweep.cells[0].name, std::string("budget-4x"));
    QCOMPARE(sweep.cells[0].label, std::string("4x budget"));
    QCOMPARE(sweep.cells[0].patch, (Json{{"train", {{"stage2", {{"steps", 9}}}}}}));
    QCOMPARE(sweep.cells[1].patch, Json::object());
    QCOMPARE(sweep.defaultOutDir(), fs::path("/x/grid"));
    QCOMPARE(SweepFile::fromJson(kValidSweep, "/x/grid.json").defaultOutDir(), fs::path("/x/grid"));
    QVERIFY_CONTAINS(test::inputErrorOf([&] { sweep.cell("nope"); }), "no cell 'nope' (cells: budget-4x, baseline)");
  }

  void sweepFileProblemsNameTheirJsonPath() {
    QVERIFY_CONTAINS(sweepError({{"cells", {{"budget-4x", {{"patch", 3}}}}}}),
                     "/x/grid.sweep.json: /cells/budget-4x/patch: expected an object");
    QVERIFY_CONTAINS(sweepError({{"format", "dmoe-sweep/2"}}), "/format: expected \"dmoe-sweep/1\"");
    QVERIFY_CONTAINS(sweepError({{"cells", {{"a b", Json::object()}}}}), "/cells/a b: expected a cell name usable as a folder name");
    QVERIFY_CONTAINS(sweepError({{"cells", {{".hidden", Json::object()}}}}), "/cells/.hidden: expected a cell name");
    QVERIFY_CONTAINS(sweepError({{"cells", {{"x", {{"lable", "typo"}}}}}}), "/cells/x/lable: expected patch or label (unknown key)");
    QVERIFY_CONTAINS(sweepError({{"cells", {{"x", 5}}}}), "/cells/x: expected an object");
    QVERIFY_CONTAINS(sweepError({{"seeds", Json::array()}}), "/seeds: expected a non-empty list");
    QVERIFY_CONTAINS(sweepError({{"seeds", {3, -1}}}), "/seeds/1: expected a seed (an integer from 0");
    QVERIFY_CONTAINS(sweepError({{"seeds", {3, 3}}}), "/seeds/1: expected each seed once (3 is listed twice)");
    QVERIFY_CONTAINS(sweepError({{"project", nullptr}}), "/project: expected a value (it is missing)");
    QVERIFY_CONTAINS(sweepError({{"grid", 1}}), "/grid: expected format, description, project, seeds or cells (unknown key)");
    Json noCells = kValidSweep;
    noCells["cells"] = Json::object();
    QVERIFY_CONTAINS(test::inputErrorOf([&] { SweepFile::fromJson(noCells, "s.json"); }), "/cells: expected a non-empty object");
    // A cell given twice: the parser would keep one silently.
    const fs::path file = test::outputDir() / "sweep-unit" / "twice.sweep.json";
    test::writeText(file, R"({"format": "dmoe-sweep/1", "project": "p.dmoe.json", "seeds": [1],
                              "cells": {"a": {}, "a": {"label": "again"}}})");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { SweepFile::read(file); }), "/cells/a: expected each key once");
  }

  // RFC 7396's examples (appendix A), as the cells' patches are applied.
  void theMergePatchFollowsRfc7396() {
    auto merged = [](Json target, const Json& patch) {
      target.merge_patch(patch);
      return target;
    };
    QCOMPARE(merged({{"a", "b"}}, {{"a", "c"}}), (Json{{"a", "c"}}));
    QCOMPARE(merged({{"a", "b"}}, {{"b", "c"}}), (Json{{"a", "b"}, {"b", "c"}}));
    QCOMPARE(merged({{"a", "b"}}, {{"a", nullptr}}), Json::object());
    QCOMPARE(merged({{"a", {{"b", "c"}}}}, {{"a", {{"b", "d"}, {"c", nullptr}}}}), (Json{{"a", {{"b", "d"}}}}));
    QCOMPARE(merged({{"a", Json::array({Json{{"b", "c"}}})}}, {{"a", {1}}}), (Json{{"a", {1}}}));
    QCOMPARE(merged(Json::array({1, 2}), {{"a", "b"}, {"c", nullptr}}), (Json{{"a", "b"}}));
    QCOMPARE(merged({{"e", nullptr}}, {{"a", 1}}), (Json{{"e", nullptr}, {"a", 1}}));
  }

  // Every training seed is the run's; the data split keeps the project's; every path is absolute.
  void aRunsProjectIsSeededAndItsPathsAbsolute() {
    const fs::path dir = test::outputDir() / "sweep-unit" / "project";
    fs::remove_all(dir);
    const fs::path file = test::writeMicroProject(
        dir, {{"similarity", {{"labelling", "labels.csv"}}}, {"base_model", {{"path", "../base"}}},
              {"tokenizer", {{"path", "tok/tokenizer.model"}}}, {"grouping", {{"seed", 5}}}});
    const Json document = Json::parse(test::readText(file));
    const SweepCell cell{"longer", "", {{"train", {{"stage2", {{"steps", 9}}}}}, {"grouping", {{"method", "random"}}}}};
    Json p = sweepRunProject(document, file, cell, 11);
    QCOMPARE(sweepSeededSettings(), (std::vector<std::string>{"/base_model/pretrain", "/deviation", "/merge", "/train/stage1",
                                                              "/train/stage2", "/adaptation", "/grouping"}));
    for (const std::string& setting : sweepSeededSettings())
      QVERIFY2(p.at(Json::json_pointer(setting + "/seed")) == 11, setting.c_str());
    QCOMPARE(p.at(Json::json_pointer("/corpus/heldout/seed")), Json(7));  // the project's split
    QVERIFY(!p["corpus"].contains("pretrain"));                          // a split the project leaves at its default stays so
    QCOMPARE(p["tokenizer"]["seed"], Json(3));
    QCOMPARE(p["train"]["stage2"]["steps"], Json(9));                   // the patch …
    QCOMPARE(p["train"]["stage2"]["balance_loss_weight"], Json(0.02));  // … merges key by key
    QCOMPARE(p["grouping"]["method"], Json("random"));
    QCOMPARE(p["grouping"]["groups"], Json(2));
    QCOMPARE(p["runs_dir"], Json("seed-11"));
    QCOMPARE(p["name"], Json("micro — longer, seed 11"));
    QCOMPARE(p["corpus"]["root"], Json((dir / "corpus").string()));
    QCOMPARE(p["similarity"]["labelling"], Json((dir / "labels.csv").string()));
    QCOMPARE(p["base_model"]["path"], Json((dir.parent_path() / "base").string()));
    QCOMPARE(p["tokenizer"]["path"], Json((dir / "tok/tokenizer.model").string()));
    // A corpus root the project leaves at its default is resolved too.
    Json withoutRoot = document;
    withoutRoot["corpus"].erase("root");
    QCOMPARE(sweepRunProject(withoutRoot, file, cell, 7)["corpus"]["root"], Json((dir / "corpus").string()));
    // An imported corpus goes into the run's own runs folder.
    const SweepCell imported{"udhr", "", {{"corpus", {{"source", {{"kind", "udhr"}}}}}}};
    QCOMPARE(sweepRunProject(document, file, imported, 7)["corpus"]["root"], Json("seed-7/corpus"));
    // The patch may remove a whole settings object: the seed still lands.
    const SweepCell removed{"no-merge", "", {{"merge", nullptr}}};
    QCOMPARE(sweepRunProject(document, file, removed, 7)["merge"], (Json{{"seed", 7}}));
  }

  void planningLoadsEveryRunAndNamesTheCellOfABadPatch() {
    const fs::path dir = test::outputDir() / "sweep-unit" / "plan";
    fs::remove_all(dir);
    test::writeMicroProject(dir);
    Json document = kValidSweep;
    const SweepFile sweep = SweepFile::fromJson(document, dir / "grid.sweep.json");
    const SweepPlan plan = planSweep(sweep, sweep.defaultOutDir());
    QCOMPARE(plan.runs.size(), size_t{4});
    QCOMPARE(plan.runs[1].cell, std::string("budget-4x"));
    QCOMPARE(plan.runs[1].seed, std::int64_t{2});
    QCOMPARE(plan.runs[1].projectFile, dir / "grid/cells/budget-4x/seed-2.dmoe.json");
    QCOMPARE(plan.runs[1].project.runsDir(), dir / "grid/cells/budget-4x/seed-2");
    QCOMPARE(plan.runs[1].project.corpusRoot(), dir / "corpus");
    QCOMPARE(plan.runs[1].project.train.stage2.steps, std::int64_t{9});
    QCOMPARE(plan.runs[1].project.deviation.seed, std::int64_t{2});
    QCOMPARE(plan.runs[2].cell, std::string("baseline"));
    QCOMPARE(plan.stageCache(), dir / "grid/stage-cache");
    QVERIFY(!fs::exists(dir / "grid"));  // planning writes nothing

    document["cells"]["bad"] = {{"patch", {{"grouping", {{"groups", 99}}}}}};
    const std::string error =
        test::inputErrorOf([&] { planSweep(SweepFile::fromJson(document, dir / "grid.sweep.json"), dir / "grid"); });
    QVERIFY_CONTAINS(error, "/cells/bad (seed 1234) makes a project with problems");
    QVERIFY_CONTAINS(error, "/grouping/groups: 99 groups for 5 languages");
  }

  // dense 100, DMoE 97 → −3 %; dense 200, DMoE 198 → −1 %; over the two seeds −2 ± √2.
  void theTablesDifferencesAndSpreadAreHandChecked() {
    QCOMPARE(pairedDifferencePercent(97, 100), -3.0);
    QCOMPARE(pairedDifferencePercent(105, 100), 5.0);
    QVERIFY(std::isnan(pairedDifferencePercent(97, NAN)));
    QVERIFY(std::isnan(pairedDifferencePercent(97, 0)));
    const MeanSd two = meanSd({-3, -1});
    QCOMPARE(two.mean, -2.0);
    QVERIFY(std::abs(two.sd - 1.41421356) < 1e-8);
    QCOMPARE(two.n, std::int64_t{2});
    const MeanSd three = meanSd({1, NAN, 2, 6});  // mean 3; squares 4 + 1 + 9 = 14; sd √(14/2) = 2.6458
    QCOMPARE(three.n, std::int64_t{3});
    QCOMPARE(three.mean, 3.0);
    QVERIFY(std::abs(three.sd - std::sqrt(7.0)) < 1e-12);
    const MeanSd one = meanSd({4});
    QCOMPARE(one.mean, 4.0);
    QVERIFY(std::isnan(one.sd));
    QCOMPARE(meanSd({}).n, std::int64_t{0});

    SweepTable table;
    table.cells = {{"g5", "G = 5", {}}, {"g3", "", {}}};
    table.runs = {tableRun("g5", 1, 100, 97, 102), tableRun("g5", 2, 200, 198, 200)};
    table.runs[0].wallSeconds = 60;
    table.runs[1].wallSeconds = 90;
    SweepTableRun missing;
    missing.cell = "g3";
    missing.seed = 1;
    missing.status = "missing";
    table.runs.push_back(missing);
    QCOMPARE(table.runs[0].differencePercent(kDmoeMethod), -3.0);
    QCOMPARE(table.runs[0].differencePercent(kRandomGroupsMethod), 2.0);
    QCOMPARE(table.completeRuns("g5"), std::int64_t{2});
    QCOMPARE(table.completeRuns("g3"), std::int64_t{0});

    const Json j = table.toJson();
    const Json& g5 = j["cells"][0];
    QCOMPARE(g5["n"], Json(2));
    QCOMPARE(g5["runs"], Json(2));
    QCOMPARE(g5["difference_pct"][kDmoeMethod]["mean"].get<double>(), -2.0);
    QVERIFY(std::abs(g5["difference_pct"][kDmoeMethod]["sd"].get<double>() - 1.41421356) < 1e-8);
    QCOMPARE(g5["difference_pct"][kRandomGroupsMethod]["mean"].get<double>(), 1.0);  // +2 % and 0 %
    QVERIFY(g5["difference_pct"][kOracleRoutingMethod]["mean"].is_null());  // no oracle value in either run
    QCOMPARE(g5["averages"][kDenseContinueMethod]["mean"].get<double>(), 150.0);
    QCOMPARE(g5["wall_s"].get<double>(), 150.0);
    QVERIFY(j["cells"][1]["wall_s"].is_null());
    QCOMPARE(j["cells"][1]["n"], Json(0));
    QCOMPARE(j["runs"][0]["difference_pct"][kDmoeMethod].get<double>(), -3.0);
    QCOMPARE(j["runs"][0]["averages"][kBaseMethod].get<double>(), 300.0);
    QCOMPARE(j["runs"][0]["precision"], Json("fp32"));
    QCOMPARE(j["runs"][2]["status"], Json("missing"));
    QCOMPARE(j["runs"][2]["averages"], Json::object());

    const std::string csv = table.runsCsv();
    QVERIFY_CONTAINS(csv, "cell,label,seed,status,base_ppl,dense_ppl,dmoe_ppl,random_ppl,oracle_ppl,dmoe_vs_dense_pct,"
                          "random_vs_dense_pct,oracle_vs_dense_pct,precision,parameters_total,parameters_active,wall_s,runs_dir\n");
    QVERIFY_CONTAINS(csv, "\ng5,G = 5,1,complete,300.0,100.0,97.0,102.0,,-3.0,2.0,,fp32,,,60.0,\n");
    QVERIFY_CONTAINS(csv, "\ng3,,1,missing,,,,,,,,,,,,,\n");
    QVERIFY_CONTAINS(table.cellsCsv(), "\ng5,G = 5,2,2,300.0,0.0,150.0,");
    const std::string md = table.markdown();
    QVERIFY_CONTAINS(md, "| cell | seeds | dense PPL | DMoE vs dense | random groups vs dense | oracle routing vs dense | wall |");
    QVERIFY_CONTAINS(md, "| g5 (G = 5) | 2 of 2 | 150.0 ± 70.7 | -2.0 % ± 1.4 | +1.0 % ± 1.4 | – | 2.5 min |");
    QVERIFY_CONTAINS(md, "| g3 | 0 of 1 | – | – | – | – | – |");

    // What a later sweep reads back of the runs: status, project hash, wall time.
    table.runs[1].projectHash = "0123456789abcdef";
    const fs::path file = test::outputDir() / "sweep-unit" / "table" / "sweep.json";
    writeFileAtomic(file, dumpJson(table.toJson(), 1));
    const auto recorded = SweepTable::recordedRuns(file);
    QCOMPARE(recorded.size(), size_t{3});
    QCOMPARE(*recorded.at({"g5", 2}).wallSeconds, 90.0);
    QCOMPARE(recorded.at({"g5", 2}).projectHash, std::string("0123456789abcdef"));
    QCOMPARE(recorded.at({"g3", 1}).status, std::string("missing"));
    QVERIFY(!recorded.at({"g3", 1}).wallSeconds);
    QVERIFY(SweepTable::recordedRuns(file.parent_path() / "absent.json").empty());
    test::writeText(file, R"({"runs": [{"cell": "g5", "seed": "1"}]})");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { SweepTable::recordedRuns(file); }), "/runs/0/seed: expected an integer");
  }

  void aReportIsReadWithItsPrecisionAndParameters() {
    const fs::path file = test::outputDir() / "sweep-unit" / "report" / "report.json";
    test::writeText(file, R"({"project": "p", "precision": {"pretrain": "fp32", "train": "bf16"},
      "merge": {"parameters": {"base": 10, "total": 30, "active": 20}},
      "perplexity": [{"method": "Base", "ppl": {"en": 3}, "average": 3.5},
                     {"method": "DMoE", "ppl": {}, "average": null}]})");
    const RunReport r = RunReport::read(file);
    QCOMPARE(r.average(kBaseMethod), 3.5);
    QVERIFY(std::isnan(r.average(kDmoeMethod)));
    QVERIFY(std::isnan(r.average(kDenseContinueMethod)));
    QCOMPARE(r.precisionSummary(), std::string("mixed"));
    QCOMPARE(*r.parametersTotal, std::int64_t{30});
    QCOMPARE(*r.parametersActive, std::int64_t{20});
    test::writeText(file, R"({"perplexity": [{"method": "Base", "average": "x"}]})");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { RunReport::read(file); }), "/perplexity/0/average: expected a number");
    QVERIFY_CONTAINS(test::inputErrorOf([&] { RunReport::read(file.parent_path() / "none.json"); }),
                     "is missing: run `dmoe run` first");
  }

  // Two cells × one seed on the micro project, differing only in stage 2's steps.
  void aSweepSharesStagesTabulatesTheReportsAndResumes() {
    const fs::path dir = test::outputDir() / "sweep-e2e";
    fs::remove_all(dir);
    test::writeMicroProject(dir, {{"new_languages", Json::array()}, {"evaluation", {{"every_steps", 0}}}});
    const fs::path file = dir / "steps.sweep.json";
    test::writeText(file, Json{{"format", "dmoe-sweep/1"},
                               {"project", "micro.dmoe.json"},
                               {"seeds", {5}},
                               {"cells",
                                {{"short", {{"patch", {{"train", {{"stage2", {{"steps", 4}}}}}}}, {"label", "4 steps"}}},
                                 {"long", {{"patch", {{"train", {{"stage2", {{"steps", 6}}}}}}}}}}}}
                              .dump(2));
    QElapsedTimer timer;
    timer.start();
    auto r = test::runCli({"--events", "jsonl", "sweep", file.string()}, dir, 240000);
    qInfo("dmoe sweep of 2 micro runs: %.1f s", static_cast<double>(timer.elapsed()) / 1000.0);
    QVERIFY2(r.exitCode == 0, (r.err + r.out.substr(r.out.size() > 2000 ? r.out.size() - 2000 : 0)).c_str());
    const fs::path out = dir / "steps";
    const std::vector<Json> all = events(r.out);
    const std::vector<Json> second = eventsOfRun(all, "cell 2 of 2 (long)");
    QVERIFY(!eventsOfRun(all, "cell 1 of 2 (short: 4 steps), seed 5 (1 of 1)").empty());
    QVERIFY(!second.empty());
    for (const char* stage : {"pretrain", "deviation"})
      QVERIFY2(logged(second, stage, "restored from the stage cache"), stage);
    QVERIFY(finishedAs(second, "train", "done"));  // the cell's own training ran

    Json table = Json::parse(test::readText(out / "sweep.json"));
    QCOMPARE(table["format"], Json("dmoe-sweep-table/1"));
    QCOMPARE(table["sweep"], Json("../steps.sweep.json"));
    QCOMPARE(table["runs"].size(), size_t{2});
    for (Json run : table["runs"]) {
      const fs::path runs = out / run["runs_dir"].get<std::string>();
      QCOMPARE(run["status"], Json("complete"));
      QVERIFY(run["wall_s"].is_number());
      QVERIFY(fs::exists(runs.parent_path() / "seed-5.dmoe.json"));
      Json report = Json::parse(test::readText(runs / "report/report.json"));
      QVERIFY(report["perplexity"].size() >= 4);
      for (Json row : report["perplexity"])
        QCOMPARE(run["averages"][row["method"].get<std::string>()], row["average"]);
      const double dense = report["perplexity"][1]["average"].get<double>();
      QCOMPARE(report["perplexity"][1]["method"], Json(kDenseContinueMethod));
      for (Json row : report["perplexity"])
        if (row["method"] == kDmoeMethod)
          QVERIFY(std::abs(run["difference_pct"][kDmoeMethod].get<double>() -
                           (row["average"].get<double>() - dense) / dense * 100) < 1e-9);
    }
    QCOMPARE(table["runs"][0]["runs_dir"], Json("cells/short/seed-5"));
    QCOMPARE(Json::parse(test::readText(out / "cells/long/seed-5.dmoe.json"))["train"]["stage2"]["steps"], Json(6));
    QCOMPARE(table["cells"][0]["n"], Json(1));
    QVERIFY(fs::exists(out / "sweep.csv") && fs::exists(out / "sweep-cells.csv"));
    QVERIFY(fs::is_directory(out / "stage-cache"));

    // Again: nothing computes, and the tables are the same (the wall times carried over).
    const std::string before = test::readText(out / "sweep.json");
    r = test::runCli({"--events", "jsonl", "sweep", file.string()}, dir, 240000);
    QVERIFY2(r.exitCode == 0, (r.err + r.out.substr(r.out.size() > 2000 ? r.out.size() - 2000 : 0)).c_str());
    QVERIFY2(!anyStageComputed(events(r.out)), r.out.c_str());
    QCOMPARE(test::readText(out / "sweep.json"), before);

    // Text mode prints the Markdown table; --tabulate-only runs nothing.
    r = test::runCli({"sweep", file.string(), "--tabulate-only"}, dir);
    QCOMPARE(r.exitCode, 0);
    QVERIFY_CONTAINS(r.out, "| short (4 steps) | 1 of 1 |");
    QCOMPARE(test::readText(out / "sweep.json"), before);
    // A changed patch: the cell's report is stale until its run completes again (here
    // only the corpus statistics recompute: the setting changes no result).
    Json edited = Json::parse(test::readText(file));
    edited["cells"]["long"]["patch"]["checkpoints_kept"] = 2;
    test::writeText(file, edited.dump(2));
    r = test::runCli({"sweep", file.string(), "--tabulate-only"}, dir);
    QCOMPARE(r.exitCode, 0);
    table = Json::parse(test::readText(out / "sweep.json"));
    QCOMPARE(table["runs"][0]["status"], Json("complete"));
    QCOMPARE(table["runs"][1]["status"], Json("stale"));
    QCOMPARE(table["cells"][1]["n"], Json(0));
    r = test::runCli({"--events", "jsonl", "sweep", file.string(), "--only", "long"}, dir, 240000);
    QVERIFY2(r.exitCode == 0, (r.err + r.out.substr(r.out.size() > 2000 ? r.out.size() - 2000 : 0)).c_str());
    QVERIFY(eventsOfRun(events(r.out), "cell 1 of 2").empty());  // --only: the first cell does not run
    table = Json::parse(test::readText(out / "sweep.json"));
    QCOMPARE(table["runs"][1]["status"], Json("complete"));
    QCOMPARE(table["runs"][0]["wall_s"], Json::parse(before)["runs"][0]["wall_s"]);  // carried over

    // Bad input: exit 2 before any run.
    r = test::runCli({"sweep", file.string(), "--only", "medium"}, dir);
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "no cell 'medium' (cells: short, long)");

    // An --out that holds someone else's files is refused, and they are left as they were.
    const fs::path theirs = dir / "theirs";
    test::writeText(theirs / "sweep.json", "their notes");
    r = test::runCli({"sweep", file.string(), "--tabulate-only", "--out", theirs.string()}, dir);
    QCOMPARE(r.exitCode, 2);
    QVERIFY_CONTAINS(r.err, "is not empty and is not a runs folder of dmoe-workbench");
    QCOMPARE(test::readText(theirs / "sweep.json"), std::string("their notes"));
    QVERIFY(!fs::exists(theirs / "cells"));
  }
};

QTEST_GUILESS_MAIN(TestSweep)
#include "test_sweep.moc"
