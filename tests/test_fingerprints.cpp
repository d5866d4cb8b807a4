// Fingerprint diagnostics (methods/fingerprint_diagnostics.h, issue 33) on
// synthetic fingerprints with known answers: the adjusted Rand index against
// hand-computed values, the tree cut by hand, split-half reliability (a
// language's halves nearest each other, unrelated halves not; noise-dominated
// fingerprints flagged unreliable), the halves' pair structure and the family
// score (a planted family structure scores high with a small p-value, a
// shuffled labelling near zero), the reading's verdicts, similarity.json's
// new fields, and the labelling CSV's reader.
#include "methods/clustering.h"
#include "methods/fingerprint_diagnostics.h"
#include "results/labelling_file.h"
#include "results/similarity_file.h"
#include "test_support.h"
#include "util/error.h"
#include "util/splitmix64.h"

#include <QtTest>
#include <cmath>

using namespace dmoe;
using dmoe::test::inputErrorOf;

namespace {

using Vector = std::vector<double>;

// A standard normal from two uniforms (Box–Muller) of the project's generator.
double normal(SplitMix64& random) {
  const double u = (static_cast<double>(random.next() >> 11) + 0.5) / 9007199254740992.0;
  const double v = static_cast<double>(random.next() >> 11) / 9007199254740992.0;
  return std::sqrt(-2 * std::log(u)) * std::cos(2 * M_PI * v);
}

Vector gaussian(SplitMix64& random, size_t d, double scale) {
  Vector v(d);
  for (double& x : v) x = scale * normal(random);
  return v;
}

Vector plus(Vector a, const Vector& b) {
  for (size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  return a;
}

SimilarityMatrix cosines(const std::vector<Vector>& rows) {
  SimilarityMatrix m(rows.size(), Vector(rows.size()));
  for (size_t i = 0; i < rows.size(); ++i)
    for (size_t j = 0; j < rows.size(); ++j) {
      double ab = 0, aa = 0, bb = 0;
      for (size_t k = 0; k < rows[i].size(); ++k) ab += rows[i][k] * rows[j][k], aa += rows[i][k] * rows[i][k], bb += rows[j][k] * rows[j][k];
      m[i][j] = ab / std::sqrt(aa * bb);
    }
  return m;
}

// 12 languages in 4 families of 3, in d = 600 dimensions. Language i's
// fingerprint = family · fᵢ (a Gaussian vector its family shares) + own · oᵢ
// (its own component, on its own 50 coordinates: orthogonal to every other
// language's, so unrelated languages share nothing); each half adds noise ·
// its own isotropic sample noise. Scales are per coordinate of a full-width
// vector (oᵢ's 50 coordinates carry the norm of a 600-wide one). Returns the
// halves' 2n × 2n matrix (row 2i half a of language i) and the whole
// languages' n × n (the sum of the halves).
struct Synthetic {
  SimilarityMatrix halves, whole;
  std::vector<std::string> families;
};

Synthetic synthetic(double family, double own, double noise, std::uint64_t seed) {
  const size_t n = 12, block = 50, d = n * block;
  SplitMix64 random(seed);
  std::vector<Vector> familyVectors;
  for (int f = 0; f < 4; ++f) familyVectors.push_back(gaussian(random, d, family));
  std::vector<Vector> halves, whole;
  Synthetic s;
  for (size_t i = 0; i < n; ++i) {
    Vector ownPart(d, 0.0);
    const Vector values = gaussian(random, block, own * std::sqrt(double(d) / double(block)));
    std::copy(values.begin(), values.end(), ownPart.begin() + static_cast<std::ptrdiff_t>(i * block));
    const Vector language = plus(familyVectors[i / 3], ownPart);
    const Vector a = plus(language, gaussian(random, d, noise)), b = plus(language, gaussian(random, d, noise));
    halves.push_back(a);
    halves.push_back(b);
    whole.push_back(plus(a, b));
    s.families.push_back("family" + std::to_string(i / 3));
  }
  s.halves = cosines(halves);
  s.whole = cosines(whole);
  return s;
}

}  // namespace

class TestFingerprints : public QObject {
  Q_OBJECT
 private slots:
  // Hand-computed from the contingency table: Σ C(nᵢⱼ, 2) against its expectation.
  void adjustedRandIndexKnownValues() {
    QCOMPARE(adjustedRandIndex({0, 0, 1, 1}, {0, 0, 1, 1}), 1.0);
    QCOMPARE(adjustedRandIndex({0, 0, 1, 1}, {1, 1, 0, 0}), 1.0);  // names do not matter
    // index 1, rows 1, columns 2, expected 1·2/6, max 3/2: (1 − 1/3)/(3/2 − 1/3) = 4/7.
    QVERIFY(std::abs(adjustedRandIndex({0, 0, 1, 2}, {0, 0, 1, 1}) - 4.0 / 7.0) < 1e-12);
    // index 0, expected 2·2/6, max 2: (0 − 2/3)/(2 − 2/3) = −1/2.
    QVERIFY(std::abs(adjustedRandIndex({0, 0, 1, 1}, {0, 1, 0, 1}) + 0.5) < 1e-12);
    QCOMPARE(adjustedRandIndex({0, 0, 0, 0}, {0, 1, 2, 3}), 0.0);
    QCOMPARE(adjustedRandIndex({0, 0, 0}, {5, 5, 5}), 1.0);  // cannot vary: scikit-learn's convention
    QVERIFY_CONTAINS(inputErrorOf([] { adjustedRandIndex({0, 1}, {0}); }), "same items");
    QCOMPARE(classIds({"x", "y", "x", "z"}), (std::vector<int>{0, 1, 0, 2}));
  }

