#include "epsilon_panel.h"

#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QPainter>
#include <QPushButton>
#include <QSlider>
#include <QStackedWidget>
#include <QStringList>
#include <QVBoxLayout>
#include <algorithm>
#include <cmath>

#include "project_document.h"
#include "results/selection_file.h"

namespace fs = std::filesystem;

namespace dmoe::views {

// One box per layer, numbered, the expanding ones filled with the palette's
// highlight (so it reads on light and dark themes); a thin bar under the
// number shows the layer's normalized score s(l).
class LayerStrip : public QWidget {
 public:
  explicit LayerStrip(QWidget* parent) : QWidget(parent) { setMinimumHeight(52); }
  void set(std::vector<double> normalized, std::vector<std::int64_t> chosen) {
    normalized_ = std::move(normalized);
    chosen_ = std::move(chosen);
    update();
  }
  QSize sizeHint() const override { return {int(normalized_.size()) * 34, 52}; }

 protected:
  void paintEvent(QPaintEvent*) override {
    QPainter p(this);
    p.setRenderHint(QPainter::Antialiasing);
    const int n = int(normalized_.size());
    if (n == 0) return;
    const double w = std::min(40.0, double(width()) / n);
    const double h = height() - 2.0;
    for (int l = 0; l < n; ++l) {
      const bool on = std::binary_search(chosen_.begin(), chosen_.end(), std::int64_t(l));
      const QRectF box(l * w + 2, 1, w - 4, h);
      p.setPen(QPen(palette().color(QPalette::Mid), 1));
      p.setBrush(on ? palette().color(QPalette::Highlight) : palette().color(QPalette::Base));
      p.drawRoundedRect(box, 3, 3);
      // s(l) as a bar along the bottom, in the box's text colour.
      const QColor text = on ? palette().color(QPalette::HighlightedText) : palette().color(QPalette::Text);
      p.fillRect(QRectF(box.left() + 3, box.bottom() - 6, (box.width() - 6) * std::clamp(normalized_[size_t(l)], 0.0, 1.0), 3),
                 text);
      p.setPen(text);
      p.drawText(box.adjusted(0, 0, 0, -8), Qt::AlignCenter, QString::number(l));
    }
  }

