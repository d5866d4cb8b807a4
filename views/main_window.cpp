#include "main_window.h"

#include <QAction>
#include <QApplication>
#include <QLocale>
#include <QCloseEvent>
#include <QDateTime>
#include <QDir>
#include <QFileDialog>
#include <QFileInfo>
#include <QHeaderView>
#include <QIcon>
#include <QInputDialog>
#include <QKeySequence>
#include <QLabel>
#include <QMenu>
#include <QMenuBar>
#include <QMessageBox>
#include <QProgressBar>
#include <QRegularExpression>
#include <QSettings>
#include <QSortFilterProxyModel>
#include <QStatusBar>
#include <QTabWidget>
#include <QTableView>
#include <QTimer>
#include <QToolBar>
#include <QVBoxLayout>
#include <algorithm>
#include <filesystem>
#include <optional>

#include "adaptation_wizard.h"
#include "corpus_stats_file.h"
#include "deviation_view.h"
#include "diagnostics_dialog.h"
#include "epsilon_panel.h"
#include "layermoe_view.h"
#include "routing_view.h"
#include "group_editor.h"
#include "language_table_model.h"
#include "log_dock.h"
#include "problem_list_dialog.h"
#include "project_document.h"
#include "project_settings_dock.h"
#include "pipeline/stage_catalog.h"
#include "new_project_wizard.h"
#include "recent_projects.h"
#include "results/routing_file.h"
#include "runtime/runs_lock.h"
#include "run_metrics.h"
#include "runs_view.h"
#include "similarity_view.h"
#include "stage_queue.h"
#include "stage_runner.h"

// Resources of a static library are initialised explicitly (outside any namespace).
static void initWorkbenchResources() { Q_INIT_RESOURCE(dmoe); }

