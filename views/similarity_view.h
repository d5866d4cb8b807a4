// SimilarityView: the "Similarity" tab — the language × language cosine
// similarity of similarity/similarity.json in clustered order, with the
// average-linkage dendrogram drawn beside the rows; a switch between the
// combined layer set and each per-layer matrix; clicking a cell names the
// pair, its value and both languages' groups (group/groups.json).
// Missing artifacts show which stage to run, never a blank area.
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

// The dendrogram of SimilarityResult::dendrogram, root on the left, each leaf at
// the height of its row in `rows` (a heatmap showing the languages in cluster order).
class DendrogramWidget : public QWidget {
  Q_OBJECT
 public:
  DendrogramWidget(HeatmapWidget* rows, QWidget* parent = nullptr);
  void setTree(std::vector<ClusterMerge> merges, int leaves);
  // Widget y of leaf `leaf`'s row; x of a merge height (the root's height at the left edge).
  double leafY(int leaf) const;
  double heightX(double height) const;

  QSize sizeHint() const override { return {120, 200}; }
  QSize minimumSizeHint() const override { return {60, 100}; }

 protected:
  void paintEvent(QPaintEvent* event) override;

 private:
  HeatmapWidget* rows_;
  std::vector<ClusterMerge> merges_;
  int leaves_ = 0;
};

class SimilarityView : public QWidget {
  Q_OBJECT
 public:
  explicit SimilarityView(QWidget* parent = nullptr);

  // Rereads similarity.json and groups.json under `runsDir` (empty: no project open).
  void reload(const std::filesystem::path& runsDir);
  // 0: the combined layer set; i ≥ 1: the matrix of per_layer[i − 1].
  void setMatrixChoice(int index);
  // What a click on cell (row, column) shows: "ar–ur: 0.83 · groups 3 and 3".
  void showPair(int row, int column);

  bool hasData() const { return data_.has_value(); }
  QString message() const;   // the placeholder's text when there is no matrix
  QString pairText() const;  // the label under the matrix
  HeatmapWidget* heatmap() const { return heatmap_; }
  DendrogramWidget* dendrogram() const { return dendrogram_; }
  QComboBox* matrixBox() const { return matrixBox_; }
  QWidget* content() const { return content_; }  // what PNG/SVG export draws
  CsvTable table() const;

 private:
  const SimilarityMatrix& currentMatrix() const;
  void rebuild();

  std::optional<SimilarityResult> data_;
  std::optional<LanguageGroups> groups_;
  QString groupsProblem_;
  int choice_ = 0;

  QComboBox* matrixBox_;
  QLabel* note_;
  QLabel* pair_;
  MessagePages* pages_;
  QWidget* content_;
  HeatmapWidget* heatmap_;
  DendrogramWidget* dendrogram_;
};

}  // namespace dmoe::views
