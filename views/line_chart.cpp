#include "line_chart.h"

#include <QChart>
#include <QChartView>
#include <QEvent>
#include <QLegendMarker>
#include <QLineSeries>
#include <QLogValueAxis>
#include <QMap>
#include <QValueAxis>
#include <algorithm>
#include <cmath>
#include <limits>

#include "message_pages.h"

namespace dmoe::views {

struct LineChart::Parts {
  QChart* chart = nullptr;
  QChartView* view = nullptr;
  MessagePages* pages = nullptr;
  QValueAxis* x = nullptr;
  QAbstractAxis* y = nullptr;
  QMap<QString, QLineSeries*> series;  // by ChartLine::key
};

namespace {

constexpr int kMarkedPoints = 12;  // lines this short get point markers

// Data bounds of the drawable points; empty when there are none.
struct Bounds {
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = x0, y1 = -x0;
  bool empty() const { return x0 > x1; }
};

Bounds boundsOf(const QList<ChartLine>& lines, bool logY) {
  Bounds b;
  for (const ChartLine& line : lines)
    for (const QPointF& p : line.points) {
      if (!std::isfinite(p.y()) || (logY && p.y() <= 0)) continue;
      b.x0 = std::min(b.x0, p.x());
      b.x1 = std::max(b.x1, p.x());
      b.y0 = std::min(b.y0, p.y());
      b.y1 = std::max(b.y1, p.y());
    }
  return b;
}

QList<QPointF> drawable(const QVector<QPointF>& points, bool logY) {
  QList<QPointF> out;
  out.reserve(points.size());
  for (const QPointF& p : points)
    if (std::isfinite(p.y()) && (!logY || p.y() > 0)) out.push_back(p);
  return out;
}

}  // namespace

LineChart::LineChart(const QString& title, QWidget* parent)
    : QWidget(parent), parts_(std::make_unique<Parts>()), title_(title) {
  parts_->chart = new QChart;
  parts_->chart->setTitle(title);
  parts_->chart->legend()->setAlignment(Qt::AlignBottom);  // many lines wrap below instead of eating the plot's width
  parts_->chart->setMargins(QMargins(4, 4, 4, 4));
  parts_->chart->setAnimationOptions(QChart::NoAnimation);  // live data: redraws must be immediate and cheap
  parts_->view = new QChartView(parts_->chart);  // owns the chart
  parts_->view->setRenderHint(QPainter::Antialiasing);
  parts_->pages = MessagePages::fill(this, parts_->view, "chartMessage");
  parts_->pages->setMessage(tr("No data"));
  parts_->pages->showMessage();
  // Charts share a grid by its stretch factors, not by how long their legends are.
  setSizePolicy(QSizePolicy::Ignored, QSizePolicy::Ignored);
  setMinimumSize(240, 180);
  rebuildAxes();
  applyPalette();
}

LineChart::~LineChart() = default;

void LineChart::setAxisTitles(const QString& x, const QString& y) {
  parts_->x->setTitleText(x);
  parts_->y->setTitleText(y);
}

void LineChart::setLogY(bool log) {
  if (log == logY_) return;
  logY_ = log;
  const QString yTitle = parts_->y->titleText();
  rebuildAxes();
  parts_->y->setTitleText(yTitle);
  setLines(QList<ChartLine>(lines_));
}

void LineChart::setEmptyText(const QString& text) { parts_->pages->setMessage(text); }

void LineChart::rebuildAxes() {
  QChart* chart = parts_->chart;
  const QString xTitle = parts_->x ? parts_->x->titleText() : tr("step");
  for (QAbstractAxis* axis : chart->axes()) {
    chart->removeAxis(axis);
    delete axis;
  }
  parts_->x = new QValueAxis;
  parts_->x->setTitleText(xTitle);
  parts_->x->setLabelFormat("%g");
  if (logY_) {
    auto* y = new QLogValueAxis;
    y->setBase(10);
    y->setLabelFormat("%g");
    y->setMinorTickCount(-1);
    parts_->y = y;
  } else {
    auto* y = new QValueAxis;
    y->setLabelFormat("%g");
    parts_->y = y;
  }
  chart->addAxis(parts_->x, Qt::AlignBottom);
  chart->addAxis(parts_->y, Qt::AlignLeft);
  for (QLineSeries* s : std::as_const(parts_->series)) {
    s->attachAxis(parts_->x);
    s->attachAxis(parts_->y);
  }
  applyPalette();
}

void LineChart::setLines(const QList<ChartLine>& lines) {
  lines_ = lines;
  QChart* chart = parts_->chart;
  QMap<QString, QLineSeries*> kept;
  for (const ChartLine& line : lines) {
    QLineSeries* s = parts_->series.take(line.key);
    if (!s) {
      s = new QLineSeries;
      chart->addSeries(s);
      s->attachAxis(parts_->x);
      s->attachAxis(parts_->y);
    }
    QPen pen(line.color, line.width, line.style);
    pen.setCosmetic(true);
    s->setPen(pen);
    s->setName(line.label);
    s->setPointsVisible(line.points.size() <= kMarkedPoints);  // a line of one or a few points must still show
    s->replace(drawable(line.points, logY_));  // one signal per line, not one per point
    kept.insert(line.key, s);
  }
  for (QLineSeries* gone : std::as_const(parts_->series)) {
    chart->removeSeries(gone);
    delete gone;
  }
  parts_->series = kept;

  // Legend: the first legendLimit lines in the order given.
  int shown = 0;
  for (const ChartLine& line : lines) {
    const bool visible = shown++ < legendLimit;
    for (QLegendMarker* marker : chart->legend()->markers(parts_->series.value(line.key))) marker->setVisible(visible);
  }
  chart->legend()->setVisible(!lines.isEmpty());

  const Bounds b = boundsOf(lines, logY_);
  if (b.empty()) {
    parts_->pages->showMessage();
    return;
  }
  parts_->pages->showContent();
  const double xPad = b.x1 > b.x0 ? 0 : 1;
  parts_->x->setRange(b.x0 - xPad, b.x1 + xPad);
  parts_->x->applyNiceNumbers();
  if (logY_) {
    // Whole decades keep the log axis' labels readable.
    static_cast<QLogValueAxis*>(parts_->y)->setRange(std::pow(10.0, std::floor(std::log10(b.y0))),
                                                     std::pow(10.0, std::ceil(std::log10(b.y1 * 1.0001))));
  } else {
    const double pad = b.y1 > b.y0 ? 0.05 * (b.y1 - b.y0) : std::max(1e-12, std::abs(b.y0) * 0.05 + 1e-12);
    auto* y = static_cast<QValueAxis*>(parts_->y);
    // Non-negative quantities (losses, lr) keep a non-negative axis.
    y->setRange(b.y0 >= 0 ? std::max(0.0, b.y0 - pad) : b.y0 - pad, b.y1 + pad);
    y->applyNiceNumbers();  // ticks at round values
  }
}

CsvTable LineChart::table() const {
  CsvTable t;
  t.header = QStringList{tr("line"), parts_->x->titleText(), parts_->y->titleText().isEmpty() ? tr("value") : parts_->y->titleText()};
  for (const ChartLine& line : lines_)
    for (const QPointF& p : line.points)
      t.rows.push_back({line.label, QString::number(p.x(), 'g', 10), QString::number(p.y(), 'g', 10)});
  return t;
}

QPointF LineChart::xRange() const { return {parts_->x->min(), parts_->x->max()}; }

QPointF LineChart::yRange() const {
  if (logY_) {
    auto* y = static_cast<QLogValueAxis*>(parts_->y);
    return {y->min(), y->max()};
  }
  auto* y = static_cast<QValueAxis*>(parts_->y);
  return {y->min(), y->max()};
}

void LineChart::changeEvent(QEvent* event) {
  if (event->type() == QEvent::PaletteChange || event->type() == QEvent::StyleChange) applyPalette();
  QWidget::changeEvent(event);
}

void LineChart::applyPalette() {
  const QPalette p = palette();
  QChart* chart = parts_->chart;
  chart->setBackgroundBrush(p.color(QPalette::Base));
  chart->setPlotAreaBackgroundVisible(false);
  chart->setTitleBrush(p.color(QPalette::Text));
  chart->legend()->setLabelColor(p.color(QPalette::Text));
  QColor grid = p.color(QPalette::Text);
  grid.setAlpha(40);
  for (QAbstractAxis* axis : chart->axes()) {
    axis->setLabelsColor(p.color(QPalette::Text));
    axis->setTitleBrush(p.color(QPalette::Text));
    axis->setLinePenColor(p.color(QPalette::Mid));
    axis->setGridLineColor(grid);
    axis->setMinorGridLineColor(grid);
  }
  parts_->view->setBackgroundBrush(p.color(QPalette::Base));
}

}  // namespace dmoe::views