 private:
  std::vector<double> normalized_;
  std::vector<std::int64_t> chosen_;
};

namespace {

const QStringList kModes{QStringLiteral("threshold"), QStringLiteral("top-fraction")};

}  // namespace

EpsilonPanel::EpsilonPanel(ProjectDocument& document, QWidget* parent)
    : QWidget(parent), document_(document), pages_(new QStackedWidget(this)), message_(new QLabel(this)) {
  setObjectName("epsilonPanel");
  message_->setObjectName("epsilonPanelMessage");
  message_->setAlignment(Qt::AlignCenter);
  message_->setWordWrap(true);
  message_->setTextFormat(Qt::MarkdownText);
  pages_->addWidget(message_);

  auto* page = new QWidget(pages_);
  auto* form = new QFormLayout(page);
  slider_ = new QSlider(Qt::Horizontal, page);
  slider_->setObjectName("epsilonSlider");
  slider_->setRange(0, 100);
  slider_->setPageStep(10);
  spin_ = new QDoubleSpinBox(page);
  spin_->setObjectName("epsilonSpin");
  spin_->setRange(0, 1);
  spin_->setSingleStep(0.01);
  spin_->setDecimals(2);
  auto* epsilonRow = new QHBoxLayout;
  epsilonRow->addWidget(slider_, 1);
  epsilonRow->addWidget(spin_);
  form->addRow(tr("ε"), epsilonRow);
  modeBox_ = new QComboBox(page);
  modeBox_->setObjectName("epsilonMode");
  modeBox_->addItem(tr("threshold: expand layers with s(l) ≥ ε"), kModes[0]);
  modeBox_->addItem(tr("top-fraction: expand the ⌈ε·L⌉ highest-scoring layers"), kModes[1]);
  form->addRow(tr("Mode"), modeBox_);
  strip_ = new LayerStrip(page);
  strip_->setObjectName("layerStrip");
  strip_->setToolTip(tr("One box per layer; filled: becomes a MoE layer. The bar is the normalized score s(l)."));
  form->addRow(tr("Layers"), strip_);
  layersLabel_ = new QLabel(page);
  layersLabel_->setObjectName("expandedLayers");
  expertsLabel_ = new QLabel(page);
  expertsLabel_->setObjectName("moeSummary");
  parametersLabel_ = new QLabel(page);
  parametersLabel_->setObjectName("parameterCounts");
  for (QLabel* l : {layersLabel_, expertsLabel_, parametersLabel_}) {
    l->setWordWrap(true);
    l->setTextInteractionFlags(Qt::TextSelectableByMouse);
  }
  form->addRow(tr("Expands"), layersLabel_);
  form->addRow(tr("MoE"), expertsLabel_);
  form->addRow(tr("Parameters"), parametersLabel_);
  applyButton_ = new QPushButton(tr("Apply to project"), page);
  applyButton_->setObjectName("applyEpsilon");
  applyButton_->setToolTip(tr("Store ε and the mode in the project (layer_selection)"));
  form->addRow(QString(), applyButton_);
  pages_->addWidget(page);

  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  layout->addWidget(pages_);

  // Equal values emit nothing, so the two controls do not echo each other forever.
  connect(slider_, &QSlider::valueChanged, this, [this](int v) { spin_->setValue(v / 100.0); });
  connect(spin_, &QDoubleSpinBox::valueChanged, this, [this](double v) {
    slider_->setValue(int(std::lround(v * 100)));
    updatePreview();
  });
  connect(modeBox_, &QComboBox::currentIndexChanged, this, &EpsilonPanel::updatePreview);
  connect(applyButton_, &QPushButton::clicked, this, &EpsilonPanel::apply);
  // The expert count and top_k come from the project, which other views edit.
  connect(&document_, &ProjectDocument::changed, this, &EpsilonPanel::updatePreview);
  showMessage(tr("Open a project to choose ε."));
}

void EpsilonPanel::showMessage(const QString& text) {
  message_->setText(text);
  pages_->setCurrentWidget(message_);
}

bool EpsilonPanel::isReady() const { return pages_->currentIndex() == 1; }
double EpsilonPanel::epsilon() const { return spin_->value(); }
QString EpsilonPanel::mode() const { return modeBox_->currentData().toString(); }
void EpsilonPanel::setEpsilon(double epsilon) { spin_->setValue(std::clamp(epsilon, 0.0, 1.0)); }
void EpsilonPanel::setMode(const QString& mode) {
  if (kModes.contains(mode)) modeBox_->setCurrentIndex(int(kModes.indexOf(mode)));
}

void EpsilonPanel::reload(const fs::path& runsDir) {
  normalized_.clear();
  layers_.clear();
  if (!document_.hasProject()) return showMessage(tr("Open a project to choose ε."));
  try {
    const LayerSelection selection = LayerSelection::read(RunLayout(runsDir).selectionFile());
    normalized_ = selection.normalized;
    hiddenSize_ = selection.hiddenSize;
    baseParameters_ = selection.baseParameters;
    ffnParameters_ = selection.ffnParameters;
  } catch (const std::exception& e) {
    normalized_.clear();
    return showMessage(tr("**No layer scores yet.**\n\nRun `dmoe deviation` and then `dmoe select-layers` "
                          "(Stages menu) to score the layers; ε can then be previewed here.\n\n%1")
                           .arg(QString::fromStdString(e.what())));
  }
  const LayerSelectionSettings& settings = document_.project().layer_selection;
  {
    const QSignalBlocker blockSpin(spin_), blockSlider(slider_), blockMode(modeBox_);
    setEpsilon(settings.epsilon);
    slider_->setValue(int(std::lround(settings.epsilon * 100)));
    setMode(QString::fromStdString(settings.mode));
  }
  pages_->setCurrentIndex(1);
  updatePreview();
}

std::int64_t EpsilonPanel::previewExperts() const {
  if (!document_.hasProject()) return 0;
  return document_.project().grouping.experts();
}

dmoe::ParameterCounts EpsilonPanel::previewCounts() const {
  if (!document_.hasProject()) return {};
  return dmoeParameterCounts(baseParameters_, ffnParameters_, hiddenSize_, std::int64_t(layers_.size()),
                             previewExperts(), document_.project().merge.top_k);
}

void EpsilonPanel::updatePreview() {
  if (!isReady() || !document_.hasProject()) return;
  layers_ = selectLayers(normalized_, epsilon(), mode().toStdString());
  strip_->set(normalized_, layers_);
  QStringList names;
  for (std::int64_t l : layers_) names << QString::number(l);
  layersLabel_->setText(layers_.empty() ? tr("no layer: select-layers refuses this ε")
                                        : tr("layers %1").arg(names.join(QStringLiteral(", "))));
  const std::int64_t topK = std::min(document_.project().merge.top_k, previewExperts());
  expertsLabel_->setText(tr("%1 of %2 layers become MoE layers · %3 experts, top-%4 routing")
                             .arg(layers_.size())
                             .arg(normalized_.size())
                             .arg(previewExperts())
                             .arg(topK));
  const ParameterCounts counts = previewCounts();
  parametersLabel_->setText(
      tr("total %1 · active %2 per token (dense base %3)")
          .arg(formatCount(counts.total), formatCount(counts.active), formatCount(baseParameters_)));
  const LayerSelectionSettings& saved = document_.project().layer_selection;
  applyButton_->setEnabled(std::abs(saved.epsilon - epsilon()) > 1e-9 || QString::fromStdString(saved.mode) != mode());
}

bool EpsilonPanel::apply() {
  if (!document_.hasProject()) return false;
  const double epsilon = this->epsilon();
  const std::string mode = this->mode().toStdString();
  document_.modify([&](Project& p) {
    p.layer_selection.epsilon = epsilon;
    p.layer_selection.mode = mode;
  });
  return true;
}

QString EpsilonPanel::formatCount(std::int64_t count) {
  const double n = double(count);
  if (std::abs(n) >= 1e9) return QStringLiteral("%1 G").arg(n / 1e9, 0, 'f', 1);
  if (std::abs(n) >= 1e6) return QStringLiteral("%1 M").arg(n / 1e6, 0, 'f', 1);
  if (std::abs(n) >= 1e3) return QStringLiteral("%1 k").arg(n / 1e3, 0, 'f', 1);
  return QString::number(count);
}

}  // namespace dmoe::views