namespace dmoe::views {

namespace {

const char* const kGeometryKey = "mainWindow/geometry";
const char* const kStateKey = "mainWindow/state";
const char* const kLastDirKey = "mainWindow/lastDirectory";
const char* const kProcessesKey = "stages/processes";  // processes per stage (StageRunner::setProcesses)
const char* const kProjectFilter = QT_TRANSLATE_NOOP("MainWindow", "DMoE projects (*.dmoe.json);;JSON files (*.json)");
constexpr int kProgressSteps = 1000;
constexpr int kStatusMessageMs = 8000;
constexpr int kExternalPollMs = 2000;

QString lastDirectory() { return QSettings().value(kLastDirKey, QDir::homePath()).toString(); }
void rememberDirectory(const QString& file) { QSettings().setValue(kLastDirKey, QFileInfo(file).absolutePath()); }

// A file as the log shows it: relative to the working folder when it lies
// below it (no machine-specific prefix in logs and screenshots), else as given.
QString logPath(const QString& file) {
  const QString relative = QDir::current().relativeFilePath(file);
  return QDir::toNativeSeparators(relative.startsWith("..") || QDir::isAbsolutePath(relative) ? file : relative);
}

}  // namespace

MainWindow::MainWindow(QWidget* parent)
    : QMainWindow(parent),
      document_(new ProjectDocument(this)),
      languageModel_(new LanguageTableModel(this)),
      sortModel_(new QSortFilterProxyModel(this)),
      runner_(new StageRunner(this)),
      queue_(new StageQueue(*runner_, this)),
      metrics_(new RunMetrics(this)) {
  initWorkbenchResources();
  setObjectName("mainWindow");
  setWindowIcon(QIcon(":/icons/dmoe.svg"));
  setDockOptions(AnimatedDocks | AllowTabbedDocks);

  createActions();
  createCentralWidget();
  logDock_ = new LogDock(this);
  projectDock_ = new ProjectSettingsDock(this);
  addDockWidget(Qt::BottomDockWidgetArea, logDock_);
  addDockWidget(Qt::RightDockWidgetArea, projectDock_);
  createMenusAndToolBar();
  createStatusBar();
  connectStageRunner();

  connect(document_, &ProjectDocument::changed, this, &MainWindow::projectChanged);
  connect(document_, &ProjectDocument::dirtyChanged, this, &QWidget::setWindowModified);

  resize(1200, 800);
  resizeDocks({projectDock_}, {360}, Qt::Horizontal);
  resizeDocks({logDock_}, {150}, Qt::Vertical);
  QSettings settings;
  restoreGeometry(settings.value(kGeometryKey).toByteArray());
  restoreState(settings.value(kStateKey).toByteArray());
  projectChanged();
}

MainWindow::~MainWindow() = default;

void MainWindow::createActions() {
  newAction_ = new QAction(tr("&New Project…"), this);
  newAction_->setShortcut(QKeySequence::New);
  newAction_->setStatusTip(tr("A project for your own corpus folder and base model (dmoe project new)"));
  connect(newAction_, &QAction::triggered, this, &MainWindow::showNewProjectWizard);

  openAction_ = new QAction(QIcon(":/icons/open.svg"), tr("&Open…"), this);
  openAction_->setShortcut(QKeySequence::Open);
  openAction_->setStatusTip(tr("Open a project file (*.dmoe.json)"));
  connect(openAction_, &QAction::triggered, this, &MainWindow::openWithDialog);

  saveAction_ = new QAction(QIcon(":/icons/save.svg"), tr("&Save"), this);
  saveAction_->setShortcut(QKeySequence::Save);
  saveAction_->setStatusTip(tr("Save the project file"));
  connect(saveAction_, &QAction::triggered, this, &MainWindow::save);

  saveAsAction_ = new QAction(tr("Save &As…"), this);
  saveAsAction_->setShortcut(QKeySequence::SaveAs);
  saveAsAction_->setStatusTip(tr("Save the project under a new name"));
  connect(saveAsAction_, &QAction::triggered, this, &MainWindow::saveAs);

  quitAction_ = new QAction(tr("&Quit"), this);
  quitAction_->setShortcut(QKeySequence::Quit);
  quitAction_->setMenuRole(QAction::QuitRole);
  connect(quitAction_, &QAction::triggered, this, &QWidget::close);

  statsAction_ = new QAction(QIcon(":/icons/statistics.svg"), tr("Compute &Statistics"), this);
  statsAction_->setShortcut(QKeySequence(Qt::Key_F5));
  statsAction_->setStatusTip(tr("Count documents, characters and the held-out split of every language (dmoe corpus stats)"));
  connect(statsAction_, &QAction::triggered, this, &MainWindow::computeStatistics);

  runAllAction_ = new QAction(QIcon(":/icons/run.svg"), tr("Run &All Stages"), this);
  runAllAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_R));
  runAllAction_->setStatusTip(tr("Run every stage of the project (dmoe run); stages whose outputs are up to date are skipped"));
  connect(runAllAction_, &QAction::triggered, this,
          [this] { runStage(tr("All stages"), {"run", document_->filePath()}); });

  adaptAction_ = new QAction(tr("&Adapt New Languages…"), this);
  adaptAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::SHIFT | Qt::Key_A));
  adaptAction_->setStatusTip(tr("Probe the new languages against the trained experts and add an expert for them"));
  connect(adaptAction_, &QAction::triggered, this, &MainWindow::showAdaptationWizard);

  cancelAction_ = new QAction(QIcon(":/icons/cancel.svg"), tr("&Cancel Stage"), this);
  cancelAction_->setShortcut(QKeySequence(Qt::CTRL | Qt::Key_Period));
  cancelAction_->setStatusTip(tr("Stop the running stage; it keeps a checkpoint and resumes when run again"));
  connect(cancelAction_, &QAction::triggered, queue_, &StageQueue::cancel);

  runner_->setProcesses(QSettings().value(kProcessesKey, 1).toInt());
  processesAction_ = new QAction(this);
  connect(processesAction_, &QAction::triggered, this, &MainWindow::chooseProcesses);
  showProcesses();
}

void MainWindow::chooseProcesses() {
  bool ok = false;
  const int n = QInputDialog::getInt(
      this, tr("Processes per Stage"),
      tr("Run the stages that split (deviation by language; pretrain and DMoE training data parallel) as this many "
         "processes on this machine, through torchrun. The other stages run in the first process. 1 = one process."),
      runner_->processes(), 1, 256, 1, &ok);
  if (!ok) return;
  runner_->setProcesses(n);
  QSettings().setValue(kProcessesKey, n);
  showProcesses();
}

