// The analysis views, offscreen, on hand-set fixtures (4 languages × 3 layers)
// the test writes itself: the deviation heatmap (cell colours follow the
// values on viridis, tooltips, module switch, project / group / clustered
// order, the ε line of the layer profile, chosen layers highlighted) and the
// similarity matrix (clustered order, dendrogram beside the rows, per-layer
// switch, click → pair and groups; the fingerprint diagnostics: split-half
// reliability on the diagonal, the reading as a warning or not, the family
// scores, the per-layer reliability, the source; a file without them as
// before); the readers' errors name the file; missing
// artifacts say which stage to run; CSV / SVG / PNG export; the main window's
// tabs. Screenshots go to DMOE_TEST_OUTPUT.
#include <QApplication>
#include <QComboBox>
#include <QDir>
#include <QHelpEvent>
#include <QLabel>
#include <QStackedWidget>
#include <QTableWidget>
#include <QTabWidget>
#include <QToolTip>
#include <QtTest>
#include <filesystem>

#include "analysis_files.h"
#include "checkpoint/safetensors.h"
#include "deviation_view.h"
#include "export.h"
#include "heatmap_widget.h"
#include "layermoe_view.h"
#include "line_chart.h"
#include "project_document.h"
#include "main_window.h"
#include "methods/clustering.h"
#include "project/project.h"
#include "routing_view.h"
#include "similarity_view.h"
#include "gui_test_support.h"
#include "test_support.h"
#include "util/error.h"
#include "util/json.h"

using namespace dmoe;
using namespace dmoe::views;
namespace fs = std::filesystem;

