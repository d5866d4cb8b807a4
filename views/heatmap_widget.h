// HeatmapWidget: a matrix of numbers drawn with QPainter — row and column
// labels, cells coloured on the viridis map, the colour scale with its legend
// on the right, a tooltip with the exact value, an optional display order of
// rows and columns, a click signal, and cells drawn apart from the matrix
// (their own number, colour, tooltip and outline: the similarity's diagonal
// shows the split-half reliability there). Shared by the deviation heatmap and
// the similarity matrix; it knows nothing about either. Text and background
// come from the palette, so it reads in light and dark themes.
#pragma once
#include <QColor>
#include <QStringList>
#include <QWidget>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "export.h"

namespace dmoe::views {

// The viridis colour map (perceptually uniform, colour-blind safe): t in [0, 1], clamped.
QColor viridis(double t);

class HeatmapWidget : public QWidget {
  Q_OBJECT
 public:
  using ToolTipFormatter = std::function<QString(int row, int column, double value)>;
  // A cell drawn apart from the matrix, for display only (value(), table(), the
  // scale and clicks keep the data): its own number, colour and tooltip, and
  // an outline when `outline` is valid.
  struct CellOverride {
    double value = 0;
    QColor colour;
    QString toolTip;
    QColor outline;  // invalid: none
  };

  explicit HeatmapWidget(QWidget* parent = nullptr);

  // values[row][column]; the display order resets to the data order.
  void setData(const QStringList& rowLabels, const QStringList& columnLabels, std::vector<std::vector<double>> values);
  // order[display position] = data index; empty restores the data order.
  void setRowOrder(std::vector<int> order);
  void setColumnOrder(std::vector<int> order);
  // A fixed colour range (values outside it take the end colours); without one, the data's min..max.
  void setValueRange(double low, double high);
  void setLegendTitle(const QString& title);
  void setSquareCells(bool square);
  // Tooltip text; the default is "<row> – <column>: <value>".
  void setToolTipFormatter(ToolTipFormatter formatter);
  void setSelectedCell(std::optional<std::pair<int, int>> cell);
  // Data indices; setData clears them all.
  void setCellOverride(int row, int column, CellOverride cell);
  void clearCellOverrides();
  const CellOverride* cellOverride(int row, int column) const;  // null: the cell shows the data

  int rows() const { return int(values_.size()); }
  // Every how many rows (columns) a label is drawn: 1 while a label's line
  // fits its cell, else enough cells for one line (128 languages in a few
  // hundred pixels: every 3rd or 4th name, the rest on the cells' tooltips).
  static int labelStride(double cellExtent, double lineHeight);
  int columns() const { return int(columnLabels_.size()); }
  double value(int row, int column) const { return values_[size_t(row)][size_t(column)]; }
  std::pair<double, double> valueRange() const;
  QColor colorOf(double value) const;
  const std::vector<int>& rowOrder() const { return rowOrder_; }
  const std::vector<int>& columnOrder() const { return columnOrder_; }
  // Geometry in widget coordinates, by data index; cellAt maps back (none outside the grid).
  QRectF cellRect(int row, int column) const;
  std::optional<std::pair<int, int>> cellAt(const QPointF& point) const;
  QString toolTipText(int row, int column) const;
  // The numbers in display order: `corner`, then the column labels; one line per row.
  CsvTable table(const QString& corner) const;

  QSize sizeHint() const override;
  QSize minimumSizeHint() const override;

 signals:
  void cellClicked(int row, int column);  // data indices

 protected:
  bool event(QEvent* event) override;
  void paintEvent(QPaintEvent* event) override;
  void mouseReleaseEvent(QMouseEvent* event) override;

 private:
  struct Layout {
    QRectF grid;
    double cellWidth = 0, cellHeight = 0;
    bool rotateColumnLabels = false;
    QRectF legendBar;
  };
  Layout layout() const;
  QString formatTick(double value) const;

  QStringList rowLabels_, columnLabels_;
  std::vector<std::vector<double>> values_;
  std::vector<int> rowOrder_, columnOrder_;
  std::optional<std::pair<double, double>> fixedRange_;
  QString legendTitle_;
  bool square_ = false;
  ToolTipFormatter formatter_;
  std::optional<std::pair<int, int>> selected_;
  std::map<std::pair<int, int>, CellOverride> overrides_;
};

}  // namespace dmoe::views