void MainWindow::showProcesses() {
  processesAction_->setText(tr("&Processes per Stage: %1…").arg(runner_->processes()));
  processesAction_->setStatusTip(runner_->processes() > 1
                                     ? tr("Stages that split run as %1 processes through torchrun").arg(runner_->processes())
                                     : tr("Stages run as one process; choose more to split them through torchrun"));
}

void MainWindow::createMenusAndToolBar() {
  QMenu* file = menuBar()->addMenu(tr("&File"));
  file->addAction(newAction_);
  file->addAction(openAction_);
  recentMenu_ = file->addMenu(QIcon(":/icons/recent.svg"), tr("Open &Recent"));
  connect(recentMenu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRecentMenu);
  file->addSeparator();
  file->addAction(saveAction_);
  file->addAction(saveAsAction_);
  file->addSeparator();
  file->addAction(quitAction_);

  QMenu* stages = menuBar()->addMenu(tr("&Stages"));
  stages->addAction(statsAction_);
  stages->addAction(runAllAction_);
  runStageMenu_ = stages->addMenu(tr("Run &Stage"));
  for (const StageInfo& stage : stageCatalog()) {
    const QString name = QString::fromStdString(stage.name);
    QAction* action = runStageMenu_->addAction(name);
    action->setStatusTip(QString::fromStdString(stage.help));
    connect(action, &QAction::triggered, this, [this, name] {
      runStage(tr("Stage %1").arg(name), {"run", document_->filePath(), "--from", name, "--until", name});
    });
  }
  stages->addAction(adaptAction_);
  routingMenu_ = stages->addMenu(tr("Measure &Routing"));
  routingMenu_->setStatusTip(tr("Where a trained mixture of experts sends each language's held-out tokens (dmoe routing)"));
  connect(routingMenu_, &QMenu::aboutToShow, this, &MainWindow::rebuildRoutingMenu);
  stages->addSeparator();
  stages->addAction(processesAction_);
  stages->addSeparator();
  stages->addAction(cancelAction_);

  QToolBar* toolBar = addToolBar(tr("Main"));
  toolBar->setObjectName("mainToolBar");
  toolBar->setToolButtonStyle(Qt::ToolButtonTextBesideIcon);
  toolBar->addAction(openAction_);
  toolBar->addAction(saveAction_);
  toolBar->addSeparator();
  toolBar->addAction(statsAction_);
  toolBar->addAction(runAllAction_);
  toolBar->addAction(cancelAction_);

  QMenu* view = menuBar()->addMenu(tr("&View"));
  view->addAction(projectDock_->toggleViewAction());
  view->addAction(logDock_->toggleViewAction());
  view->addAction(toolBar->toggleViewAction());

  QMenu* help = menuBar()->addMenu(tr("&Help"));
  help->addAction(tr("Runtime &Diagnostics…"), this, &MainWindow::showDiagnostics);
  help->addAction(tr("&About DMoE Workbench"), this, &MainWindow::showAbout);
  help->addAction(tr("About &Qt"), qApp, &QApplication::aboutQt);
  rebuildRecentMenu();
}