namespace {

// Project order ar, fr, ur, de (data indices 0..3). FFN norms per layer:
//   ar 1 2 3 · fr 0.5 1 9 · ur 2 4 6 · de 0 5 1; attention = 10 × FFN.
// Similarity: ar–ur 0.83, fr–de 0.7, the rest ≤ 0.3, so average linkage joins
// {ar,ur} (d 0.17), {fr,de} (d 0.3), then both (d = mean(0.8, 0.7, 0.9, 0.75) = 0.7875):
// clustered order ar, ur, fr, de = [0, 2, 1, 3]. Groups: expert 0 {ur, ar}, expert 1 {de, fr}
// → by-group order [2, 0, 3, 1]. Selection: ε 0.6 threshold, normalized [0, 0.55, 1] → layer 2.
void writeFixtures(const fs::path& runs) {
  const Json ffn = {{1, 2, 3}, {0.5, 1, 9}, {2, 4, 6}, {0, 5, 1}};
  Json attention = ffn;
  for (auto& row : attention)
    for (auto& v : row) v = v.get<double>() * 10;
  test::writeText(runs / "deviation" / "deviation.json",
                  Json{{"languages", {"ar", "fr", "ur", "de"}},
                       {"labels", {"ar", "fr", "ur", "de"}},
                       {"layers", 3},
                       {"modules", {{"ffn", ffn}, {"attention", attention}, {"norms", ffn}, {"all", ffn}}},
                       {"stationarity", {{"r", 0.4213}, {"r_orthogonal", 0.2357}, {"layers", {1, 2}}}}}
                      .dump());
  test::writeText(runs / "select-layers" / "selection.json",
                  Json{{"scores", {0.875, 3.0, 4.75}}, {"normalized", {0.0, 0.55, 1.0}}, {"epsilon", 0.6},
                       {"mode", "threshold"}, {"layers", {2}}, {"hidden_size", 8},
                       {"parameters", {{"base", 1000}, {"ffn_per_layer", 100}}}}
                      .dump());
  const Json combined = {{1, 0.2, 0.83, 0.3}, {0.2, 1, 0.1, 0.7}, {0.83, 0.1, 1, 0.25}, {0.3, 0.7, 0.25, 1}};
  const Json layer1 = {{1, 0.4, 0.5, 0.3}, {0.4, 1, 0.2, 0.6}, {0.5, 0.2, 1, 0.1}, {0.3, 0.6, 0.1, 1}};
  test::writeText(runs / "similarity" / "similarity.json",
                  Json{{"method", "exact"},
                       {"languages", {"ar", "fr", "ur", "de"}},
                       {"labels", {"ar", "fr", "ur", "de"}},
                       {"layers", {1, 2}},
                       {"matrix", combined},
                       {"per_layer", {{{"layer", 1}, {"matrix", layer1}}, {{"layer", 2}, {"matrix", combined}}}},
                       {"cluster_order", {0, 2, 1, 3}},
                       {"dendrogram",
                        {{{"left", 0}, {"right", 2}, {"height", 0.17}, {"size", 2}},
                         {{"left", 1}, {"right", 3}, {"height", 0.3}, {"size", 2}},
                         {{"left", 4}, {"right", 5}, {"height", 0.7875}, {"size", 4}}}}}
                      .dump());
  test::writeText(runs / "group" / "groups.json",
                  Json{{"method", "maximin"},
                       {"method_used", "maximin-exhaustive"},
                       {"groups",
                        {{{"expert", 0}, {"languages", {"ur", "ar"}}, {"min_similarity", 0.83}},
                         {{"expert", 1}, {"languages", {"de", "fr"}}, {"min_similarity", 0.7}}}}}
                      .dump());
}

fs::path runsIn(const QTemporaryDir& dir) { return fs::path(dir.path().toStdString()) / "runs"; }

// A synthetic similarity.json with the fingerprint diagnostics, shaped like
// issue 33's split-half run: 10 languages (de nl sv da es it pt ru cs ja),
// off-diagonal cosines 0.03·cos(1.7 (i+1)(j+1)) (plus 0.25 for same-family
// pairs when `structure`), split-half reliabilities
//   de .41 nl .38 sv .44 da .40 es .43 it .37 pt .42 ru .12 cs .39 ja .45,
// ru's own half not its nearest (9 of 10: reliable, ≥ 90 %), layers 1–3 with
// mean reliabilities .39 .41 .44. Without `structure` the halves' pair
// pattern does not repeat (r 0.03, p 0.412) and neither labelling separates
// (family p 0.58, script p 0.31): the reading warns that groups will be
// arbitrary. With it, r 0.55 (p 0.002) and family p 0.001: no warning.
const std::vector<double> kReliability{0.41, 0.38, 0.44, 0.40, 0.43, 0.37, 0.42, 0.12, 0.39, 0.45};
constexpr int kRu = 7;

void writeFingerprintFixture(const fs::path& runs, bool structure, const std::string& source = "weights") {
  const std::vector<std::string> languages{"de", "nl", "sv", "da", "es", "it", "pt", "ru", "cs", "ja"};
  const std::vector<std::string> family{"Germanic", "Germanic", "Germanic", "Germanic", "Romance",
                                        "Romance",  "Romance",  "Slavic",   "Slavic",   "Japonic"};
  const std::vector<std::string> script{"Latin", "Latin", "Latin", "Latin",    "Latin",
                                        "Latin", "Latin", "Cyrillic", "Latin", "Japanese"};
  const size_t n = languages.size();
  SimilarityMatrix combined(n, std::vector<double>(n, 1.0));
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (i != j)
        combined[i][j] = 0.03 * std::cos(1.7 * double((i + 1) * (j + 1))) + (structure && family[i] == family[j] ? 0.25 : 0);
  // The halves: own other half at the reliability, other languages' halves at 0.8 × their cosine.
  SimilarityMatrix halves(2 * n, std::vector<double>(2 * n));
  for (size_t a = 0; a < 2 * n; ++a)
    for (size_t b = 0; b < 2 * n; ++b)
      halves[a][b] = a == b ? 1.0 : a / 2 == b / 2 ? kReliability[a / 2] : 0.8 * combined[a / 2][b / 2];
  Json nearest = Json::array();
  for (size_t i = 0; i < n; ++i) nearest.push_back(int(i) != kRu);
  const Dendrogram tree = averageLinkage(similarityToDistance(combined));
  Json merges = Json::array();
  for (const ClusterMerge& m : tree.merges)
    merges.push_back({{"left", m.left}, {"right", m.right}, {"height", m.height}, {"size", m.size}});
  Json perLayer = Json::array();
  for (int layer : {1, 2, 3}) perLayer.push_back({{"layer", layer}, {"matrix", combined}});
  const Json families = Json::array(
      {{{"labelling", "family"}, {"labels", family}, {"within", structure ? 0.214 : 0.004},
        {"across", structure ? 0.004 : 0.005}, {"gap", structure ? 0.21 : -0.001}, {"p_value", structure ? 0.001 : 0.58},
        {"permutations", 999}, {"cluster_ari", structure ? 0.62 : -0.05}, {"relatives_on_top", structure ? 8 : 2},
        {"with_relatives", 9}, {"relatives_on_top_by_chance", 2.222}},
       {{"labelling", "script"}, {"labels", script}, {"within", 0.006}, {"across", 0.002}, {"gap", 0.004},
        {"p_value", 0.31}, {"permutations", 999}, {"cluster_ari", 0.08}, {"relatives_on_top", 6},
        {"with_relatives", 8}, {"relatives_on_top_by_chance", 6.222}}});
  test::writeText(runs / "similarity" / "similarity.json",
                  Json{{"method", "exact"},
                       {"source", source},
                       {"languages", languages},
                       {"layers", {1, 2, 3}},
                       {"matrix", combined},
                       {"per_layer", perLayer},
                       {"cluster_order", tree.leafOrder},
                       {"dendrogram", merges},
                       {"split_half",
                        {{"halves", halves},
                         {"reliability", kReliability},
                         {"own_half_nearest", nearest},
                         {"layer_reliability", {0.39, 0.41, 0.44}},
                         {"structure_r", structure ? 0.55 : 0.03},
                         {"structure_p", structure ? 0.002 : 0.412},
                         {"permutations", 999}}},
                       {"families", families}}
                      .dump());
}

// A point inside a cell clear of the value written at its centre.
QPoint cellCorner(const HeatmapWidget& heatmap, int row, int column) {
  return heatmap.cellRect(row, column).topLeft().toPoint() + QPoint(3, 3);
}

}  // namespace

class TestAnalysisViews : public QObject {
  Q_OBJECT

 private slots:
  void initTestCase() { test::useScratchSettings("test_analysis_views"); }

  void viridisRunsFromDarkToLight() {
    QCOMPARE(viridis(0).name(), QString("#440154"));
    QCOMPARE(viridis(1).name(), QString("#fde725"));
    QCOMPARE(viridis(0.5).name(), QString("#21918c"));
    QCOMPARE(viridis(-3).name(), QString("#440154"));  // clamped
    double previous = -1;
    for (int i = 0; i <= 20; ++i) {
      const QColor c = viridis(i / 20.0);
      const double luminance = 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF();
      QVERIFY2(luminance > previous, qPrintable(QString::number(i)));
      previous = luminance;
    }
  }

  // At 128 languages a cell is a few pixels: every k-th name is drawn so
  // that drawn names are at least a line apart (the rest are on the tooltips).
  // The views at 128 languages: test_gui_shell's aProjectOf128LanguagesStaysUsable.
  void heatmapLabelStride() {
    QCOMPARE(HeatmapWidget::labelStride(20, 14), 1);
    QCOMPARE(HeatmapWidget::labelStride(14, 14), 1);
    QCOMPARE(HeatmapWidget::labelStride(5, 14), 3);
    QCOMPARE(HeatmapWidget::labelStride(4.6, 14), 4);
    QCOMPARE(HeatmapWidget::labelStride(0, 14), 1);  // nothing drawn yet
    for (double cell : {0.5, 1.0, 3.3, 6.9, 13.9})
      QVERIFY(HeatmapWidget::labelStride(cell, 14) * cell >= 14);
    for (double cell : {0.5, 1.0, 3.3, 6.9, 13.9})  // and no more than needed: one cell fewer would not make a line
      QVERIFY((HeatmapWidget::labelStride(cell, 14) - 1) * cell < 14);
  }

