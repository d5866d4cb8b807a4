#include "adaptation_wizard.h"

#include <QCheckBox>
#include <QDir>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QListWidget>
#include <QLocale>
#include <QProgressBar>
#include <QPushButton>
#include <QTableWidget>
#include <QTimer>
#include <QToolButton>
#include <QVBoxLayout>
#include <QWizardPage>
#include <cmath>
#include <map>
#include <optional>

#include "analysis_files.h"
#include "line_chart.h"
#include "project_document.h"
#include "run_metrics.h"
#include "stage_queue.h"
#include "stage_runner.h"

namespace fs = std::filesystem;

namespace dmoe::views {

namespace {

const QString kAdaptRun = QStringLiteral("adapt/train");

fs::path runsDirOf(const ProjectDocument& document) {
  return document.hasProject() ? document.project().runsDir() : fs::path();
}

QString labelOf(const ProjectDocument& document, const std::string& id) {
  const Language* l = document.hasProject() ? document.project().findLanguage(id) : nullptr;
  return QString::fromStdString(l ? l->label() : id);
}

QString formatPpl(double v) { return std::isfinite(v) ? QLocale().toString(v, 'f', 1) : QStringLiteral("–"); }

QTableWidgetItem* numberItem(double v) {
  auto* item = new QTableWidgetItem(formatPpl(v));
  item->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
  item->setData(Qt::UserRole, v);
  return item;
}

QTableWidget* readOnlyTable(QWidget* parent, const QString& name) {
  auto* table = new QTableWidget(parent);
  table->setObjectName(name);
  table->setEditTriggers(QAbstractItemView::NoEditTriggers);
  table->setSelectionBehavior(QAbstractItemView::SelectRows);
  table->verticalHeader()->hide();
  table->setAlternatingRowColors(true);
  return table;
}

CsvTable tableCsv(const QTableWidget& table) {
  CsvTable csv;
  for (int c = 0; c < table.columnCount(); ++c)
    csv.header << (table.horizontalHeaderItem(c) ? table.horizontalHeaderItem(c)->text().replace('\n', ' ') : QString());
  for (int r = 0; r < table.rowCount(); ++r) {
    QStringList row;
    for (int c = 0; c < table.columnCount(); ++c) {
      const QTableWidgetItem* item = table.item(r, c);
      const QVariant number = item ? item->data(Qt::UserRole) : QVariant();
      row << (number.isValid() ? QString::number(number.toDouble(), 'g', 10) : item ? item->text() : QString());
    }
    csv.rows.push_back(row);
  }
  return csv;
}

}  // namespace

// ---- 1. languages

class AdaptLanguagesPage : public QWizardPage {
 public:
  explicit AdaptLanguagesPage(ProjectDocument& document) : document_(document) {
    setTitle(tr("New languages"));
    setSubTitle(tr("Each new language gets an expert copied from the trained expert that suits it best; only the "
                   "copies and their router rows are trained, so everything the model already knows stays exactly "
                   "as it is."));
    list_ = new QListWidget(this);
    list_->setObjectName("newLanguages");
    status_ = new QLabel(this);
    status_->setObjectName("languagesStatus");
    status_->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(list_, 1);
    layout->addWidget(status_);
    connect(list_, &QListWidget::itemChanged, this, [this] { emit completeChanged(); });
  }

  void initializePage() override {
    const QSignalBlocker block(list_);
    list_->clear();
    if (!document_.hasProject()) return;
    const Project& p = document_.project();
    const auto& chosen = p.adaptation.languages;
    for (const Language& l : p.new_languages) {
      auto* item = new QListWidgetItem(QStringLiteral("%1  (%2)").arg(QString::fromStdString(l.label()),
                                                                       QString::fromStdString(l.id)), list_);
      item->setData(Qt::UserRole, QString::fromStdString(l.id));
      item->setFlags(Qt::ItemIsEnabled | Qt::ItemIsUserCheckable);
      const bool on = chosen.empty() || std::find(chosen.begin(), chosen.end(), l.id) != chosen.end();
      item->setCheckState(on ? Qt::Checked : Qt::Unchecked);
    }
    trained_ = fs::exists(RunLayout::modelIn(RunLayout(runsDirOf(document_)).trainDir()) / "config.json");
    if (p.new_languages.empty())
      status_->setText(tr("The project lists no new languages: add them to <tt>new_languages</tt> in the project "
                          "file (with their corpora) first."));
    else if (!trained_)
      status_->setText(tr("There is no trained DMoE yet: run the stages up to <b>train</b> first (Runs tab, "
                          "“Run up to here”)."));
    else
      status_->setText(tr("The choice is saved in the project (<tt>adaptation.languages</tt>), so "
                          "<tt>dmoe adapt</tt> in batch does the same."));
    emit completeChanged();
  }