void MainWindow::createCentralWidget() {
  auto* central = new QWidget(this);
  summary_ = new QLabel(central);
  summary_->setObjectName("projectSummary");
  summary_->setWordWrap(true);
  summary_->setTextFormat(Qt::RichText);

  sortModel_->setSourceModel(languageModel_);
  sortModel_->setSortRole(LanguageTableModel::SortRole);
  table_ = new QTableView(central);
  table_->setObjectName("languagesTable");
  table_->setModel(sortModel_);
  table_->setAlternatingRowColors(true);
  table_->setSelectionBehavior(QAbstractItemView::SelectRows);
  table_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table_->setWordWrap(false);
  table_->verticalHeader()->hide();
  table_->verticalHeader()->setDefaultSectionSize(table_->fontMetrics().height() + 8);
  table_->horizontalHeader()->setSortIndicatorClearable(true);
  table_->horizontalHeader()->setSortIndicator(-1, Qt::AscendingOrder);  // project order until a header is clicked
  table_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  table_->horizontalHeader()->setSectionResizeMode(LanguageTableModel::Name, QHeaderView::Stretch);
  table_->setSortingEnabled(true);

  auto* layout = new QVBoxLayout(central);
  layout->setContentsMargins(8, 8, 8, 0);
  layout->addWidget(summary_);
  layout->addWidget(table_, 1);

  tabs_ = new QTabWidget(this);
  tabs_->setObjectName("centralTabs");
  tabs_->setDocumentMode(true);
  deviationView_ = new DeviationView(tabs_);
  similarityView_ = new SimilarityView(tabs_);
  tabs_->addTab(central, tr("Languages"));
  tabs_->addTab(deviationView_, tr("Deviation"));
  tabs_->addTab(similarityView_, tr("Similarity"));
  groupEditor_ = new GroupEditor(*document_, tabs_);
  epsilonPanel_ = new EpsilonPanel(*document_, tabs_);
  tabs_->addTab(groupEditor_, tr("Groups"));
  tabs_->addTab(epsilonPanel_, tr("Layers (ε)"));
  layerMoeView_ = new LayerMoeView(*document_, tabs_);
  tabs_->addTab(layerMoeView_, tr("LayerMoE"));
  routingView_ = new RoutingView(tabs_);
  tabs_->addTab(routingView_, tr("Routing"));
  runsView_ = new RunsView(*document_, *metrics_, *queue_, tabs_);
  tabs_->addTab(runsView_, tr("Runs"));
  connect(runsView_, &RunsView::launchRequested, this, &MainWindow::runStage);
  setCentralWidget(tabs_);
}

void MainWindow::createStatusBar() {
  projectLabel_ = new QLabel(this);
  projectLabel_->setObjectName("projectLabel");
  stageLabel_ = new QLabel(this);
  stageLabel_->setObjectName("stageLabel");
  progress_ = new QProgressBar(this);
  progress_->setObjectName("stageProgress");
  progress_->setMaximumWidth(220);
  progress_->setRange(0, kProgressSteps);
  progress_->hide();
  externalLabel_ = new QLabel(this);
  externalLabel_->setObjectName("externalCommandLabel");
  externalLabel_->hide();
  statusBar()->addWidget(projectLabel_);
  statusBar()->addPermanentWidget(externalLabel_);
  statusBar()->addPermanentWidget(stageLabel_);
  statusBar()->addPermanentWidget(progress_);
  auto* poll = new QTimer(this);
  connect(poll, &QTimer::timeout, this, &MainWindow::checkExternalCommand);
  poll->start(kExternalPollMs);
}

bool MainWindow::checkExternalCommand() {
  // The queue's own command holds the lock too: only an idle window looks.
  std::optional<dmoe::RunsFolderHolder> holder;
  if (document_->hasProject() && !queue_->isBusy()) holder = dmoe::runsFolderHolder(document_->project().runsDir());
  const bool busy = holder.has_value();
  if (busy) {
    const QString command = holder->command.empty() ? tr("a dmoe command") : QString::fromStdString(holder->command);
    externalLabel_->setText(tr("Another command is working on this project: %1 (PID %2); stages can run when it ends")
                                .arg(command.toHtmlEscaped(), QString::fromStdString(holder->pid)));
  }
  externalLabel_->setVisible(busy);
  if (busy != externalBusy_) {
    externalBusy_ = busy;
    updateActions();
  }
  return busy;
}

