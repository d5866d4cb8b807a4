#include "runs_view.h"

#include <QCheckBox>
#include <QComboBox>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QLocale>
#include <QPushButton>
#include <QSplitter>
#include <QToolButton>
#include <QTreeWidget>
#include <QVBoxLayout>
#include <cmath>

#include "line_chart.h"
#include "pipeline/stage_catalog.h"
#include "results/run_layout.h"
#include "project_document.h"
#include "run_metrics.h"
#include "stage_queue.h"

namespace dmoe::views {

namespace {

constexpr int kRedrawMs = 100;  // live events arrive in bursts; one redraw per burst
constexpr int kIdRole = Qt::UserRole;

// Okabe–Ito: distinguishable with colour-blindness, legible on light and dark backgrounds.
const QColor kRunColors[] = {QColor(0x00, 0x72, 0xB2), QColor(0xD5, 0x5E, 0x00), QColor(0x00, 0x9E, 0x73),
                             QColor(0xCC, 0x79, 0xA7), QColor(0xE6, 0x9F, 0x00), QColor(0x56, 0xB4, 0xE9)};

// Evenly spaced hues for the languages of one run.
QColor languageColor(int index, int count) {
  return QColor::fromHsvF(float(index) / float(std::max(1, count)), 0.7f, 0.85f);
}

QString formatValue(double v) { return std::isfinite(v) ? QLocale().toString(v, 'g', 4) : QStringLiteral("–"); }

// A run id: the run folder's path under the runs folder.
QString runId(const std::filesystem::path& relative) { return QString::fromStdString(relative.generic_string()); }

const RunLayout& relativeLayout() {
  static const RunLayout layout{std::filesystem::path()};  // run ids are paths under the runs folder
  return layout;
}

QString denseBaselineRun() { return runId(RunLayout(relativeLayout().baselineDir(RunLayout::kDenseContinue)).trainDir()); }

// Run `id` as the charts draw it. On the tokens axis, in training tokens when they are known, a stage 2
// ticked without its stage 1 preceded by stage 1's points ("…/stage1 → stage2"); else at its steps,
// labelled "(by step)" on the tokens axis. RunCurves share their points: the copy is cheap.
struct DrawnRun {
  RunCurves curves;
  QString name;
  bool inTokens = false;
};

DrawnRun drawnRun(const RunMetrics& metrics, const QString& id, bool tokens, const QSet<QString>& ticked) {
  if (!tokens) return {*metrics.run(id), id};
  const QString before = metrics.earlierStage(id);
  const bool chain = !before.isEmpty() && !ticked.contains(before) && metrics.run(before)->knowsTokens();
  if (std::optional<RunCurves> inTokens = metrics.tokenCurves(id, chain))
    return {*inTokens, chain ? before + QStringLiteral(" → ") + id.section('/', -1) : id, true};
  return {*metrics.run(id), RunsView::tr("%1 (by step)").arg(id)};
}

// Whether the ticked runs compare a DMoE training stage (the DMoE's or a variant baseline's) with the dense baseline.
bool comparesDmoeWithDense(const QSet<QString>& ticked) {
  if (!ticked.contains(denseBaselineRun())) return false;
  const RunLayout& runs = relativeLayout();
  for (const std::filesystem::path& train : {runs.trainDir(), RunLayout(runs.baselineDir(RunLayout::kRandomGroups)).trainDir(),
                                             RunLayout(runs.baselineDir(RunLayout::kBranchTrainMix)).trainDir()})
    for (int stage : {1, 2})
      if (ticked.contains(runId(RunLayout::trainingStageIn(train, stage)))) return true;
  return false;
}

}  // namespace

RunsView::RunsView(ProjectDocument& document, RunMetrics& metrics, StageQueue& queue, QWidget* parent)
    : QWidget(parent), document_(document), metrics_(metrics), queue_(queue) {
  setObjectName("runsView");

  // ---- launcher
  stageBox_ = new QComboBox(this);
  stageBox_->setObjectName("stageBox");
  for (const StageInfo& stage : stageCatalog()) {
    stageBox_->addItem(QString::fromStdString(stage.name));
    stageBox_->setItemData(stageBox_->count() - 1, QString::fromStdString(stage.help), Qt::ToolTipRole);
  }
  stageBox_->setToolTip(tr("The stage the buttons run"));
  runStageButton_ = new QPushButton(tr("Run stage"), this);
  runStageButton_->setObjectName("runStageButton");
  runStageButton_->setToolTip(tr("Run the chosen stage alone (it reads what earlier stages wrote)"));
  runUntilButton_ = new QPushButton(tr("Run up to here"), this);
  runUntilButton_->setObjectName("runUntilButton");
  runUntilButton_->setToolTip(tr("Run every stage up to the chosen one; stages whose outputs are up to date are skipped"));
  runAllButton_ = new QPushButton(tr("Run all"), this);
  runAllButton_->setObjectName("runAllButton");
  runAllButton_->setToolTip(tr("Run every stage of the project (dmoe run); up-to-date stages are skipped"));
  forceBox_ = new QCheckBox(tr("Recompute"), this);
  forceBox_->setObjectName("forceBox");
  forceBox_->setToolTip(tr("--force: recompute even when the outputs are up to date"));
  cancelButton_ = new QPushButton(tr("Cancel"), this);
  cancelButton_->setObjectName("cancelButton");
  cancelButton_->setToolTip(tr("Stop the running stage; it saves a checkpoint and resumes when run again"));
  auto* launcher = new QHBoxLayout;
  launcher->addWidget(new QLabel(tr("Stage:"), this));
  launcher->addWidget(stageBox_);
  launcher->addWidget(runStageButton_);
  launcher->addWidget(runUntilButton_);
  launcher->addWidget(runAllButton_);
  launcher->addWidget(forceBox_);
  launcher->addStretch(1);
  launcher->addWidget(cancelButton_);

  // ---- runs and queue
  tree_ = new QTreeWidget(this);
  tree_->setObjectName("runTree");
  tree_->setHeaderLabels({tr("Run"), tr("Steps"), tr("Last loss"), tr("Held-out PPL")});
  tree_->setToolTip(tr("Tick runs to draw them; tick two to compare them on the same charts"));
  tree_->header()->setStretchLastSection(false);
  tree_->header()->setSectionResizeMode(QHeaderView::ResizeToContents);
  tree_->setRootIsDecorated(true);
  queueList_ = new QListWidget(this);
  queueList_->setObjectName("queueList");
  removeButton_ = new QPushButton(tr("Remove"), this);
  removeButton_->setToolTip(tr("Drop the selected waiting command"));
  clearButton_ = new QPushButton(tr("Clear"), this);
  clearButton_->setToolTip(tr("Drop every waiting command"));
  auto* queueButtons = new QHBoxLayout;
  queueButtons->addStretch(1);
  queueButtons->addWidget(removeButton_);
  queueButtons->addWidget(clearButton_);
  note_ = new QLabel(this);
  note_->setObjectName("runsNote");
  note_->setWordWrap(true);
  note_->setTextFormat(Qt::PlainText);
  note_->hide();

  auto* left = new QWidget(this);
  auto* leftLayout = new QVBoxLayout(left);
  leftLayout->setContentsMargins(0, 0, 0, 0);
  leftLayout->addWidget(new QLabel(tr("<b>Runs</b>"), left));
  leftLayout->addWidget(tree_, 3);
  leftLayout->addWidget(note_);
  leftLayout->addWidget(new QLabel(tr("<b>Queue</b>"), left));
  leftLayout->addWidget(queueList_, 1);
  leftLayout->addLayout(queueButtons);

  // ---- charts
  lossChart_ = new LineChart(tr("Loss"), this);
  lossChart_->setObjectName("lossChart");
  routerChart_ = new LineChart(tr("Router losses"), this);
  routerChart_->setObjectName("routerChart");
  lrChart_ = new LineChart(tr("Learning rate"), this);
  lrChart_->setObjectName("lrChart");
  pplChart_ = new LineChart(tr("Held-out PPL"), this);
  pplChart_->setObjectName("pplChart");
  pplChart_->setLogY(true);
  setAxisTitles(tr("step"));
  charts_ = new QWidget(this);
  charts_->setObjectName("runCharts");
  xAxisBox_ = new QComboBox(charts_);
  xAxisBox_->setObjectName("xAxisBox");
  xAxisBox_->addItems({tr("optimizer steps"), tr("training tokens")});  // XAxis order
  xAxisBox_->setToolTip(tr("The x axis of the four charts. Training tokens (batch_sequences × seq_len per step, "
                           "from each run's settings.json; a stage 2 continues where its stage 1 ended) put "
                           "runs of different batch sizes and stages at equal data."));
  xAxisNote_ = new QLabel(charts_);
  xAxisNote_->setObjectName("xAxisNote");
  xAxisNote_->setWordWrap(true);
  xAxisNote_->setTextFormat(Qt::PlainText);
  xAxisNote_->hide();
  auto* axisBar = new QHBoxLayout;
  axisBar->addWidget(new QLabel(tr("x axis:"), charts_));
  axisBar->addWidget(xAxisBox_);
  axisBar->addWidget(xAxisNote_, 1);
  axisBar->addStretch(0);  // takes the room only while the note is hidden
  auto* grid = new QGridLayout;
  grid->setContentsMargins(0, 0, 0, 0);
  grid->addWidget(chartPanel(lossChart_, "loss"), 0, 0);
  grid->addWidget(chartPanel(routerChart_, "router-losses"), 0, 1);
  grid->addWidget(chartPanel(lrChart_, "learning-rate"), 1, 0);
  grid->addWidget(chartPanel(pplChart_, "heldout-ppl"), 1, 1);
  for (int i = 0; i < 2; ++i) {
    grid->setColumnStretch(i, 1);
    grid->setRowStretch(i, 1);
  }
  auto* chartsLayout = new QVBoxLayout(charts_);
  chartsLayout->setContentsMargins(0, 0, 0, 0);
  chartsLayout->addLayout(axisBar);
  chartsLayout->addLayout(grid, 1);

  auto* splitter = new QSplitter(Qt::Horizontal, this);
  splitter->setObjectName("runsSplitter");
  splitter->addWidget(left);
  splitter->addWidget(charts_);
  splitter->setStretchFactor(0, 1);
  splitter->setStretchFactor(1, 3);
  splitter->setSizes({380, 900});

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(8, 8, 8, 8);
  layout->addLayout(launcher);
  layout->addWidget(splitter, 1);

  redrawTimer_.setSingleShot(true);
  redrawTimer_.setInterval(kRedrawMs);
  connect(&redrawTimer_, &QTimer::timeout, this, &RunsView::redraw);

  auto launch = [this](const QString& title, const QStringList& args) { emit launchRequested(title, args); };
  connect(runStageButton_, &QPushButton::clicked, this,
          [=] { launch(tr("Stage %1").arg(selectedStage()), runStageArguments(selectedStage())); });
  connect(runUntilButton_, &QPushButton::clicked, this,
          [=] { launch(tr("Stages up to %1").arg(selectedStage()), runUntilArguments(selectedStage())); });
  connect(runAllButton_, &QPushButton::clicked, this, [=] { launch(tr("All stages"), runAllArguments()); });
  connect(cancelButton_, &QPushButton::clicked, &queue_, &StageQueue::cancel);
  connect(removeButton_, &QPushButton::clicked, this, [this] {
    if (QListWidgetItem* item = queueList_->currentItem(); item && item->data(kIdRole).toInt() > 0)
      queue_.remove(item->data(kIdRole).toInt());
  });
  connect(clearButton_, &QPushButton::clicked, &queue_, &StageQueue::clearPending);
  connect(&queue_, &StageQueue::changed, this, [this] {
    rebuildQueueList();
    updateButtons();
  });
  connect(&document_, &ProjectDocument::changed, this, &RunsView::updateButtons);
  connect(tree_, &QTreeWidget::itemChanged, this, [this](QTreeWidgetItem* item, int column) {
    const QString id = item->data(0, kIdRole).toString();
    if (column != 0 || id.isEmpty()) return;
    if (item->checkState(0) == Qt::Checked) checked_.insert(id);
    else checked_.remove(id);
    if (id == autoChecked_) autoChecked_.clear();  // the user took over
    scheduleRedraw();
  });
  connect(xAxisBox_, &QComboBox::currentIndexChanged, this, [this] {  // the defaults are set with signals blocked
    xAxisChosen_ = true;
    redrawNow();
  });
  connect(&metrics_, &RunMetrics::reset, this, &RunsView::rebuildTree);
  connect(&metrics_, &RunMetrics::runAdded, this, &RunsView::onRunAdded);
  connect(&metrics_, &RunMetrics::runUpdated, this, &RunsView::onRunUpdated);

  rebuildTree();
  rebuildQueueList();
  updateButtons();
}

QWidget* RunsView::chartPanel(LineChart* chart, const QString& exportName) {
  auto* panel = new QWidget(this);
  auto* v = new QVBoxLayout(panel);
  v->setContentsMargins(0, 0, 0, 0);
  v->setSpacing(0);
  auto* bar = new QHBoxLayout;
  bar->addStretch(1);
  bar->addWidget(createExportButton(panel, exportName, [chart] { return chart; }, [chart] { return chart->table(); }));
  v->addLayout(bar);
  v->addWidget(chart, 1);
  return panel;
}

// ---- launcher

QString RunsView::selectedStage() const { return stageBox_->currentText(); }

QStringList RunsView::runStageArguments(const QString& stage) const {
  QStringList args{"run", document_.filePath(), "--from", stage, "--until", stage};
  if (forceBox_->isChecked()) args << "--force";
  return args;
}

QStringList RunsView::runUntilArguments(const QString& stage) const {
  QStringList args{"run", document_.filePath(), "--until", stage};
  if (forceBox_->isChecked()) args << "--force";
  return args;
}

QStringList RunsView::runAllArguments() const {
  QStringList args{"run", document_.filePath()};
  if (forceBox_->isChecked()) args << "--force";
  return args;
}

void RunsView::updateButtons() {
  const bool open = document_.hasProject();
  for (QPushButton* b : {runStageButton_, runUntilButton_, runAllButton_}) b->setEnabled(open);
  cancelButton_->setEnabled(queue_.isBusy());
  removeButton_->setEnabled(!queue_.pending().isEmpty());
  clearButton_->setEnabled(!queue_.pending().isEmpty());
}

void RunsView::rebuildQueueList() {
  queueList_->clear();
  if (const auto& current = queue_.current()) {
    auto* item = new QListWidgetItem(tr("▶ %1 (running)").arg(current->title), queueList_);
    item->setToolTip(QStringLiteral("dmoe ") + current->arguments.join(' '));
    item->setData(kIdRole, 0);  // not removable
  }
  for (const StageJob& job : queue_.pending()) {
    auto* item = new QListWidgetItem(tr("⏸ %1").arg(job.title), queueList_);
    item->setToolTip(QStringLiteral("dmoe ") + job.arguments.join(' '));
    item->setData(kIdRole, job.id);
  }
  if (queueList_->count() == 0) {
    auto* item = new QListWidgetItem(tr("Nothing running"), queueList_);
    item->setFlags(Qt::NoItemFlags);
    item->setData(kIdRole, 0);
  }
}

// ---- runs

void RunsView::rebuildTree() {
  const QSignalBlocker block(tree_);
  tree_->clear();
  items_.clear();
  autoChecked_.clear();
  const QStringList ids = metrics_.runIds();
  QSet<QString> present(ids.begin(), ids.end());
  checked_.intersect(present);
  // Something worth seeing first: the DMoE's stage 2 against the dense baseline of the same token budget.
  if (checked_.isEmpty())
    for (const QString& id : {runId(RunLayout::trainingStageIn(relativeLayout().trainDir(), 2)), denseBaselineRun()})
      if (present.contains(id)) checked_.insert(id);
  if (checked_.isEmpty() && !ids.isEmpty()) checked_.insert(ids.back());
  for (const QString& id : ids) addRunItem(id);
  tree_->expandAll();
  note_->setVisible(!metrics_.problems().isEmpty());
  note_->setText(tr("%n metrics line(s) could not be read: %1", nullptr, int(metrics_.problems().size()))
                     .arg(metrics_.problems().value(0)));
  note_->setToolTip(metrics_.problems().join('\n'));
  redrawNow();
}

QTreeWidgetItem* RunsView::addRunItem(const QString& id) {
  const QSignalBlocker block(tree_);
  // Runs nest under their stage folder ("deviation" ▸ "fra"); a run that is the folder itself stays on top.
  const QString top = id.section('/', 0, 0);
  QTreeWidgetItem* parent = nullptr;
  if (top != id) {
    QList<QTreeWidgetItem*> found = tree_->findItems(top, Qt::MatchExactly, 0);
    for (QTreeWidgetItem* f : found)
      if (f->data(0, kIdRole).toString().isEmpty()) parent = f;
    if (!parent) {
      parent = new QTreeWidgetItem(tree_, {top});
      parent->setFlags(Qt::ItemIsEnabled);
      parent->setExpanded(true);
    }
  }
  auto* item = parent ? new QTreeWidgetItem(parent, {id.mid(top.size() + 1)}) : new QTreeWidgetItem(tree_, {id});
  item->setData(0, kIdRole, id);
  item->setToolTip(0, id);
  item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable | Qt::ItemIsSelectable);
  item->setCheckState(0, checked_.contains(id) ? Qt::Checked : Qt::Unchecked);
  if (const RunCurves* run = metrics_.run(id)) updateRunItem(item, *run);
  items_.insert(id, item);
  return item;
}

