// LineChart: the one adapter between DMoE Workbench and the chart library —
// a titled x/y line chart (steps or training tokens on x; linear or log y)
// fed with whole lines of points. Only line_chart.cpp includes Qt Charts
// (deprecated upstream after Qt 6.10): replacing the library means rewriting
// that one file.
//
// It keeps no data model of its own: callers (the Runs view) own the series
// and hand over complete lines; setLines() reuses the drawn series by key, so
// a live chart redraws cheaply when a few points were appended. Colours of the
// axes and text follow the palette (light and dark).
#pragma once
#include <QColor>
#include <QList>
#include <QPointF>
#include <QString>
#include <QVector>
#include <QWidget>
#include <memory>

#include "export.h"

namespace dmoe::views {

struct ChartLine {
  QString key;    // stable identity across updates ("train/stage2|loss")
  QString label;  // legend text
  QVector<QPointF> points;
  QColor color;
  Qt::PenStyle style = Qt::SolidLine;
  double width = 1.5;
};

class LineChart : public QWidget {
  Q_OBJECT
 public:
  explicit LineChart(const QString& title, QWidget* parent = nullptr);
  ~LineChart() override;

  void setAxisTitles(const QString& x, const QString& y);
  // Log y needs positive values; lines are drawn on it as they are (points ≤ 0 are left out).
  void setLogY(bool log);
  bool logY() const { return logY_; }
  // Replaces what is drawn; the legend lists at most `legendLimit` lines (the rest stay unlabelled).
  void setLines(const QList<ChartLine>& lines);
  // Shown in place of the plot when there are no lines ("No run selected").
  void setEmptyText(const QString& text);

  const QList<ChartLine>& lines() const { return lines_; }
  QString title() const { return title_; }
  // The plotted numbers in long form: line, x, y (one row per point).
  CsvTable table() const;
  // The axes' current ranges (for tests and for callers that align charts).
  QPointF xRange() const;
  QPointF yRange() const;

  static constexpr int legendLimit = 12;

 protected:
  void changeEvent(QEvent* event) override;

 private:
  struct Parts;
  void applyPalette();
  void rebuildAxes();
  std::unique_ptr<Parts> parts_;
  QList<ChartLine> lines_;
  QString title_;
  bool logY_ = false;
};

}  // namespace dmoe::views