  QStringList chosen() const {
    QStringList ids;
    for (int i = 0; i < list_->count(); ++i)
      if (list_->item(i)->checkState() == Qt::Checked) ids << list_->item(i)->data(Qt::UserRole).toString();
    return ids;
  }

  void setChosen(const QStringList& ids) {
    for (int i = 0; i < list_->count(); ++i)
      list_->item(i)->setCheckState(ids.contains(list_->item(i)->data(Qt::UserRole).toString()) ? Qt::Checked
                                                                                                 : Qt::Unchecked);
  }

  bool isComplete() const override { return trained_ && !chosen().isEmpty(); }

  // Stores the choice in the project: all new languages = the default (the key left out).
  bool validatePage() override {
    std::vector<std::string> ids;
    for (const QString& id : chosen()) ids.push_back(id.toStdString());
    if (ids.size() == document_.project().new_languages.size()) ids.clear();
    if (ids != document_.project().adaptation.languages)
      document_.modify([&](Project& p) { p.adaptation.languages = ids; });
    return true;
  }

 private:
  ProjectDocument& document_;
  QListWidget* list_;
  QLabel* status_;
  bool trained_ = false;
};

// ---- 2. probe

class AdaptProbePage : public QWizardPage {
 public:
  AdaptProbePage(ProjectDocument& document, StageQueue& queue, AdaptationWizard::Launcher launch,
                 const AdaptLanguagesPage& languages)
      : document_(document), launch_(std::move(launch)), languages_(languages) {
    setTitle(tr("Probe: the nearest trained expert"));
    setSubTitle(tr("Each language's held-out perplexity with every MoE layer routed to one expert. The lowest "
                   "(highlighted) is the expert its new expert starts from."));
    status_ = new QLabel(this);
    status_->setObjectName("probeStatus");
    status_->setWordWrap(true);
    table_ = readOnlyTable(this, "probeTable");
    plan_ = new QLabel(this);
    plan_->setObjectName("probePlan");
    plan_->setWordWrap(true);
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(status_);
    layout->addWidget(table_, 1);
    layout->addWidget(plan_);
    connect(&queue, &StageQueue::jobFinished, this, [this](const StageJob& job, int exitCode, bool cancelled) {
      if (job.id != job_) return;
      job_ = -1;
      if (exitCode == 0 && !cancelled) return load();
      status_->setText(cancelled ? tr("The probe was cancelled. Go back and forth to probe again.")
                                 : tr("The probe failed (exit code %1): see the Log.").arg(exitCode));
    });
  }

  void initializePage() override {
    loaded_ = false;
    table_->clear();
    table_->setRowCount(0);
    table_->setColumnCount(0);
    plan_->clear();
    const QStringList ids = languages_.chosen();
    job_ = launch_(tr("Probe %1").arg(ids.join(", ")), {"probe", document_.filePath(), "--languages", ids.join(',')});
    status_->setText(job_ < 0 ? tr("The probe was not started (the project must be saved first).")
                              : tr("Probing %1 against every expert (dmoe probe)…").arg(ids.join(", ")));
    emit completeChanged();
  }

  bool isComplete() const override { return loaded_; }
  QTableWidget* table() const { return table_; }
  QString plan() const { return plan_->text(); }