void MainWindow::connectStageRunner() {
  connect(runner_, &StageRunner::event, this, &MainWindow::onStageEvent);
  connect(runner_, &StageRunner::event, metrics_, &RunMetrics::addEvent);
  connect(runner_, &StageRunner::outputLine, logDock_, [this](const QString& line) { logDock_->appendLine(line); });
  connect(runner_, &StageRunner::errorLine, logDock_,
          [this](const QString& line) { logDock_->appendLine(tr("stderr: ") + line, Severity::Warning); });
  connect(runner_, &StageRunner::failedToStart, logDock_,
          [this](const QString& reason) { logDock_->appendLine(reason, Severity::Error); });
  connect(queue_, &StageQueue::jobStarted, this, &MainWindow::onJobStarted);
  connect(queue_, &StageQueue::jobFinished, this, &MainWindow::onJobFinished);
  connect(queue_, &StageQueue::stopped, this, [this](const StageJob& job, int dropped) {
    logDock_->appendLine(tr("Queue stopped after %1: %n waiting command(s) dropped", nullptr, dropped).arg(job.title),
                         Severity::Warning);
  });
}

bool MainWindow::openProject(const QString& file) {
  if (!maybeSave()) return false;
  const QString shown = QDir::toNativeSeparators(file);
  try {
    document_->load(file);
  } catch (const dmoe::ValidationError& e) {
    logDock_->appendLine(tr("Could not open %1:").arg(shown), Severity::Error);
    for (const dmoe::Problem& p : e.problems())
      logDock_->appendLine(QStringLiteral("    %1: %2").arg(QString::fromStdString(p.where), QString::fromStdString(p.message)),
                           Severity::Error);
    showProblems(tr("Project not opened"),
                 tr("<b>%1</b> has %n problem(s). Fix them in the file and open it again.", nullptr,
                    int(e.problems().size()))
                     .arg(shown.toHtmlEscaped()),
                 e.problems());
    return false;
  } catch (const std::exception& e) {
    logDock_->appendLine(tr("Could not open %1: %2").arg(shown, QString::fromUtf8(e.what())), Severity::Error);
    showProblems(tr("Project not opened"), tr("<b>%1</b> could not be read.").arg(shown.toHtmlEscaped()),
                 {{shown.toStdString(), e.what()}});
    return false;
  }
  RecentProjects::add(document_->filePath());
  rememberDirectory(document_->filePath());
  rebuildRecentMenu();
  logDock_->appendLine(tr("Opened %1").arg(logPath(document_->filePath())));
  for (const dmoe::Problem& w : document_->project().warnings)
    logDock_->appendLine(tr("warning: %1: %2").arg(QString::fromStdString(w.where), QString::fromStdString(w.message)),
                         Severity::Warning);
  return true;
}

void MainWindow::showProblems(const QString& title, const QString& summary,
                              const std::vector<dmoe::Problem>& problems) {
  auto* dialog = new ProblemListDialog(title, summary, problems, this);
  dialog->open();
}

void MainWindow::openWithDialog() {
  const QString file = QFileDialog::getOpenFileName(this, tr("Open Project"), lastDirectory(), tr(kProjectFilter));
  if (!file.isEmpty()) openProject(file);
}

bool MainWindow::save() {
  if (!document_->hasProject()) return false;
  try {
    document_->save();
  } catch (const std::exception& e) {
    logDock_->appendLine(tr("Could not save: %1").arg(QString::fromUtf8(e.what())), Severity::Error);
    QMessageBox::critical(this, tr("Save failed"), QString::fromUtf8(e.what()));
    return false;
  }
  statusBar()->showMessage(tr("Saved %1").arg(QDir::toNativeSeparators(document_->filePath())), kStatusMessageMs);
  return true;
}

bool MainWindow::saveAs() {
  if (!document_->hasProject()) return false;
  QString file = QFileDialog::getSaveFileName(this, tr("Save Project As"), document_->filePath(), tr(kProjectFilter));
  if (file.isEmpty()) return false;
  if (!file.endsWith(".json")) file += ".dmoe.json";
  try {
    document_->saveAs(file);
  } catch (const std::exception& e) {
    logDock_->appendLine(tr("Could not save: %1").arg(QString::fromUtf8(e.what())), Severity::Error);
    QMessageBox::critical(this, tr("Save failed"), QString::fromUtf8(e.what()));
    return false;
  }
  RecentProjects::add(file);
  rememberDirectory(file);
  rebuildRecentMenu();
  logDock_->appendLine(tr("Saved as %1").arg(logPath(document_->filePath())));
  return true;
}