  // Leaves 0..3; merges (0,1)→4, (2,3)→5, (4,5)→6.
  void cutTreeByHand() {
    const std::vector<ClusterMerge> merges{{0, 1, 0.1, 2}, {2, 3, 0.2, 2}, {4, 5, 0.9, 4}};
    QCOMPARE(cutTree(merges, 4, 4), (std::vector<int>{0, 1, 2, 3}));
    QCOMPARE(cutTree(merges, 4, 3), (std::vector<int>{0, 0, 1, 2}));
    QCOMPARE(cutTree(merges, 4, 2), (std::vector<int>{0, 0, 1, 1}));
    QCOMPARE(cutTree(merges, 4, 1), (std::vector<int>{0, 0, 0, 0}));
    QVERIFY_CONTAINS(inputErrorOf([&] { cutTree(merges, 4, 5); }), "clusters");
  }

  // Strong own component, little noise, families: every language's halves
  // find each other; the pairs repeat between halves; the family score finds
  // the planted families.
  void plantedFamiliesAreFound() {
    const Synthetic s = synthetic(/*family*/ 1.0, /*own*/ 1.0, /*noise*/ 0.3, 7);
    const SplitHalf h = splitHalfDiagnostics(s.halves, {s.halves}, 999, 1);
    QCOMPARE(h.ownHalfNearestCount(), 12);
    for (double r : h.reliability) QVERIFY(r > 0.8);
    QCOMPARE(h.layerReliability.size(), size_t(1));
    QVERIFY(h.structureR > 0.8);
    QCOMPARE(h.structureP, 1.0 / 1000.0);  // no relabelling does as well
    const FamilyScore f = familyScore(s.whole, Labelling{"family", s.families}, 999, 1);
    QVERIFY(f.gap > 0.3);
    QCOMPARE(f.pValue, 1.0 / 1000.0);
    QCOMPARE(f.clusterAri, 1.0);
    QCOMPARE(f.relativesOnTop, 12);
    QCOMPARE(f.withRelatives, 12);
    QVERIFY(std::abs(f.relativesOnTopByChance - 12 * 2.0 / 11.0) < 1e-12);
  }

  // No family component: the halves still find each other (reliable), but the
  // pairs do not repeat and a labelling finds nothing: groups are arbitrary.
  void reliableWithoutSharedStructure() {
    const Synthetic s = synthetic(/*family*/ 0.0, /*own*/ 1.0, /*noise*/ 0.5, 11);
    const SplitHalf h = splitHalfDiagnostics(s.halves, {}, 999, 1);
    QCOMPARE(h.ownHalfNearestCount(), 12);
    QVERIFY(std::abs(h.structureR) < 0.3);
    QVERIFY(h.structureP > 0.05);
    const FamilyScore f = familyScore(s.whole, Labelling{"family", s.families}, 999, 1);
    QVERIFY(std::abs(f.gap) < 0.05);
    QVERIFY(f.pValue > 0.05);
    SimilarityResult result;
    result.languages = s.families;  // ids do not matter to the reading
    result.splitHalf = h;
    result.families = {f};
    const std::string reading = result.reading();
    QVERIFY_CONTAINS(reading, "Fingerprints are reliable: own half nearest for 12 of 12 languages");
    QVERIFY_CONTAINS(reading, "do not repeat between halves");
    QVERIFY_CONTAINS(reading, "groups built on them will be arbitrary");
    QVERIFY(result.readingWarns());
  }