  // Fills the table from probe/probe.json.
  void load() {
    const fs::path file = RunLayout(runsDirOf(document_)).probeFile();
    ProbeTable probe;
    try {
      probe = ProbeTable::read(file);
    } catch (const std::exception& e) {
      status_->setText(QString::fromUtf8(e.what()).toHtmlEscaped());
      return;
    }
    const int experts = int(probe.experts.size());
    table_->setColumnCount(experts + 1);
    table_->setRowCount(int(probe.rows.size()));
    table_->setHorizontalHeaderItem(0, new QTableWidgetItem(tr("Language")));
    for (int e = 0; e < experts; ++e) {
      QStringList members;
      for (const std::string& id : probe.experts[size_t(e)]) members << labelOf(document_, id);
      auto* header = new QTableWidgetItem(tr("Expert %1\n%2").arg(e).arg(members.join(", ")));
      header->setToolTip(tr("Expert %1, trained on %2").arg(e).arg(members.join(", ")));
      table_->setHorizontalHeaderItem(e + 1, header);
    }
    QColor best = palette().color(QPalette::Highlight);
    best.setAlpha(110);
    std::map<std::int64_t, QStringList> plan;  // nearest expert → new languages (as the adapt stage groups them)
    for (int r = 0; r < int(probe.rows.size()); ++r) {
      const ProbeTable::Row& row = probe.rows[size_t(r)];
      const QString label = labelOf(document_, row.language);
      auto* name = new QTableWidgetItem(label);
      name->setToolTip(tr("%1: %n document(s) probed", nullptr, int(row.documents)).arg(QString::fromStdString(row.language)));
      table_->setItem(r, 0, name);
      for (int e = 0; e < experts; ++e) {
        QTableWidgetItem* cell = numberItem(row.ppl[size_t(e)]);
        if (e == row.best) {
          QFont bold = cell->font();
          bold.setBold(true);
          cell->setFont(bold);
          cell->setBackground(best);
          cell->setToolTip(tr("Nearest expert of %1").arg(label));
        }
        table_->setItem(r, e + 1, cell);
      }
      plan[row.best] << label;
    }
    table_->horizontalHeader()->setSectionResizeMode(QHeaderView::Stretch);
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::ResizeToContents);
    QStringList lines;
    int next = experts;
    for (const auto& [source, members] : plan)
      lines << tr("new expert %1 ← copy of expert %2: %3").arg(next++).arg(source).arg(members.join(", "));
    plan_->setText(tr("Adaptation will add %n expert(s): ", nullptr, int(plan.size())) + lines.join("; ") + ".");
    status_->setText(tr("Probed on the first %n training document(s) of each language.", nullptr,
                        probe.rows.empty() ? 0 : int(probe.rows.front().documents)));
    loaded_ = true;
    emit completeChanged();
  }

 private:
  ProjectDocument& document_;
  AdaptationWizard::Launcher launch_;
  const AdaptLanguagesPage& languages_;
  QLabel *status_, *plan_;
  QTableWidget* table_;
  int job_ = -1;
  bool loaded_ = false;
};

// ---- 3. adapt

class AdaptTrainPage : public QWizardPage {
 public:
  AdaptTrainPage(ProjectDocument& document, RunMetrics& metrics, StageQueue& queue, AdaptationWizard::Launcher launch)
      : document_(document), metrics_(metrics), launch_(std::move(launch)) {
    setTitle(tr("Train the new experts"));
    setSubTitle(tr("Only the new experts and their router rows learn; the stage then checks that every other "
                   "tensor is bit-identical to the trained model."));
    start_ = new QPushButton(tr("Start adaptation"), this);
    start_->setObjectName("startAdaptation");
    force_ = new QCheckBox(tr("Recompute"), this);
    force_->setToolTip(tr("--force: adapt again even when the outputs are up to date"));
    progress_ = new QProgressBar(this);
    progress_->setObjectName("adaptProgress");
    progress_->hide();
    status_ = new QLabel(this);
    status_->setObjectName("adaptStatus");
    status_->setWordWrap(true);
    chart_ = new LineChart(tr("Adaptation loss"), this);
    chart_->setObjectName("adaptLossChart");
    chart_->setAxisTitles(tr("step"), tr("LM loss"));
    chart_->setEmptyText(tr("The loss of the new experts' training appears here."));
    auto* row = new QHBoxLayout;
    row->addWidget(start_);
    row->addWidget(force_);
    row->addWidget(progress_, 1);
    auto* layout = new QVBoxLayout(this);
    layout->addLayout(row);
    layout->addWidget(status_);
    layout->addWidget(chart_, 1);

    redraw_.setSingleShot(true);
    redraw_.setInterval(100);
    connect(&redraw_, &QTimer::timeout, this, &AdaptTrainPage::drawLoss);
    connect(&metrics_, &RunMetrics::runUpdated, this, [this](const QString& id) {
      if (id == kAdaptRun && !redraw_.isActive()) redraw_.start();
    });
    connect(&metrics_, &RunMetrics::reset, this, &AdaptTrainPage::drawLoss);
    connect(start_, &QPushButton::clicked, this, [this] {
      QStringList args{"adapt", document_.filePath()};
      if (force_->isChecked()) args << "--force";
      job_ = launch_(tr("Adaptation"), args);
      if (job_ < 0) return;
      done_ = false;
      start_->setEnabled(false);
      progress_->setRange(0, 0);
      progress_->show();
      status_->setText(tr("Adapting (dmoe adapt)…"));
      emit completeChanged();
    });
    connect(&queue.runner(), &StageRunner::event, this, [this](const QJsonObject& event) {
      if (job_ < 0 || event.value("event").toString() != "progress") return;
      const QString stage = event.value("stage").toString();
      const double total = event.value("total").toDouble();
      if (total <= 0 || !stage.startsWith("adapt")) return;
      progress_->setRange(0, 1000);
      progress_->setValue(int(1000 * event.value("done").toDouble() / total));
      progress_->setFormat(QStringLiteral("%1: %2 / %3").arg(stage).arg(event.value("done").toInt()).arg(int(total)));
    });
    connect(&queue, &StageQueue::jobFinished, this, [this](const StageJob& job, int exitCode, bool cancelled) {
      if (job.id != job_) return;
      job_ = -1;
      progress_->hide();
      start_->setEnabled(true);
      done_ = exitCode == 0 && !cancelled;
      status_->setText(done_ ? tr("Adaptation finished: Next shows the perplexities before and after.")
                       : cancelled ? tr("Adaptation cancelled; start it again to redo it.")
                                   : tr("Adaptation failed (exit code %1): see the Log.").arg(exitCode));
      drawLoss();
      emit completeChanged();
    });
  }

