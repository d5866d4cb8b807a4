#include "layermoe_view.h"

#include <QComboBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QSpinBox>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "analysis_files.h"
#include "epsilon_panel.h"  // formatCount
#include "line_chart.h"
#include "message_pages.h"
#include "methods/layer_allocation.h"
#include "project_document.h"
#include "results/allocation_file.h"

namespace dmoe::views {

namespace {
constexpr double kMargin = 8;
}  // namespace

// ---- bars

AllocationBars::AllocationBars(QWidget* parent) : QWidget(parent) { setObjectName("allocationBars"); }

void AllocationBars::setExperts(std::vector<std::int64_t> experts) {
  experts_ = std::move(experts);
  update();
}

void AllocationBars::setPrevious(std::vector<std::int64_t> previous) {
  previous_ = std::move(previous);
  update();
}

void AllocationBars::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().color(QPalette::Base));
  const QColor text = palette().color(QPalette::Text);
  const QFontMetricsF fm(font());
  p.setPen(text);
  if (experts_.empty()) {
    p.drawText(rect(), Qt::AlignCenter, tr("No allocation for these settings."));
    return;
  }
  const bool earlier = std::any_of(previous_.begin(), previous_.end(), [](std::int64_t m) { return m > 1; });
  p.drawText(QRectF(kMargin, kMargin, width() - 2 * kMargin, fm.height()), Qt::AlignLeft | Qt::AlignVCenter,
             earlier ? tr("Experts per layer: the frozen original FFN (dark), earlier expansions' experts (grey), the new experts")
                     : tr("Experts per layer: the frozen original FFN (dark) and the new experts"));
  const QRectF plot(kMargin, kMargin + fm.height() + 4, width() - 2 * kMargin,
                    height() - 2 * kMargin - 2 * fm.height() - 8);
  std::int64_t most = 1;
  for (size_t l = 0; l < experts_.size(); ++l) most = std::max(most, previousIn(l) + experts_[l] - 1);
  // Room above the tallest bar for its number.
  const double slot = plot.width() / double(experts_.size()),
               unit = (plot.height() - fm.height()) / double(std::max<std::int64_t>(most, 1));
  const int every = std::max(1, int(std::ceil(fm.horizontalAdvance("000") / slot)));
  for (size_t l = 0; l < experts_.size(); ++l) {
    const double x = plot.left() + double(l) * slot + slot * 0.15, w = slot * 0.7;
    const double m = double(previousIn(l)), n = m + double(experts_[l]) - 1;  // before, after
    p.fillRect(QRectF(x, plot.bottom() - unit, w, unit), palette().color(QPalette::Dark));
    if (m > 1) p.fillRect(QRectF(x, plot.bottom() - m * unit, w, (m - 1) * unit), palette().color(QPalette::Mid));
    if (n > m) p.fillRect(QRectF(x, plot.bottom() - n * unit, w, (n - m) * unit), palette().color(QPalette::Highlight));
    p.setPen(text);
    p.drawText(QRectF(x, plot.bottom() - n * unit - fm.height(), w, fm.height()), Qt::AlignCenter,
               QString::number(std::int64_t(n)));
    if (l % size_t(every) == 0)
      p.drawText(QRectF(plot.left() + double(l) * slot, plot.bottom() + 2, slot, fm.height()), Qt::AlignHCenter,
                 QString::number(l));
  }
}

// ---- the tab