void RunsView::updateRunItem(QTreeWidgetItem* item, const RunCurves& run) const {
  const QSignalBlocker block(tree_);
  item->setText(1, QLocale().toString(qint64(run.lastStep())));
  const QVector<QPointF> loss = run.scalars.value("loss");
  item->setText(2, loss.isEmpty() ? QStringLiteral("–") : formatValue(loss.back().y()));
  const QVector<QPointF> ppl = run.scalars.value("eval_ppl_mean");
  item->setText(3, ppl.isEmpty() ? QStringLiteral("–") : formatValue(ppl.back().y()));
  for (int c = 1; c <= 3; ++c) item->setTextAlignment(c, Qt::AlignRight | Qt::AlignVCenter);
}

void RunsView::onRunAdded(const QString& id) {
  // A run that starts now is what the user wants to watch: tick it, untick the previous live one.
  if (!autoChecked_.isEmpty() && items_.contains(autoChecked_)) items_[autoChecked_]->setCheckState(0, Qt::Unchecked);
  checked_.insert(id);
  QTreeWidgetItem* item = addRunItem(id);
  tree_->scrollToItem(item);
  autoChecked_ = id;
}

void RunsView::onRunUpdated(const QString& id) {
  if (QTreeWidgetItem* item = items_.value(id))
    if (const RunCurves* run = metrics_.run(id)) updateRunItem(item, *run);
  if (checked_.contains(id)) scheduleRedraw();
}

