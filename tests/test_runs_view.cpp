// The Runs tab and the adaptation wizard, offscreen, on fixtures the test
// writes itself: metrics.jsonl files read in pipeline order (a malformed line
// named by file:line), a restarted run replacing its later points, ticked runs
// drawn and two runs overlaid, the training-token x axis (stage 2 placed after
// stage 1, the default when the DMoE faces the dense baseline, a run without
// settings.json left at its steps), a recorded event stream played by a stand-in
// `dmoe` through the real StageRunner → queue → charts path, the queue's order
// and its stop after a failure, cancel reaching the running command, and the
// wizard's probe table (nearest expert highlighted), the adaptation.languages
// it saves, and its before/after table. Real stages launched from the GUI on
// a micro project are test_gui_pipeline's. Screenshots go to DMOE_TEST_OUTPUT.
#include <QAbstractButton>
#include <QApplication>
#include <QComboBox>
#include <QLabel>
#include <QListWidget>
#include <QMessageBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableWidget>
#include <QTreeWidget>
#include <QtTest>
#include <filesystem>

#include "adaptation_wizard.h"
#include "analysis_files.h"
#include "export.h"
#include "line_chart.h"
#include "log_dock.h"
#include "main_window.h"
#include "project_document.h"
#include "project/project.h"
#include "run_metrics.h"
#include "runs_view.h"
#include "stage_queue.h"
#include "stage_runner.h"
#include "gui_test_support.h"
#include "test_support.h"
#include "util/json.h"

using namespace dmoe;
using namespace dmoe::views;
namespace fs = std::filesystem;

namespace {

QVector<QPointF> points(std::initializer_list<std::pair<double, double>> xy) {
  QVector<QPointF> out;
  for (const auto& [x, y] : xy) out.push_back(QPointF(x, y));
  return out;
}

// train/stage1: loss 5, 4, 3 with router_loss; train/stage2: loss 3, 2.5 with balance_loss and, at step 2,
// held-out PPL fra 20, deu_1996 30 (mean 25); deviation/fra: a bad line 2 and an unterminated last line.
void writeMetricsFixtures(const fs::path& runs) {
  test::writeText(runs / "train/stage1/metrics.jsonl",
                  "{\"step\":1,\"loss\":5,\"lr\":0.001,\"router_loss\":1.0}\n"
                  "{\"step\":2,\"loss\":4,\"lr\":0.002,\"router_loss\":0.8}\n"
                  "{\"step\":3,\"loss\":3,\"lr\":0.001,\"router_loss\":0.6}\n");
  test::writeText(runs / "train/stage2/metrics.jsonl",
                  "{\"step\":1,\"loss\":3,\"lr\":0.0005,\"balance_loss\":1.2}\n"
                  "{\"step\":2,\"loss\":2.5,\"lr\":0.0005,\"balance_loss\":1.1,"
                  "\"eval_ppl\":{\"fra\":20,\"deu_1996\":30},\"eval_ppl_mean\":25}\n");
  test::writeText(runs / "deviation/fra/metrics.jsonl",
                  "{\"step\":1,\"loss\":4.1,\"lr\":0.0001}\n{bad\n{\"step\":3,\"loss\":4.0}\n{\"step\":4,\"lo");
}

std::string settingsJson(int steps, int batchSequences, int seqLen) {
  return Json{{"training", {{"steps", steps}, {"batch_sequences", batchSequences}, {"seq_len", seqLen}}},
              {"device", "cpu"}}
      .dump();
}

// Training tokens by hand: train/stage1 16 a step (2 × 8), 4 steps = 64 tokens; train/stage2 16 a step
// (4 × 4) from 64 on, so its step 1 is token 80 and its step 2 token 96; dense-continue 32 a step (2 × 16)
// from 0, its 3 steps the same 96 tokens; pretrain 8 a step; deviation/fra has no settings.json.
void writeTokenFixtures(const fs::path& runs) {
  test::writeText(runs / "train/stage1/settings.json", settingsJson(4, 2, 8));
  test::writeText(runs / "train/stage1/metrics.jsonl",
                  "{\"step\":2,\"loss\":5,\"router_loss\":1.0,\"eval_ppl_mean\":40}\n"
                  "{\"step\":4,\"loss\":4,\"router_loss\":0.5,\"eval_ppl_mean\":30}\n");
  test::writeText(runs / "train/stage2/settings.json", settingsJson(2, 4, 4));
  test::writeText(runs / "train/stage2/metrics.jsonl",
                  "{\"step\":1,\"loss\":3.5,\"balance_loss\":1.2,\"eval_ppl\":{\"fra\":25},\"eval_ppl_mean\":25}\n"
                  "{\"step\":2,\"loss\":3,\"balance_loss\":1.1,\"eval_ppl\":{\"fra\":20},\"eval_ppl_mean\":20}\n");
  test::writeText(runs / "baselines/dense-continue/train/settings.json", settingsJson(3, 2, 16));
  test::writeText(runs / "baselines/dense-continue/train/metrics.jsonl",
                  "{\"step\":1,\"loss\":5.5}\n{\"step\":2,\"loss\":4.5,\"eval_ppl_mean\":35}\n"
                  "{\"step\":3,\"loss\":4,\"eval_ppl_mean\":28}\n");
  test::writeText(runs / "pretrain/settings.json", settingsJson(3, 1, 8));
  test::writeText(runs / "pretrain/metrics.jsonl", "{\"step\":1,\"loss\":7}\n{\"step\":2,\"loss\":6}\n{\"step\":3,\"loss\":5.5}\n");
  test::writeText(runs / "deviation/fra/metrics.jsonl", "{\"step\":1,\"loss\":4.1}\n{\"step\":2,\"loss\":4.0}\n");
}

fs::path copyDemoProject(const QTemporaryDir& tmp) {
  const fs::path file = fs::path(tmp.path().toStdString()) / "udhr-18.dmoe.json";
  fs::copy_file(test::sourceDir() / "projects" / "udhr-18.dmoe.json", file);
  return file;
}

// A stand-in for `dmoe`: appends its arguments to calls.txt, then runs `body` (sh).
QString writeFakeCli(const fs::path& dir, const std::string& body) {
  const fs::path script = dir / "fake-dmoe.sh";
  test::writeText(script, "#!/bin/sh\necho \"$@\" >> '" + (dir / "calls.txt").string() + "'\n" + body + "\n");
  fs::permissions(script, fs::perms::owner_all);
  return QString::fromStdString(script.string());
}

QStringList calls(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / "calls.txt", ec)) return {};
  return QString::fromStdString(test::readText(dir / "calls.txt")).split('\n', Qt::SkipEmptyParts);
}

