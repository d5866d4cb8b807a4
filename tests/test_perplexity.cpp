// Held-out perplexity: sliding windows score every token but the first exactly
// once; uniform logits give PPL = vocabulary size; windowed scoring of a model
// without positional dependence equals one full-context pass; a token budget
// (evaluations during training) scores exactly the first tokens it names.
// LibTorch before Qt: Qt's `slots` macro breaks ATen headers parsed after it.
#include "bigram_lm.h"
#include "train/perplexity.h"
#include "util/error.h"

#include <QtTest>
#include <cmath>

using namespace dmoe;

namespace {

std::vector<std::uint32_t> tokens(std::size_t n, std::uint32_t vocab, std::uint32_t salt) {
  std::vector<std::uint32_t> t(n);
  for (std::size_t i = 0; i < n; ++i) t[i] = static_cast<std::uint32_t>((i * 11 + i / 5 + salt) % vocab);
  return t;
}

// Σ −log p over positions 1..n−1 from one forward pass over the whole document.
double fullPassNll(CausalLMImpl& model, const std::vector<std::uint32_t>& doc) {
  torch::NoGradGuard noGrad;
  std::vector<std::int64_t> ids(doc.begin(), doc.end());
  torch::Tensor input = torch::tensor(ids).unsqueeze(0);
  torch::Tensor logp = torch::log_softmax(model.forward(input).to(torch::kFloat64), -1)[0];
  double nll = 0;
  for (std::size_t i = 0; i + 1 < doc.size(); ++i) nll -= logp[i][ids[i + 1]].item<double>();
  return nll;
}

}  // namespace

class TestPerplexity : public QObject {
  Q_OBJECT
 private slots:
  void windowsScoreEveryTokenExactlyOnce() {
    const std::int64_t window = 8, stride = 4;
    for (std::int64_t length : {0, 1, 2, 5, 7, 8, 9, 16, 17, 30, 64}) {
      std::vector<int> scored(length, 0);
      for (const ScoringWindow& w : slidingWindows(length, window, stride)) {
        QVERIFY(w.end - w.begin <= window);
        for (std::int64_t pos = w.scoreFrom; pos < w.end; ++pos) {
          QVERIFY(pos > w.begin);  // every scored token has context inside its window
          ++scored[pos];
        }
      }
      for (std::int64_t pos = 0; pos < length; ++pos) QCOMPARE(scored[pos], pos == 0 ? 0 : 1);
    }
    // HF's recipe, by hand: length 17, window 8, stride 4.
    std::vector<ScoringWindow> w = slidingWindows(17, 8, 4);
    QCOMPARE(w.size(), size_t{4});
    QCOMPARE(w[0].begin, std::int64_t{0});
    QCOMPARE(w[0].end, std::int64_t{8});
    QCOMPARE(w[0].scoreFrom, std::int64_t{1});
    QCOMPARE(w[1].begin, std::int64_t{4});
    QCOMPARE(w[1].scoreFrom, std::int64_t{8});
    QCOMPARE(w[3].begin, std::int64_t{12});
    QCOMPARE(w[3].end, std::int64_t{17});
    QCOMPARE(w[3].scoreFrom, std::int64_t{16});
    QVERIFY_THROWS_EXCEPTION(InputError, slidingWindows(10, 8, 8));
  }

  void uniformLogitsGiveTheVocabularySize() {
    test::UniformLMImpl model(50, 8);
    std::vector<std::uint32_t> a = tokens(30, 50, 0), b = tokens(5, 50, 1), c = tokens(1, 50, 2);
    NllTotal total = documentsNll(model, {{a.data(), a.size()}, {b.data(), b.size()}, {c.data(), c.size()}}, {});
    QCOMPARE(total.tokens, std::int64_t{29 + 4 + 0});
    QVERIFY2(std::abs(total.perplexity() - 50.0) < 1e-4, std::to_string(total.perplexity()).c_str());
    QVERIFY(std::isnan(NllTotal{}.perplexity()));
  }

  void windowedScoringEqualsAFullPassForABigramModel() {
    test::BigramLMImpl model(23, 8, 9);
    std::vector<std::vector<std::uint32_t>> docs{tokens(7, 23, 0), tokens(8, 23, 1), tokens(9, 23, 2),
                                                 tokens(40, 23, 3), tokens(2, 23, 4)};
    std::vector<TokenSpan> spans;
    double expected = 0;
    std::int64_t expectedTokens = 0;
    for (const auto& d : docs) {
      spans.push_back({d.data(), d.size()});
      expected += fullPassNll(model, d);
      expectedTokens += static_cast<std::int64_t>(d.size()) - 1;
    }
    model.train();
    for (std::int64_t batch : {1, 3, 64}) {
      PerplexityOptions o;  // window 8 = the context, stride 4
      o.batchWindows = batch;
      NllTotal total = documentsNll(model, spans, o);
      QCOMPARE(total.tokens, expectedTokens);
      QVERIFY2(std::abs(total.nll - expected) < 1e-4 * expected,
               (std::to_string(total.nll) + " vs " + std::to_string(expected)).c_str());
    }
    QVERIFY(model.is_training());  // evaluation leaves the mode as it found it
    PerplexityOptions small;
    small.window = 3;  // stride 1
    QCOMPARE(documentsNll(model, spans, small).tokens, expectedTokens);
  }

  void aTokenBudgetTakesTheFirstTokensInOrder() {
    std::vector<std::uint32_t> a = tokens(5, 23, 0), one = tokens(1, 23, 1), b = tokens(10, 23, 2), c = tokens(4, 23, 3);
    const std::vector<TokenSpan> docs{{a.data(), a.size()}, {one.data(), one.size()}, {b.data(), b.size()},
                                      {c.data(), c.size()}};
    // a scores 4 tokens; the 1-token document none (skipped); b is cut to 3 tokens = 2 scored; c is left out.
    std::vector<TokenSpan> six = leadingTokens(docs, 6);
    QCOMPARE(six.size(), std::size_t{2});
    QCOMPARE(six[0].data, a.data());
    QCOMPARE(six[0].size, std::size_t{5});
    QCOMPARE(six[1].data, b.data());
    QCOMPARE(six[1].size, std::size_t{3});
    QCOMPARE(leadingTokens(docs, 4).size(), std::size_t{1});  // a exactly: nothing of b
    QCOMPARE(leadingTokens(docs, 0).size(), docs.size());     // 0 = all, as given
    QCOMPARE(leadingTokens(docs, 1000).size(), std::size_t{3});  // more than there is: every scorable document

    // The budget is the number of tokens scored, and they are the same tokens a full pass scores first.
    test::BigramLMImpl model(23, 8, 9);
    const NllTotal cut = documentsNll(model, six, {});
    QCOMPARE(cut.tokens, std::int64_t{6});
    std::vector<std::uint32_t> bHead(b.begin(), b.begin() + 3);
    const double expected = fullPassNll(model, a) + fullPassNll(model, bHead);
    QVERIFY2(std::abs(cut.nll - expected) < 1e-4 * expected, (std::to_string(cut.nll) + " vs " + std::to_string(expected)).c_str());
  }
};

QTEST_GUILESS_MAIN(TestPerplexity)
#include "test_perplexity.moc"
