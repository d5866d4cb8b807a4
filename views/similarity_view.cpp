#include "similarity_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "heatmap_widget.h"
#include "message_pages.h"

namespace dmoe::views {

namespace {

constexpr double kDendrogramMargin = 6;

QString fromUtf8(const std::string& s) { return QString::fromStdString(s); }

}  // namespace

// ---- DendrogramWidget ----

DendrogramWidget::DendrogramWidget(HeatmapWidget* rows, QWidget* parent) : QWidget(parent), rows_(rows) {
  setObjectName("dendrogram");
  setSizePolicy(QSizePolicy::Preferred, QSizePolicy::Expanding);
}

void DendrogramWidget::setTree(std::vector<ClusterMerge> merges, int leaves) {
  merges_ = std::move(merges);
  leaves_ = leaves;
  update();
}

double DendrogramWidget::leafY(int leaf) const {
  const QPointF inRows = rows_->cellRect(leaf, rows_->columnOrder().empty() ? 0 : rows_->columnOrder().front()).center();
  return mapFrom(window(), rows_->mapTo(window(), inRows.toPoint())).y();
}

double DendrogramWidget::heightX(double height) const {
  double top = 0;
  for (const ClusterMerge& m : merges_) top = std::max(top, m.height);
  const double span = width() - 2 * kDendrogramMargin;
  return kDendrogramMargin + (top > 0 ? 1.0 - height / top : 1.0) * span;
}

void DendrogramWidget::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.fillRect(rect(), palette().color(QPalette::Base));
  if (merges_.empty() || rows_->rows() != leaves_) return;
  p.setRenderHint(QPainter::Antialiasing);
  p.setPen(QPen(palette().color(QPalette::Text), 1.5));
  // Position of every cluster: leaves at their rows at height 0; a merge midway between its children.
  std::vector<QPointF> at(size_t(leaves_) + merges_.size());
  for (int leaf = 0; leaf < leaves_; ++leaf) at[size_t(leaf)] = QPointF(heightX(0), leafY(leaf));
  for (size_t i = 0; i < merges_.size(); ++i) {
    const ClusterMerge& m = merges_[i];
    const QPointF a = at[size_t(m.left)], b = at[size_t(m.right)];
    const double x = heightX(m.height);
    p.drawLine(QPointF(a.x(), a.y()), QPointF(x, a.y()));
    p.drawLine(QPointF(b.x(), b.y()), QPointF(x, b.y()));
    p.drawLine(QPointF(x, a.y()), QPointF(x, b.y()));
    at[size_t(leaves_) + i] = QPointF(x, (a.y() + b.y()) / 2);
  }
}

// ---- SimilarityView ----

SimilarityView::SimilarityView(QWidget* parent) : QWidget(parent) {
  setObjectName("similarityView");
  matrixBox_ = new QComboBox(this);
  matrixBox_->setObjectName("matrixBox");
  matrixBox_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  matrixBox_->setToolTip(tr("The similarity over the combined layer set, or of one layer alone"));
  note_ = new QLabel(this);
  note_->setObjectName("similarityNote");
  note_->setWordWrap(true);

  content_ = new QWidget(this);
  heatmap_ = new HeatmapWidget(content_);
  heatmap_->setSquareCells(true);
  heatmap_->setLegendTitle(tr("cosine similarity"));
  dendrogram_ = new DendrogramWidget(heatmap_, content_);
  pair_ = new QLabel(tr("Click a cell to see the pair and its groups."), content_);
  pair_->setObjectName("pairLabel");
  pair_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  auto* matrixRow = new QHBoxLayout;
  matrixRow->setSpacing(0);
  matrixRow->addWidget(dendrogram_);
  matrixRow->addWidget(heatmap_, 1);
  auto* contentLayout = new QVBoxLayout(content_);
  contentLayout->setContentsMargins(0, 0, 0, 0);
  contentLayout->addLayout(matrixRow, 1);
  contentLayout->addWidget(pair_);

  pages_ = new MessagePages(content_, "similarityMessage", this);

  auto* bar = new QHBoxLayout;
  bar->addWidget(new QLabel(tr("Matrix:"), this));
  bar->addWidget(matrixBox_);
  bar->addWidget(note_, 1);
  bar->addWidget(createExportButton(this, "similarity", [this] { return content_; }, [this] { return table(); }));
  auto* layout = new QVBoxLayout(this);
  layout->addLayout(bar);
  layout->addWidget(pages_, 1);

  connect(matrixBox_, &QComboBox::currentIndexChanged, this, [this](int index) {
    if (index >= 0) setMatrixChoice(index);
  });
  connect(heatmap_, &HeatmapWidget::cellClicked, this, &SimilarityView::showPair);
  reload({});
}