// Answers the next modal message box (the "save first?" question) with `button`.
void answerNextMessageBox(QMessageBox::StandardButton button) {
  QTimer::singleShot(0, [button] {
    auto* box = qobject_cast<QMessageBox*>(QApplication::activeModalWidget());
    if (!box) return answerNextMessageBox(button);  // not open yet
    box->button(button)->click();
  });
}

QStringList labelsOf(const LineChart& chart) {
  QStringList out;
  for (const ChartLine& l : chart.lines()) out << l.label;
  return out;
}

}  // namespace

class TestRunsView : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { test::useScratchSettings("test_runs_view"); }

  void metricsFilesAreReadInPipelineOrder() {
    QTemporaryDir tmp;
    const fs::path runs = fs::path(tmp.path().toStdString()) / "runs";
    writeMetricsFixtures(runs);
    RunMetrics metrics;
    QSignalSpy reset(&metrics, &RunMetrics::reset);
    metrics.load(runs);
    QCOMPARE(reset.count(), 1);
    QCOMPARE(metrics.runIds(), QStringList({"deviation/fra", "train/stage1", "train/stage2"}));
    QCOMPARE(metrics.run("train/stage1")->scalars.value("loss"), points({{1, 5}, {2, 4}, {3, 3}}));
    QCOMPARE(metrics.run("train/stage1")->scalars.value("router_loss"), points({{1, 1.0}, {2, 0.8}, {3, 0.6}}));
    QCOMPARE(metrics.run("train/stage2")->evalPpl.value("fra"), points({{2, 20}}));
    QCOMPARE(metrics.run("train/stage2")->evalPpl.value("deu_1996"), points({{2, 30}}));
    QCOMPARE(metrics.run("train/stage2")->scalars.value("eval_ppl_mean"), points({{2, 25}}));
    QCOMPARE(metrics.run("train/stage2")->lastStep(), 2.0);
    // Line 2 is named; the unterminated last line is a run still writing, not a problem.
    QCOMPARE(metrics.problems().size(), 1);
    QVERIFY2(metrics.problems()[0].contains("deviation/fra/metrics.jsonl:2"), qPrintable(metrics.problems()[0]));
    QCOMPARE(metrics.run("deviation/fra")->scalars.value("loss"), points({{1, 4.1}, {3, 4.0}}));
    metrics.load({});
    QVERIFY(metrics.runIds().isEmpty());
  }

  void restartedRunReplacesLaterPoints() {
    RunCurves run;
    for (int s = 1; s <= 3; ++s) run.add(s, QJsonObject{{"loss", 10.0 - s}});
    run.add(2, QJsonObject{{"loss", 99.0}});  // resumed from the checkpoint of step 1
    QCOMPARE(run.scalars.value("loss"), points({{1, 9}, {2, 99}}));
    run.add(1, QJsonObject{{"loss", 7.0}, {"eval_ppl", QJsonObject{{"fra", 5.0}}}});  // started afresh
    QCOMPARE(run.scalars.value("loss"), points({{1, 7}}));
    QCOMPARE(run.evalPpl.value("fra"), points({{1, 5}}));

    QTemporaryDir tmp;
    const fs::path runs = fs::path(tmp.path().toStdString()) / "runs";
    RunMetrics metrics;
    metrics.load(runs);
    QSignalSpy added(&metrics, &RunMetrics::runAdded), updated(&metrics, &RunMetrics::runUpdated);
    const QString runPath = QString::fromStdString((runs / "adapt" / "train").string());
    for (int s = 1; s <= 2; ++s)
      metrics.addEvent(QJsonObject{{"event", "metrics"}, {"stage", "adapt:train"}, {"step", s}, {"run", runPath},
                                   {"values", QJsonObject{{"step", s}, {"loss", 3.0 - s}}}});
    metrics.addEvent(QJsonObject{{"event", "log"}, {"message", "not metrics"}});
    metrics.addEvent(QJsonObject{{"event", "metrics"}, {"step", 1}, {"values", QJsonObject{{"loss", 1.0}}}});  // no run
    QCOMPARE(added.count(), 1);
    QCOMPARE(added.at(0).at(0).toString(), QString("adapt/train"));
    QCOMPARE(updated.count(), 2);
    QCOMPARE(metrics.run("adapt/train")->scalars.value("loss"), points({{1, 2}, {2, 1}}));
  }

  void trainingTokensChainStage1AndStage2() {
    QTemporaryDir tmp;
    const fs::path runs = fs::path(tmp.path().toStdString()) / "runs";
    writeTokenFixtures(runs);
    RunMetrics metrics;
    metrics.load(runs);
    const RunCurves* stage1 = metrics.run("train/stage1");
    const RunCurves* stage2 = metrics.run("train/stage2");
    QVERIFY(stage1->knowsTokens() && stage2->knowsTokens());
    QCOMPARE(stage1->tokensPerStep, 16.0);
    QCOMPARE(stage1->tokenOffset, 0.0);
    QCOMPARE(stage2->tokenOffset, 64.0);  // stage 1's 4 steps × 16
    QCOMPARE(stage2->tokensAt(1), 80.0);
    QCOMPARE(metrics.run("baselines/dense-continue/train")->tokensAt(3), 96.0);  // the budget of stage 1 + 2
    QCOMPARE(metrics.earlierStage("train/stage2"), QString("train/stage1"));
    QCOMPARE(metrics.earlierStage("train/stage1"), QString());
    QCOMPARE(metrics.earlierStage("baselines/dense-continue/train"), QString());

    QCOMPARE(metrics.tokenCurves("train/stage2", false)->scalars.value("loss"), points({{80, 3.5}, {96, 3}}));
    QCOMPARE(metrics.tokenCurves("train/stage2", false)->evalPpl.value("fra"), points({{80, 25}, {96, 20}}));
    const std::optional<RunCurves> chained = metrics.tokenCurves("train/stage2", true);
    QCOMPARE(chained->scalars.value("loss"), points({{32, 5}, {64, 4}, {80, 3.5}, {96, 3}}));
    QCOMPARE(chained->scalars.value("router_loss"), points({{32, 1.0}, {64, 0.5}}));  // stage 1's only
    QCOMPARE(chained->scalars.value("eval_ppl_mean"), points({{32, 40}, {64, 30}, {80, 25}, {96, 20}}));
    QCOMPARE(stage2->scalars.value("loss"), points({{1, 3.5}, {2, 3}}));  // stored by step
    QCOMPARE(metrics.tokenCurves("baselines/dense-continue/train", true)->scalars.value("loss"),
             points({{32, 5.5}, {64, 4.5}, {96, 4}}));

    // No settings.json: steps only, and the note says why.
    const RunCurves* fra = metrics.run("deviation/fra");
    QVERIFY(!fra->knowsTokens());
    QVERIFY(!metrics.tokenCurves("deviation/fra", true));
    QVERIFY2(fra->tokensNote.contains("settings.json is missing"), qPrintable(fra->tokensNote));

    // A stage 2 whose stage 1 has unreadable settings is not placed at all (rather than at 0).
    test::writeText(runs / "layermoe/uniform/stage1/settings.json", "{\"training\":{\"steps\":4}}");
    test::writeText(runs / "layermoe/uniform/stage2/settings.json", settingsJson(2, 4, 4));
    test::writeText(runs / "layermoe/uniform/stage2/metrics.jsonl", "{\"step\":1,\"loss\":3}\n");
    metrics.load(runs);
    const RunCurves* layermoe = metrics.run("layermoe/uniform/stage2");
    QVERIFY(!layermoe->knowsTokens());
    QVERIFY2(layermoe->tokensNote.contains("layermoe/uniform/stage1") &&
                 layermoe->tokensNote.contains("/training/batch_sequences: expected a positive integer"),
             qPrintable(layermoe->tokensNote));

    // Live: a stage 2's first event reads its settings.json and its stage 1's (40 tokens, no metrics yet).
    test::writeText(runs / "baselines/random-groups/train/stage1/settings.json", settingsJson(5, 1, 8));
    test::writeText(runs / "baselines/random-groups/train/stage2/settings.json", settingsJson(2, 2, 8));
    auto event = [&](const std::string& run, int step) {
      metrics.addEvent(QJsonObject{{"event", "metrics"}, {"step", step}, {"run", QString::fromStdString((runs / run).string())},
                                   {"values", QJsonObject{{"step", step}, {"loss", 3.0}}}});
    };
    event("baselines/random-groups/train/stage2", 1);
    QCOMPARE(metrics.tokenCurves("baselines/random-groups/train/stage2", true)->scalars.value("loss"), points({{56, 3}}));
    // A live run whose settings.json appears late is read again at its next event.
    event("adapt/train", 1);
    QVERIFY(!metrics.run("adapt/train")->knowsTokens());
    test::writeText(runs / "adapt/train/settings.json", settingsJson(10, 1, 4));
    event("adapt/train", 2);
    QCOMPARE(metrics.tokenCurves("adapt/train", false)->scalars.value("loss"), points({{4, 3}, {8, 3}}));
  }

  // The Runs tab's x axis: training tokens when the DMoE meets the dense baseline, steps otherwise.
  void tokensAxisLinesUpTheDmoeAndTheBaseline() {
    QTemporaryDir tmp;
    const fs::path file = copyDemoProject(tmp);
    writeTokenFixtures(Project::load(file).runsDir());
    MainWindow window;
    window.resize(1400, 900);
    QVERIFY(window.openProject(QString::fromStdString(file.string())));
    RunsView& view = window.runsView();
    window.findChild<QTabWidget*>("centralTabs")->setCurrentWidget(&view);
    window.show();
    auto* axisBox = view.findChild<QComboBox*>("xAxisBox");
    auto* axisNote = view.findChild<QLabel*>("xAxisNote");
    const QString dense = "baselines/dense-continue/train";

    // Opened on the DMoE's stage 2 and the dense baseline: training tokens, stage 1 drawn before stage 2.
    QCOMPARE(view.checkedRuns(), QStringList({"train/stage2", dense}));
    QCOMPARE(view.xAxis(), RunsView::XAxis::Tokens);
    QCOMPARE(axisBox->currentText(), QString("training tokens"));
    QCOMPARE(labelsOf(*view.pplChart()), QStringList({"train/stage1 → stage2 · mean", dense + " · mean"}));
    QCOMPARE(view.pplChart()->lines()[0].points, points({{32, 40}, {64, 30}, {80, 25}, {96, 20}}));
    QCOMPARE(view.pplChart()->lines()[1].points, points({{64, 35}, {96, 28}}));
    QCOMPARE(view.lossChart()->lines()[0].points, points({{32, 5}, {64, 4}, {80, 3.5}, {96, 3}}));
    QCOMPARE(view.lossChart()->lines()[1].points, points({{32, 5.5}, {64, 4.5}, {96, 4}}));
    const QPointF x = view.pplChart()->xRange();
    QVERIFY2(x.x() <= 32 && x.y() >= 96 && x.y() < 200, "the token axis covers tokens 32–96");
    QVERIFY(!axisNote->isVisibleTo(&view));
    const CsvTable csv = view.pplChart()->table();  // the export carries the x the chart shows
    QCOMPARE(csv.header, QStringList({"line", "training tokens", "perplexity"}));
    QCOMPARE(csv.rows[2], QStringList({"train/stage1 → stage2 · mean", "80", "25"}));
    QVERIFY(test::saveScreenshot(view, "runs-view-tokens.png"));

    // Stage 1 ticked as well: two runs of their own, stage 2 from token 64 on.
    view.setChecked("train/stage1", true);
    view.redrawNow();
    QCOMPARE(labelsOf(*view.lossChart()), QStringList({"train/stage1", "train/stage2", dense}));
    QCOMPARE(view.lossChart()->lines()[0].points, points({{32, 5}, {64, 4}}));
    QCOMPARE(view.lossChart()->lines()[1].points, points({{80, 3.5}, {96, 3}}));

    // One pretraining run, then stage 2 alone: steps.
    for (const QString& id : view.checkedRuns()) view.setChecked(id, false);
    view.setChecked("pretrain", true);
    view.redrawNow();
    QCOMPARE(view.xAxis(), RunsView::XAxis::Steps);
    QCOMPARE(view.lossChart()->lines()[0].points, points({{1, 7}, {2, 6}, {3, 5.5}}));
    QCOMPARE(view.lossChart()->table().header[1], QString("step"));
    view.setChecked("pretrain", false);
    view.setChecked("train/stage2", true);
    view.redrawNow();
    QCOMPARE(view.xAxis(), RunsView::XAxis::Steps);
    QCOMPARE(view.pplChart()->lines()[0].points, points({{1, 25}, {2, 20}}));  // the mean, per step

    // A run without settings.json stays at its steps on the token axis, and the note says so.
    view.setChecked(dense, true);
    view.setChecked("deviation/fra", true);
    view.redrawNow();
    QCOMPARE(view.xAxis(), RunsView::XAxis::Tokens);
    QCOMPARE(labelsOf(*view.lossChart()), QStringList({"deviation/fra (by step)", "train/stage1 → stage2", dense}));
    QCOMPARE(view.lossChart()->lines()[0].points, points({{1, 4.1}, {2, 4.0}}));
    QVERIFY(axisNote->isVisibleTo(&view));
    QVERIFY2(axisNote->text().contains("deviation/fra: ") && axisNote->text().contains("settings.json is missing"),
             qPrintable(axisNote->text()));

    // The user's choice sticks when the ticks change.
    axisBox->setCurrentIndex(int(RunsView::XAxis::Steps));  // as the user picks it
    QCOMPARE(view.lossChart()->lines()[1].points, points({{1, 3.5}, {2, 3}}));
    QCOMPARE(view.lossChart()->table().header[1], QString("step"));
    view.setChecked("deviation/fra", false);
    view.redrawNow();
    QCOMPARE(view.checkedRuns(), QStringList({"train/stage2", dense}));
    QCOMPARE(view.xAxis(), RunsView::XAxis::Steps);
    QVERIFY(!axisNote->isVisibleTo(&view));
  }

  void tickedRunsAreDrawnAndOverlaid() {
    QTemporaryDir tmp;
    const fs::path file = copyDemoProject(tmp);
    writeMetricsFixtures(Project::load(file).runsDir());
    MainWindow window;
    window.resize(1400, 900);
    auto* tabs = window.findChild<QTabWidget*>("centralTabs");
    QCOMPARE(tabs->tabText(tabs->count() - 1), QString("Runs"));
    QVERIFY(window.openProject(QString::fromStdString(file.string())));
    RunsView& view = window.runsView();
    tabs->setCurrentWidget(&view);
    window.show();

    // The DMoE's stage 2 is ticked by default: one loss line, PPL per language with the mean.
    QCOMPARE(view.checkedRuns(), QStringList({"train/stage2"}));
    QCOMPARE(view.lossChart()->lines().size(), 1);
    QCOMPARE(view.lossChart()->lines()[0].points, points({{1, 3}, {2, 2.5}}));
    QCOMPARE(labelsOf(*view.pplChart()), QStringList({"mean", "de", "fr"}));  // languages in project order
    QVERIFY(view.pplChart()->logY());
    QCOMPARE(view.routerChart()->lines().size(), 1);
    QCOMPARE(view.routerChart()->lines()[0].style, Qt::DashLine);  // balance loss

    // Ticking stage 1 overlays it: a second loss line in another colour; PPL as one mean per run.
    view.setChecked("train/stage1", true);
    view.redrawNow();
    QCOMPARE(view.checkedRuns(), QStringList({"train/stage1", "train/stage2"}));
    const auto& loss = view.lossChart()->lines();
    QCOMPARE(loss.size(), 2);
    QCOMPARE(loss[0].points, points({{1, 5}, {2, 4}, {3, 3}}));
    QVERIFY(loss[0].color != loss[1].color);
    QCOMPARE(labelsOf(*view.pplChart()), QStringList({"train/stage2 · mean"}));
    QCOMPARE(view.routerChart()->lines().size(), 2);
    QCOMPARE(view.routerChart()->lines()[0].style, Qt::SolidLine);  // router (L_RC) of stage 1
    const QPointF y = view.lossChart()->yRange();
    QVERIFY2(y.x() <= 2.5 && y.y() >= 5, "the loss axis covers every point");
    const QPointF x = view.lossChart()->xRange();
    QVERIFY2(x.x() <= 1 && x.y() >= 3 && x.y() - x.x() < 4, "the step axis covers steps 1–3 and not much more");
    QCOMPARE(view.lossChart()->table().rows.size(), 5);  // 3 + 2 points in long form
    QCOMPARE(view.lossChart()->table().rows[0], QStringList({"train/stage1", "1", "5"}));
    // Export: the chart as vector SVG (its lines are paths, its labels text) and its numbers as CSV.
    QTemporaryDir out;
    const QString svg = out.filePath("loss.svg"), csv = out.filePath("loss.csv");
    QCoreApplication::processEvents();
    writeSvg(*view.lossChart(), svg, "loss");
    writeCsv(csv, view.lossChart()->table());
    const std::string svgText = test::readText(svg.toStdString());
    QVERIFY(svgText.find("<svg") != std::string::npos && svgText.find("<path") != std::string::npos);
    QVERIFY(svgText.find(">step<") != std::string::npos);
    QCOMPARE(QString::fromStdString(test::readText(csv.toStdString())).split('\n')[0], QString("line,step,LM loss (nats/token)"));

    // The malformed metrics line is reported in the view.
    auto* note = view.findChild<QLabel*>("runsNote");
    QVERIFY(note->isVisibleTo(&view));
    QVERIFY(note->text().contains("metrics.jsonl:2"));
    QVERIFY(test::saveScreenshot(view, "runs-view-fixture.png"));

    view.setChecked("train/stage1", false);
    view.setChecked("train/stage2", false);
    view.redrawNow();
    QVERIFY(view.lossChart()->lines().isEmpty());
  }

  // A recorded stream of a training command played by a stand-in `dmoe`: the
  // same StageRunner → StageQueue → RunMetrics → RunsView path as a real run.
  void recordedEventStreamDrivesTheCharts() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    const fs::path file = copyDemoProject(tmp);
    const fs::path runs = Project::load(file).runsDir();
    writeMetricsFixtures(runs);
    const std::string run = (runs / "baselines" / "dense-continue" / "train").string();
    std::string stream = "{\"v\":1,\"event\":\"stage\",\"stage\":\"baselines\",\"t\":0,\"status\":\"started\"}\n";
    const double loss[] = {6, 5, 4, 3};
    for (int s = 1; s <= 4; ++s) {
      Json values{{"step", s}, {"loss", loss[s - 1]}, {"lr", 0.001}};
      if (s % 2 == 0) values["eval_ppl"] = {{"fra", 100.0 / s}, {"deu_1996", 200.0 / s}};
      if (s % 2 == 0) values["eval_ppl_mean"] = 150.0 / s;
      stream += Json{{"v", 1}, {"event", "metrics"}, {"stage", "baselines:dense-continue"}, {"t", s},
                     {"step", s}, {"values", values}, {"run", run}}.dump() + "\n";
      stream += Json{{"v", 1}, {"event", "progress"}, {"stage", "baselines:dense-continue"}, {"t", s},
                     {"done", s}, {"total", 4}, {"unit", "steps"}}.dump() + "\n";
    }
    stream += "{\"v\":1,\"event\":\"stage\",\"stage\":\"baselines\",\"t\":5,\"status\":\"done\"}\n";
    test::writeText(dir / "stream.jsonl", stream);

    MainWindow window;
    window.stageRunner().setProgram(writeFakeCli(dir, "cat '" + (dir / "stream.jsonl").string() + "'"));
    QVERIFY(window.openProject(QString::fromStdString(file.string())));
    RunsView& view = window.runsView();
    view.setChecked("train/stage2", false);  // watch only the live run
    QSignalSpy finished(&window.stageQueue(), &StageQueue::jobFinished);
    auto* stageBox = view.findChild<QComboBox*>("stageBox");
    stageBox->setCurrentText("baselines");
    view.findChild<QPushButton*>("runStageButton")->click();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 10000);
    QCOMPARE(finished.at(0).at(1).toInt(), 0);
    QCOMPARE(calls(dir), QStringList({"--events jsonl run " + QString::fromStdString(file.string()) +
                                      " --from baselines --until baselines"}));

    // The new run was ticked for us and its curves are the recorded values.
    QCOMPARE(view.checkedRuns(), QStringList({"baselines/dense-continue/train"}));
    view.redrawNow();
    QCOMPARE(view.lossChart()->lines().size(), 1);
    QCOMPARE(view.lossChart()->lines()[0].points, points({{1, 6}, {2, 5}, {3, 4}, {4, 3}}));
    QCOMPARE(labelsOf(*view.pplChart()), QStringList({"mean", "de", "fr"}));  // languages in project order
    QCOMPARE(view.pplChart()->lines()[1].points, points({{2, 100}, {4, 50}}));
    QCOMPARE(view.pplChart()->lines()[2].points, points({{2, 50}, {4, 25}}));
    QCOMPARE(view.pplChart()->lines()[0].points, points({{2, 75}, {4, 37.5}}));
    auto* tree = view.findChild<QTreeWidget*>("runTree");
    const auto found = tree->findItems("dense-continue/train", Qt::MatchExactly | Qt::MatchRecursive, 0);
    QCOMPARE(found.size(), 1);
    QCOMPARE(found[0]->text(1), QString("4"));
    QCOMPARE(found[0]->text(3), QString("37.5"));
    QVERIFY2(window.logDock().text().contains("✓ Stage baselines finished"), qPrintable(window.logDock().text()));
  }

  void queueRunsInOrderAndStopsAfterAFailure() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    StageRunner runner;
    runner.setProgram(writeFakeCli(dir, "[ \"$3\" = fail ] && exit 1\nexit 0"));
    StageQueue queue(runner);
    QSignalSpy finished(&queue, &StageQueue::jobFinished), stopped(&queue, &StageQueue::stopped);
    const int first = queue.enqueue("first", {"ok", "1"});
    queue.enqueue("second", {"fail"});
    queue.enqueue("third", {"ok", "3"});
    QVERIFY(queue.isBusy());
    QCOMPARE(queue.current()->id, first);
    QCOMPARE(queue.pending().size(), 2);
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 10000);
    QCOMPARE(finished.at(0).at(1).toInt(), 0);
    QCOMPARE(finished.at(1).at(1).toInt(), 1);
    QCOMPARE(stopped.count(), 1);
    QCOMPARE(stopped.at(0).at(1).toInt(), 1);  // "third" dropped
    QTest::qWait(200);
    QCOMPARE(calls(dir), QStringList({"--events jsonl ok 1", "--events jsonl fail"}));
    QVERIFY(!queue.isBusy());

    // Removing a waiting job; cancel reaches the running command.
    test::writeText(dir / "calls.txt", "");
    runner.setProgram(writeFakeCli(dir, "exec sleep 30"));
    queue.enqueue("long", {"a"});
    const int waiting = queue.enqueue("waiting", {"b"});
    queue.remove(waiting);
    QVERIFY(queue.pending().isEmpty());
    QTRY_VERIFY_WITH_TIMEOUT(!calls(dir).isEmpty(), 5000);
    queue.cancel();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 3, 10000);
    QCOMPARE(finished.at(2).at(2).toBool(), true);
  }

  // The wizard's readers name the file and the JSON path of what is wrong.
  void probeAndAdaptationReadersNameTheProblem() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    test::writeText(dir / "probe.json",
                    Json{{"experts", {{"fra"}, {"rus"}}},
                         {"languages", {{"bel", {{"ppl_per_expert", {10.0, 5.0}}, {"best_expert", 2}}}}}}
                        .dump());
    test::writeText(dir / "short.json",
                    Json{{"experts", {{"fra"}, {"rus"}}}, {"languages", {{"bel", {{"ppl_per_expert", {10.0}}, {"best_expert", 0}}}}}}
                        .dump());
    test::writeText(dir / "adaptation.json", Json{{"new_experts", Json::array()}, {"languages", {{{"language", "bel"}}}}}.dump());
    auto messageOf = [](auto read, const fs::path& file) {
      try {
        read(file);
      } catch (const std::exception& e) {
        return std::string(e.what());
      }
      return std::string("no error");
    };
    const std::string bestOutOfRange = messageOf(ProbeTable::read, dir / "probe.json");
    QVERIFY2(bestOutOfRange.find((dir / "probe.json").string() + ": /languages/bel/best_expert: expected an expert below 2") !=
                 std::string::npos,
             bestOutOfRange.c_str());
    const std::string tooShort = messageOf(ProbeTable::read, dir / "short.json");
    QVERIFY2(tooShort.find("/languages/bel/ppl_per_expert: expected a list of 2 numbers") != std::string::npos, tooShort.c_str());
    const std::string missing = messageOf(AdaptationResult::read, dir / "adaptation.json");
    QVERIFY2(missing.find("adaptation.json: /languages/0/new: expected a value (it is missing)") != std::string::npos,
             missing.c_str());
  }

  void adaptationWizardProbesAndReports() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    const fs::path file = copyDemoProject(tmp);
    const fs::path runs = Project::load(file).runsDir();
    test::writeText(runs / "train/model/config.json", "{}");  // "a trained DMoE exists"
    // Probe: be nearest to expert 1, mr to 0, sr to 2 (hand-set PPLs).
    test::writeText(runs / "probe/probe.json",
                    Json{{"experts", {{"fra"}, {"rus"}, {"hin"}}},
                         {"languages",
                          {{"bel", {{"ppl_per_expert", {100.0, 40.0, 70.0}}, {"best_expert", 1}, {"documents", 32}}},
                           {"srp_cyrl", {{"ppl_per_expert", {80.0, 50.0, 45.0}}, {"best_expert", 2}, {"documents", 32}}},
                           {"mar", {{"ppl_per_expert", {30.0, 60.0, 90.0}}, {"best_expert", 0}, {"documents", 32}}}}}}
                        .dump());
    test::writeText(runs / "adapt/adaptation.json",
                    Json{{"new_experts", {{{"expert", 3}, {"copied_from", 1}, {"languages", {"bel"}}}}},
                         {"frozen_tensors_checked", 154},
                         {"frozen_bit_identical", true},
                         {"old_hard_ppl_unchanged", true},
                         {"languages",
                          {{{"language", "fra"}, {"label", "fr"}, {"new", false}, {"hard_before", 100.0},
                            {"hard_after", 100.0}, {"soft_before", 90.0}, {"soft_after", 99.0}},
                           {{"language", "bel"}, {"label", "be"}, {"new", true}, {"hard_before", nullptr},
                            {"hard_after", 300.0}, {"soft_before", 800.0}, {"soft_after", 400.0}}}},
                         {"soft_average_before", 90.0},
                         {"soft_average_after", 99.0},
                         {"new_soft_average_before", 800.0},
                         {"new_hard_average_after", 300.0}}
                        .dump());

    MainWindow window;
    window.stageRunner().setProgram(writeFakeCli(dir, "exit 0"));
    QVERIFY(window.openProject(QString::fromStdString(file.string())));
    window.showAdaptationWizard();
    auto* wizard = window.findChild<AdaptationWizard*>();
    QVERIFY(wizard && wizard->isVisible());
    QCOMPARE(wizard->currentId(), int(AdaptationWizard::LanguagesPage));
    QCOMPARE(wizard->chosenLanguages(), QStringList({"bel", "srp_cyrl", "mal", "mar"}));  // all by default
    wizard->setChosenLanguages({"bel", "srp_cyrl", "mar"});

    // Next stores the choice in the project (after the save question) and probes those languages.
    answerNextMessageBox(QMessageBox::Save);
    wizard->next();
    QCOMPARE(wizard->currentId(), int(AdaptationWizard::ProbePage));
    QTRY_VERIFY_WITH_TIMEOUT(wizard->probeTable()->rowCount() == 3, 10000);
    const Json saved = Json::parse(test::readText(file));
    QCOMPARE(saved["adaptation"]["languages"], Json({"bel", "srp_cyrl", "mar"}));
    QVERIFY(!window.document().isDirty());
    QCOMPARE(calls(dir).value(0), "--events jsonl probe " + QString::fromStdString(file.string()) +
                                      " --languages bel,srp_cyrl,mar");

    // Each row's lowest PPL is bold; the plan groups by nearest expert, numbered after the old ones.
    QTableWidget* probe = wizard->probeTable();
    QCOMPARE(probe->columnCount(), 4);
    QCOMPARE(probe->item(0, 0)->text(), QString("be"));
    const int bestColumn[] = {2, 3, 1};  // be → expert 1, sr → expert 2, mr → expert 0 (column = expert + 1)
    for (int r = 0; r < 3; ++r)
      for (int c = 1; c < 4; ++c)
        QCOMPARE(probe->item(r, c)->font().bold(), c == bestColumn[r]);
    QCOMPARE(probe->item(2, 1)->text(), QString("30.0"));
    QVERIFY(probe->horizontalHeaderItem(2)->text().contains("ru"));
    QVERIFY2(wizard->probePlan().contains("new expert 3 ← copy of expert 0: mr; new expert 4 ← copy of expert 1: be; "
                                          "new expert 5 ← copy of expert 2: sr"),
             qPrintable(wizard->probePlan()));
    wizard->resize(900, 600);
    QVERIFY(test::saveScreenshot(*wizard, "adaptation-wizard-probe.png"));

    // Adapt: launched with the button; Next only once it succeeded.
    wizard->next();
    QCOMPARE(wizard->currentId(), int(AdaptationWizard::AdaptPage));
    QVERIFY(!wizard->button(QWizard::NextButton)->isEnabled());
    wizard->findChild<QPushButton*>("startAdaptation")->click();
    QTRY_VERIFY_WITH_TIMEOUT(wizard->button(QWizard::NextButton)->isEnabled(), 10000);
    QCOMPARE(calls(dir).value(1), "--events jsonl adapt " + QString::fromStdString(file.string()));

    // Results: new languages first, changes of the learned-router PPL.
    wizard->next();
    QTableWidget* results = wizard->resultsTable();
    QCOMPARE(results->rowCount(), 2);
    QCOMPARE(results->item(0, 0)->text(), QString("be (new)"));
    QCOMPARE(results->item(0, 1)->text(), QString("–"));
    QCOMPARE(results->item(0, 2)->text(), QString("300.0"));
    QCOMPARE(results->item(0, 5)->text(), QString("-50.0 %"));
    QCOMPARE(results->item(1, 5)->text(), QString("10.0 %"));
    QVERIFY2(wizard->resultsSummary().contains("154 frozen tensors bit-identical"), qPrintable(wizard->resultsSummary()));
    QVERIFY(wizard->resultsSummary().contains("expert 3 (copy of 1) for be"));
    QVERIFY(test::saveScreenshot(*wizard, "adaptation-wizard-results.png"));
  }
};

QTEST_MAIN(TestRunsView)
#include "test_runs_view.moc"
