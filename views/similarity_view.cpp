#include "similarity_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QPainter>
#include <QTableWidget>
#include <QToolButton>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>
#include <map>

#include "heatmap_widget.h"
#include "line_chart.h"
#include "message_pages.h"
#include "util/text.h"

namespace dmoe::views {

namespace {

constexpr double kDendrogramMargin = 6;
const QColor kNotNearestOutline(0xd6, 0x27, 0x28);  // red: apart from viridis and the diagonal's greys
constexpr int kDiagnosticsHeight = 200;

QString fromUtf8(const std::string& s) { return QString::fromStdString(s); }

QString signedNumber(double v, int decimals) { return fromUtf8(signedDecimals(v, decimals)); }

// "Germanic: de, nl, sv · Romance: es, it": a labelling's classes and their members.
QString membersByLabel(const SimilarityResult& d, const FamilyScore& f) {
  std::map<std::string, QStringList> members;
  for (size_t i = 0; i < f.labels.size() && i < d.languages.size(); ++i) members[f.labels[i]] << fromUtf8(d.label(i));
  QStringList classes;
  for (const auto& [label, languages] : members) classes << fromUtf8(label) + ": " + languages.join(", ");
  return classes.join(QStringLiteral(" · "));
}

QTableWidgetItem* tableItem(const QString& text, const QString& toolTip = {}) {
  auto* item = new QTableWidgetItem(text);
  item->setToolTip(toolTip);
  return item;
}

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

  title_ = new QLabel(content_);
  title_->setObjectName("similarityTitle");
  QFont bold = title_->font();
  bold.setBold(true);
  title_->setFont(bold);
  reading_ = new QLabel(content_);
  reading_->setObjectName("similarityReading");
  reading_->setWordWrap(true);
  reading_->setTextInteractionFlags(Qt::TextSelectableByMouse);
  reading_->setToolTip(
      tr("Reliable: both halves of a language (its continual slice split by alternate documents, each fingerprinted "
         "alone) find each other first. Shared structure: the pairs' similarities repeat between the halves, or "
         "languages of one family are more similar than languages of different ones (p < 0.05). Reliable "
         "fingerprints without shared structure tell each language apart but not which belong together."));

  families_ = new QTableWidget(0, 5, content_);
  families_->setObjectName("familyTable");
  families_->setHorizontalHeaderLabels(
      {tr("labelling"), tr("within − across"), tr("p"), tr("ARI of the tree"), tr("relatives on top")});
  const QStringList headerTips{
      tr("The labelling of the languages (similarity.labelling); the tooltip lists its classes"),
      tr("Mean cosine of same-label pairs minus that of different-label pairs"),
      tr("Share of label permutations with a gap at least as large"),
      tr("Adjusted Rand index of the average-linkage tree, cut into as many clusters as there are labels, "
         "against the labelling (0: chance, 1: the same)"),
      tr("Languages with a relative whose most similar language is one, against the count expected by chance")};
  for (int c = 0; c < headerTips.size(); ++c) families_->horizontalHeaderItem(c)->setToolTip(headerTips[c]);
  families_->verticalHeader()->hide();
  families_->horizontalHeader()->setSectionResizeMode(QHeaderView::ResizeToContents);
  families_->horizontalHeader()->setStretchLastSection(true);
  families_->setEditTriggers(QAbstractItemView::NoEditTriggers);
  families_->setSelectionMode(QAbstractItemView::NoSelection);
  families_->setFocusPolicy(Qt::NoFocus);
  layerChart_ = new LineChart(tr("Split-half reliability per layer (mean cos)"), content_);
  layerChart_->setObjectName("layerReliabilityChart");
  layerChart_->setAxisTitles(tr("layer"), QString());  // the title names y: a short chart has no room for it
  diagnostics_ = new QWidget(content_);
  diagnostics_->setObjectName("fingerprintDiagnostics");
  auto* diagnosticsLayout = new QHBoxLayout(diagnostics_);
  diagnosticsLayout->setContentsMargins(0, 0, 0, 0);
  auto* tableColumn = new QVBoxLayout;
  tableColumn->addWidget(families_);
  tableColumn->addStretch(1);
  diagnosticsLayout->addLayout(tableColumn, 3);
  diagnosticsLayout->addWidget(layerChart_, 2);

