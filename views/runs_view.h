// RunsView: the "Runs" tab — launch stages and watch them train.
//
// Top: a stage picker with "Run stage" (`dmoe run P --from S --until S`),
// "Run up to here" (`--until S`: everything it needs, up-to-date stages
// skip), "Run all" and "Recompute" (--force); Cancel stops the running stage
// so it can resume. Left: the project's runs (every folder with a
// metrics.jsonl, grouped by stage; ticked runs are drawn, ticking two
// overlays them; at first the DMoE's stage 2 and the dense baseline) and the
// queue of launched commands. Right: four charts —
// LM loss, router losses (router_loss of stage 1, balance_loss of stage 2),
// learning rate, held-out PPL (per language for one run, the mean per run when
// several are compared) — each exportable as PNG, SVG and CSV (the CSV's x is
// the charts' x).
//
// Above the charts, their x axis: optimizer steps or training tokens
// (RunMetrics places each run's steps in tokens). Training tokens are the
// default while the ticked runs compare a DMoE training stage (the DMoE's or a
// variant baseline's train/stage1 or stage2) with the dense baseline
// (baselines/dense-continue/train), whose single run spends the tokens of both
// stages: equal x is then equal data. Otherwise steps; once the user picks an
// axis, it stays. On the tokens axis a stage 2 ticked without its stage 1 is
// drawn as one line from token 0, stage 1's points then stage 2's (labelled
// "…/stage1 → stage2"), so the DMoE's whole training faces the baseline's;
// ticking stage 1 as well draws the two as separate runs. A run whose tokens
// are unknown (no readable settings.json) stays at its steps, its label says
// "(by step)" and the note above the charts names it and why.
//
// The data live in RunMetrics (files + live events); this view only draws,
// batching redraws with a short timer so a fast event stream costs little.
#pragma once
#include <QColor>
#include <QHash>
#include <QSet>
#include <QStringList>
#include <QTimer>
#include <QWidget>

#include "export.h"

class QCheckBox;
class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;
class QTreeWidget;
class QTreeWidgetItem;

namespace dmoe::views {

class LineChart;
class ProjectDocument;
class RunMetrics;
class StageQueue;
struct RunCurves;

class RunsView : public QWidget {
  Q_OBJECT
 public:
  enum class XAxis { Steps, Tokens };  // the order of the x-axis box's entries

  RunsView(ProjectDocument& document, RunMetrics& metrics, StageQueue& queue, QWidget* parent = nullptr);

  // The ticked runs, drawn on the charts (in list order).
  QStringList checkedRuns() const;
  void setChecked(const QString& runId, bool checked);
  LineChart* lossChart() const { return lossChart_; }
  LineChart* routerChart() const { return routerChart_; }
  LineChart* lrChart() const { return lrChart_; }
  LineChart* pplChart() const { return pplChart_; }
  QWidget* chartsArea() const { return charts_; }
  // The charts' x axis: the user's choice once made, else the default for the ticked runs (applied at each redraw).
  XAxis xAxis() const;
  // Redraws now instead of at the next timer tick (tests, exports).
  void redrawNow();

  // `dmoe` arguments of the launcher buttons for stage `stage` (exposed for tests).
  QStringList runStageArguments(const QString& stage) const;
  QStringList runUntilArguments(const QString& stage) const;
  QStringList runAllArguments() const;

 signals:
  // The window launches (it saves unsaved changes first): title and `dmoe` arguments.
  void launchRequested(const QString& title, const QStringList& arguments);

 private:
  void rebuildTree();
  QTreeWidgetItem* addRunItem(const QString& id);
  void updateRunItem(QTreeWidgetItem* item, const RunCurves& run) const;
  void onRunAdded(const QString& id);
  void onRunUpdated(const QString& id);
  void scheduleRedraw();
  void redraw();
  void applyDefaultXAxis();
  void setAxisTitles(const QString& x);
  void rebuildQueueList();
  void updateButtons();
  QString selectedStage() const;
  QString languageLabel(const QString& id) const;
  QColor runColor(const QString& id) const;
  QWidget* chartPanel(LineChart* chart, const QString& exportName);

  ProjectDocument& document_;
  RunMetrics& metrics_;
  StageQueue& queue_;
  QComboBox* stageBox_;
  QCheckBox* forceBox_;
  QPushButton *runStageButton_, *runUntilButton_, *runAllButton_, *cancelButton_;
  QTreeWidget* tree_;
  QListWidget* queueList_;
  QPushButton *removeButton_, *clearButton_;
  QLabel* note_;
  QComboBox* xAxisBox_;
  QLabel* xAxisNote_;  // the runs drawn at their steps on the tokens axis
  bool xAxisChosen_ = false;
  QWidget* charts_;
  LineChart *lossChart_, *routerChart_, *lrChart_, *pplChart_;
  QHash<QString, QTreeWidgetItem*> items_;  // run id → its tree item
  QSet<QString> checked_;                   // kept across reloads
  QString autoChecked_;                     // the live run ticked for the user, unticked when the next starts
  QTimer redrawTimer_;
};

}  // namespace dmoe::views
