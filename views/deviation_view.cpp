#include "deviation_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QSplitter>
#include <QStandardItemModel>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "heatmap_widget.h"
#include "message_pages.h"

namespace dmoe::views {

namespace {

constexpr double kProfileMargin = 8;

QString fromUtf8(const std::string& s) { return QString::fromStdString(s); }

QString joinLayers(const std::vector<std::int64_t>& layers) {
  QStringList out;
  for (std::int64_t l : layers) out << QString::number(l);
  return out.join(", ");
}

}  // namespace

// ---- LayerProfileWidget ----

LayerProfileWidget::LayerProfileWidget(QWidget* parent) : QWidget(parent) { setObjectName("layerProfile"); }

void LayerProfileWidget::setSelection(std::optional<LayerSelection> selection, const QString& message) {
  selection_ = std::move(selection);
  message_ = message;
  update();
}

QColor LayerProfileWidget::cutoffColor() { return QColor(230, 85, 13); }  // orange: reads on light and dark

QRectF LayerProfileWidget::plotRect() const {
  const QFontMetricsF fm(font());
  const double left = kProfileMargin + fm.horizontalAdvance("0.00") + 6;
  const double top = kProfileMargin + fm.height() + 6;  // the title line
  const double bottom = height() - kProfileMargin - fm.height() - 2;  // layer numbers
  return QRectF(left, top, std::max(1.0, width() - left - kProfileMargin - fm.horizontalAdvance("ε = 0.00")),
                std::max(1.0, bottom - top));
}

double LayerProfileWidget::yOf(double normalized) const {
  const QRectF plot = plotRect();
  return plot.bottom() - std::clamp(normalized, 0.0, 1.0) * plot.height();
}

QRectF LayerProfileWidget::barRect(int layer) const {
  if (!selection_ || selection_->normalized.empty()) return {};
  const QRectF plot = plotRect();
  const double slot = plot.width() / double(selection_->normalized.size());
  const double y = yOf(selection_->normalized[size_t(layer)]);
  return QRectF(plot.left() + layer * slot + slot * 0.15, y, slot * 0.7, plot.bottom() - y);
}

std::optional<double> LayerProfileWidget::cutoff() const {
  if (!selection_) return std::nullopt;
  if (selection_->mode == "threshold") return selection_->epsilon;
  if (selection_->layers.empty()) return std::nullopt;
  double lowest = 1;
  for (std::int64_t l : selection_->layers) lowest = std::min(lowest, selection_->normalized[size_t(l)]);
  return lowest;
}

void LayerProfileWidget::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().color(QPalette::Base));
  const QColor text = palette().color(QPalette::Text);
  p.setPen(text);
  if (!selection_) {
    p.drawText(rect().adjusted(8, 8, -8, -8), Qt::AlignCenter | Qt::TextWordWrap, message_);
    return;
  }
  const LayerSelection& s = *selection_;
  const QFontMetricsF fm(font());
  const QRectF plot = plotRect();
  const QString title =
      s.mode == "threshold"
          ? tr("Per-layer FFN score (normalized); ε = %1, threshold: %2 of %3 layers expand")
          : tr("Per-layer FFN score (normalized); ε = %1, top fraction: %2 of %3 layers expand");
  p.drawText(QRectF(kProfileMargin, kProfileMargin, width() - 2 * kProfileMargin, fm.height()),
             Qt::AlignLeft | Qt::AlignVCenter,
             title.arg(s.epsilon).arg(s.layers.size()).arg(s.normalized.size()) +
                 (s.layers.empty() ? QString() : tr(" (%1)").arg(joinLayers(s.layers))));

  // Axis: 0 and 1 on the left, a faint grid at the quarters.
  QColor grid = palette().color(QPalette::Mid);
  for (double v : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    p.setPen(QPen(grid, 0, v == 0.0 ? Qt::SolidLine : Qt::DotLine));
    p.drawLine(QPointF(plot.left(), yOf(v)), QPointF(plot.right(), yOf(v)));
  }
  p.setPen(text);
  p.drawText(QRectF(kProfileMargin, yOf(1) - fm.height() / 2, plot.left() - kProfileMargin - 4, fm.height()),
             Qt::AlignRight | Qt::AlignVCenter, "1");
  p.drawText(QRectF(kProfileMargin, yOf(0) - fm.height() / 2, plot.left() - kProfileMargin - 4, fm.height()),
             Qt::AlignRight | Qt::AlignVCenter, "0");

  const double slot = plot.width() / double(std::max<size_t>(s.normalized.size(), 1));
  for (size_t l = 0; l < s.normalized.size(); ++l) {
    const bool chosen = std::find(s.layers.begin(), s.layers.end(), std::int64_t(l)) != s.layers.end();
    p.fillRect(barRect(int(l)), palette().color(chosen ? QPalette::Highlight : QPalette::Mid));
    // Every layer number when they fit, else every k-th.
    const int every = std::max(1, int(std::ceil(fm.horizontalAdvance("000") / slot)));
    if (l % size_t(every) == 0) {
      p.setPen(text);
      p.drawText(QRectF(plot.left() + l * slot, plot.bottom() + 2, slot, fm.height()), Qt::AlignHCenter | Qt::AlignTop,
                 QString::number(l));
    }
  }

  if (const auto c = cutoff()) {
    const double y = yOf(*c);
    p.setPen(QPen(cutoffColor(), 2));
    p.drawLine(QPointF(plot.left(), y), QPointF(plot.right(), y));
    p.drawText(QPointF(plot.right() + 4, y + fm.ascent() / 2),
               s.mode == "threshold" ? QStringLiteral("ε = %1").arg(s.epsilon) : tr("cutoff"));
  }
}

