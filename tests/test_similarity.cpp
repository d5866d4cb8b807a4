// Language similarity (SPEC §1.2) from delta files written here: cosines
// checked by hand, streaming blocks against the in-memory reference, the
// sketch against its stated error, input errors naming file and layer, the
// JSON/CSV forms; and average-linkage clustering (clustering.h) by hand.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "checkpoint/safetensors.h"
#include "methods/clustering.h"
#include "methods/similarity.h"
#include "test_support.h"
#include "util/error.h"

#include <QTemporaryDir>
#include <QtTest>
#include <cmath>
#include <map>

using namespace dmoe;
namespace fs = std::filesystem;

namespace {

using LayerValues = std::map<std::int64_t, std::vector<float>>;

// One language's delta file: a "layers.<l>" F32 tensor per entry.
fs::path writeDeltas(const fs::path& dir, const std::string& language, const LayerValues& layers) {
  std::vector<safetensors::TensorData> tensors;
  for (const auto& [layer, values] : layers) {
    tensors.push_back({deltaTensorName(layer), safetensors::DType::F32, {static_cast<std::int64_t>(values.size())},
                       std::string_view(reinterpret_cast<const char*>(values.data()), values.size() * 4)});
  }
  const fs::path file = dir / (language + ".safetensors");
  safetensors::write(file, tensors);
  return file;
}

DeltaFiles writeAll(const fs::path& dir, const std::vector<std::pair<std::string, LayerValues>>& languages) {
  DeltaFiles files;
  for (const auto& [language, layers] : languages) {
    files.languages.push_back(language);
    files.files.push_back(writeDeltas(dir, language, layers));
  }
  return files;
}

std::vector<float> values(const torch::Tensor& t) {
  const torch::Tensor c = t.to(torch::kFloat32).contiguous();
  return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
}

double maxDifference(const SimilarityMatrix& a, const SimilarityMatrix& b) {
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = 0; j < a.size(); ++j) worst = std::max(worst, std::abs(a[i][j] - b[i][j]));
  return worst;
}


SimilarityOptions layersOptions(std::vector<std::int64_t> layers) {
  SimilarityOptions o;
  o.layers = std::move(layers);
  return o;
}

// Random languages sharing a common direction (cosines around 0.5), layers 0 and 2 of `length`.
DeltaFiles correlatedLanguages(const fs::path& dir, int languages, std::int64_t length, torch::Tensor& rows,
                               double offset = 0) {
  torch::manual_seed(7);
  const torch::Tensor shared = torch::randn({1, 2 * length});
  rows = (shared + torch::randn({languages, 2 * length}) + offset).to(torch::kFloat32);
  std::vector<std::pair<std::string, LayerValues>> files;
  for (int i = 0; i < languages; ++i)
    files.push_back({"l" + std::to_string(i),
                     {{0, values(rows[i].narrow(0, 0, length))}, {2, values(rows[i].narrow(0, length, length))}}});
  return writeAll(dir, files);
}

}  // namespace

class TestSimilarity : public QObject {
  Q_OBJECT
 private slots:
  void cosinesCheckedByHand() {
    QTemporaryDir dir;
    const double r2 = 1 / std::sqrt(2.0);
    // Layer 0: en ∥ x, fr at 45° to it, de orthogonal. Layer 1: en = fr, de orthogonal.
    // Layer 7 is in the files but not asked for.
    DeltaFiles files = writeAll(dir.path().toStdString(),
                                {{"en", {{0, {1, 0, 0}}, {1, {0, 0, 1}}, {7, {5, 5, 5}}}},
                                 {"fr", {{0, {1, 1, 0}}, {1, {0, 0, 1}}, {7, {-5, 5, 5}}}},
                                 {"de", {{0, {0, 0, 2}}, {1, {0, 3, 0}}, {7, {5, 5, -5}}}}});
    SimilarityResult r = computeSimilarity(files, layersOptions({0, 1}));
    QCOMPARE(r.languages, (std::vector<std::string>{"en", "fr", "de"}));
    QCOMPARE(r.layers, (std::vector<std::int64_t>{0, 1}));
    QVERIFY(!r.sketch);
    QCOMPARE(r.perLayer.size(), size_t{2});
    QVERIFY(maxDifference(r.perLayer[0], {{1, r2, 0}, {r2, 1, 0}, {0, 0, 1}}) < 1e-15);
    QVERIFY(maxDifference(r.perLayer[1], {{1, 1, 0}, {1, 1, 0}, {0, 0, 1}}) < 1e-15);
    // Concatenated: en = (1,0,0,0,0,1), fr = (1,1,0,0,0,1): 2 / (√2·√3).
    const double c = 2 / std::sqrt(6.0);
    QVERIFY(maxDifference(r.combined, {{1, c, 0}, {c, 1, 0}, {0, 0, 1}}) < 1e-15);
    // A one-layer set: the combined matrix is that layer's.
    SimilarityResult one = computeSimilarity(files, layersOptions({1}));
    QVERIFY(maxDifference(one.combined, r.perLayer[1]) < 1e-15);

    QCOMPARE(one.toCsv(), std::string("language,en,fr,de\nen,1,1,0\nfr,1,1,0\nde,0,0,1\n"));
    const DistanceMatrix d = similarityToDistance(r.perLayer[0]);
    QCOMPARE(d[0][0], 0.0);
    QCOMPARE(d[0][1], 1 - r.perLayer[0][0][1]);
    QCOMPARE(d[0][2], 1.0);
  }