LayerMoeView::LayerMoeView(ProjectDocument& document, QWidget* parent) : QWidget(parent), document_(document) {
  auto* content = new QWidget(this);
  chart_ = new LineChart(tr("Layer similarity S_i of the new languages' FFN inputs"), content);
  chart_->setAxisTitles(tr("layer"), tr("mean cosine"));
  bars_ = new AllocationBars(content);

  budget_ = new QSpinBox(content);
  budget_->setObjectName("budget");
  budget_->setRange(0, 100000);
  budget_->setToolTip(tr("New experts over all layers (layermoe.budget)"));
  allocationBox_ = new QComboBox(content);
  allocationBox_->setObjectName("allocation");
  allocationBox_->addItem(tr("layer-wise (1/S_i)"), "layer-wise");
  allocationBox_->addItem(tr("uniform (the ablation)"), "uniform");
  minExperts_ = new QSpinBox(content);
  minExperts_->setObjectName("minExperts");
  minExperts_->setRange(1, 64);
  minExperts_->setToolTip(tr("Experts per layer at least, the frozen original included (1: a layer may stay dense)"));
  summary_ = new QLabel(content);
  summary_->setObjectName("allocationSummary");
  summary_->setWordWrap(true);
  applyButton_ = new QPushButton(tr("Apply to project"), content);

  auto* form = new QFormLayout;
  form->addRow(tr("Budget of new experts"), budget_);
  form->addRow(tr("Allocation"), allocationBox_);
  form->addRow(tr("Experts per layer, at least"), minExperts_);
  auto* controls = new QHBoxLayout;
  controls->addLayout(form);
  controls->addWidget(summary_, 1);
  controls->addWidget(applyButton_);
  controls->addWidget(createExportButton(this, "layermoe", [content] { return content; }, [this] { return table(); }));

  auto* column = new QVBoxLayout(content);
  column->addWidget(chart_, 3);
  column->addLayout(controls);
  column->addWidget(bars_, 2);

  pages_ = MessagePages::fill(this, content, "layermoeMessage");

  connect(budget_, &QSpinBox::valueChanged, this, [this] { reallocate(); });
  connect(minExperts_, &QSpinBox::valueChanged, this, [this] { reallocate(); });
  connect(allocationBox_, &QComboBox::currentIndexChanged, this, [this] { reallocate(); });
  connect(applyButton_, &QPushButton::clicked, this, [this] { apply(); });
  reload({});
}

QString LayerMoeView::message() const { return pages_->message(); }

void LayerMoeView::reload(const std::filesystem::path& runsDir) {
  similarity_.reset();
  sizes_.reset();
  if (runsDir.empty() || !document_.hasProject()) {
    pages_->setMessage(tr("Open a project to see where LayerMoE would add experts."));
    pages_->showMessage();
    return;
  }
  const RunLayout runs(runsDir);
  std::string problem;
  similarity_ = loadArtifact<LayerSimilarity>(runs.layerSimilarityFile(), "layermoe similarity",
                                              "the layer similarity of the new languages", problem);
  if (!similarity_) {
    pages_->setMessage(QString::fromStdString(problem));
    pages_->showMessage();
    return;
  }
  std::string ignored;  // without them the counts are left out, and the summary says so
  sizes_ = loadArtifact<LayerSelection>(runs.selectionFile(), "select-layers", "the parameter counts", ignored);
  base_.reset();
  baseProblem_.clear();
  const Project& project = document_.project();
  if (project.base_model.kind == "checkpoint") {
    try {
      ExpansionBase base = readExpansionBase(project.resolve(project.base_model.path), project.layermoe.top_k);
      if (base.layout) base_ = std::move(base);
    } catch (const std::exception& e) {
      baseProblem_ = QString::fromStdString(e.what());
    }
  }
  bars_->setPrevious(base_ ? base_->previousExperts : std::vector<std::int64_t>{});

  QList<ChartLine> lines;
  auto line = [&](const QString& key, const QString& label, const std::vector<double>& values, const QColor& color,
                  Qt::PenStyle style, double width) {
    ChartLine l{key, label, {}, color, style, width};
    for (size_t i = 0; i < values.size(); ++i)
      if (std::isfinite(values[i])) l.points.append(QPointF(double(i), values[i]));
    if (!l.points.isEmpty()) lines.append(l);
  };
  line("new-new", tr("new–new"), similarity_->newNew, QColor(0x1f, 0x77, 0xb4), Qt::DashLine, 1.5);
  line("new-old", tr("new–old"), similarity_->newOld, QColor(0xff, 0x7f, 0x0e), Qt::DashLine, 1.5);
  line("S_i", tr("S_i"), similarity_->combined, QColor(0x2c, 0xa0, 0x2c), Qt::SolidLine, 2.5);
  chart_->setLines(lines);

  // The controls start from the project; a budget of 0 (match dmoe adapt) from the saved allocation, else one per layer.
  const LayerMoeSettings& s = document_.project().layermoe;
  std::int64_t budget = s.budget;
  if (budget == 0) {
    const auto saved = loadArtifact<ExpertAllocation>(runs.allocationFile(), "layermoe allocate", "", ignored);
    budget = saved ? saved->budget : std::int64_t(similarity_->layers());
  }
  {
    const QSignalBlocker b1(budget_), b2(minExperts_), b3(allocationBox_);
    budget_->setValue(int(budget));
    minExperts_->setValue(int(s.min_experts));
    allocationBox_->setCurrentIndex(std::max(0, allocationBox_->findData(QString::fromStdString(s.allocation))));
  }
  pages_->showContent();
  reallocate();
}

