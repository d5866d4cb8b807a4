// LayerMoeView: the "LayerMoE" tab — where the new languages look least like
// the old ones, and how many experts each layer gets for it (SPEC §2). Reads
// <runs>/layermoe/similarity/layer_similarity.json (the S_i curves: new–new,
// new–old and their mean, per layer) and, when present, the allocate stage's
// allocation.json. Below the chart the allocation as bars, one per layer (the
// frozen original FFN and the new experts), re-allocated live as the budget,
// the allocation (layer-wise / uniform) and the minimum per layer change —
// core/methods/layer_allocation.h on the file's S_i, nothing recomputed — with
// the total and active parameter counts when select-layers recorded the
// base's sizes. A base that is already a LayerMoE model (a lifelong second
// round) is read from its folder: its experts per layer stand under the new
// ones, its generations are named, and the counts start from it.
// "Apply" writes the three settings into the project.
// Export: PNG/SVG of the tab, CSV of layer, S_new_new, S_new_old, S_i, N_i.
#pragma once
#include <QWidget>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <vector>

#include "export.h"
#include "model/moe_layout.h"
#include "results/layer_similarity_file.h"
#include "results/selection_file.h"

class QComboBox;
class QLabel;
class QPushButton;
class QSpinBox;

namespace dmoe::views {

class LineChart;
class MessagePages;
class ProjectDocument;

// N_i per layer as bars: the frozen original FFN at the bottom, the experts
// of earlier expansions (a lifelong base) above it, the new experts on top.
class AllocationBars : public QWidget {
  Q_OBJECT
 public:
  explicit AllocationBars(QWidget* parent = nullptr);
  void setExperts(std::vector<std::int64_t> experts);
  // Experts each layer has before this expansion (1 = dense; empty: all dense).
  void setPrevious(std::vector<std::int64_t> previous);
  const std::vector<std::int64_t>& experts() const { return experts_; }
  QSize sizeHint() const override { return {600, 160}; }
  QSize minimumSizeHint() const override { return {200, 100}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  std::int64_t previousIn(size_t layer) const {
    return layer < previous_.size() ? previous_[layer] : 1;
  }
  std::vector<std::int64_t> experts_, previous_;
};

class LayerMoeView : public QWidget {
  Q_OBJECT
 public:
  explicit LayerMoeView(ProjectDocument& document, QWidget* parent = nullptr);

  // Rereads the files under `runsDir` (empty: no project open); the controls
  // start from the project's settings (a budget of 0 from the saved allocation).
  void reload(const std::filesystem::path& runsDir);
  bool hasData() const { return similarity_.has_value(); }
  QString message() const;

  void setBudget(int budget);
  void setAllocation(const QString& allocation);  // "layer-wise" | "uniform"
  void setMinExperts(int minExperts);
  // The live allocation (empty when the settings admit none: see summary()).
  const std::vector<std::int64_t>& allocation() const;
  // "24 new experts (the budget), δ = 31.2; 1.2 M parameters, 0.9 M active", or why there is none.
  QString summary() const;
  LineChart* similarityChart() const { return chart_; }
  CsvTable table() const;
  // Writes layermoe.budget, .allocation and .min_experts (and δ = 0: the budget
  // decides) into the project. False without a project or data.
  bool apply();

 private:
  void reallocate();

  ProjectDocument& document_;
  MessagePages* pages_;
  LineChart* chart_;
  AllocationBars* bars_;
  QSpinBox *budget_, *minExperts_;
  QComboBox* allocationBox_;
  QLabel* summary_;
  QPushButton* applyButton_;
  std::optional<LayerSimilarity> similarity_;
  std::optional<LayerSelection> sizes_;  // a dense base's parameter counts, from select-layers
  std::optional<ExpansionBase> base_;    // a LayerMoE base (lifelong): its experts, generations and counts
  QString baseProblem_;                  // why a checkpoint base could not be read
};

}  // namespace dmoe::views