QStringList RunsView::checkedRuns() const {
  QStringList out;
  for (const QString& id : metrics_.runIds())
    if (checked_.contains(id)) out << id;
  return out;
}

void RunsView::setChecked(const QString& runId, bool checked) {
  if (QTreeWidgetItem* item = items_.value(runId)) item->setCheckState(0, checked ? Qt::Checked : Qt::Unchecked);
}

// ---- charts

QString RunsView::languageLabel(const QString& id) const {
  if (document_.hasProject())
    if (const Language* l = document_.project().findLanguage(id.toStdString())) return QString::fromStdString(l->label());
  return id;
}

QColor RunsView::runColor(const QString& id) const {
  const int index = int(checkedRuns().indexOf(id));
  return kRunColors[std::max(0, index) % int(std::size(kRunColors))];
}

void RunsView::scheduleRedraw() {
  if (!redrawTimer_.isActive()) redrawTimer_.start();
}

void RunsView::redrawNow() {
  redrawTimer_.stop();
  redraw();
}

RunsView::XAxis RunsView::xAxis() const { return XAxis(xAxisBox_->currentIndex()); }

// Until the user picks an axis: training tokens while a DMoE stage is compared with the dense baseline, else steps.
void RunsView::applyDefaultXAxis() {
  if (xAxisChosen_) return;
  const QSignalBlocker block(xAxisBox_);
  xAxisBox_->setCurrentIndex(int(comparesDmoeWithDense(checked_) ? XAxis::Tokens : XAxis::Steps));
}