void SimilarityView::reload(const std::filesystem::path& runsDir) {
  data_.reset();
  groups_.reset();
  choice_ = 0;
  if (runsDir.empty()) {
    pages_->setMessage(tr("Open a project to see its language similarity."));
  } else {
    std::string problem;
    data_ = loadArtifact<SimilarityResult>(RunLayout(runsDir).similarityFile(), "similarity", "the language similarity matrix", problem);
    pages_->setMessage(fromUtf8(problem));
    groups_ = loadArtifact<LanguageGroups>(RunLayout(runsDir).groupsFile(), "group", "the languages' groups", problem);
    groupsProblem_ = fromUtf8(problem);
  }
  const QSignalBlocker block(matrixBox_);
  matrixBox_->clear();
  if (data_) {
    QStringList layers;
    for (std::int64_t l : data_->layers) layers << QString::number(l);
    matrixBox_->addItem(tr("Combined (layers %1)").arg(layers.join(", ")));
    for (std::int64_t l : data_->layers) matrixBox_->addItem(tr("Layer %1").arg(l));
  }
  pair_->setText(tr("Click a cell to see the pair and its groups."));
  rebuild();
}

void SimilarityView::setMatrixChoice(int index) {
  if (!data_ || index < 0 || index > int(data_->perLayer.size())) return;
  choice_ = index;
  if (matrixBox_->currentIndex() != index) {
    const QSignalBlocker block(matrixBox_);
    matrixBox_->setCurrentIndex(index);
  }
  rebuild();
}

const SimilarityMatrix& SimilarityView::currentMatrix() const {
  return choice_ == 0 ? data_->combined : data_->perLayer[size_t(choice_ - 1)];
}

QString SimilarityView::message() const { return pages_->message(); }
QString SimilarityView::pairText() const { return pair_->text(); }

CsvTable SimilarityView::table() const { return heatmap_->table(tr("language")); }

void SimilarityView::showPair(int row, int column) {
  if (!data_) return;
  const QString value = QString::number(currentMatrix()[size_t(row)][size_t(column)], 'f', 2);
  const QString pair = QStringLiteral("%1–%2: %3").arg(fromUtf8(data_->label(size_t(row))),
                                                       fromUtf8(data_->label(size_t(column))), value);
  if (!groups_) {
    pair_->setText(pair + tr(" · no groups yet (run `dmoe group`)"));
    return;
  }
  auto group = [&](int i) {
    const std::int64_t g = groups_->expertOf(data_->languages[size_t(i)]);
    return g < 0 ? QStringLiteral("—") : QString::number(g);
  };
  pair_->setText(pair + tr(" · groups %1 and %2").arg(group(row), group(column)));
  heatmap_->setSelectedCell(std::make_pair(row, column));
}

void SimilarityView::rebuild() {
  if (!data_) {
    pages_->showMessage();
    note_->clear();
    dendrogram_->setTree({}, 0);
    return;
  }
  pages_->showContent();
  const SimilarityResult& d = *data_;
  QStringList labels;
  for (size_t i = 0; i < d.languages.size(); ++i) labels << fromUtf8(d.label(i));
  const SimilarityMatrix& m = currentMatrix();
  heatmap_->setData(labels, labels, m);
  heatmap_->setRowOrder(d.clusterOrder);  // empty (none recorded): the file's order
  heatmap_->setColumnOrder(d.clusterOrder);
  // The scale spans the off-diagonal values: the diagonal's 1s would wash out the differences.
  double low = INFINITY, high = -INFINITY;
  for (size_t i = 0; i < m.size(); ++i)
    for (size_t j = 0; j < m.size(); ++j)
      if (i != j && std::isfinite(m[i][j])) low = std::min(low, m[i][j]), high = std::max(high, m[i][j]);
  if (std::isfinite(low) && high > low) heatmap_->setValueRange(low, high);
  else heatmap_->setValueRange(0, 1);
  heatmap_->setToolTipFormatter([labels](int row, int column, double value) {
    return QStringLiteral("%1–%2: %3").arg(labels.value(row), labels.value(column), QString::number(value, 'g', 6));
  });
  dendrogram_->setTree(d.dendrogram, int(d.languages.size()));

  QStringList notes;
  if (d.sketch) notes << tr("sketch estimate");
  if (choice_ != 0) notes << tr("order and dendrogram from the combined matrix");
  if (!groups_) notes << groupsProblem_;
  note_->setText(notes.join(" · "));
}

}  // namespace dmoe::views
