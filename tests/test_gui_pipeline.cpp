// Real stages launched from the GUI on the micro project (tests/micro_project.h),
// through the real `dmoe`: "Run up to here" from the Runs tab fills the loss
// chart live; Cancel stops pretraining cleanly (exit 143, a checkpoint) and the
// next launch resumes it, the curve continuing without a repeated step; the
// DMoE's held-out PPL chart fills per language; the adaptation wizard probes
// the new languages (the highlighted expert is each row's minimum), adapts
// them with a live loss chart, and shows the before/after table. Screenshots
// go to DMOE_TEST_OUTPUT. With two processes per stage, `run` goes through
// torchrun and the stream is rank 0's.
#include <QAbstractButton>
#include <QComboBox>
#include <QPushButton>
#include <QSignalSpy>
#include <QTabWidget>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>

#include "adaptation_wizard.h"
#include "line_chart.h"
#include "log_dock.h"
#include "main_window.h"
#include "micro_project.h"
#include "run_metrics.h"
#include "runs_view.h"
#include "stage_queue.h"
#include "stage_runner.h"
#include "gui_test_support.h"
#include "test_support.h"

using namespace dmoe;
using namespace dmoe::views;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kPretrainSteps = 150;

QList<double> stepsOf(const RunCurves* run) {
  QList<double> steps;
  if (run)
    for (const QPointF& p : run->scalars.value("loss")) steps << p.x();
  return steps;
}

// The newest step-N folder of checkpoints/ with its `complete` marker (0 when none).
std::int64_t latestCompleteCheckpoint(const fs::path& runDir) {
  std::int64_t latest = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(runDir / "checkpoints", ec))
    if (entry.path().filename().string().rfind("step-", 0) == 0 && fs::exists(entry.path() / "complete"))
      latest = std::max(latest, std::int64_t(std::stoll(entry.path().filename().string().substr(5))));
  return latest;
}

QList<double> oneTo(std::int64_t n) {
  QList<double> out;
  for (std::int64_t i = 1; i <= n; ++i) out << double(i);
  return out;
}

}  // namespace

