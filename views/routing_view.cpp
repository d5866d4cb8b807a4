#include "routing_view.h"

#include <QComboBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QToolButton>
#include <QVBoxLayout>

#include "analysis_files.h"
#include "heatmap_widget.h"
#include "message_pages.h"

namespace dmoe::views {

namespace {

// Mean over the languages of one kind (old or new) of their share on expert 0; NaN when there are none.
double expertZeroShare(const RoutingTable& t, size_t layer, bool fresh) {
  double sum = 0;
  int n = 0;
  for (size_t a = 0; a < t.languages.size(); ++a)
    if (t.isNew[a] == fresh && t.tokens[a] > 0) sum += t.top1[layer][a][0], ++n;
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

// Mean over the languages of one kind of the share the layer's classifier sends to expert 0 alone.
double classifierShare(const RoutingTable& t, size_t layer, bool fresh) {
  double sum = 0;
  int n = 0;
  for (size_t a = 0; a < t.languages.size(); ++a)
    if (t.isNew[a] == fresh && t.tokens[a] > 0) sum += t.classifierOriginal[layer][a], ++n;
  return n ? sum / n : std::numeric_limits<double>::quiet_NaN();
}

QString percent(double share) { return std::isfinite(share) ? QString::number(100 * share, 'f', 0) + " %" : "–"; }

}  // namespace

RoutingView::RoutingView(QWidget* parent) : QWidget(parent) {
  auto* content = new QWidget(this);
  heatmap_ = new HeatmapWidget(content);
  heatmap_->setValueRange(0, 1);
  modelBox_ = new QComboBox(this);
  modelBox_->setObjectName("routingModel");
  modelBox_->setSizeAdjustPolicy(QComboBox::AdjustToContents);
  layerBox_ = new QComboBox(content);
  layerBox_->setObjectName("routingLayer");
  metricBox_ = new QComboBox(content);
  metricBox_->setObjectName("routingMetric");
  metricBox_->addItem(tr("share of tokens, top-1 expert"));
  metricBox_->addItem(tr("mean router probability"));
  summary_ = new QLabel(content);
  summary_->setObjectName("routingSummary");
  summary_->setWordWrap(true);

  auto* controls = new QHBoxLayout;
  controls->addWidget(new QLabel(tr("MoE layer"), content));
  controls->addWidget(layerBox_);
  controls->addWidget(metricBox_);
  controls->addWidget(summary_, 1);
  controls->addWidget(createExportButton(this, "routing", [content] { return content; }, [this] { return table(); }));
  auto* column = new QVBoxLayout(content);
  column->addLayout(controls);
  column->addWidget(heatmap_, 1);

  // The model selector stays above the pages, so another model can be chosen when one file is unreadable.
  auto* modelRow = new QHBoxLayout;
  modelRow->addWidget(new QLabel(tr("Model"), this));
  modelRow->addWidget(modelBox_);
  modelRow->addStretch(1);
  pages_ = new MessagePages(content, "routingMessage", this);
  auto* outer = new QVBoxLayout(this);
  outer->setContentsMargins(0, 0, 0, 0);
  outer->addLayout(modelRow);
  outer->addWidget(pages_, 1);
  connect(modelBox_, &QComboBox::currentIndexChanged, this, [this] { loadChosenModel(); });
  connect(layerBox_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
  connect(metricBox_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
  reload({});
}

QString RoutingView::message() const { return pages_->message(); }

QStringList RoutingView::models() const {
  QStringList names;
  for (int i = 0; i < modelBox_->count(); ++i) names << modelBox_->itemText(i);
  return names;
}

void RoutingView::setModel(int index) { modelBox_->setCurrentIndex(index); }

void RoutingView::reload(const std::filesystem::path& runsDir) {
  table_.reset();
  files_ = runsDir.empty() ? std::vector<std::filesystem::path>{} : routingFiles(runsDir);
  const QString previous = modelBox_->currentText();
  {
    const QSignalBlocker block(modelBox_);
    modelBox_->clear();
    for (const auto& file : files_) modelBox_->addItem(QString::fromStdString(file.stem().string()));
    int chosen = modelBox_->findText(previous);
    if (chosen < 0) chosen = std::max(0, modelBox_->findText("train"));
    modelBox_->setCurrentIndex(files_.empty() ? -1 : chosen);
    modelBox_->setEnabled(files_.size() > 1);
  }
  if (runsDir.empty()) {
    pages_->setMessage(tr("Open a project to see where its trained mixture of experts routes each language."));
    pages_->showMessage();
    return;
  }
  if (files_.empty()) {
    pages_->setMessage(QString::fromStdString(missingArtifactMessage("routing", "where the trained model routes each language")));
    pages_->showMessage();
    return;
  }
  loadChosenModel();
}

void RoutingView::loadChosenModel() {
  table_.reset();
  const int index = modelBox_->currentIndex();
  if (index < 0 || size_t(index) >= files_.size()) return;
  std::string problem;
  table_ = loadArtifact<RoutingTable>(files_[size_t(index)], "routing", "where the trained model routes each language",
                                      problem);
  if (!table_) {
    pages_->setMessage(QString::fromStdString(problem));
    pages_->showMessage();
    return;
  }
  const QSignalBlocker block(layerBox_);
  const int previous = layerBox_->currentIndex();
  layerBox_->clear();
  for (size_t m = 0; m < table_->layers.size(); ++m)
    layerBox_->addItem(tr("layer %1 (%2 experts)").arg(table_->layers[m]).arg(table_->experts[m]));
  layerBox_->setCurrentIndex(previous >= 0 && previous < layerBox_->count() ? previous : 0);
  pages_->showContent();
  redraw();
}

void RoutingView::setLayer(int index) { layerBox_->setCurrentIndex(index); }
void RoutingView::setMetric(int metric) { metricBox_->setCurrentIndex(metric); }

const std::vector<std::vector<double>>& RoutingView::shown() const {
  const size_t layer = size_t(std::max(0, layerBox_->currentIndex()));
  return metricBox_->currentIndex() == 1 ? table_->probability[layer] : table_->top1[layer];
}

void RoutingView::redraw() {
  if (!table_ || layerBox_->currentIndex() < 0) return;
  const size_t layer = size_t(layerBox_->currentIndex());
  QStringList rows, columns;
  for (size_t a = 0; a < table_->languages.size(); ++a)
    rows << QString::fromStdString(table_->labels[a]) + (table_->isNew[a] ? tr(" (new)") : QString());
  for (std::int64_t e = 0; e < table_->experts[layer]; ++e)
    columns << (e == 0 && table_->originalExpert ? tr("0 (original)") : QString::number(e));
  heatmap_->setData(rows, columns, shown());
  heatmap_->setLegendTitle(metricBox_->currentIndex() == 1 ? tr("mean probability") : tr("share of tokens"));
  summary_->setText(summary());
}

QString RoutingView::summary() const {
  if (!table_ || layerBox_->currentIndex() < 0) return {};
  const size_t layer = size_t(layerBox_->currentIndex());
  double tokens = 0;
  for (std::int64_t t : table_->tokens) tokens += double(t);
  QString text = tr("Layer %1 · %2 experts · %3 held-out tokens per language on average")
                     .arg(table_->layers[layer])
                     .arg(table_->experts[layer])
                     .arg(qRound(tokens / double(std::max<size_t>(1, table_->tokens.size()))));
  if (table_->originalExpert)
    text += tr(" · top-1 on expert 0 (frozen original): old languages %1, new %2")
                .arg(percent(expertZeroShare(*table_, layer, false)), percent(expertZeroShare(*table_, layer, true)));
  if (layer < table_->classifierOriginal.size() && !table_->classifierOriginal[layer].empty())
    text += tr(" · the classifier sends to expert 0 alone: old languages %1, new %2")
                .arg(percent(classifierShare(*table_, layer, false)), percent(classifierShare(*table_, layer, true)));
  return text;
}

CsvTable RoutingView::table() const {
  return heatmap_->table(metricBox_->currentIndex() == 1 ? "language \\ expert (mean probability)"
                                                         : "language \\ expert (top-1 share)");
}

}  // namespace dmoe::views