  void jsonRoundTrips() {
    QTemporaryDir dir;
    DeltaFiles files = writeAll(dir.path().toStdString(), {{"en", {{3, {1, 2}}, {4, {1, 0}}}},
                                                           {"fr", {{3, {2, 1}}, {4, {1, 1}}}}});
    SimilarityResult r = computeSimilarity(files, layersOptions({4, 3}));
    const Json json = r.toJson();
    QCOMPARE(json.at("method").get<std::string>(), std::string("exact"));
    QCOMPARE(json.at("layers"), Json::parse("[4, 3]"));
    QCOMPARE(json.at("per_layer").at(1).at("layer").get<int>(), 3);
    QCOMPARE(json.at("per_layer").at(1).at("matrix").at(0).at(1).get<double>(), 0.8);  // (2+2)/5
    QVERIFY(!json.contains("sketch"));
    SimilarityResult back = SimilarityResult::fromJson(Json::parse(json.dump()), "similarity.json");
    QCOMPARE(back.languages, r.languages);
    QCOMPARE(back.layers, r.layers);
    QCOMPARE(back.combined, r.combined);
    QCOMPARE(back.perLayer, r.perLayer);
    Json broken = json;
    broken["per_layer"][0]["matrix"][1] = Json::array({1});
    const std::string message = test::inputErrorOf([&] { SimilarityResult::fromJson(broken, "similarity.json"); });
    QVERIFY2(message.find("similarity.json: /per_layer/0/matrix/1") != std::string::npos, message.c_str());
  }

  void streamingEqualsInMemory() {
    QTemporaryDir dir;
    torch::manual_seed(1);
    // 7 languages in blocks of 3 (3 + 3 + 1); layers of 13 and 13 values in blocks of 5.
    const torch::Tensor rows = torch::randn({7, 26});
    std::vector<std::pair<std::string, LayerValues>> languages;
    for (int i = 0; i < 7; ++i)
      languages.push_back({"l" + std::to_string(i), {{0, values(rows[i].narrow(0, 0, 13))},
                                                     {1, {9, 9}},
                                                     {2, values(rows[i].narrow(0, 13, 13))}}});
    DeltaFiles files = writeAll(dir.path().toStdString(), languages);
    // The reference reads the same float32 values.
    const torch::Tensor stored = rows.to(torch::kFloat32);
    SimilarityOptions o = layersOptions({0, 2});
    o.languageBlock = 3;
    o.blockValues = 5;
    std::vector<std::pair<std::int64_t, std::int64_t>> calls;
    SimilarityResult r = computeSimilarity(files, o, [&](std::int64_t done, std::int64_t total) {
      calls.emplace_back(done, total);
    });
    QVERIFY(maxDifference(r.combined, cosineOfRows(stored)) < 1e-12);
    QVERIFY(maxDifference(r.perLayer[0], cosineOfRows(stored.narrow(1, 0, 13))) < 1e-12);
    QVERIFY(maxDifference(r.perLayer[1], cosineOfRows(stored.narrow(1, 13, 13))) < 1e-12);
    // 2 layers × 3 parameter blocks × 6 pairs of language blocks.
    QVERIFY(!calls.empty());
    QCOMPARE(calls.back(), (std::pair<std::int64_t, std::int64_t>{36, 36}));
    // Exactly symmetric with a unit diagonal.
    for (int i = 0; i < 7; ++i) {
      QCOMPARE(r.combined[i][i], 1.0);
      for (int j = 0; j < 7; ++j) QCOMPARE(r.combined[i][j], r.combined[j][i]);
    }
    // One block of everything gives the same answer.
    o.languageBlock = 64;
    o.blockValues = 1 << 18;
    QVERIFY(maxDifference(computeSimilarity(files, o).combined, r.combined) < 1e-12);
  }

