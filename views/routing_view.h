// RoutingView: the "Routing" tab — where a trained mixture of experts (the
// DMoE, or a LayerMoE expansion) sends each language's held-out tokens. Reads
// routing/routing.json (`dmoe routing`, results/routing_file.h) and draws, for
// the chosen MoE layer, a heatmap of languages × experts: the share of each
// language's tokens whose top-1 router choice is that expert, or the mean
// router probability. For a LayerMoE model the summary gives the share that
// stays on the frozen original expert 0, old languages against new ones.
// Computes nothing: the numbers are the file's.
// Export: PNG/SVG of the tab, CSV of the shown matrix.
#pragma once
#include <QWidget>
#include <filesystem>
#include <optional>

#include "export.h"
#include "results/routing_file.h"

class QComboBox;
class QLabel;

namespace dmoe::views {

class HeatmapWidget;
class MessagePages;

class RoutingView : public QWidget {
  Q_OBJECT
 public:
  explicit RoutingView(QWidget* parent = nullptr);

  // Rereads routing.json under `runsDir` (empty: no project open).
  void reload(const std::filesystem::path& runsDir);
  bool hasData() const { return table_.has_value(); }
  QString message() const;

  void setLayer(int index);   // index into the file's MoE layers
  void setMetric(int metric);  // 0: top-1 share, 1: mean router probability
  HeatmapWidget* heatmap() const { return heatmap_; }
  // "Layer 3 · 6 experts · 1 234 tokens per language on average", and for
  // LayerMoE "expert 0 (frozen original): old languages 81 %, new 12 %".
  QString summary() const;
  CsvTable table() const;

 private:
  void redraw();
  const std::vector<std::vector<double>>& shown() const;  // [language][expert] of the layer and metric

  MessagePages* pages_;
  HeatmapWidget* heatmap_;
  QComboBox *layerBox_, *metricBox_;
  QLabel* summary_;
  std::optional<RoutingTable> table_;
};

}  // namespace dmoe::views