  auto* matrixRow = new QHBoxLayout;
  matrixRow->setSpacing(0);
  matrixRow->addWidget(dendrogram_);
  matrixRow->addWidget(heatmap_, 1);
  auto* contentLayout = new QVBoxLayout(content_);
  contentLayout->setContentsMargins(0, 0, 0, 0);
  contentLayout->addWidget(title_);
  contentLayout->addWidget(reading_);
  contentLayout->addLayout(matrixRow, 1);
  contentLayout->addWidget(pair_);
  contentLayout->addWidget(diagnostics_);

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
  showDiagnostics();
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
QString SimilarityView::titleText() const { return title_->text(); }
QString SimilarityView::readingText() const { return data_ ? fromUtf8(data_->reading()) : QString(); }
bool SimilarityView::readingWarns() const { return data_ && data_->readingWarns(); }

QColor SimilarityView::reliabilityColour(double reliability) {
  const double t = std::isfinite(reliability) ? std::clamp(reliability, 0.0, 1.0) : 0.0;
  const float grey = float(0.3 + 0.62 * t);
  return QColor::fromRgbF(grey, grey, grey);
}

QString SimilarityView::reliabilityText(int language) const {
  const SplitHalf& h = *data_->splitHalf;
  return tr("%1: split-half reliability: cos(half a, half b) = %2; own half nearest: %3")
      .arg(fromUtf8(data_->label(size_t(language))), signedNumber(h.reliability[size_t(language)], 2),
           h.ownHalfNearest[size_t(language)] ? tr("yes") : tr("no"));
}

CsvTable SimilarityView::table() const { return heatmap_->table(tr("language")); }

void SimilarityView::showPair(int row, int column) {
  if (!data_) return;
  const QString value = QString::number(currentMatrix()[size_t(row)][size_t(column)], 'f', 2);
  const QString pair = heatmap_->cellOverride(row, column)
                           ? reliabilityText(row)
                           : QStringLiteral("%1–%2: %3").arg(fromUtf8(data_->label(size_t(row))),
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
  // The split-half reliability is over the combined layer set: it replaces that matrix's trivial diagonal.
  const SplitHalf* halves = d.splitHalf && d.splitHalf->reliability.size() == d.languages.size() ? &*d.splitHalf : nullptr;
  if (halves && choice_ == 0) {
    int notNearest = 0;
    for (size_t i = 0; i < d.languages.size(); ++i) {
      const bool nearest = i < halves->ownHalfNearest.size() && halves->ownHalfNearest[i];
      notNearest += !nearest;
      heatmap_->setCellOverride(int(i), int(i),
                                {halves->reliability[i], reliabilityColour(halves->reliability[i]), reliabilityText(int(i)),
                                 nearest ? QColor() : kNotNearestOutline});
    }
    notes << tr("diagonal: split-half reliability (grey, dark 0 to light 1)");
    if (notNearest > 0)
      notes << (notNearest == 1 ? tr("outlined red: own half not nearest (1 language)")
                                : tr("outlined red: own half not nearest (%1 languages)").arg(notNearest));
  } else if (halves) {
    notes << tr("split-half reliability on the combined matrix's diagonal");
  }
  if (!groups_) notes << groupsProblem_;
  note_->setText(notes.join(" · "));
}

void SimilarityView::showDiagnostics() {
  families_->setRowCount(0);
  layerChart_->setLines({});
  if (!data_) {
    title_->clear();
    reading_->hide();
    diagnostics_->hide();
    return;
  }
  const SimilarityResult& d = *data_;
  QStringList layers;
  for (std::int64_t l : d.layers) layers << QString::number(l);
  const QString where = layers.isEmpty() ? QString() : tr(", layers %1").arg(layers.join(", "));
  if (d.source == "weights")
    title_->setText(tr("Fingerprints: weights (each language's fine-tuning deviation Δθ%1)").arg(where));
  else if (d.source == "activations")
    title_->setText(tr("Fingerprints: activations (each language's mean FFN input%1)").arg(where));
  else
    title_->setText(tr("Fingerprints: %1").arg(fromUtf8(d.source)));

  const std::string reading = d.reading();
  reading_->setVisible(!reading.empty());
  const bool warns = d.readingWarns();
  reading_->setText((warns ? QStringLiteral("⚠ ") : QString()) + fromUtf8(reading));
  reading_->setStyleSheet(warns ? "QLabel { background: rgba(255, 170, 0, 70); border: 1px solid rgb(230, 140, 0); "
                                  "border-radius: 3px; padding: 4px; }"
                                : "QLabel { border: 1px solid palette(mid); border-radius: 3px; padding: 4px; }");

  for (const FamilyScore& f : d.families) {
    const int row = families_->rowCount();
    families_->insertRow(row);
    families_->setItem(row, 0, tableItem(fromUtf8(f.labelling), membersByLabel(d, f)));
    const QString means = tr("within %1, across %2").arg(signedNumber(f.within, 3), signedNumber(f.across, 3));
    families_->setItem(row, 1, tableItem(signedNumber(f.gap, 3), means));
    families_->setItem(row, 2, tableItem(fromUtf8(pValueText(f.pValue)), tr("%1 label permutations").arg(f.permutations)));
    families_->setItem(row, 3, tableItem(signedNumber(f.clusterAri, 2)));
    families_->setItem(row, 4, tableItem(tr("%1 of %2 (chance %3)")
                                             .arg(f.relativesOnTop)
                                             .arg(f.withRelatives)
                                             .arg(fromUtf8(fixedDecimals(f.relativesOnTopByChance, 1)))));
  }
  families_->setVisible(!d.families.empty());
  // As tall as its rows (a few labellings), scrolling beyond the diagnostics' height.
  const int rowsHeight = families_->rowCount() * families_->verticalHeader()->defaultSectionSize();
  const int tableHeight = std::min(kDiagnosticsHeight, families_->horizontalHeader()->sizeHint().height() + rowsHeight +
                                                           2 * families_->frameWidth());
  families_->setFixedHeight(tableHeight);

  const bool perLayer = d.splitHalf && !d.splitHalf->layerReliability.empty() &&
                        d.splitHalf->layerReliability.size() == d.layers.size();
  if (perLayer) {
    ChartLine line{"reliability", tr("mean over the languages"), {}, QColor(0x1f, 0x77, 0xb4), Qt::SolidLine, 2};
    for (size_t l = 0; l < d.layers.size(); ++l)
      line.points.append(QPointF(double(d.layers[l]), d.splitHalf->layerReliability[l]));
    layerChart_->setLines({line});
  }
  layerChart_->setVisible(perLayer);
  diagnostics_->setVisible(perLayer || !d.families.empty());
  diagnostics_->setFixedHeight(perLayer ? kDiagnosticsHeight : tableHeight);
}

}  // namespace dmoe::views