  void sketchStaysWithinItsStatedError() {
    QTemporaryDir dir;
    torch::Tensor rows;
    DeltaFiles files = correlatedLanguages(dir.path().toStdString(), 6, 700, rows);
    SimilarityOptions o = layersOptions({0, 2});
    const SimilarityResult exact = computeSimilarity(files, o);
    QVERIFY(maxDifference(exact.combined, cosineOfRows(rows)) < 1e-12);

    o.sketchDim = 4096;
    o.languageBlock = 4;
    o.blockValues = 64;  // 64 values per step
    const SimilarityResult sketch = computeSimilarity(files, o);
    QVERIFY(sketch.sketch);
    const SketchCheck& check = *sketch.sketch;
    QCOMPARE(check.dim, std::int64_t{4096});
    QCOMPARE(check.pairs, std::int64_t{15});  // all pairs of 6: fewer than checkPairs
    // The check measures what it says: all pairs checked, so it is the largest difference from exact.
    QVERIFY(std::abs(check.maxAbsError - maxDifference(sketch.combined, exact.combined)) < 1e-12);
    QVERIFY(check.maxAbsError > 0);  // a sketch, not the exact answer
    QVERIFY(check.meanAbsError <= check.maxAbsError);
    // Cosines near 0.5: (1 − 0.25)/64 ≈ 0.012 ≤ expected ≤ 1/64.
    QVERIFY2(check.expectedStdError > 0.009 && check.expectedStdError <= 1 / 64.0, std::to_string(check.expectedStdError).c_str());
    QVERIFY2(check.maxAbsError <= 5 * check.expectedStdError, std::to_string(check.maxAbsError).c_str());
    for (size_t l = 0; l < 2; ++l)
      QVERIFY(maxDifference(sketch.perLayer[l], exact.perLayer[l]) <= 5 * check.expectedStdError);

    // Seeded: the same seed gives the same sketch, whatever the block sizes; another seed differs.
    o.languageBlock = 64;
    o.blockValues = 7;
    const SimilarityResult again = computeSimilarity(files, o);
    QVERIFY(maxDifference(again.combined, sketch.combined) < 1e-12);
    QCOMPARE(again.sketch->maxAbsError, check.maxAbsError);
    o.sketchSeed = 99;
    QVERIFY(maxDifference(computeSimilarity(files, o).combined, sketch.combined) > 1e-6);

    // A sample of pairs: seeded, and only that many.
    o.checkPairs = 4;
    const SimilarityResult sampled = computeSimilarity(files, o);
    QCOMPARE(sampled.sketch->pairs, std::int64_t{4});
    QVERIFY(sampled.sketch->maxAbsError <= maxDifference(sampled.combined, exact.combined) + 1e-12);
    QCOMPARE(computeSimilarity(files, o).sketch->maxAbsError, sampled.sketch->maxAbsError);
    const Json json = sampled.toJson();
    QCOMPARE(json.at("method").get<std::string>(), std::string("sketch"));
    QCOMPARE(json.at("sketch").at("pairs").get<int>(), 4);
    QCOMPARE(json.at("sketch").at("seed").get<std::uint64_t>(), std::uint64_t{99});
  }