bool MainWindow::maybeSave() {
  if (!document_->isDirty()) return true;
  const auto answer = QMessageBox::warning(
      this, tr("Unsaved changes"), tr("%1 has unsaved changes. Save them?").arg(document_->displayName()),
      QMessageBox::Save | QMessageBox::Discard | QMessageBox::Cancel, QMessageBox::Save);
  if (answer == QMessageBox::Save) return save();
  return answer == QMessageBox::Discard;
}

void MainWindow::rebuildRoutingMenu() {
  routingMenu_->clear();
  if (!document_->hasProject()) return;
  const std::filesystem::path runs = document_->project().runsDir();
  for (const std::filesystem::path& dir : dmoe::mixtureModelDirs(runs)) {
    const QString name = QString::fromStdString(dir.lexically_relative(runs).generic_string());
    connect(routingMenu_->addAction(name), &QAction::triggered, this, [this, name, dir] {
      runStage(tr("Routing of %1").arg(name),
               {"routing", document_->filePath(), "--model", QString::fromStdString(dir.string())});
    });
  }
  if (routingMenu_->isEmpty()) routingMenu_->addAction(tr("No trained mixture of experts yet"))->setEnabled(false);
  routingMenu_->addSeparator();
  // A mixture of experts elsewhere: an exported or downloaded Qwen2-MoE or Mixtral folder.
  connect(routingMenu_->addAction(tr("Other Model Folder…")), &QAction::triggered, this, [this] {
    const QString dir = QFileDialog::getExistingDirectory(this, tr("Mixture-of-experts model folder"));
    if (!dir.isEmpty())
      runStage(tr("Routing of %1").arg(QDir::toNativeSeparators(dir)), {"routing", document_->filePath(), "--model", dir});
  });
}

void MainWindow::rebuildRecentMenu() {
  recentMenu_->clear();
  const QStringList files = RecentProjects::files();
  for (int i = 0; i < files.size(); ++i) {
    QAction* action = recentMenu_->addAction(
        QStringLiteral("&%1  %2").arg(i + 1).arg(QDir::toNativeSeparators(files[i])));
    const QString file = files[i];
    connect(action, &QAction::triggered, this, [this, file] { openProject(file); });
  }
  if (!files.isEmpty()) {
    recentMenu_->addSeparator();
    recentMenu_->addAction(tr("Clear Menu"), this, [this] {
      RecentProjects::clear();
      rebuildRecentMenu();
    });
  }
  recentMenu_->setEnabled(!files.isEmpty());
}

void MainWindow::projectChanged() {
  const bool open = document_->hasProject();
  const dmoe::Project* project = open ? &document_->project() : nullptr;
  languageModel_->setProject(project);
  projectDock_->setProject(project);
  setWindowTitle(open ? tr("%1[*] — DMoE Workbench").arg(document_->displayName()) : tr("DMoE Workbench"));
  setWindowModified(document_->isDirty());
  projectLabel_->setText(open ? document_->displayName() : tr("No project"));
  projectLabel_->setToolTip(QDir::toNativeSeparators(document_->filePath()));
  reloadStatistics();
  reloadAnalysis();
  metrics_->load(open ? project->runsDir() : std::filesystem::path());
  updateActions();
}

void MainWindow::reloadAnalysis() {
  const std::filesystem::path runs = document_->hasProject() ? document_->project().runsDir() : std::filesystem::path();
  deviationView_->reload(runs);
  similarityView_->reload(runs);
  groupEditor_->reload(runs);
  epsilonPanel_->reload(runs);
  layerMoeView_->reload(runs);
  routingView_->reload(runs);
}