  void deviationHeatmapColoursTooltipsAndModules() {
    QTemporaryDir tmp;
    writeFixtures(runsIn(tmp));
    DeviationView view;
    view.resize(900, 700);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.reload(runsIn(tmp));
    QVERIFY(view.hasData());
    HeatmapWidget& heatmap = *view.heatmap();
    QCOMPARE(heatmap.rows(), 4);
    QCOMPARE(heatmap.columns(), 3);
    QCOMPARE(heatmap.valueRange(), std::make_pair(0.0, 9.0));

    // The largest value takes the scale's high end, the smallest its low end, and every
    // drawn cell has the colour of its value, so larger values are lighter.
    const QImage image = heatmap.grab().toImage();
    QCOMPARE(image.pixelColor(cellCorner(heatmap, 1, 2)).name(), viridis(1).name());  // fr, layer 2: 9
    QCOMPARE(image.pixelColor(cellCorner(heatmap, 3, 0)).name(), viridis(0).name());  // de, layer 0: 0
    QCOMPARE(image.pixelColor(cellCorner(heatmap, 2, 1)).name(), viridis(4.0 / 9).name());  // ur, layer 1: 4
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 3; ++c)
        QCOMPARE(image.pixelColor(cellCorner(heatmap, r, c)).name(), heatmap.colorOf(heatmap.value(r, c)).name());

    QCOMPARE(heatmap.toolTipText(2, 1), QString("ur, layer 1, FFN: 4 (expert 0)"));
    QCOMPARE(heatmap.toolTipText(1, 0), QString("fr, layer 0, FFN: 0.5 (expert 1)"));
    // A real tooltip event over a cell shows that text.
    const QPoint at = cellCorner(heatmap, 2, 1);
    QHelpEvent help(QEvent::ToolTip, at, heatmap.mapToGlobal(at));
    QApplication::sendEvent(&heatmap, &help);
    QTRY_COMPARE(QToolTip::text(), QString("ur, layer 1, FFN: 4 (expert 0)"));
    QToolTip::hideText();