class TestGuiPipeline : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { test::useScratchSettings("test_gui_pipeline"); }

  void stagesLaunchedFromTheGuiCancelResumeAndAdapt() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    const fs::path file = test::writeMicroProject(dir, {{"base_model", {{"pretrain", {{"steps", kPretrainSteps}}}}}});
    const fs::path runs = dir / "runs";
    MainWindow window;
    window.resize(1400, 900);
    window.stageRunner().setProgram(QString::fromStdString(test::cliPath().string()));
    QVERIFY(window.openProject(QString::fromStdString(file.string())));
    window.show();
    RunsView& view = window.runsView();
    window.findChild<QTabWidget*>("centralTabs")->setCurrentWidget(&view);
    StageQueue& queue = window.stageQueue();
    QSignalSpy finished(&queue, &StageQueue::jobFinished);
    auto* stageBox = view.findChild<QComboBox*>("stageBox");
    auto* runUntil = view.findChild<QPushButton*>("runUntilButton");

    // 1. Up to pretrain; Cancel as soon as the first steps are drawn.
    stageBox->setCurrentText("pretrain");
    runUntil->click();
    QTRY_VERIFY_WITH_TIMEOUT(stepsOf(window.runMetrics().run("pretrain")).size() >= 2, 60000);
    QVERIFY(queue.isBusy());
    view.findChild<QPushButton*>("cancelButton")->click();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 1, 30000);
    QCOMPARE(finished.at(0).at(1).toInt(), 143);  // stopped by SIGTERM, cleanly
    QCOMPARE(finished.at(0).at(2).toBool(), true);
    QVERIFY(window.logDock().text().contains("cancelled"));
    const std::int64_t stoppedAt = latestCompleteCheckpoint(runs / "pretrain");
    QVERIFY2(stoppedAt > 0 && stoppedAt < kPretrainSteps, "cancelling leaves a complete checkpoint");
    qInfo("cancelled from the GUI at step %lld of %lld", static_cast<long long>(stoppedAt),
          static_cast<long long>(kPretrainSteps));

    // 2. Up to train: pretraining resumes at the checkpoint, then the DMoE stages run.
    stageBox->setCurrentText("train");
    runUntil->click();
    QTRY_COMPARE_WITH_TIMEOUT(finished.count(), 2, 240000);
    QVERIFY2(finished.at(1).at(1).toInt() == 0, qPrintable(window.logDock().text().right(3000)));
    QVERIFY(window.logDock().text().contains(QString("resum")));
    // The live curve and the file agree: every step once, the resumed ones replacing the cancelled tail.
    QCOMPARE(stepsOf(window.runMetrics().run("pretrain")), oneTo(kPretrainSteps));
    RunMetrics reread;
    reread.load(runs);
    QCOMPARE(stepsOf(reread.run("pretrain")), oneTo(kPretrainSteps));
    QCOMPARE(reread.run("pretrain")->scalars.value("loss"), window.runMetrics().run("pretrain")->scalars.value("loss"));

    // The DMoE's stage 2 with held-out PPL of every training language (evaluation.every_steps 4 of 6 steps).
    for (const QString& id : view.checkedRuns()) view.setChecked(id, false);
    view.setChecked("train/stage2", true);
    view.redrawNow();
    QStringList labels;
    for (const ChartLine& line : view.pplChart()->lines()) labels << line.label;
    QCOMPARE(labels, QStringList({"mean", "en", "nl", "de", "ru", "uk"}));
    QCOMPARE(view.pplChart()->lines()[1].points.size(), 2);
    QCOMPARE(view.pplChart()->lines()[1].points[0].x(), 4.0);
    QCOMPARE(view.lossChart()->lines()[0].points.size(), 6);
    QVERIFY(test::saveScreenshot(view, "gui-pipeline-runs.png"));

    // 3. The adaptation wizard on the trained DMoE: both new languages.
    window.showAdaptationWizard();
    auto* wizard = window.findChild<AdaptationWizard*>();
    QCOMPARE(wizard->chosenLanguages(), QStringList({"el", "sr"}));
    wizard->next();
    QTRY_VERIFY_WITH_TIMEOUT(wizard->probeTable()->rowCount() == 2, 60000);
    QTableWidget* probe = wizard->probeTable();
    QCOMPARE(probe->columnCount(), 3);  // language + 2 experts
    for (int r = 0; r < 2; ++r) {
      const double a = probe->item(r, 1)->data(Qt::UserRole).toDouble(), b = probe->item(r, 2)->data(Qt::UserRole).toDouble();
      QVERIFY(a > 1 && b > 1);
      QCOMPARE(probe->item(r, 1)->font().bold(), a <= b);
      QCOMPARE(probe->item(r, 2)->font().bold(), b < a);
    }
    QVERIFY(wizard->probePlan().contains("copy of expert"));
    wizard->next();
    wizard->findChild<QPushButton*>("startAdaptation")->click();
    QTRY_VERIFY_WITH_TIMEOUT(wizard->button(QWizard::NextButton)->isEnabled(), 120000);
    auto* adaptChart = wizard->findChild<LineChart*>("adaptLossChart");
    QVERIFY(!adaptChart->lines().isEmpty());
    QCOMPARE(adaptChart->lines()[0].points.size(), 5);  // adaptation.steps
    QVERIFY(test::saveScreenshot(*wizard, "gui-pipeline-adapt.png"));
    wizard->next();
    QTableWidget* results = wizard->resultsTable();
    QCOMPARE(results->rowCount(), 7);
    QVERIFY(results->item(0, 0)->text().endsWith("(new)"));
    QVERIFY(results->item(1, 0)->text().endsWith("(new)"));
    QVERIFY(!results->item(2, 0)->text().endsWith("(new)"));
    // Old languages routed to their own experts are unchanged by construction.
    QCOMPARE(results->item(2, 1)->text(), results->item(2, 2)->text());
    QVERIFY2(wizard->resultsSummary().contains("✓") && !wizard->resultsSummary().contains("✗"),
             qPrintable(wizard->resultsSummary()));
    QVERIFY(test::saveScreenshot(*wizard, "gui-pipeline-results.png"));
  }

  // Processes per stage = 2: `run` goes through torchrun as a job of two
  // (deviation split by language), rank 0's events are the stream and nothing
  // else reaches stdout; a command that does not split still runs as one process.
  void stagesRunAsAJobOfTwoProcesses() {
    QCOMPARE(StageRunner::launcherArguments("/bin/dmoe", 3, {"run", "p.dmoe.json"}),
             QStringList({"--standalone", "--nproc_per_node", "3", "--redirects", "2", "--tee", "2", "--no_python",
                          "/bin/dmoe", "--events", "jsonl", "run", "p.dmoe.json"}));
    QTemporaryDir dir;
    const fs::path project = test::writeMicroProject(fs::path(dir.path().toStdString()));
    StageRunner runner;
    runner.setProcesses(2);
    QSignalSpy events(&runner, &StageRunner::event);
    QSignalSpy output(&runner, &StageRunner::outputLine);
    QSignalSpy finished(&runner, &StageRunner::finished);
    QVERIFY(runner.start({"run", QString::fromStdString(project.string()), "--until", "deviation"}));
    QVERIFY(finished.wait(300000));
    QCOMPARE(finished.first().first().toInt(), 0);
    QCOMPARE(output.count(), 0);
    QStringList fineTuned;
    bool deviationDone = false;
    for (const QList<QVariant>& e : events) {
      const QJsonObject event = e.first().toJsonObject();
      const QString stage = event.value("stage").toString();
      if (event.value("event") == "metrics" && stage.startsWith("deviation:") && !fineTuned.contains(stage))
        fineTuned << stage;
      deviationDone |= stage == "deviation" && event.value("status") == "done";
    }
    QVERIFY(deviationDone);
    // Rank 0's share, each language with its split halves (similarity.split_half is on by default).
    QCOMPARE(fineTuned, QStringList({"deviation:en", "deviation:en:a", "deviation:en:b", "deviation:de", "deviation:de:a",
                                     "deviation:de:b", "deviation:uk", "deviation:uk:a", "deviation:uk:b"}));
    QVERIFY(fs::exists(project.parent_path() / "runs" / "deviation" / "nl" / "norms.json"));  // rank 1's

    finished.clear();
    QVERIFY(runner.start({"info"}));
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.first().first().toInt(), 0);  // `info` refuses a job: it ran as one process
  }
};

QTEST_MAIN(TestGuiPipeline)
#include "test_gui_pipeline.moc"
