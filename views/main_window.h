// MainWindow: the DMoE Workbench shell. Tabs in the centre (languages and
// corpus statistics, deviation, similarity, groups, ε, runs); the "Project"
// dock (settings tree) and the "Log" dock (what stages report) around it;
// File and Stages menus; status bar with the project, the running stage and
// its progress, or the outside command that holds the project's runs folder. Stages run in the headless `dmoe` through one StageRunner fed
// by a StageQueue — never on the GUI thread; their metrics events feed the
// RunMetrics the Runs tab and the adaptation wizard draw.
// Window layout and recent projects are remembered in QSettings.
#pragma once
#include <QJsonObject>
#include <QMainWindow>
#include <vector>

#include "util/error.h"

class QAction;
class QLabel;
class QMenu;
class QProgressBar;
class QSortFilterProxyModel;
class QTabWidget;
class QTableView;

namespace dmoe::views {

class AdaptationWizard;
class DeviationView;
class EpsilonPanel;
class LayerMoeView;
class RoutingView;
class GroupEditor;
class LanguageTableModel;
class LogDock;
class ProjectDocument;
class ProjectSettingsDock;
class RunMetrics;
class RunsView;
class SimilarityView;
class StageQueue;
class StageRunner;
struct StageJob;

class MainWindow : public QMainWindow {
  Q_OBJECT
 public:
  explicit MainWindow(QWidget* parent = nullptr);
  ~MainWindow() override;

  // Asks to save unsaved changes first. On a load error the problems go to
  // the log and to a ProblemListDialog shown with open() (not blocking); returns false.
  bool openProject(const QString& file);
  // Reads <runs_dir>/corpus/stats.json into the language table (absent: "—").
  void reloadStatistics();
  // Rereads the analysis tabs (deviation, similarity, groups, ε) from the runs folder.
  void reloadAnalysis();
  // Runs `dmoe corpus stats <project>`; the table reloads when it succeeds.
  void computeStatistics();

  ProjectDocument& document() const { return *document_; }
  LanguageTableModel& languageModel() const { return *languageModel_; }
  StageRunner& stageRunner() const { return *runner_; }
  StageQueue& stageQueue() const { return *queue_; }
  RunMetrics& runMetrics() const { return *metrics_; }
  RunsView& runsView() const { return *runsView_; }
  // Queues `dmoe <arguments>` (after asking to save unsaved changes: stages
  // read the project file from disk). Returns the job id, or -1 when nothing was queued.
  int runStage(const QString& title, const QStringList& arguments);
  // Opens the adaptation wizard (non-modal) on the open project.
  void showAdaptationWizard();
  // Shows each central tab in turn and saves it as <dir>/<tab>.png (lower case,
  // "-" for spaces: languages.png, deviation.png, …). Returns the files written;
  // throws std::runtime_error naming the file that could not be written.
  QStringList saveTabScreenshots(const QString& dir);
  LogDock& logDock() const { return *logDock_; }
  // Whether another `dmoe` command (a terminal's, another window's) holds the
  // open project's runs folder: shown in the status bar with its PID and
  // command line, and the Run actions wait for it. Polled every 2 s; callable
  // at once (tests, before queuing).
  bool checkExternalCommand();

 protected:
  void closeEvent(QCloseEvent* event) override;

 private:
  void createActions();
  void createMenusAndToolBar();
  void createCentralWidget();
  void createStatusBar();
  void connectStageRunner();
  void chooseProcesses();  // Stages ▸ Processes per Stage (remembered in QSettings)
  void showProcesses();

  void openWithDialog();
  void showNewProjectWizard();  // File ▸ New Project…: writes a project, then opens it
  bool save();
  bool saveAs();
  bool maybeSave();  // true when it is fine to replace or close the project
  void rebuildRecentMenu();
  void rebuildRoutingMenu();  // one entry per mixture-of-experts model in the runs folder
  void projectChanged();
  void updateActions();
  void updateSummary();
  void showProblems(const QString& title, const QString& summary, const std::vector<dmoe::Problem>& problems);
  void onStageEvent(const QJsonObject& event);
  void onJobStarted(const StageJob& job);
  void onJobFinished(const StageJob& job, int exitCode, bool cancelled);
  void showAbout();
  void showDiagnostics();

  ProjectDocument* document_;
  LanguageTableModel* languageModel_;
  QSortFilterProxyModel* sortModel_;
  StageRunner* runner_;
  StageQueue* queue_;
  RunMetrics* metrics_;
  RunsView* runsView_ = nullptr;
  AdaptationWizard* wizard_ = nullptr;
  QTableView* table_ = nullptr;
  QTabWidget* tabs_ = nullptr;
  DeviationView* deviationView_ = nullptr;
  SimilarityView* similarityView_ = nullptr;
  GroupEditor* groupEditor_ = nullptr;
  EpsilonPanel* epsilonPanel_ = nullptr;
  LayerMoeView* layerMoeView_ = nullptr;
  RoutingView* routingView_ = nullptr;
  QLabel* summary_ = nullptr;
  LogDock* logDock_ = nullptr;
  ProjectSettingsDock* projectDock_ = nullptr;
  QLabel* projectLabel_ = nullptr;
  QLabel* stageLabel_ = nullptr;
  QProgressBar* progress_ = nullptr;
  QLabel* externalLabel_ = nullptr;  // another command holds the runs folder
  bool externalBusy_ = false;
  QMenu* recentMenu_ = nullptr;
  QAction *newAction_, *openAction_, *saveAction_, *saveAsAction_, *quitAction_;
  QAction *statsAction_, *runAllAction_, *adaptAction_, *cancelAction_, *processesAction_;
  QMenu* runStageMenu_ = nullptr;
  QMenu* routingMenu_ = nullptr;
  QString statisticsNote_;
};

}  // namespace dmoe::views