  // Many more values than buckets (2 × 20,000 into k = 64), with a common
  // offset of 0.5 (cosines (1 + 0.25)/(2 + 0.25) = 0.56 in expectation): each
  // bucket sums about 600 values, so the ±1 signs must cancel the offset (bucket
  // sums without them would make every cosine near 1); the mean error over the
  // 15 pairs lands between 0.2 and 2 expected standard errors (a normal error's
  // mean |error| is 0.8 of its standard deviation).
  void sketchErrorFollowsTheoryOnLongVectors() {
    QTemporaryDir dir;
    torch::Tensor rows;
    DeltaFiles files = correlatedLanguages(dir.path().toStdString(), 6, 20000, rows, 0.5);
    SimilarityOptions o = layersOptions({0, 2});
    const SimilarityResult exact = computeSimilarity(files, o);
    QVERIFY(exact.combined[0][1] > 0.5 && exact.combined[0][1] < 0.62);
    o.sketchDim = 64;
    const SketchCheck check = *computeSimilarity(files, o).sketch;
    const QByteArray what = QByteArray::number(check.meanAbsError) + " vs expected " + QByteArray::number(check.expectedStdError);
    QVERIFY2(check.meanAbsError >= 0.2 * check.expectedStdError, what);
    QVERIFY2(check.meanAbsError <= 2 * check.expectedStdError, what);
  }

  // By hand, two values per language. en: 1.5 at (layer 0, index 3), 1 at
  // (layer 2, index 7); fr = 2·en: the same buckets and signs, so the sketched
  // cosine is exactly 1. de: 1 at (layer 0, 7) and (layer 2, 3), no position
  // in common with en: exact cosine 0, and the sketch's too unless two of the
  // four positions share a bucket (chance about 6/k; seeded, so the outcome is
  // fixed). A hash without the layer would put (0, 3) with (2, 3) and (2, 7)
  // with (0, 7), same signs: cosine 2.5/(1.80·1.41) = 0.98.
  void countSketchBucketsByHand() {
    QTemporaryDir dir;
    auto at = [](int index, float value) {
      std::vector<float> v(50, 0.0f);
      v[size_t(index)] = value;
      return v;
    };
    DeltaFiles files = writeAll(dir.path().toStdString(), {{"en", {{0, at(3, 1.5f)}, {2, at(7, 1.0f)}}},
                                                           {"fr", {{0, at(3, 3.0f)}, {2, at(7, 2.0f)}}},
                                                           {"de", {{0, at(7, 1.0f)}, {2, at(3, 1.0f)}}}});
    SimilarityOptions o = layersOptions({0, 2});
    o.sketchDim = 4096;
    const SimilarityResult r = computeSimilarity(files, o);
    QCOMPARE(r.combined[0][1], 1.0);
    QCOMPARE(r.combined[0][2], 0.0);
    QCOMPARE(r.combined[1][2], 0.0);
    QCOMPARE(r.perLayer[0][0][2], 0.0);
    QCOMPARE(r.sketch->maxAbsError, 0.0);  // every pair checked: the sketch is exact here
  }

  void badInputNamesFileAndLayer() {
    QTemporaryDir dir;
    const fs::path root = dir.path().toStdString();
    auto errorFor = [&](const std::vector<std::pair<std::string, LayerValues>>& languages,
                        std::vector<std::int64_t> layers = {0, 1}) {
      return test::inputErrorOf([&] { computeSimilarity(writeAll(root, languages), layersOptions(layers)); });
    };
    auto contains = [](const std::string& text, std::initializer_list<const char*> parts) {
      for (const char* part : parts)
        if (text.find(part) == std::string::npos) return false;
      return true;
    };
    std::string e = errorFor({{"en", {{0, {1}}, {1, {1}}}}, {"fr", {{0, {1}}}}});
    QVERIFY2(contains(e, {"fr.safetensors", "'layers.1'", "missing"}), e.c_str());
    e = errorFor({{"en", {{0, {1, 2}}, {1, {1}}}}, {"fr", {{0, {1, 2, 3}}, {1, {1}}}}});
    QVERIFY2(contains(e, {"fr.safetensors", "'layers.0'", "3 values", "en.safetensors", "has 2"}), e.c_str());
    e = errorFor({{"en", {{0, {1, 2}}, {1, {1}}}}, {"fr", {{0, {1, 2}}, {1, {0}}}}});
    QVERIFY2(contains(e, {"fr.safetensors", "'layers.1'", "language 'fr'", "layer 1", "all zeros"}), e.c_str());
    e = errorFor({{"en", {{0, {1, NAN}}, {1, {1}}}}, {"fr", {{0, {1, 2}}, {1, {1}}}}});
    QVERIFY2(contains(e, {"en.safetensors", "'layers.0'", "NaN"}), e.c_str());

    const double twoValues[] = {1, 2};
    safetensors::write(root / "de.safetensors",
                       {{"layers.0", safetensors::DType::F64, {2}, {reinterpret_cast<const char*>(twoValues), 16}}});
    e = test::inputErrorOf([&] { computeSimilarity({{"de"}, {root / "de.safetensors"}}, layersOptions({0})); });
    QVERIFY2(contains(e, {"de.safetensors", "'layers.0'", "F64", "expected F32"}), e.c_str());
    safetensors::write(root / "de.safetensors",
                       {{"layers.0", safetensors::DType::F32, {1, 2}, {reinterpret_cast<const char*>(twoValues), 8}}});
    e = test::inputErrorOf([&] { computeSimilarity({{"de"}, {root / "de.safetensors"}}, layersOptions({0})); });
    QVERIFY2(contains(e, {"de.safetensors", "'layers.0'", "2 dimensions"}), e.c_str());

    e = test::inputErrorOf([&] { computeSimilarity({{"xx"}, {root / "absent.safetensors"}}, layersOptions({0})); });
    QVERIFY2(contains(e, {"absent.safetensors"}), e.c_str());
    QVERIFY(contains(errorFor({{"en", {{0, {1}}}}}, {}), {"the layer set is empty"}));
    QVERIFY(contains(errorFor({{"en", {{0, {1}}}}}, {0, 0}), {"layer 0 is listed twice"}));
    QVERIFY_THROWS_EXCEPTION(InputError, cosineOfRows(torch::tensor({1.0, 0.0, 0.0, 0.0}).reshape({2, 2})));
  }

