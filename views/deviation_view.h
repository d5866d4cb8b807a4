// DeviationView: the "Deviation" tab — how far each language's fine-tune moved
// each layer (deviation/deviation.json) as a languages × layers heatmap, per
// module kind (FFN / attention / norms / all), with the languages in project
// order, by group (group/groups.json) or clustered (similarity's
// cluster_order); below it the per-layer score profile of
// select-layers/selection.json with the ε cutoff and the chosen layers.
// Above the heatmap, the stationarity diagnostic r of the base with one line
// on how to read it. Missing artifacts show which stage to run, never a blank area.
#pragma once
#include <QWidget>
#include <filesystem>
#include <optional>

#include "analysis_files.h"
#include "export.h"

class QComboBox;
class QLabel;

namespace dmoe::views {

class MessagePages;

class HeatmapWidget;

// Bars of the normalized per-layer scores, chosen layers highlighted, and the
// cutoff line: ε in threshold mode, the lowest chosen score in top-fraction mode.
class LayerProfileWidget : public QWidget {
  Q_OBJECT
 public:
  explicit LayerProfileWidget(QWidget* parent = nullptr);
  // Without a selection the widget shows `message` instead.
  void setSelection(std::optional<LayerSelection> selection, const QString& message);
  const std::optional<LayerSelection>& selection() const { return selection_; }

  QRectF plotRect() const;
  QRectF barRect(int layer) const;
  std::optional<double> cutoff() const;  // in normalized-score units
  double yOf(double normalized) const;   // widget y of a normalized score
  static QColor cutoffColor();

  QSize sizeHint() const override { return {600, 180}; }
  QSize minimumSizeHint() const override { return {200, 120}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  std::optional<LayerSelection> selection_;
  QString message_;
};

class DeviationView : public QWidget {
  Q_OBJECT
 public:
  enum class Order { Project, Group, Clustered };

  explicit DeviationView(QWidget* parent = nullptr);

  // Rereads every artifact under `runsDir` (empty: no project open).
  void reload(const std::filesystem::path& runsDir);
  // "ffn" | "attention" | "norms" | "all".
  void setModule(const QString& kind);
  // Falls back to project order (with a note) when the order's file is missing.
  void setOrder(Order order);

  bool hasData() const { return deviation_.has_value(); }
  QString message() const;  // what the placeholder says when there is no heatmap
  QString note() const;     // the line above the heatmap (orders not available, …)
  QString stationarityText() const;  // the diagnostic's line ("" without a deviation table)
  HeatmapWidget* heatmap() const { return heatmap_; }
  LayerProfileWidget* profile() const { return profile_; }
  QWidget* content() const { return content_; }  // what PNG/SVG export draws
  CsvTable table() const;

 private:
  void rebuild();

  std::optional<DeviationTable> deviation_;
  std::optional<LanguageGroups> groups_;
  std::optional<SimilarityResult> similarity_;
  QString groupsProblem_, similarityProblem_;
  QString module_ = "ffn";
  Order order_ = Order::Project;

  QComboBox* moduleBox_;
  QComboBox* orderBox_;
  QLabel* note_;
  QLabel* stationarity_;
  MessagePages* pages_;
  QWidget* content_;
  HeatmapWidget* heatmap_;
  LayerProfileWidget* profile_;
};

}  // namespace dmoe::views