void RunsView::setAxisTitles(const QString& x) {
  lossChart_->setAxisTitles(x, tr("LM loss (nats/token)"));
  routerChart_->setAxisTitles(x, tr("loss"));
  lrChart_->setAxisTitles(x, tr("lr"));
  pplChart_->setAxisTitles(x, tr("perplexity"));
}

void RunsView::redraw() {
  applyDefaultXAxis();
  const bool tokens = xAxis() == XAxis::Tokens;
  const QStringList runs = checkedRuns();
  QList<ChartLine> loss, router, lr, ppl;
  QStringList bySteps;  // on the tokens axis: "run: why" of the runs drawn at their steps
  bool anyInTokens = false;
  for (const QString& id : runs) {
    if (!metrics_.run(id)) continue;
    const DrawnRun drawn = drawnRun(metrics_, id, tokens, checked_);
    if (tokens && !drawn.inTokens) bySteps << id + ": " + metrics_.run(id)->tokensNote;
    anyInTokens = anyInTokens || drawn.inTokens;
    const RunCurves* run = &drawn.curves;
    const QString& name = drawn.name;
    const QColor color = runColor(id);
    if (run->scalars.contains("loss")) loss.push_back({id + "|loss", name, run->scalars.value("loss"), color});
    if (run->scalars.contains("lr")) lr.push_back({id + "|lr", name, run->scalars.value("lr"), color});
    if (run->scalars.contains("router_loss"))
      router.push_back({id + "|router_loss", name + tr(" · router (L_RC)"), run->scalars.value("router_loss"), color});
    if (run->scalars.contains("balance_loss"))
      router.push_back({id + "|balance_loss", name + tr(" · balance"), run->scalars.value("balance_loss"), color,
                        Qt::DashLine});
    if (runs.size() > 1) {
      if (run->scalars.contains("eval_ppl_mean"))
        ppl.push_back({id + "|ppl_mean", name + tr(" · mean"), run->scalars.value("eval_ppl_mean"), color, Qt::SolidLine, 2});
      continue;
    }
    // One run: every language, in project order, and the mean on top.
    QStringList languages = run->evalPpl.keys();
    if (document_.hasProject()) {
      QStringList ordered;
      for (const Language& l : document_.project().allLanguages())
        if (languages.contains(QString::fromStdString(l.id))) ordered << QString::fromStdString(l.id);
      for (const QString& l : languages)
        if (!ordered.contains(l)) ordered << l;
      languages = ordered;
    }
    for (int i = 0; i < languages.size(); ++i)
      ppl.push_back({id + "|ppl|" + languages[i], languageLabel(languages[i]), run->evalPpl.value(languages[i]),
                     languageColor(i, int(languages.size())), Qt::SolidLine, 1});
    if (run->scalars.contains("eval_ppl_mean"))
      ppl.push_front({id + "|ppl_mean", tr("mean"), run->scalars.value("eval_ppl_mean"), palette().color(QPalette::Text),
                      Qt::DashLine, 2.5});
  }
  const QString none = runs.isEmpty() ? tr("Tick a run on the left to draw it.") : QString();
  lossChart_->setEmptyText(none.isEmpty() ? tr("The ticked runs have no loss yet.") : none);
  lrChart_->setEmptyText(none.isEmpty() ? tr("The ticked runs have no learning rate yet.") : none);
  routerChart_->setEmptyText(none.isEmpty() ? tr("No router losses in the ticked runs: DMoE training logs "
                                                 "router_loss in stage 1 and balance_loss in stage 2.")
                                            : none);
  pplChart_->setEmptyText(none.isEmpty() ? tr("No held-out evaluations in the ticked runs: set "
                                              "evaluation.every_steps in the project to evaluate while training.")
                                         : none);
  setAxisTitles(anyInTokens ? tr("training tokens") : tr("step"));
  xAxisNote_->setVisible(!bySteps.isEmpty());
  xAxisNote_->setText(tr("Drawn at their steps, their training tokens unknown: %1").arg(bySteps.join("; ")));
  lossChart_->setLines(loss);
  routerChart_->setLines(router);
  lrChart_->setLines(lr);
  pplChart_->setLines(ppl);
}

}  // namespace dmoe::views