void MainWindow::reloadStatistics() {
  statisticsNote_.clear();
  if (!document_->hasProject()) {
    languageModel_->clearStatistics();
    updateSummary();
    return;
  }
  const std::filesystem::path file = corpusStatsFile(document_->project());
  const QString shown = QDir::toNativeSeparators(
      QString::fromStdString(file.lexically_relative(document_->project().dir()).string()));
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) {
    languageModel_->clearStatistics();
    statisticsNote_ = tr("No corpus statistics yet: <i>Stages ▸ Compute Statistics</i> (F5).");
  } else {
    try {
      languageModel_->setStatistics(readCorpusStatsByLanguage(file));
      statisticsNote_ = tr("Corpus statistics from %1 (%2).")
                            .arg(shown.toHtmlEscaped(),
                                 QLocale().toString(QFileInfo(QString::fromStdString(file.string())).lastModified(),
                                                    QLocale::ShortFormat));
    } catch (const std::exception& e) {
      languageModel_->clearStatistics();
      logDock_->appendLine(QString::fromUtf8(e.what()), Severity::Warning);
      statisticsNote_ = tr("The corpus statistics file is unreadable (see the log); compute them again.");
    }
  }
  updateSummary();
}

void MainWindow::updateSummary() {
  if (!document_->hasProject()) {
    summary_->setText(tr("No project open. <i>File ▸ Open…</i> (%1) opens a <tt>*.dmoe.json</tt> project.")
                          .arg(QKeySequence(QKeySequence::Open).toString(QKeySequence::NativeText)));
    return;
  }
  const dmoe::Project& p = document_->project();
  summary_->setText(tr("<b>%1</b> — %2 training languages, %3 new languages held back for adaptation "
                       "(<i>italic</i>). %4")
                        .arg(document_->displayName().toHtmlEscaped())
                        .arg(p.languages.size())
                        .arg(p.new_languages.size())
                        .arg(statisticsNote_));
  summary_->setToolTip(QString::fromStdString(p.description));
}

void MainWindow::updateActions() {
  const bool open = document_->hasProject();
  saveAction_->setEnabled(open);
  saveAsAction_->setEnabled(open);
  statsAction_->setEnabled(open);
  runAllAction_->setEnabled(open && !externalBusy_);
  runStageMenu_->setEnabled(open && !externalBusy_);
  routingMenu_->setEnabled(open && !externalBusy_);
  adaptAction_->setEnabled(open && !externalBusy_);
  cancelAction_->setEnabled(queue_->isBusy());
}

int MainWindow::runStage(const QString& title, const QStringList& arguments) {
  if (!document_->hasProject()) return -1;
  if (document_->isDirty()) {
    const auto answer = QMessageBox::question(
        this, tr("Save project?"), tr("The stage reads the project file from disk. Save your changes first?"),
        QMessageBox::Save | QMessageBox::Cancel, QMessageBox::Save);
    if (answer != QMessageBox::Save || !save()) return -1;
  }
  if (checkExternalCommand()) {
    logDock_->appendLine(tr("Not started: %1").arg(externalLabel_->text()), Severity::Warning);
    return -1;
  }
  if (queue_->isBusy()) logDock_->appendLine(tr("Queued %1 (runs when %2 is done)").arg(title, queue_->current()->title));
  const int id = queue_->enqueue(title, arguments, QFileInfo(document_->filePath()).absolutePath());
  updateActions();
  return id;
}

void MainWindow::onJobStarted(const StageJob& job) {
  logDock_->appendLine(tr("▶ %1: dmoe %2").arg(job.title, job.arguments.join(' ')));
  stageLabel_->setText(job.title);
  progress_->setRange(0, 0);  // busy until the first progress event
  progress_->show();
  updateActions();
}

void MainWindow::computeStatistics() {
  if (!document_->hasProject()) return;
  runStage(tr("Corpus statistics"), {"corpus", "stats", document_->filePath()});
}

void MainWindow::onStageEvent(const QJsonObject& event) {
  logDock_->appendEvent(event);
  const QString kind = event.value("event").toString();
  const QString stage = event.value("stage").toString();
  if (kind == "progress") {
    const double total = event.value("total").toDouble();
    const double done = event.value("done").toDouble();
    if (total > 0) {
      progress_->setRange(0, kProgressSteps);
      progress_->setValue(int(kProgressSteps * std::min(1.0, done / total)));
    }
    stageLabel_->setText(QStringLiteral("%1: %2 / %3 %4")
                             .arg(stage, QLocale().toString(qint64(done)), QLocale().toString(qint64(total)),
                                  event.value("unit").toString()));
  } else if (kind == "stage" && event.value("status").toString() == "started") {
    stageLabel_->setText(stage);
  }
}