// ---- DeviationView ----

DeviationView::DeviationView(QWidget* parent) : QWidget(parent) {
  setObjectName("deviationView");
  moduleBox_ = new QComboBox(this);
  moduleBox_->setObjectName("moduleBox");
  moduleBox_->addItem(tr("FFN"), "ffn");
  moduleBox_->addItem(tr("Attention"), "attention");
  moduleBox_->addItem(tr("Norms"), "norms");
  moduleBox_->addItem(tr("All"), "all");
  moduleBox_->setToolTip(tr("Which parameters' deviation ‖Δθ‖ per layer is shown"));
  orderBox_ = new QComboBox(this);
  orderBox_->setObjectName("orderBox");
  orderBox_->addItem(tr("Project order"), int(Order::Project));
  orderBox_->addItem(tr("By group"), int(Order::Group));
  orderBox_->addItem(tr("Clustered"), int(Order::Clustered));
  orderBox_->setToolTip(tr("Order of the languages: as in the project, by expert group, or by similarity clustering"));
  note_ = new QLabel(this);
  note_->setObjectName("deviationNote");
  note_->setWordWrap(true);

  stationarity_ = new QLabel(this);
  stationarity_->setObjectName("stationarityNote");
  stationarity_->setWordWrap(true);
  stationarity_->setToolTip(
      tr("r = ‖Σₓ nₓ gₓ‖ / Σₓ ‖nₓ gₓ‖: gₓ is language x's mean gradient at the base (the FFN weights of the "
         "layers whose deltas the stage keeps) on the batch of its first deviation step, nₓ its continual tokens. "
         "Orthogonal pulls of the same sizes give √Σ‖nₓgₓ‖² / Σ‖nₓgₓ‖ (1/√n for n equal ones); 1 = every language "
         "pulls the same way; 0 = the pulls cancel, as at a point the base converged to on exactly this data."));

  heatmap_ = new HeatmapWidget(this);
  profile_ = new LayerProfileWidget(this);
  content_ = new QWidget(this);
  auto* splitter = new QSplitter(Qt::Vertical, content_);
  splitter->addWidget(heatmap_);
  splitter->addWidget(profile_);
  splitter->setStretchFactor(0, 3);
  splitter->setStretchFactor(1, 1);
  auto* contentLayout = new QVBoxLayout(content_);
  contentLayout->setContentsMargins(0, 0, 0, 0);
  contentLayout->addWidget(splitter);

  pages_ = new MessagePages(content_, "deviationMessage", this);

  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Module:"), this));
  bar->addWidget(moduleBox_);
  bar->addSpacing(12);
  bar->addWidget(new QLabel(tr("Languages:"), this));
  bar->addWidget(orderBox_);
  bar->addWidget(note_, 1);
  bar->addWidget(createExportButton(this, "deviation", [this] { return content_; }, [this] { return table(); }));
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(stationarity_);
  layout->addWidget(pages_, 1);

  connect(moduleBox_, &QComboBox::currentIndexChanged, this,
          [this] { setModule(moduleBox_->currentData().toString()); });
  connect(orderBox_, &QComboBox::currentIndexChanged, this,
          [this] { setOrder(Order(orderBox_->currentData().toInt())); });
  reload({});
}

void DeviationView::reload(const std::filesystem::path& runsDir) {
  deviation_.reset();
  groups_.reset();
  similarity_.reset();
  if (runsDir.empty()) {
    pages_->setMessage(tr("Open a project to see its deviation heatmap."));
    profile_->setSelection(std::nullopt, QString());
    rebuild();
    return;
  }
  std::string problem;
  deviation_ = loadArtifact<DeviationTable>(RunLayout(runsDir).deviationFile(), "deviation", "the deviation heatmap", problem);
  pages_->setMessage(fromUtf8(problem));
  groups_ = loadArtifact<LanguageGroups>(RunLayout(runsDir).groupsFile(), "group", "languages ordered by group", problem);
  groupsProblem_ = fromUtf8(problem);
  similarity_ = loadArtifact<SimilarityResult>(RunLayout(runsDir).similarityFile(), "similarity", "the clustered order", problem);
  similarityProblem_ = fromUtf8(problem);
  const auto selection = loadArtifact<LayerSelection>(RunLayout(runsDir).selectionFile(), "select-layers",
                                      "the per-layer scores with ε", problem);
  profile_->setSelection(selection, fromUtf8(problem));
  rebuild();
}

