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

  pages_ = MessagePages::fill(this, content, "routingMessage");
  connect(layerBox_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
  connect(metricBox_, &QComboBox::currentIndexChanged, this, [this] { redraw(); });
  reload({});
}

QString RoutingView::message() const { return pages_->message(); }

void RoutingView::reload(const std::filesystem::path& runsDir) {
  table_.reset();
  if (runsDir.empty()) {
    pages_->setMessage(tr("Open a project to see where its trained mixture of experts routes each language."));
    pages_->showMessage();
    return;
  }
  std::string problem;
  table_ = loadArtifact<RoutingTable>(RunLayout(runsDir).routingFile(), "routing",
                                      "where the trained model routes each language", problem);
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