  // The halves' pair test ignores what belongs to one language alone: a b side
  // equal to the a side plus αᵢ + αⱼ (each language's own offset) repeats it
  // exactly, r = 1 (to rounding: the fit converges alike on both sides).
  void pairTestRemovesEachLanguagesOwnEffect() {
    const size_t n = 6;
    const std::vector<double> offset{0.3, -0.2, 0.1, 0.25, -0.15, 0.05};
    SimilarityMatrix halves(2 * n, std::vector<double>(2 * n, 0.0));
    SplitMix64 random(9);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = i; j < n; ++j) {
        const double a = i == j ? 1.0 : 0.08 * normal(random);
        const double b = i == j ? 1.0 : a + offset[i] + offset[j];
        halves[2 * i][2 * j] = halves[2 * j][2 * i] = a;
        halves[2 * i + 1][2 * j + 1] = halves[2 * j + 1][2 * i + 1] = b;
        halves[2 * i][2 * j + 1] = halves[2 * j + 1][2 * i] = halves[2 * i + 1][2 * j] = halves[2 * j][2 * i + 1] =
            i == j ? 0.9 : 0.0;
      }
    const SplitHalf h = splitHalfDiagnostics(halves, {}, 99, 1);
    QVERIFY2(std::abs(h.structureR - 1.0) < 1e-9, std::to_string(h.structureR).c_str());
  }

  // A direction every language shares, taken by each to its own degree (the
  // common pull of the deviations), makes every cosine cᵢcⱼ: reproducible
  // between halves, but not structure between languages. With no family
  // component it must not count as shared structure.
  void aCommonDirectionIsNotSharedStructure() {
    const size_t n = 12, block = 50, d = n * block;
    SplitMix64 random(21);
    const Vector common = gaussian(random, d, 1.0);
    std::vector<Vector> halves;
    for (size_t i = 0; i < n; ++i) {
      const double share = 0.3 + 0.1 * double(i);  // 0.3 … 1.4
      Vector language(d, 0.0);
      const Vector own = gaussian(random, block, std::sqrt(double(d) / double(block)));
      std::copy(own.begin(), own.end(), language.begin() + static_cast<std::ptrdiff_t>(i * block));
      for (size_t k = 0; k < d; ++k) language[k] += share * common[k];
      halves.push_back(plus(language, gaussian(random, d, 0.5)));
      halves.push_back(plus(language, gaussian(random, d, 0.5)));
    }
    const SplitHalf h = splitHalfDiagnostics(cosines(halves), {}, 999, 1);
    QCOMPARE(h.ownHalfNearestCount(), 12);
    QVERIFY2(h.structureP > 0.05, (std::to_string(h.structureR) + " p " + std::to_string(h.structureP)).c_str());
  }

  // Planted structure: the reading says it repeats and does not warn.
  void readingWithStructureDoesNotWarn() {
    const Synthetic s = synthetic(1.0, 1.0, 0.3, 7);
    SimilarityResult result;
    result.languages = s.families;
    result.splitHalf = splitHalfDiagnostics(s.halves, {}, 999, 1);
    result.families = {familyScore(s.whole, Labelling{"family", s.families}, 999, 1)};
    const std::string reading = result.reading();
    QVERIFY_CONTAINS(reading, "The pairs' similarities repeat between halves");
    QVERIFY(reading.find("arbitrary") == std::string::npos);
    QVERIFY(!result.readingWarns());
  }

