// RoutingView: the "Routing" tab — where a trained mixture of experts (the
// DMoE, or a LayerMoE expansion) sends each language's held-out tokens. Reads
// the routing files (`dmoe routing`, one per measured model,
// results/routing_file.h), offers their models in a selector above the page
// (the DMoE's train.json first chosen), and draws, for the chosen MoE layer, a heatmap of languages × experts: the share of each
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

  // Relists the routing files under `runsDir` (empty: no project open) and
  // rereads the chosen one (kept by name when it still exists).
  void reload(const std::filesystem::path& runsDir);
  QStringList models() const;  // the routing files' names, e.g. "train", "layermoe-layer-wise"
  void setModel(int index);
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
  void loadChosenModel();
  void redraw();
  const std::vector<std::vector<double>>& shown() const;  // [language][expert] of the layer and metric

  MessagePages* pages_;
  HeatmapWidget* heatmap_;
  QComboBox *modelBox_, *layerBox_, *metricBox_;
  std::vector<std::filesystem::path> files_;
  QLabel* summary_;
  std::optional<RoutingTable> table_;
};

}  // namespace dmoe::views