  void averageLinkageByHand() {
    // 0–1 closest; 2 joins them at (3 + 5)/2 = 4; 3 joins last at the mean of
    // its three distances, (8 + 10 + 12)/3 = 10 (not (9 + 12)/2: sizes weigh).
    DistanceMatrix d = {{0, 1, 3, 8}, {1, 0, 5, 10}, {3, 5, 0, 12}, {8, 10, 12, 0}};
    Dendrogram t = averageLinkage(d);
    QCOMPARE(t.merges.size(), size_t{3});
    auto merge = [&](int m) {
      const ClusterMerge& c = t.merges[m];
      return std::make_tuple(c.left, c.right, c.height, c.size);
    };
    QCOMPARE(merge(0), std::make_tuple(0, 1, 1.0, 2));
    QCOMPARE(merge(1), std::make_tuple(2, 4, 4.0, 3));
    QCOMPARE(merge(2), std::make_tuple(3, 5, 10.0, 4));
    QCOMPARE(t.leafOrder, (std::vector<int>{3, 2, 0, 1}));

    // Two pairs, interleaved in the input order: similar ones end up adjacent.
    d = {{0, 4, 1, 6}, {4, 0, 5, 2}, {1, 5, 0, 7}, {6, 2, 7, 0}};
    t = averageLinkage(d);
    QCOMPARE(merge(0), std::make_tuple(0, 2, 1.0, 2));
    QCOMPARE(merge(1), std::make_tuple(1, 3, 2.0, 2));
    QCOMPARE(merge(2), std::make_tuple(4, 5, 5.5, 4));  // (4 + 6 + 5 + 7)/4
    QCOMPARE(t.leafOrder, (std::vector<int>{0, 2, 1, 3}));

    // All equal: the smallest id pair first.
    d = {{0, 1, 1, 1}, {1, 0, 1, 1}, {1, 1, 0, 1}, {1, 1, 1, 0}};
    t = averageLinkage(d);
    QCOMPARE(merge(0), std::make_tuple(0, 1, 1.0, 2));
    QCOMPARE(merge(1), std::make_tuple(2, 3, 1.0, 2));
    QCOMPARE(merge(2), std::make_tuple(4, 5, 1.0, 4));

    QCOMPARE(averageLinkage({{0}}).leafOrder, std::vector<int>{0});
    QVERIFY(averageLinkage({}).leafOrder.empty());
    QVERIFY_THROWS_EXCEPTION(InputError, averageLinkage({{0, 1}, {2, 0}}));
    QVERIFY_THROWS_EXCEPTION(InputError, averageLinkage({{0, 1}, {1}}));
  }
};

QTEST_GUILESS_MAIN(TestSimilarity)
#include "test_similarity.moc"