  void initializePage() override {
    status_->setText(tr("Start the adaptation when ready; the window stays usable while it runs."));
    drawLoss();
  }
  bool isComplete() const override { return done_; }

 private:
  void drawLoss() {
    const RunCurves* run = metrics_.run(kAdaptRun);
    QList<ChartLine> lines;
    if (run && run->scalars.contains("loss"))
      lines.push_back({kAdaptRun + "|loss", tr("LM loss"), run->scalars.value("loss"), QColor(0x00, 0x72, 0xB2)});
    if (run && run->scalars.contains("router_loss"))
      lines.push_back({kAdaptRun + "|router_loss", tr("router (L_RC)"), run->scalars.value("router_loss"),
                       QColor(0xD5, 0x5E, 0x00), Qt::DashLine});
    chart_->setLines(lines);
  }

  ProjectDocument& document_;
  RunMetrics& metrics_;
  AdaptationWizard::Launcher launch_;
  QPushButton* start_;
  QCheckBox* force_;
  QProgressBar* progress_;
  QLabel* status_;
  LineChart* chart_;
  QTimer redraw_;
  int job_ = -1;
  bool done_ = false;
};

// ---- 4. results

class AdaptResultsPage : public QWizardPage {
 public:
  explicit AdaptResultsPage(ProjectDocument& document) : document_(document) {
    setTitle(tr("Before and after"));
    setSubTitle(tr("Held-out perplexity of every language. Hard: routed to its group's expert (new languages to "
                   "their new expert). Learned router: as the model routes by itself."));
    summary_ = new QLabel(this);
    summary_->setObjectName("adaptSummary");
    summary_->setWordWrap(true);
    table_ = readOnlyTable(this, "adaptResults");
    auto* exportRow = new QHBoxLayout;
    exportRow->addStretch(1);
    exportRow->addWidget(createExportButton(this, "adaptation", [this] { return table_; },
                                            [this] { return tableCsv(*table_); }));
    auto* layout = new QVBoxLayout(this);
    layout->addWidget(summary_);
    layout->addLayout(exportRow);
    layout->addWidget(table_, 1);
  }