void LayerMoeView::setBudget(int budget) { budget_->setValue(budget); }
void LayerMoeView::setAllocation(const QString& allocation) {
  allocationBox_->setCurrentIndex(std::max(0, allocationBox_->findData(allocation)));
}
void LayerMoeView::setMinExperts(int minExperts) { minExperts_->setValue(minExperts); }
const std::vector<std::int64_t>& LayerMoeView::allocation() const { return bars_->experts(); }
QString LayerMoeView::summary() const { return summary_->text(); }

void LayerMoeView::reallocate() {
  if (!similarity_) return;
  const std::int64_t budget = budget_->value(), minimum = minExperts_->value();
  const bool uniform = allocationBox_->currentData().toString() == "uniform";
  QString text;
  std::vector<std::int64_t> experts;
  try {
    if (uniform) {
      experts = uniformAllocation(std::int64_t(similarity_->layers()), budget, minimum).experts;
      text = tr("%1 new experts, spread evenly").arg(budget);
    } else {
      const BudgetAllocation b = allocateForBudget(similarity_->combined, budget, minimum);
      experts = b.allocation.experts;
      text = b.exact ? tr("%1 new experts (the budget), δ = %2").arg(b.allocation.newExperts()).arg(b.allocation.delta, 0, 'f', 2)
                     : tr("%1 new experts: no δ gives %2 (the next step is %3), δ = %4")
                           .arg(b.allocation.newExperts())
                           .arg(budget)
                           .arg(b.nextAbove)
                           .arg(b.allocation.delta, 0, 'f', 2);
    }
    if (base_) {
      const ParameterCounts c = layerMoeParameterCounts(base_->parameters, base_->ffnParameters, base_->config.hidden_size,
                                                        experts, document_.project().layermoe.top_k,
                                                        base_->previousExperts, base_->activeParameters);
      text += tr("; %1 parameters, %2 active per token (the base: %3, %4)")
                  .arg(EpsilonPanel::formatCount(c.total), EpsilonPanel::formatCount(c.active),
                       EpsilonPanel::formatCount(base_->parameters), EpsilonPanel::formatCount(base_->activeParameters));
      QStringList generations;
      for (size_t g = 0; g < base_->layout->generations.size(); ++g) {
        QStringList ids;
        for (const std::string& id : base_->layout->generations[g]) ids << QString::fromStdString(id);
        generations << tr("generation %1: %2").arg(g).arg(ids.join(", "));
      }
      text += tr("; the new languages become generation %1 (the base's %2)")
                  .arg(base_->layout->generations.size())
                  .arg(generations.join("; "));
    } else if (!baseProblem_.isEmpty()) {
      text += tr("; no parameter counts: %1").arg(baseProblem_);
    } else if (sizes_) {
      const ParameterCounts c =
          layerMoeParameterCounts(sizes_->baseParameters, sizes_->ffnParameters, sizes_->hiddenSize, experts);
      text += tr("; %1 parameters, %2 active per token").arg(EpsilonPanel::formatCount(c.total),
                                                             EpsilonPanel::formatCount(c.active));
    } else {
      text += tr("; run `dmoe select-layers` for the parameter counts");
    }
  } catch (const std::exception& e) {
    text = QString::fromStdString(e.what());
  }
  bars_->setExperts(experts);
  summary_->setText(text);
  applyButton_->setEnabled(!experts.empty());
}

CsvTable LayerMoeView::table() const {
  CsvTable t;
  t.header = {"layer", "S_new_new", "S_new_old", "S_i", "N_i"};
  if (!similarity_) return t;
  auto number = [](double v) { return std::isfinite(v) ? QString::number(v, 'g', 10) : QString(); };
  for (size_t i = 0; i < similarity_->layers(); ++i)
    t.rows.append({QString::number(i), number(similarity_->newNew[i]), number(similarity_->newOld[i]),
                   number(similarity_->combined[i]),
                   i < allocation().size() ? QString::number(allocation()[i]) : QString()});
  return t;
}

bool LayerMoeView::apply() {
  if (!document_.hasProject() || !similarity_ || allocation().empty()) return false;
  const std::int64_t budget = budget_->value(), minimum = minExperts_->value();
  const std::string mode = allocationBox_->currentData().toString().toStdString();
  document_.modify([&](Project& p) {
    p.layermoe.budget = budget;
    p.layermoe.delta = 0;
    p.layermoe.allocation = mode;
    p.layermoe.min_experts = minimum;
  });
  return true;
}

}  // namespace dmoe::views