    view.setModule("attention");
    QCOMPARE(heatmap.value(1, 2), 90.0);
    QCOMPARE(heatmap.toolTipText(2, 1), QString("ur, layer 1, Attention: 40 (expert 0)"));
    QCOMPARE(view.findChild<QComboBox*>("moduleBox")->currentData().toString(), QString("attention"));
    view.setModule("ffn");
    QVERIFY(test::saveScreenshot(view, "deviation-view.png"));
  }

  void deviationStationarityLine() {
    QTemporaryDir tmp;
    writeFixtures(runsIn(tmp));
    DeviationView view;
    view.reload(runsIn(tmp));
    QVERIFY2(view.stationarityText().contains("r = 0.42 (FFN gradients, layers 1, 2); independent, "
                                              "orthogonal pulls would give 0.24. Above that"),
             qPrintable(view.stationarityText()));
    // Written before the stage recorded it: said so, the heatmap still shows.
    const fs::path file = runsIn(tmp) / "deviation" / "deviation.json";
    Json j = Json::parse(test::readText(file));
    j.erase("stationarity");
    test::writeText(file, j.dump());
    view.reload(runsIn(tmp));
    QVERIFY(view.hasData());
    QVERIFY(view.stationarityText().contains("not recorded"));
    // r null (no finite gradient); a file without r⊥ (the first format) reads on the 0–1 scale alone.
    j["stationarity"] = {{"r", nullptr}, {"r_orthogonal", nullptr}, {"layers", {1}}};
    test::writeText(file, j.dump());
    view.reload(runsIn(tmp));
    QVERIFY2(view.stationarityText().contains("undefined"), qPrintable(view.stationarityText()));
    j["stationarity"] = {{"r", 0.5}, {"layers", {1}}};
    test::writeText(file, j.dump());
    view.reload(runsIn(tmp));
    QVERIFY2(view.stationarityText().contains("r = 0.50 (FFN gradients, layers 1); 1 = "),
             qPrintable(view.stationarityText()));
    // A wrong value names its JSON path.
    j["stationarity"] = {{"r", "high"}, {"layers", {1}}};
    test::writeText(file, j.dump());
    view.reload(runsIn(tmp));
    QVERIFY(!view.hasData());
    QVERIFY2(view.message().contains("/stationarity/r: expected a number"), qPrintable(view.message()));
  }

  void deviationLanguageOrders() {
    QTemporaryDir tmp;
    writeFixtures(runsIn(tmp));
    DeviationView view;
    view.reload(runsIn(tmp));
    QCOMPARE(view.heatmap()->rowOrder(), std::vector<int>({0, 1, 2, 3}));
    view.setOrder(DeviationView::Order::Clustered);
    QCOMPARE(view.heatmap()->rowOrder(), std::vector<int>({0, 2, 1, 3}));  // ar, ur, fr, de
    view.setOrder(DeviationView::Order::Group);
    QCOMPARE(view.heatmap()->rowOrder(), std::vector<int>({2, 0, 3, 1}));  // ur, ar | de, fr
    // The combo box drives the same switch.
    auto* orders = view.findChild<QComboBox*>("orderBox");
    orders->setCurrentIndex(orders->findData(int(DeviationView::Order::Project)));
    QCOMPARE(view.heatmap()->rowOrder(), std::vector<int>({0, 1, 2, 3}));

    // Without groups.json the by-group order falls back to project order and says why.
    fs::remove(runsIn(tmp) / "group" / "groups.json");
    view.reload(runsIn(tmp));
    view.setOrder(DeviationView::Order::Group);
    QCOMPARE(view.heatmap()->rowOrder(), std::vector<int>({0, 1, 2, 3}));
    QVERIFY2(view.note().contains("Run `dmoe group`"), qPrintable(view.note()));
  }

  void layerProfileDrawsEpsilonAndChosenLayers() {
    QTemporaryDir tmp;
    writeFixtures(runsIn(tmp));
    DeviationView view;
    view.resize(900, 700);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.reload(runsIn(tmp));
    LayerProfileWidget& profile = *view.profile();
    QVERIFY(profile.selection().has_value());
    QCOMPARE(*profile.cutoff(), 0.6);
    const QRectF plot = profile.plotRect();
    QVERIFY(plot.height() > 20);
    QCOMPARE(profile.yOf(0.6), plot.bottom() - 0.6 * plot.height());
    QCOMPARE(profile.yOf(1.0), plot.top());

    const QImage image = profile.grab().toImage();
    // The ε line crosses the plot at that height (left of the first bar, where nothing else is drawn).
    const int y = int(std::floor(profile.yOf(0.6)));
    const QPoint onLine(int(plot.left()) + 2, y);
    QCOMPARE(image.pixelColor(onLine).name(), LayerProfileWidget::cutoffColor().name());
    QVERIFY(image.pixelColor(onLine + QPoint(0, 8)) != LayerProfileWidget::cutoffColor());
    // Layer 2 (chosen) is highlighted, layer 1 (0.55 < ε) is not; layer 1's bar stops below the line.
    const QPoint inBar2 = profile.barRect(2).center().toPoint();
    const QPoint inBar1 = profile.barRect(1).center().toPoint();
    QCOMPARE(image.pixelColor(inBar2).name(), profile.palette().color(QPalette::Highlight).name());
    QCOMPARE(image.pixelColor(inBar1).name(), profile.palette().color(QPalette::Mid).name());
    QVERIFY(profile.barRect(1).top() > profile.yOf(0.6));
    QVERIFY(profile.barRect(2).top() < profile.yOf(0.6));
    QVERIFY(test::saveScreenshot(profile, "deviation-layer-profile.png"));
  }

  void similarityMatrixClusteredWithDendrogramAndClicks() {
    QTemporaryDir tmp;
    writeFixtures(runsIn(tmp));
    SimilarityView view;
    view.resize(800, 650);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.reload(runsIn(tmp));
    QVERIFY(view.hasData());
    HeatmapWidget& heatmap = *view.heatmap();
    QCOMPARE(heatmap.rowOrder(), std::vector<int>({0, 2, 1, 3}));
    QCOMPARE(heatmap.columnOrder(), std::vector<int>({0, 2, 1, 3}));
    // The scale spans the off-diagonal values: ar–ur (0.83) is the high end, ur–fr (0.1) the low end.
    QCOMPARE(heatmap.valueRange(), std::make_pair(0.1, 0.83));
    const QImage image = heatmap.grab().toImage();
    QCOMPARE(image.pixelColor(cellCorner(heatmap, 0, 2)).name(), viridis(1).name());
    QCOMPARE(image.pixelColor(cellCorner(heatmap, 2, 1)).name(), viridis(0).name());
    QCOMPARE(heatmap.toolTipText(0, 2), QString("ar–ur: 0.83"));
    // No diagnostics in this file: the diagonal is the matrix's 1 (the top of the scale), no reading, no scores.
    QVERIFY(!heatmap.cellOverride(0, 0));
    QCOMPARE(image.pixelColor(cellCorner(heatmap, 1, 1)).name(), viridis(1).name());
    QCOMPARE(heatmap.toolTipText(1, 1), QString("fr–fr: 1"));
    QVERIFY(view.readingText().isEmpty());
    QVERIFY(!view.readingWarns());
    QVERIFY(view.findChild<QLabel*>("similarityReading")->isHidden());
    QVERIFY(view.findChild<QWidget*>("fingerprintDiagnostics")->isHidden());
    QCOMPARE(view.titleText(), QString("Fingerprints: weights (each language's fine-tuning deviation Δθ, layers 1, 2)"));

    // Leaves beside their rows, top to bottom ar, ur, fr, de; the root at the left edge.
    DendrogramWidget& tree = *view.dendrogram();
    QVERIFY(tree.leafY(0) < tree.leafY(2));
    QVERIFY(tree.leafY(2) < tree.leafY(1));
    QVERIFY(tree.leafY(1) < tree.leafY(3));
    const QRectF arCell = heatmap.cellRect(0, 0);
    QCOMPARE(tree.leafY(0), double(tree.mapFrom(&view, heatmap.mapTo(&view, arCell.center().toPoint())).y()));
    QVERIFY(tree.heightX(0.7875) < tree.heightX(0.3));
    QVERIFY(tree.heightX(0.3) < tree.heightX(0));

    QTest::mouseClick(&heatmap, Qt::LeftButton, {}, cellCorner(heatmap, 0, 2));
    QCOMPARE(view.pairText(), QString("ar–ur: 0.83 · groups 0 and 0"));
    QTest::mouseClick(&heatmap, Qt::LeftButton, {}, cellCorner(heatmap, 1, 0));
    QCOMPARE(view.pairText(), QString("fr–ar: 0.20 · groups 1 and 0"));
    QVERIFY(test::saveScreenshot(view, "similarity-view.png"));

    // Layer 1 alone: its own values, the combined clustering kept.
    QCOMPARE(view.matrixBox()->count(), 3);
    QCOMPARE(view.matrixBox()->itemText(0), QString("Combined (layers 1, 2)"));
    view.matrixBox()->setCurrentIndex(1);
    QCOMPARE(heatmap.value(0, 2), 0.5);
    QCOMPARE(heatmap.rowOrder(), std::vector<int>({0, 2, 1, 3}));
    view.showPair(0, 2);
    QCOMPARE(view.pairText(), QString("ar–ur: 0.50 · groups 0 and 0"));
  }

  // Issue 33's diagnostics: the reliabilities on the combined matrix's
  // diagonal (own grey scale, the data and the scale unchanged), ru outlined;
  // the reading warns without shared structure and not with it; the family
  // scores per labelling; the per-layer reliability; the source in the title.
  void similarityFingerprintDiagnostics() {
    QTemporaryDir tmp;
    writeFingerprintFixture(runsIn(tmp), false);
    SimilarityView view;
    view.resize(1000, 860);
    view.show();
    QVERIFY(QTest::qWaitForWindowExposed(&view));
    view.reload(runsIn(tmp));
    QVERIFY(view.hasData());
    HeatmapWidget& heatmap = *view.heatmap();
    QCoreApplication::processEvents();
    const QImage image = heatmap.grab().toImage();
    for (int i = 0; i < 10; ++i) {
      const HeatmapWidget::CellOverride* diagonal = heatmap.cellOverride(i, i);
      QVERIFY2(diagonal, qPrintable(QString::number(i)));
      QCOMPARE(diagonal->value, kReliability[size_t(i)]);
      QCOMPARE(diagonal->outline.isValid(), i == kRu);
      QCOMPARE(heatmap.value(i, i), 1.0);  // the data keeps the matrix
    }
    QVERIFY(!heatmap.cellOverride(0, 1));
    // nl's cell in its grey (0.3 + 0.62 · 0.38 ≈ 0.536), ru's outlined red; off-diagonal cells on viridis as before.
    QCOMPARE(image.pixelColor(cellCorner(heatmap, 1, 1)).name(), SimilarityView::reliabilityColour(0.38).name());
    QCOMPARE(SimilarityView::reliabilityColour(0.38).name(), QColor::fromRgbF(0.5356f, 0.5356f, 0.5356f).name());
    QCOMPARE(SimilarityView::reliabilityColour(-0.2).name(), SimilarityView::reliabilityColour(0).name());
    QCOMPARE(image.pixelColor(heatmap.cellRect(kRu, kRu).topLeft().toPoint() + QPoint(1, 1)).name(), QString("#d62728"));
    const auto [low, high] = heatmap.valueRange();
    QVERIFY(high < 0.031 && low > -0.031);  // the off-diagonal cosines span the scale, not the reliabilities
    QCOMPARE(heatmap.toolTipText(0, 0), QString("de: split-half reliability: cos(half a, half b) = +0.41; own half nearest: yes"));
    QCOMPARE(heatmap.toolTipText(kRu, kRu), QString("ru: split-half reliability: cos(half a, half b) = +0.12; own half nearest: no"));
    QVERIFY(heatmap.toolTipText(0, 1).startsWith("de–nl: "));
    view.showPair(kRu, kRu);
    QCOMPARE(view.pairText(), QString("ru: split-half reliability: cos(half a, half b) = +0.12; own half nearest: no · "
                                      "no groups yet (run `dmoe group`)"));
    QVERIFY2(view.findChild<QLabel*>("similarityNote")->text().contains("outlined red: own half not nearest (1 language)"),
             qPrintable(view.findChild<QLabel*>("similarityNote")->text()));
    // The CSV export is the matrix, diagonal 1s, so that it reads back as one.
    QCOMPARE(view.table().rows.front()[1], QString("1"));

    // Reliable fingerprints, no shared structure: the warning.
    QVERIFY2(view.readingText().contains("groups built on them will be arbitrary"), qPrintable(view.readingText()));
    QVERIFY(view.readingText().contains("Fingerprints are reliable"));
    QVERIFY(view.readingWarns());
    auto* reading = view.findChild<QLabel*>("similarityReading");
    QVERIFY(reading->isVisible());
    QVERIFY(reading->text().startsWith("⚠ "));
    QVERIFY(reading->styleSheet().contains("rgba(255, 170, 0"));
    QCOMPARE(view.titleText(), QString("Fingerprints: weights (each language's fine-tuning deviation Δθ, layers 1, 2, 3)"));

    // One row per labelling.
    QTableWidget& families = *view.familyTable();
    QCOMPARE(families.rowCount(), 2);
    QCOMPARE(families.item(0, 0)->text(), QString("family"));
    QCOMPARE(families.item(0, 0)->toolTip(), QString("Germanic: de, nl, sv, da · Japonic: ja · Romance: es, it, pt · Slavic: ru, cs"));
    QCOMPARE(families.item(0, 1)->text(), QString("-0.001"));
    QCOMPARE(families.item(0, 1)->toolTip(), QString("within +0.004, across +0.005"));
    QCOMPARE(families.item(0, 2)->text(), QString("0.580"));
    QCOMPARE(families.item(0, 3)->text(), QString("-0.05"));
    QCOMPARE(families.item(0, 4)->text(), QString("2 of 9 (chance 2.2)"));
    QCOMPARE(families.item(1, 0)->text(), QString("script"));
    QCOMPARE(families.item(1, 4)->text(), QString("6 of 8 (chance 6.2)"));
    QVERIFY(families.isVisible());

    // The per-layer reliability, x = the layer.
    QCOMPARE(view.layerChart()->lines().size(), 1);
    QCOMPARE(view.layerChart()->lines().front().points,
             (QVector<QPointF>{QPointF(1, 0.39), QPointF(2, 0.41), QPointF(3, 0.44)}));
    QVERIFY(test::saveScreenshot(view, "similarity-diagnostics.png"));

    // One layer alone: its own matrix with the trivial diagonal (the reliability is over the layer set).
    view.setMatrixChoice(1);
    QVERIFY(!heatmap.cellOverride(0, 0));
    QVERIFY(view.findChild<QLabel*>("similarityNote")->text().contains("split-half reliability on the combined matrix's diagonal"));
    view.setMatrixChoice(0);
    QVERIFY(heatmap.cellOverride(0, 0));

    // Shared structure (the halves' pairs repeat, the families separate): no warning.
    writeFingerprintFixture(runsIn(tmp), true, "activations");
    view.reload(runsIn(tmp));
    QVERIFY2(!view.readingText().contains("arbitrary"), qPrintable(view.readingText()));
    QVERIFY(view.readingText().contains("repeat between halves"));
    QVERIFY(!view.readingWarns());
    QVERIFY(!reading->text().startsWith("⚠"));
    QVERIFY(!reading->styleSheet().contains("rgba(255, 170, 0"));
    QCOMPARE(families.item(0, 1)->text(), QString("+0.210"));
    QCOMPARE(families.item(0, 2)->text(), QString("0.001"));
    QCOMPARE(families.item(0, 4)->text(), QString("8 of 9 (chance 2.2)"));
    QCOMPARE(view.titleText(), QString("Fingerprints: activations (each language's mean FFN input, layers 1, 2, 3)"));
    QCOMPARE(heatmap.cellOverride(2, 2)->value, 0.44);
  }

  void missingAndBrokenArtifactsSayWhatToRun() {
    QTemporaryDir tmp;
    DeviationView deviation;
    SimilarityView similarity;
    QVERIFY(deviation.message().contains("Open a project"));
    deviation.reload(runsIn(tmp));
    similarity.reload(runsIn(tmp));
    QVERIFY(!deviation.hasData());
    QCOMPARE(deviation.message(), QString("Run `dmoe deviation` (Stages menu) to see the deviation heatmap."));
    QCOMPARE(deviation.findChild<QStackedWidget*>()->currentWidget()->objectName(), QString("deviationMessage"));
    QCOMPARE(similarity.message(),
             QString("Run `dmoe similarity` (Stages menu) to see the language similarity matrix."));
    QCOMPARE(similarity.findChild<QStackedWidget*>()->currentWidget()->objectName(), QString("similarityMessage"));

    // Deviation without a selection: the heatmap, and the profile says what to run.
    writeFixtures(runsIn(tmp));
    fs::remove(runsIn(tmp) / "select-layers" / "selection.json");
    deviation.reload(runsIn(tmp));
    QVERIFY(deviation.hasData());
    QVERIFY(!deviation.profile()->selection());

    // A malformed file: the error names the file and the JSON path.
    const fs::path broken = runsIn(tmp) / "deviation" / "deviation.json";
    test::writeText(broken, R"({"languages": ["ar"], "layers": 2, "modules": {"ffn": [[1]]}})");
    deviation.reload(runsIn(tmp));
    QVERIFY(!deviation.hasData());
    QVERIFY2(deviation.message().contains(QString::fromStdString(broken.string()) + ": /modules/ffn/0"),
             qPrintable(deviation.message()));
    QVERIFY(deviation.message().contains("Run `dmoe deviation` again"));
    try {
      SimilarityResult::read(runsIn(tmp) / "similarity" / "nothing.json");
      QFAIL("no error");
    } catch (const InputError& e) {
      QVERIFY(QString(e.what()).contains("nothing.json is missing"));
    }
    test::writeText(runsIn(tmp) / "similarity" / "bad.json",
                    R"({"languages": ["a", "b"], "layers": [], "matrix": [[1, 0], [0, 1]], "per_layer": [],
                        "cluster_order": [0, 0], "dendrogram": []})");
    try {
      SimilarityResult::read(runsIn(tmp) / "similarity" / "bad.json");
      QFAIL("no error");
    } catch (const InputError& e) {
      QVERIFY2(QString(e.what()).contains("bad.json: /cluster_order: expected a permutation"), e.what());
    }
  }

  void exportCsvSvgPng() {
    QTemporaryDir tmp;
    writeFixtures(runsIn(tmp));
    DeviationView deviation;
    deviation.resize(700, 500);
    deviation.reload(runsIn(tmp));
    SimilarityView similarity;
    similarity.resize(700, 500);
    similarity.reload(runsIn(tmp));
    const QString dir = tmp.path() + "/export";
    QVERIFY(QDir().mkpath(dir));

    writeCsv(dir + "/deviation.csv", deviation.table());
    QCOMPARE(QString::fromStdString(test::readText((dir + "/deviation.csv").toStdString())),
             QString("language \\ layer,0,1,2\nar,1,2,3\nfr,0.5,1,9\nur,2,4,6\nde,0,5,1\n"));
    deviation.setOrder(DeviationView::Order::Clustered);
    QCOMPARE(toCsv(deviation.table()), QString("language \\ layer,0,1,2\nar,1,2,3\nur,2,4,6\nfr,0.5,1,9\nde,0,5,1\n"));
    // The similarity matrix in the clustered order it is shown in.
    QCOMPARE(toCsv(similarity.table()), QString("language,ar,ur,fr,de\n"
                                                "ar,1,0.83,0.2,0.3\n"
                                                "ur,0.83,1,0.1,0.25\n"
                                                "fr,0.2,0.1,1,0.7\n"
                                                "de,0.3,0.25,0.7,1\n"));
    QCOMPARE(toCsv(CsvTable{QStringList{"a,b", "say \"hi\""}, {QStringList{"x", "1"}}}), QString("\"a,b\",\"say \"\"hi\"\"\"\nx,1\n"));

    writeSvg(*similarity.content(), dir + "/similarity.svg", "similarity");
    const QString svg = QString::fromStdString(test::readText((dir + "/similarity.svg").toStdString()));
    QVERIFY(svg.contains("<svg"));
    QVERIFY(svg.contains("<title>similarity</title>"));
    QVERIFY(svg.contains(">ur<"));  // labels are text, not pixels
    writePng(*deviation.content(), dir + "/deviation.png");
    const QImage png(dir + "/deviation.png");
    QVERIFY(!png.isNull());
    QCOMPARE(png.size(), deviation.content()->size() * deviation.content()->devicePixelRatio());
    QVERIFY(deviation.findChild<QWidget*>("exportButton"));
    QVERIFY(similarity.findChild<QWidget*>("exportButton"));
  }

  // The LayerMoE tab on hand-written files: old ar, fr, new ur; S_i = (0.5,
  // 0.25, 0.25), so w = (0.2, 0.4, 0.4). With at least 2 experts a layer,
  // δ ≤ 5 gives (2, 2, 2) = 3 new experts and δ ∈ (5, 7.5] gives (2, 3, 3) = 5.
  // Counts with base 1000, P_ffn 100, D 8, top-2: total 1000 + 116 + 2·224 =
  // 1564, active 1000 + 116 + 2·124 = 1364.
  void layerMoeViewReallocatesLive() {
    QTemporaryDir tmp;
    const fs::path file = fs::path(tmp.path().toStdString()) / "udhr-18.dmoe.json";
    fs::copy_file(test::sourceDir() / "projects" / "udhr-18.dmoe.json", file);
    const fs::path runs = Project::load(file).runsDir();
    writeFixtures(runs);
    ProjectDocument document;
    LayerMoeView view(document);
    view.reload(runs);
    QVERIFY(view.message().contains("Open a project"));
    document.load(QString::fromStdString(file.string()));
    view.reload(runs);
    QVERIFY(!view.hasData());
    QVERIFY2(view.message().contains("dmoe layermoe similarity"), qPrintable(view.message()));

    const Json s = {0.5, 0.25, 0.25};
    Json pairs = Json::array();
    for (double v : {0.5, 0.25, 0.25}) pairs.push_back({{1.0, 0.9, v}, {0.9, 1.0, v}, {v, v, 1.0}});
    test::writeText(runs / "layermoe/similarity/layer_similarity.json",
                    Json{{"languages", {"ar", "fr", "ur"}}, {"new", {false, false, true}}, {"tokens", {10, 10, 10}},
                         {"layers", 3}, {"new_new", {nullptr, nullptr, nullptr}}, {"new_old", s}, {"similarity", s},
                         {"pairs", pairs}}
                        .dump());
    view.reload(runs);
    QVERIFY(view.hasData());
    view.resize(800, 600);
    view.show();
    QCOMPARE(view.similarityChart()->lines().size(), 2);  // new–old and S_i; no new–new with one new language
    view.setMinExperts(2);
    view.setBudget(5);
    QCOMPARE(view.allocation(), (std::vector<std::int64_t>{2, 3, 3}));
    QVERIFY2(view.summary().startsWith("5 new experts (the budget), δ = "), qPrintable(view.summary()));
    QVERIFY2(view.summary().endsWith("1.6 k parameters, 1.4 k active per token"), qPrintable(view.summary()));
    view.setBudget(4);
    QCOMPARE(view.allocation(), (std::vector<std::int64_t>{2, 2, 2}));
    QVERIFY2(view.summary().startsWith("3 new experts: no δ gives 4 (the next step is 5)"), qPrintable(view.summary()));
    view.setBudget(2);  // below 1 new expert per layer
    QVERIFY(view.allocation().empty());
    QVERIFY2(view.summary().contains("below the smallest allocation, 3"), qPrintable(view.summary()));
    // The ablation: 5 over 3 layers = 1 each, the remaining 2 to layers ⌊0.5·3/2⌋ = 0 and ⌊1.5·3/2⌋ = 2.
    view.setBudget(5);
    view.setAllocation("uniform");
    QCOMPARE(view.allocation(), (std::vector<std::int64_t>{3, 2, 3}));
    const CsvTable table = view.table();
    QCOMPARE(table.header, QStringList({"layer", "S_new_new", "S_new_old", "S_i", "N_i"}));
    QCOMPARE(table.rows.at(1), QStringList({"1", "", "0.25", "0.25", "2"}));
    QVERIFY(test::saveScreenshot(view, "layermoe-view.png"));

    QVERIFY(view.apply());
    QCOMPARE(document.project().layermoe.budget, std::int64_t{5});
    QCOMPARE(document.project().layermoe.allocation, std::string("uniform"));
    QCOMPARE(document.project().layermoe.min_experts, std::int64_t{2});

    // A lifelong second round: the base is already a LayerMoE model (3 layers,
    // D = 8, F = 12, experts 3, 1, 2; 1000 parameters in its safetensors).
    // P_ffn = 3·8·12 = 288; its active parameters 1000 − (3 − 2)·288 = 712.
    // Adding (1, 2, 2) new experts (N = 2, 3, 3), top-2:
    //   total  = 1000 + (288 + 8) + (2·288 + 8·3) + (2·288 + 8·2) = 2488
    //   active = 712 + 8 + (288 + 24) + 16 = 1048
    const fs::path base = fs::path(tmp.path().toStdString()) / "base";
    Json config = {{"model_type", "llama"}, {"vocab_size", 11}, {"hidden_size", 8}, {"num_hidden_layers", 3},
                   {"num_attention_heads", 2}, {"intermediate_size", 12}, {"max_position_embeddings", 16}};
    config["dmoe"] = {{"moe_layers", {0, 2}}, {"num_experts", 3}, {"num_experts_per_tok", 2},
                      {"experts_per_layer", {3, 2}}, {"router_init", "xavier_normal"}, {"original_expert", 0},
                      {"generations", {{"ar"}, {"fr"}}}, {"expert_generations", {{0, 1, 1}, {0, 1}}}};
    test::writeText(base / "config.json", config.dump());
    const std::string zeros(1000 * 4, '\0');
    safetensors::write(base / "model.safetensors", {{"weights", safetensors::DType::F32, {1000}, zeros}});
    document.modify([&](Project& p) {
      p.base_model.kind = "checkpoint";
      p.base_model.path = base.string();
      p.layermoe.top_k = 2;
    });
    view.reload(runs);
    view.setAllocation("layer-wise");
    view.setMinExperts(2);
    view.setBudget(5);
    QCOMPARE(view.allocation(), (std::vector<std::int64_t>{2, 3, 3}));
    QVERIFY2(view.summary().contains("; 2.5 k parameters, 1.0 k active per token (the base: 1.0 k, 712); the new languages "
                                     "become generation 2 (the base's generation 0: ar; generation 1: fr)"),
             qPrintable(view.summary()));
    QVERIFY(test::saveScreenshot(view, "layermoe-view-lifelong.png"));
    fs::remove(base / "model.safetensors");
    view.reload(runs);
    QVERIFY2(view.summary().contains("no parameter counts: " + QString::fromStdString(base.string()) + ": no *.safetensors"),
             qPrintable(view.summary()));
  }

  // The Routing tab on hand-set routing files: a LayerMoE model with two MoE
  // layers of 3 and 2 experts; the heatmap shows the chosen layer's matrix
  // and metric as the file has it; the summary gives expert 0's share, old
  // languages (0.8, 0.6 → 70 %) against the new one (10 %). With the DMoE's
  // train.json beside it, the model selector offers both and opens on train;
  // a broken file says so while the selector still reaches the other.
  void routingViewShowsTheChosenLayer() {
    QTemporaryDir tmp;
    const fs::path runs = fs::path(tmp.path().toStdString()) / "runs";
    RoutingView view;
    QVERIFY(view.message().contains("Open a project"));
    view.reload(runs);
    QVERIFY2(view.message().contains("dmoe routing"), qPrintable(view.message()));
    const Json top1 = {{{0.8, 0.1, 0.1}, {0.6, 0.2, 0.2}, {0.1, 0.5, 0.4}}, {{0.9, 0.1}, {0.7, 0.3}, {0.2, 0.8}}};
    const Json probability = {{{0.5, 0.25, 0.25}, {0.4, 0.3, 0.3}, {0.2, 0.4, 0.4}}, {{0.6, 0.4}, {0.5, 0.5}, {0.3, 0.7}}};
    test::writeText(runs / "routing/layermoe-layer-wise.json",
                    Json{{"model", "layermoe/layer-wise/model"}, {"layers", {1, 3}}, {"experts", {3, 2}},
                         {"languages", {"fr", "de", "be"}}, {"labels", {"French", "German", "Belarusian"}},
                         {"new", {false, false, true}}, {"tokens", {100, 100, 50}}, {"top1", top1},
                         {"probability", probability}, {"original_expert", true},
                         {"classifier_original", {nullptr, {0.5, 0.3, 0.0}}}}
                        .dump());
    view.reload(runs);
    QVERIFY(view.hasData());
    view.resize(800, 500);
    view.show();
    QCOMPARE(view.heatmap()->rows(), 3);
    QCOMPARE(view.heatmap()->columns(), 3);
    QCOMPARE(view.heatmap()->value(2, 1), 0.5);
    QVERIFY2(view.summary().contains("old languages 70 %, new 10 %"), qPrintable(view.summary()));
    QVERIFY2(!view.summary().contains("classifier"), qPrintable(view.summary()));  // none on layer 1
    view.setLayer(1);
    QCOMPARE(view.heatmap()->columns(), 2);
    QVERIFY2(view.summary().startsWith("Layer 3 · 2 experts · 83 held-out tokens"), qPrintable(view.summary()));
    QVERIFY2(view.summary().contains("the classifier sends to expert 0 alone: old languages 40 %, new 0 %"),
             qPrintable(view.summary()));
    view.setMetric(1);
    QCOMPARE(view.heatmap()->value(0, 1), 0.4);
    const CsvTable table = view.table();
    QCOMPARE(table.rows.size(), qsizetype(3));
    QVERIFY(test::saveScreenshot(view, "routing-view.png"));

    test::writeText(runs / "routing/train.json", "{\"model\": 3}");
    view.reload(runs);  // the chosen model is kept across reloads
    QCOMPARE(view.models(), (QStringList{"layermoe-layer-wise", "train"}));
    QVERIFY(view.hasData());
    QCOMPARE(view.heatmap()->columns(), 2);  // and so is the chosen layer (layer 3)

    RoutingView fresh;  // a fresh view opens on the DMoE's train.json, here broken
    fresh.reload(runs);
    QVERIFY(!fresh.hasData());
    QVERIFY2(fresh.message().contains("/model"), qPrintable(fresh.message()));
    fresh.setModel(0);
    QVERIFY(fresh.hasData());
    QCOMPARE(fresh.heatmap()->rows(), 3);
  }

  void mainWindowHasAnalysisTabs() {
    QTemporaryDir tmp;
    const fs::path file = fs::path(tmp.path().toStdString()) / "udhr-18.dmoe.json";
    fs::copy_file(test::sourceDir() / "projects" / "udhr-18.dmoe.json", file);
    writeFixtures(Project::load(file).runsDir());
    MainWindow window;
    auto* tabs = window.findChild<QTabWidget*>("centralTabs");
    QVERIFY(tabs);
    QCOMPARE(tabs->count(), 8);
    QCOMPARE(tabs->tabText(5), QString("LayerMoE"));
    QCOMPARE(tabs->tabText(1), QString("Deviation"));
    QCOMPARE(tabs->tabText(2), QString("Similarity"));
    QCOMPARE(tabs->tabText(3), QString("Groups"));
    QCOMPARE(tabs->tabText(4), QString("Layers (ε)"));
    auto* deviation = window.findChild<DeviationView*>();
    auto* similarity = window.findChild<SimilarityView*>();
    QVERIFY(!deviation->hasData());
    QVERIFY(deviation->message().contains("Open a project"));
    QVERIFY(window.openProject(QString::fromStdString(file.string())));
    QVERIFY(deviation->hasData());
    QVERIFY(similarity->hasData());
  }
};

QTEST_MAIN(TestAnalysisViews)
#include "test_analysis_views.moc"