  // The same families shuffled: the score is near zero with a large p.
  void shuffledLabellingScoresNearZero() {
    const Synthetic s = synthetic(1.0, 1.0, 0.3, 7);
    std::vector<std::string> shuffled = s.families;
    SplitMix64 random(3);
    seededShuffle(shuffled, random);
    const FamilyScore planted = familyScore(s.whole, Labelling{"family", s.families}, 999, 1);
    const FamilyScore f = familyScore(s.whole, Labelling{"family", shuffled}, 999, 1);
    QVERIFY(f.clusterAri < 0.3);
    QVERIFY(f.pValue > 0.05);
    QVERIFY(f.gap < planted.gap / 2);  // a random labelling's expected gap is 0
  }

  // Noise far above the language's own component: the halves do not find each
  // other, and the reading says the matrix is noise.
  void noiseDominatedFingerprintsAreUnreliable() {
    const Synthetic s = synthetic(0.0, 0.2, 3.0, 5);
    const SplitHalf h = splitHalfDiagnostics(s.halves, {}, 199, 1);
    QVERIFY(h.ownHalfNearestCount() < 6);
    SimilarityResult result;
    result.languages = s.families;
    result.splitHalf = h;
    QVERIFY_CONTAINS(result.reading(), "Fingerprints are unreliable");
    QVERIFY(result.readingWarns());
  }

  // Hand-checkable: 2 languages, halves (a0, b0, a1, b1).
  void splitHalfByHand() {
    const SimilarityMatrix halves{{1, 0.6, 0.1, 0.2}, {0.6, 1, 0.3, 0.0}, {0.1, 0.3, 1, 0.5}, {0.2, 0.0, 0.5, 1}};
    const SplitHalf h = splitHalfDiagnostics(halves, {halves}, 99, 1);
    QCOMPARE(h.reliability, (std::vector<double>{0.6, 0.5}));
    QCOMPARE(h.ownHalfNearest, (std::vector<bool>{true, true}));
    QCOMPARE(h.layerReliability, (std::vector<double>{0.55}));
    QVERIFY(std::isnan(h.structureR));  // one pair: no correlation
    SimilarityMatrix stolen = halves;  // b0's nearest is now a1, whose own b1 stays nearer to it
    stolen[1][2] = stolen[2][1] = 0.7;
    stolen[2][3] = stolen[3][2] = 0.9;
    QCOMPARE(splitHalfDiagnostics(stolen, {}, 99, 1).ownHalfNearest, (std::vector<bool>{false, true}));
    SimilarityResult half;  // one of two: below 90 %, not below half
    half.languages = {"xx", "yy"};
    half.splitHalf = splitHalfDiagnostics(stolen, {}, 99, 1);
    QVERIFY_CONTAINS(half.reading(), "Fingerprints are not reliable enough: own half nearest for only 1 of 2 languages "
                                     "(median half–half cosine +0.750) (not for xx)");
    QVERIFY(half.readingWarns());
    QVERIFY_CONTAINS(inputErrorOf([] { splitHalfDiagnostics({{1, 0.5, 0.1}, {0.5, 1, 0.1}, {0.1, 0.1, 1}}, {}, 99, 1); }),
                     "even number of rows");
  }

  // Within − across by hand: 4 languages, families {0, 1} and {2, 3}.
  void familyScoreByHand() {
    const SimilarityMatrix m{{1, 0.8, 0.1, 0.3}, {0.8, 1, 0.2, 0.0}, {0.1, 0.2, 1, 0.6}, {0.3, 0.0, 0.6, 1}};
    const FamilyScore f = familyScore(m, Labelling{"family", {"x", "x", "y", "y"}}, 99, 1);
    QVERIFY(std::abs(f.within - 0.7) < 1e-12);  // (0.8 + 0.6)/2
    QVERIFY(std::abs(f.across - 0.15) < 1e-12);  // (0.1 + 0.3 + 0.2 + 0.0)/4
    QVERIFY(std::abs(f.gap - 0.55) < 1e-12);
    // Of the 3 distinct pairings of 4 languages into two pairs, only the true
    // one reaches 0.55: p ≈ 1/3 (permutations draw pairings at random).
    QVERIFY(f.pValue > 0.2 && f.pValue < 0.5);
    QCOMPARE(f.relativesOnTop, 4);
    QCOMPARE(f.clusterAri, 1.0);
    const FamilyScore alone = familyScore(m, Labelling{"family", {"x", "y", "z", "w"}}, 99, 1);
    QVERIFY(std::isnan(alone.gap));  // no pair within a class
    QCOMPARE(alone.withRelatives, 0);
  }