void MainWindow::onJobFinished(const StageJob& job, int exitCode, bool cancelled) {
  progress_->hide();
  stageLabel_->clear();
  QString message;
  if (cancelled) {
    message = tr("%1 cancelled: run it again to resume where it stopped").arg(job.title);
    logDock_->appendLine(message, Severity::Warning);
  } else if (exitCode == 0) {
    message = tr("%1 finished").arg(job.title);
    logDock_->appendLine(QStringLiteral("✓ ") + message);
    reloadStatistics();
  } else {
    message = exitCode == 2 ? tr("%1 rejected its input (exit code 2)").arg(job.title)
                            : tr("%1 failed (exit code %2)").arg(job.title).arg(exitCode);
    logDock_->appendLine(message, Severity::Error);
    logDock_->raise();
  }
  reloadAnalysis();  // a finished, failed or cancelled stage may have changed the artifacts
  statusBar()->showMessage(message, kStatusMessageMs);
  updateActions();
}

void MainWindow::showNewProjectWizard() {
  if (!maybeSave()) return;
  NewProjectWizard wizard(this);
  if (wizard.exec() == QDialog::Accepted) openProject(wizard.projectFile());
}

void MainWindow::showAdaptationWizard() {
  if (!document_->hasProject()) return;
  if (!wizard_)
    wizard_ = new AdaptationWizard(*document_, *metrics_, *queue_,
                                   [this](const QString& title, const QStringList& args) { return runStage(title, args); },
                                   this);
  if (!wizard_->isVisible()) wizard_->restart();  // a wizard left open keeps its place
  wizard_->show();
  wizard_->raise();
  wizard_->activateWindow();
}

QStringList MainWindow::saveTabScreenshots(const QString& dir) {
  QDir().mkpath(dir);
  QStringList files;
  const int current = tabs_->currentIndex();
  for (int i = 0; i < tabs_->count(); ++i) {
    tabs_->setCurrentIndex(i);
    runsView_->redrawNow();
    QCoreApplication::processEvents();  // layouts and chart legends settle before the grab
    QString name = tabs_->tabText(i).toLower();
    name = name.remove(QRegularExpression("[^a-z0-9 ]")).trimmed().replace(' ', '-');
    const QString file = QDir(dir).filePath(name + ".png");
    if (!grab().save(file)) throw std::runtime_error("cannot write " + file.toStdString());
    files << file;
  }
  tabs_->setCurrentIndex(current);
  return files;
}

void MainWindow::showAbout() {
  QMessageBox::about(this, tr("About DMoE Workbench"),
                     tr("<b>DMoE Workbench</b> %1<br>Grows a multilingual language model into a "
                        "language-group mixture of experts.<br>Stages run in the headless <tt>dmoe</tt> tool: %2")
                         .arg(QCoreApplication::applicationVersion(),
                              runner_->program().isEmpty() ? tr("not found") : runner_->program().toHtmlEscaped()));
}

void MainWindow::showDiagnostics() {
  auto* dialog = new DiagnosticsDialog(runner_->program(), this);
  dialog->setAttribute(Qt::WA_DeleteOnClose);
  dialog->show();
}

void MainWindow::closeEvent(QCloseEvent* event) {
  if (queue_->isBusy()) {
    const auto answer = QMessageBox::question(this, tr("Stage running"),
                                              tr("%1 is still running. Stop it and quit? It resumes when run again.")
                                                  .arg(queue_->current()->title));
    if (answer != QMessageBox::Yes) {
      event->ignore();
      return;
    }
  }
  if (!maybeSave()) {
    event->ignore();
    return;
  }
  QSettings settings;
  settings.setValue(kGeometryKey, saveGeometry());
  settings.setValue(kStateKey, saveState());
  event->accept();  // a running stage is stopped when the runner is destroyed
}

}  // namespace dmoe::views
