// EpsilonPanel: the ε panel of the workbench — ε (slider and spin box, kept in
// step) and the selection mode (threshold / top-fraction), with a live preview
// of what the select-layers stage would do: which layers expand into MoE
// layers (a strip of one box per layer), how many experts, and the total and
// active parameter counts. The preview applies core/methods/layer_selection.h
// to the normalized scores of <runs>/select-layers/selection.json, with the
// project's current expert count and top_k. "Apply" writes
// layer_selection.epsilon and .mode into the project through ProjectDocument.
#pragma once
#include <QString>
#include <QWidget>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "methods/layer_selection.h"

class QComboBox;
class QDoubleSpinBox;
class QLabel;
class QPushButton;
class QSlider;
class QStackedWidget;

namespace dmoe::views {

class LayerStrip;
class ProjectDocument;

class EpsilonPanel : public QWidget {
  Q_OBJECT
 public:
  EpsilonPanel(ProjectDocument& document, QWidget* parent = nullptr);

  // Reads <runsDir>/select-layers/selection.json; ε and mode start from the
  // project. A missing or unreadable file: a message saying which stage to run.
  void reload(const std::filesystem::path& runsDir);

  bool isReady() const;  // selection.json read
  double epsilon() const;
  QString mode() const;  // "threshold" | "top-fraction"
  void setEpsilon(double epsilon);  // rounded to 0.01, clamped to [0, 1]
  void setMode(const QString& mode);

  // The preview: ascending layer indices, the experts it assumes, the counts.
  const std::vector<std::int64_t>& previewLayers() const { return layers_; }
  std::int64_t previewExperts() const;
  dmoe::ParameterCounts previewCounts() const;

  // Writes ε and mode into the project (marks it dirty). False without a project.
  bool apply();

  // 6,234,112 → "6.2 M"; below 1,000 the plain number.
  static QString formatCount(std::int64_t count);

 private:
  void updatePreview();
  void showMessage(const QString& text);

  ProjectDocument& document_;
  QStackedWidget* pages_;
  QLabel* message_;
  QSlider* slider_;
  QDoubleSpinBox* spin_;
  QComboBox* modeBox_;
  LayerStrip* strip_;
  QLabel *layersLabel_, *expertsLabel_, *parametersLabel_;
  QPushButton* applyButton_;

  std::vector<double> normalized_;
  std::int64_t baseParameters_ = 0, ffnParameters_ = 0, hiddenSize_ = 0;
  std::vector<std::int64_t> layers_;
};

}  // namespace dmoe::views