  void initializePage() override {
    table_->clear();
    table_->setRowCount(0);
    AdaptationResult a;
    try {
      a = AdaptationResult::read(RunLayout(runsDirOf(document_)).adaptationFile());
    } catch (const std::exception& e) {
      summary_->setText(QString::fromUtf8(e.what()).toHtmlEscaped());
      return;
    }
    const QStringList headers{tr("Language"), tr("Hard\nbefore"), tr("Hard\nafter"), tr("Learned router\nbefore"),
                              tr("Learned router\nafter"), tr("Change\n(learned router)")};
    table_->setColumnCount(int(headers.size()));
    table_->setHorizontalHeaderLabels(headers);
    // New languages first: they are what the adaptation is for.
    std::vector<const AdaptationResult::Row*> rows;
    for (const auto& r : a.rows)
      if (r.isNew) rows.push_back(&r);
    for (const auto& r : a.rows)
      if (!r.isNew) rows.push_back(&r);
    table_->setRowCount(int(rows.size()));
    const QColor better(0x00, 0x9E, 0x73), worse(0xD5, 0x5E, 0x00);
    for (int i = 0; i < int(rows.size()); ++i) {
      const AdaptationResult::Row& r = *rows[size_t(i)];
      auto* name = new QTableWidgetItem(r.isNew ? tr("%1 (new)").arg(QString::fromStdString(r.label))
                                                : QString::fromStdString(r.label));
      if (r.isNew) {
        QFont bold = name->font();
        bold.setBold(true);
        name->setFont(bold);
      }
      table_->setItem(i, 0, name);
      table_->setItem(i, 1, numberItem(r.hardBefore));
      table_->setItem(i, 2, numberItem(r.hardAfter));
      table_->setItem(i, 3, numberItem(r.softBefore));
      table_->setItem(i, 4, numberItem(r.softAfter));
      const double change = std::isfinite(r.softBefore) && r.softBefore > 0 ? r.softAfter / r.softBefore - 1 : NAN;
      auto* delta = new QTableWidgetItem(std::isfinite(change) ? QLocale().toString(100 * change, 'f', 1) + " %"
                                                               : QStringLiteral("–"));
      delta->setTextAlignment(Qt::AlignRight | Qt::AlignVCenter);
      delta->setData(Qt::UserRole, change);
      if (std::isfinite(change) && std::abs(change) >= 0.005) delta->setForeground(change < 0 ? better : worse);
      table_->setItem(i, 5, delta);
    }
    table_->resizeColumnsToContents();
    table_->horizontalHeader()->setSectionResizeMode(0, QHeaderView::Stretch);
    QStringList added;
    for (const auto& e : a.newExperts) {
      QStringList members;
      for (const std::string& id : e.languages) members << labelOf(document_, id);
      added << tr("expert %1 (copy of %2) for %3").arg(e.expert).arg(e.copiedFrom).arg(members.join(", "));
    }
    const QString ok = QStringLiteral("✓"), bad = QStringLiteral("✗");
    summary_->setText(
        tr("Added %1.<br>%2 %3 frozen tensors bit-identical; %4 old languages' hard-routed PPL unchanged.<br>"
           "New languages: %5 before (learned router) → %6 after (own expert). Old languages with the learned "
           "router: %7 → %8.")
            .arg(added.join("; ").toHtmlEscaped(), a.frozenBitIdentical ? ok : bad)
            .arg(a.frozenTensorsChecked)
            .arg(a.oldHardUnchanged ? ok : bad, formatPpl(a.newSoftAverageBefore), formatPpl(a.newHardAverageAfter),
                 formatPpl(a.softAverageBefore), formatPpl(a.softAverageAfter)));
  }

  QTableWidget* table() const { return table_; }
  QString summary() const { return summary_->text(); }

 private:
  ProjectDocument& document_;
  QLabel* summary_;
  QTableWidget* table_;
};

// ---- the wizard

AdaptationWizard::AdaptationWizard(ProjectDocument& document, RunMetrics& metrics, StageQueue& queue,
                                   Launcher launch, QWidget* parent)
    : QWizard(parent) {
  setObjectName("adaptationWizard");
  setWindowTitle(tr("Adapt New Languages"));
  setWindowModality(Qt::NonModal);
  setOption(QWizard::NoBackButtonOnLastPage);
  languages_ = new AdaptLanguagesPage(document);
  probe_ = new AdaptProbePage(document, queue, launch, *languages_);
  train_ = new AdaptTrainPage(document, metrics, queue, launch);
  results_ = new AdaptResultsPage(document);
  setPage(LanguagesPage, languages_);
  setPage(ProbePage, probe_);
  setPage(AdaptPage, train_);
  setPage(ResultsPage, results_);
  resize(820, 600);
}

QStringList AdaptationWizard::chosenLanguages() const { return languages_->chosen(); }
void AdaptationWizard::setChosenLanguages(const QStringList& ids) { languages_->setChosen(ids); }
QTableWidget* AdaptationWizard::probeTable() const { return probe_->table(); }
QTableWidget* AdaptationWizard::resultsTable() const { return results_->table(); }
QString AdaptationWizard::probePlan() const { return probe_->plan(); }
QString AdaptationWizard::resultsSummary() const { return results_->summary(); }

}  // namespace dmoe::views