  void jsonRoundTrip() {
    const Synthetic s = synthetic(1.0, 1.0, 0.3, 7);
    SimilarityResult r;
    r.source = "activations";
    for (int i = 0; i < 12; ++i) r.languages.push_back("l" + std::to_string(i));
    r.layers = {3};
    r.combined = s.whole;
    r.perLayer = {s.whole};
    r.splitHalf = splitHalfDiagnostics(s.halves, {s.halves}, 99, 1);
    r.families = {familyScore(s.whole, Labelling{"family", s.families}, 99, 1)};
    const Json j = r.toJson();
    QCOMPARE(j.at("reading").get<std::string>(), r.reading());
    const SimilarityResult back = SimilarityResult::fromJson(j, "similarity.json");
    QCOMPARE(back.source, std::string("activations"));
    QCOMPARE(back.splitHalf->reliability, r.splitHalf->reliability);
    QCOMPARE(back.splitHalf->ownHalfNearest, r.splitHalf->ownHalfNearest);
    QCOMPARE(back.splitHalf->structureR, r.splitHalf->structureR);
    QCOMPARE(back.families.at(0).labels, s.families);
    QCOMPARE(back.families.at(0).pValue, r.families[0].pValue);
    QCOMPARE(back.toJson(), j);
    Json broken = j;
    broken["split_half"]["reliability"] = Json::array({0.5});
    QVERIFY_CONTAINS(inputErrorOf([&] { SimilarityResult::fromJson(broken, "s.json"); }), "s.json: /split_half/reliability");
    broken = j;
    broken["families"][0]["labels"] = Json::array({"x"});
    QVERIFY_CONTAINS(inputErrorOf([&] { SimilarityResult::fromJson(broken, "s.json"); }), "/families/0/labels");
    Json old = j;  // a file from before the diagnostics
    for (const char* key : {"source", "split_half", "families", "reading"}) old.erase(key);
    const SimilarityResult plain = SimilarityResult::fromJson(old, "old.json");
    QCOMPARE(plain.source, std::string("weights"));
    QVERIFY(!plain.splitHalf && plain.families.empty() && plain.reading().empty());
  }

  void labellingFile() {
    const LabellingFile f = LabellingFile::fromCsv("language,family,script\nde,germanic,latin\n\"ru\",slavic,cyrillic\nnl,germanic,latin\n", "l.csv");
    QCOMPARE(f.names, (std::vector<std::string>{"family", "script"}));
    const std::vector<Labelling> l = f.forLanguages({"nl", "ru"});
    QCOMPARE(l.at(0).labels, (std::vector<std::string>{"germanic", "slavic"}));
    QCOMPARE(l.at(1).name, std::string("script"));
    QVERIFY_CONTAINS(inputErrorOf([&] { f.forLanguages({"de", "fr", "xx"}); }), "l.csv: no row for fr, xx");
    QVERIFY_CONTAINS(inputErrorOf([] { LabellingFile::fromCsv("lang,family\n", "l.csv"); }), "l.csv:1: expected a header row");
    QVERIFY_CONTAINS(inputErrorOf([] { LabellingFile::fromCsv("lang,family\n", "l.csv"); }), "found \"lang,family\"");
    QCOMPARE(LabellingFile::fromCsv("\xEF\xBB\xBFlanguage,family\nde,germanic\n", "bom.csv").names,
             (std::vector<std::string>{"family"}));
    QVERIFY_CONTAINS(inputErrorOf([] { LabellingFile::fromCsv("language,family\nde\n", "l.csv"); }), "l.csv:2: expected 2 cells");
    QVERIFY_CONTAINS(inputErrorOf([] { LabellingFile::fromCsv("language,family\nde,\n", "l.csv"); }), "l.csv:2: column 2: empty cell");
    QVERIFY_CONTAINS(inputErrorOf([] { LabellingFile::fromCsv("language,family\nde,a\nde,b\n", "l.csv"); }), "l.csv:3: column 1: language 'de' has a row already");
    QVERIFY_CONTAINS(inputErrorOf([] { LabellingFile::fromCsv("language,family,family\n", "l.csv"); }), "appears twice");
  }
};

QTEST_GUILESS_MAIN(TestFingerprints)
#include "test_fingerprints.moc"
