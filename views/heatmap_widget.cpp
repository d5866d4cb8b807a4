#include "heatmap_widget.h"

#include <QHelpEvent>
#include <QLinearGradient>
#include <QMouseEvent>
#include <QPainter>
#include <QToolTip>
#include <algorithm>
#include <cmath>
#include <numeric>

namespace dmoe::views {

namespace {

// viridis at t = 0, 0.1, …, 1 (matplotlib); linear in between.
const QRgb kViridis[] = {0x440154, 0x482475, 0x414487, 0x355f8d, 0x2a788e, 0x21918c,
                         0x22a884, 0x44bf70, 0x7ad151, 0xbddf26, 0xfde725};
constexpr int kViridisSteps = 10;
constexpr double kMargin = 6;
constexpr double kLegendBarWidth = 14;
constexpr int kPreferredCell = 36;

std::vector<int> identity(int n) {
  std::vector<int> order(size_t(std::max(n, 0)));
  std::iota(order.begin(), order.end(), 0);
  return order;
}

}  // namespace

QColor viridis(double t) {
  t = std::isfinite(t) ? std::clamp(t, 0.0, 1.0) : 0.0;
  const double x = t * kViridisSteps;
  const int i = std::min(int(x), kViridisSteps - 1);
  const double f = x - i;
  const QColor a(kViridis[i]), b(kViridis[i + 1]);
  return QColor::fromRgbF(float(a.redF() + f * (b.redF() - a.redF())), float(a.greenF() + f * (b.greenF() - a.greenF())),
                          float(a.blueF() + f * (b.blueF() - a.blueF())));
}

HeatmapWidget::HeatmapWidget(QWidget* parent) : QWidget(parent) {
  setObjectName("heatmap");
  setMouseTracking(true);
  setSizePolicy(QSizePolicy::Expanding, QSizePolicy::Expanding);
}

void HeatmapWidget::setData(const QStringList& rowLabels, const QStringList& columnLabels,
                            std::vector<std::vector<double>> values) {
  rowLabels_ = rowLabels;
  columnLabels_ = columnLabels;
  values_ = std::move(values);
  rowOrder_ = identity(rows());
  columnOrder_ = identity(columns());
  selected_.reset();
  overrides_.clear();
  updateGeometry();
  update();
}

void HeatmapWidget::setRowOrder(std::vector<int> order) {
  rowOrder_ = order.empty() ? identity(rows()) : std::move(order);
  update();
}

void HeatmapWidget::setColumnOrder(std::vector<int> order) {
  columnOrder_ = order.empty() ? identity(columns()) : std::move(order);
  update();
}

void HeatmapWidget::setValueRange(double low, double high) {
  fixedRange_ = std::make_pair(low, high);
  update();
}

void HeatmapWidget::setLegendTitle(const QString& title) {
  legendTitle_ = title;
  update();
}

void HeatmapWidget::setSquareCells(bool square) {
  square_ = square;
  update();
}

void HeatmapWidget::setToolTipFormatter(ToolTipFormatter formatter) { formatter_ = std::move(formatter); }

void HeatmapWidget::setSelectedCell(std::optional<std::pair<int, int>> cell) {
  selected_ = cell;
  update();
}

void HeatmapWidget::setCellOverride(int row, int column, CellOverride cell) {
  overrides_[{row, column}] = std::move(cell);
  update();
}

void HeatmapWidget::clearCellOverrides() {
  overrides_.clear();
  update();
}

const HeatmapWidget::CellOverride* HeatmapWidget::cellOverride(int row, int column) const {
  const auto found = overrides_.find({row, column});
  return found == overrides_.end() ? nullptr : &found->second;
}

std::pair<double, double> HeatmapWidget::valueRange() const {
  if (fixedRange_) return *fixedRange_;
  double low = INFINITY, high = -INFINITY;
  for (const auto& row : values_)
    for (double v : row)
      if (std::isfinite(v)) low = std::min(low, v), high = std::max(high, v);
  if (!std::isfinite(low)) return {0.0, 1.0};
  return {low, high};
}

QColor HeatmapWidget::colorOf(double value) const {
  const auto [low, high] = valueRange();
  return viridis(high > low ? (value - low) / (high - low) : 1.0);  // a constant matrix shows the high end
}

QString HeatmapWidget::formatTick(double value) const { return QString::number(value, 'g', 4); }

HeatmapWidget::Layout HeatmapWidget::layout() const {
  const QFontMetricsF fm(font());
  double rowLabelWidth = 0, columnLabelWidth = 0;
  for (const QString& l : rowLabels_) rowLabelWidth = std::max(rowLabelWidth, fm.horizontalAdvance(l));
  for (const QString& l : columnLabels_) columnLabelWidth = std::max(columnLabelWidth, fm.horizontalAdvance(l));
  const auto [low, high] = valueRange();
  const double tickWidth = std::max({fm.horizontalAdvance(formatTick(low)), fm.horizontalAdvance(formatTick(high)),
                                     fm.horizontalAdvance(formatTick((low + high) / 2))});
  const double legendWidth = 2 * kMargin + kLegendBarWidth + 4 + tickWidth + (legendTitle_.isEmpty() ? 0 : fm.height() + 4);

  Layout l;
  const double left = kMargin + rowLabelWidth + 6;
  const double right = width() - legendWidth - kMargin;
  const double available = std::max(1.0, right - left);
  const double cellWidth = columns() > 0 ? available / columns() : available;
  l.rotateColumnLabels = columnLabelWidth + 4 > cellWidth;
  const double top = kMargin + (l.rotateColumnLabels ? columnLabelWidth : fm.height()) + 6;
  const double bottom = height() - kMargin;
  l.cellWidth = cellWidth;
  l.cellHeight = rows() > 0 ? std::max(1.0, bottom - top) / rows() : 0;
  if (square_) l.cellWidth = l.cellHeight = std::min(l.cellWidth, l.cellHeight);
  l.grid = QRectF(left, top, l.cellWidth * columns(), l.cellHeight * rows());
  l.legendBar = QRectF(l.grid.right() + 2 * kMargin, l.grid.top(), kLegendBarWidth, l.grid.height());
  return l;
}

QRectF HeatmapWidget::cellRect(int row, int column) const {
  const auto r = std::find(rowOrder_.begin(), rowOrder_.end(), row);
  const auto c = std::find(columnOrder_.begin(), columnOrder_.end(), column);
  if (r == rowOrder_.end() || c == columnOrder_.end()) return {};
  const Layout l = layout();
  return QRectF(l.grid.left() + (c - columnOrder_.begin()) * l.cellWidth,
                l.grid.top() + (r - rowOrder_.begin()) * l.cellHeight, l.cellWidth, l.cellHeight);
}

std::optional<std::pair<int, int>> HeatmapWidget::cellAt(const QPointF& point) const {
  const Layout l = layout();
  if (!l.grid.contains(point) || l.cellWidth <= 0 || l.cellHeight <= 0) return std::nullopt;
  const int c = std::min(int((point.x() - l.grid.left()) / l.cellWidth), columns() - 1);
  const int r = std::min(int((point.y() - l.grid.top()) / l.cellHeight), rows() - 1);
  return std::make_pair(rowOrder_[size_t(r)], columnOrder_[size_t(c)]);
}

QString HeatmapWidget::toolTipText(int row, int column) const {
  if (const CellOverride* o = cellOverride(row, column); o && !o->toolTip.isEmpty()) return o->toolTip;
  const double v = value(row, column);
  if (formatter_) return formatter_(row, column, v);
  return QStringLiteral("%1 – %2: %3").arg(rowLabels_.value(row), columnLabels_.value(column), QString::number(v, 'g', 6));
}

CsvTable HeatmapWidget::table(const QString& corner) const {
  CsvTable t;
  t.header << corner;
  for (int c : columnOrder_) t.header << columnLabels_.value(c);
  for (int r : rowOrder_) {
    QStringList line{rowLabels_.value(r)};
    for (int c : columnOrder_) line << QString::number(value(r, c), 'g', 12);
    t.rows << line;
  }
  return t;
}

QSize HeatmapWidget::sizeHint() const {
  return QSize(160 + kPreferredCell * std::max(columns(), 1), 60 + kPreferredCell * std::max(rows(), 1));
}

QSize HeatmapWidget::minimumSizeHint() const { return QSize(200, 120); }

bool HeatmapWidget::event(QEvent* e) {
  if (e->type() == QEvent::ToolTip) {
    auto* help = static_cast<QHelpEvent*>(e);
    if (const auto cell = cellAt(help->pos())) {
      QToolTip::showText(help->globalPos(), toolTipText(cell->first, cell->second), this,
                         cellRect(cell->first, cell->second).toAlignedRect());
    } else {
      QToolTip::hideText();
      e->ignore();
    }
    return true;
  }
  return QWidget::event(e);
}

void HeatmapWidget::mouseReleaseEvent(QMouseEvent* e) {
  if (e->button() == Qt::LeftButton)
    if (const auto cell = cellAt(e->position())) {
      setSelectedCell(cell);
      emit cellClicked(cell->first, cell->second);
    }
  QWidget::mouseReleaseEvent(e);
}

int HeatmapWidget::labelStride(double cellExtent, double lineHeight) {
  if (cellExtent <= 0 || cellExtent >= lineHeight) return 1;
  return int(std::ceil(lineHeight / cellExtent));
}

void HeatmapWidget::paintEvent(QPaintEvent*) {
  QPainter p(this);
  p.setRenderHint(QPainter::Antialiasing, false);
  p.fillRect(rect(), palette().color(QPalette::Base));
  const QColor text = palette().color(QPalette::Text);
  p.setPen(text);
  if (values_.empty() || columns() == 0) {
    p.drawText(rect(), Qt::AlignCenter, tr("No data"));
    return;
  }
  const Layout l = layout();
  const QFontMetricsF fm(font());

  // Cells, with the value written in when it fits (black or white, whichever reads on the colour).
  std::vector<std::pair<QRectF, QColor>> outlines;  // of cells drawn apart, drawn over their neighbours
  for (int dr = 0; dr < rows(); ++dr)
    for (int dc = 0; dc < columns(); ++dc) {
      const int r = rowOrder_[size_t(dr)], c = columnOrder_[size_t(dc)];
      const QRectF cell(l.grid.left() + dc * l.cellWidth, l.grid.top() + dr * l.cellHeight, l.cellWidth, l.cellHeight);
      const CellOverride* apart = cellOverride(r, c);
      const double shown = apart ? apart->value : value(r, c);
      const QColor colour = apart ? apart->colour : colorOf(shown);
      p.fillRect(cell, colour);
      if (apart && apart->outline.isValid()) outlines.emplace_back(cell, apart->outline);
      const QString number = QString::number(shown, 'g', 3);
      if (fm.horizontalAdvance(number) + 4 < cell.width() && fm.height() + 2 < cell.height()) {
        const double luminance = 0.2126 * colour.redF() + 0.7152 * colour.greenF() + 0.0722 * colour.blueF();
        p.setPen(luminance > 0.45 ? Qt::black : Qt::white);
        p.drawText(cell, Qt::AlignCenter, number);
      }
    }

  // Inside the cell, a pen at most a third of it wide: tiny cells (128 languages) stay visible.
  p.setBrush(Qt::NoBrush);
  for (const auto& [cell, colour] : outlines) {
    const double pen = std::min(3.0, std::min(cell.width(), cell.height()) / 3);
    p.setPen(QPen(colour, pen));
    p.drawRect(cell.adjusted(pen / 2, pen / 2, -pen / 2, -pen / 2));
  }

  p.setPen(text);
  const int rowStride = labelStride(l.cellHeight, fm.height());
  for (int dr = 0; dr < rows(); dr += rowStride) {
    const double middle = l.grid.top() + (dr + 0.5) * l.cellHeight;
    const double height = std::max(l.cellHeight, fm.height());
    const QRectF label(kMargin, middle - height / 2, l.grid.left() - kMargin - 6, height);
    p.drawText(label, Qt::AlignRight | Qt::AlignVCenter, rowLabels_.value(rowOrder_[size_t(dr)]));
  }
  const int columnStride = l.rotateColumnLabels ? labelStride(l.cellWidth, fm.height()) : 1;
  for (int dc = 0; dc < columns(); dc += columnStride) {
    const QString label = columnLabels_.value(columnOrder_[size_t(dc)]);
    const double x = l.grid.left() + dc * l.cellWidth;
    if (l.rotateColumnLabels) {
      p.save();
      p.translate(x + l.cellWidth / 2 + fm.ascent() / 2 - fm.descent(), l.grid.top() - 4);
      p.rotate(-90);
      p.drawText(QPointF(0, 0), label);
      p.restore();
    } else {
      p.drawText(QRectF(x, kMargin, l.cellWidth, l.grid.top() - kMargin - 4), Qt::AlignHCenter | Qt::AlignBottom, label);
    }
  }

  if (selected_) {
    p.setPen(QPen(text, 2));
    p.setBrush(Qt::NoBrush);
    p.drawRect(cellRect(selected_->first, selected_->second).adjusted(1, 1, -1, -1));
  }

  // The colour scale: high end at the top.
  QLinearGradient gradient(l.legendBar.bottomLeft(), l.legendBar.topLeft());
  for (int i = 0; i <= kViridisSteps; ++i) gradient.setColorAt(double(i) / kViridisSteps, QColor(kViridis[i]));
  p.fillRect(l.legendBar, gradient);
  p.setPen(text);
  p.setBrush(Qt::NoBrush);
  p.drawRect(l.legendBar);
  const auto [low, high] = valueRange();
  const double tickX = l.legendBar.right() + 4;
  p.drawText(QPointF(tickX, l.legendBar.top() + fm.ascent()), formatTick(high));
  p.drawText(QPointF(tickX, l.legendBar.center().y() + fm.ascent() / 2), formatTick((low + high) / 2));
  p.drawText(QPointF(tickX, l.legendBar.bottom() - fm.descent()), formatTick(low));
  if (!legendTitle_.isEmpty()) {
    p.save();
    p.translate(width() - kMargin - fm.descent(), l.legendBar.center().y() + fm.horizontalAdvance(legendTitle_) / 2);
    p.rotate(-90);
    p.drawText(QPointF(0, 0), legendTitle_);
    p.restore();
  }
}

}  // namespace dmoe::views
