// SimilarityView: the "Similarity" tab — the language × language cosine
// similarity of similarity/similarity.json in clustered order, with the
// average-linkage dendrogram drawn beside the rows; a switch between the
// combined layer set and each per-layer matrix; clicking a cell names the
// pair, its value and both languages' groups (group/groups.json).
// The fingerprint diagnostics, when the file has them: the source (weights or
// activations) in the title; the reading (SimilarityResult::reading) above the
// matrix, as a warning when it says the fingerprints are unreliable or groups
// will be arbitrary; each language's split-half reliability on the combined
// matrix's diagonal (its own grey scale; outlined red when the language's own
// half is not its nearest); a row per labelling's family score and the
// per-layer reliability chart below. Files without them show as before.
// Missing artifacts show which stage to run, never a blank area.
// Not here: computing or judging the diagnostics (core's similarity stage and
// results/similarity_file.h).
#pragma once
#include <QWidget>
#include <filesystem>
#include <optional>

#include "analysis_files.h"
#include "export.h"

class QComboBox;
class QLabel;
class QTableWidget;

namespace dmoe::views {

class LineChart;
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
  QString titleText() const;  // the line above the matrix naming the fingerprint source
  QString readingText() const;  // SimilarityResult::reading(); empty without diagnostics
  bool readingWarns() const;    // shown as a warning
  // The colour of a split-half reliability on the diagonal: grey, dark at ≤ 0 to light at 1.
  static QColor reliabilityColour(double reliability);
  QTableWidget* familyTable() const { return families_; }
  LineChart* layerChart() const { return layerChart_; }
  HeatmapWidget* heatmap() const { return heatmap_; }
  DendrogramWidget* dendrogram() const { return dendrogram_; }
  QComboBox* matrixBox() const { return matrixBox_; }
  QWidget* content() const { return content_; }  // what PNG/SVG export draws
  CsvTable table() const;

 private:
  const SimilarityMatrix& currentMatrix() const;
  // "de: split-half reliability: cos(half a, half b) = +0.40; own half nearest: yes".
  QString reliabilityText(int language) const;
  void rebuild();
  void showDiagnostics();  // the title, reading, family scores and layer chart: per file, not per matrix

  std::optional<SimilarityResult> data_;
  std::optional<LanguageGroups> groups_;
  QString groupsProblem_;
  int choice_ = 0;

  QComboBox* matrixBox_;
  QLabel* note_;
  QLabel* pair_;
  QLabel* title_;
  QLabel* reading_;
  QTableWidget* families_;
  LineChart* layerChart_;
  QWidget* diagnostics_;  // the families table and the layer chart
  MessagePages* pages_;
  QWidget* content_;
  HeatmapWidget* heatmap_;
  DendrogramWidget* dendrogram_;
};

}  // namespace dmoe::views