void DeviationView::setModule(const QString& kind) {
  module_ = kind;
  const int index = moduleBox_->findData(kind);
  if (index >= 0 && index != moduleBox_->currentIndex()) moduleBox_->setCurrentIndex(index);
  rebuild();
}

void DeviationView::setOrder(Order order) {
  order_ = order;
  const int index = orderBox_->findData(int(order));
  if (index != orderBox_->currentIndex()) orderBox_->setCurrentIndex(index);
  rebuild();
}

QString DeviationView::message() const { return pages_->message(); }
QString DeviationView::note() const { return note_->text(); }
QString DeviationView::stationarityText() const { return stationarity_->text(); }

namespace {
QString stationarityLine(const DeviationTable& d) {
  if (!d.stationarity)
    return DeviationView::tr("Stationarity r: not recorded by the run that made these deviations "
                             "(`dmoe deviation --force` measures it).");
  const auto& s = *d.stationarity;
  if (!std::isfinite(s.r))
    return DeviationView::tr("Stationarity r: undefined (the gradients at the base are all zero or not finite).");
  return QString::fromStdString(s.reading());
}
}  // namespace

CsvTable DeviationView::table() const { return heatmap_->table(tr("language \\ layer")); }

void DeviationView::rebuild() {
  // Orders whose file is missing stay listed but disabled, with the reason as tooltip.
  if (auto* model = qobject_cast<QStandardItemModel*>(orderBox_->model())) {
    model->item(1)->setEnabled(groups_.has_value());
    model->item(1)->setToolTip(groupsProblem_);
    model->item(2)->setEnabled(similarity_.has_value());
    model->item(2)->setToolTip(similarityProblem_);
  }
  note_->clear();
  if (!deviation_) {
    stationarity_->clear();
    stationarity_->hide();
    pages_->showMessage();
    return;
  }
  stationarity_->setText(stationarityLine(*deviation_));
  stationarity_->show();
  pages_->showContent();
  const DeviationTable& d = *deviation_;
  QStringList rows, columns;
  for (const std::string& label : d.labels) rows << fromUtf8(label);
  for (std::int64_t l = 0; l < d.layers; ++l) columns << QString::number(l);
  const QString moduleName = moduleBox_->itemText(std::max(0, moduleBox_->findData(module_)));
  heatmap_->setData(rows, columns, d.modules.at(module_.toStdString()));
  heatmap_->setLegendTitle(tr("‖Δθ‖ %1").arg(moduleName));
  // The tooltip names the language's expert too, when groups exist: what the heatmap is read for.
  std::vector<std::int64_t> expertOfRow;
  for (const std::string& id : d.languages) expertOfRow.push_back(groups_ ? groups_->expertOf(id) : -1);
  heatmap_->setToolTipFormatter([this, rows, moduleName, expertOfRow](int row, int column, double value) {
    const QString text =
        tr("%1, layer %2, %3: %4").arg(rows.value(row)).arg(column).arg(moduleName, QString::number(value, 'g', 6));
    const std::int64_t expert = expertOfRow[size_t(row)];
    return expert < 0 ? text : text + tr(" (expert %1)").arg(expert);
  });

  // Row order: the file's language ids, rearranged by group or by the clustering (by id, not position).
  auto rowOf = [&](const std::string& id) {
    const auto it = std::find(d.languages.begin(), d.languages.end(), id);
    return it == d.languages.end() ? -1 : int(it - d.languages.begin());
  };
  std::vector<int> order;
  if (order_ == Order::Group && groups_) {
    for (const std::vector<std::string>& group : groups_->groups)
      for (const std::string& id : group)
        if (const int r = rowOf(id); r >= 0) order.push_back(r);
  } else if (order_ == Order::Clustered && similarity_) {
    for (std::int64_t leaf : similarity_->clusterOrder)
      if (const int r = rowOf(similarity_->languages[size_t(leaf)]); r >= 0) order.push_back(r);
  } else if (order_ != Order::Project) {
    note_->setText(order_ == Order::Group ? groupsProblem_ : similarityProblem_);
  }
  // Languages the order does not list keep their project order at the end.
  for (int r = 0; r < int(d.languages.size()); ++r)
    if (!order.empty() && std::find(order.begin(), order.end(), r) == order.end()) order.push_back(r);
  heatmap_->setRowOrder(order);
}

}  // namespace dmoe::views
