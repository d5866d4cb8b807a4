// AdaptationWizard: adding new languages to a trained DMoE (SPEC §1.8), step
// by step, without blocking the window (it is non-modal; the work runs in
// `dmoe` through the window's queue).
//
//  1. Languages — tick which of the project's new languages to add; the
//     choice is saved as adaptation.languages in the project file, so a
//     headless `dmoe adapt` does the same.
//  2. Probe — `dmoe probe`: each language's PPL with every trained expert
//     forced; the nearest expert (lowest PPL) is highlighted; languages with
//     the same nearest expert will share one new expert, a copy of it.
//  3. Adapt — `dmoe adapt`: trains only the new experts and router rows; live
//     loss chart and progress.
//  4. Results — every language's PPL before and after (hard-routed to its own
//     expert, and with the learned router), from adapt/adaptation.json.
#pragma once
#include <QWizard>
#include <functional>

class QTableWidget;

namespace dmoe::views {

class ProjectDocument;
class RunMetrics;
class StageQueue;
class AdaptLanguagesPage;
class AdaptProbePage;
class AdaptTrainPage;
class AdaptResultsPage;

class AdaptationWizard : public QWizard {
  Q_OBJECT
 public:
  // Queues `dmoe <arguments>` and returns the job id (−1: not queued). The
  // window passes its runStage, which saves unsaved changes first.
  using Launcher = std::function<int(const QString& title, const QStringList& arguments)>;

  enum PageId { LanguagesPage, ProbePage, AdaptPage, ResultsPage };

  AdaptationWizard(ProjectDocument& document, RunMetrics& metrics, StageQueue& queue, Launcher launch,
                   QWidget* parent = nullptr);

  // What the pages show (for tests and screenshots).
  QStringList chosenLanguages() const;
  void setChosenLanguages(const QStringList& ids);
  QTableWidget* probeTable() const;
  QTableWidget* resultsTable() const;
  QString probePlan() const;       // "New expert 6 ← copy of expert 2: mr; …"
  QString resultsSummary() const;

 private:
  AdaptLanguagesPage* languages_;
  AdaptProbePage* probe_;
  AdaptTrainPage* train_;
  AdaptResultsPage* results_;
};

}  // namespace dmoe::views
