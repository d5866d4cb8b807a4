#include "methods/similarity.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <set>
#include <sstream>

#include "checkpoint/safetensors.h"
#include "util/splitmix64.h"
#include "util/atomic_file.h"
#include "util/error.h"

namespace dmoe {

namespace {

constexpr auto kF64 = torch::kFloat64;

// The validated, mapped delta files: for every language and layer of the set,
// where that layer's F32 values start in the map.
struct DeltaSet {
  std::vector<std::string> languages;
  std::vector<safetensors::Reader> readers;
  std::vector<std::vector<const char*>> values;  // [language][layer index]
  std::vector<std::int64_t> layers;
  std::vector<std::int64_t> length;              // values per layer index

  std::string describe(size_t language, size_t layer) const {
    return readers[language].path().string() + ": tensor '" + deltaTensorName(layers[layer]) + "' (language '" +
           languages[language] + "', layer " + std::to_string(layers[layer]) + ")";
  }
};

void checkOptions(const DeltaFiles& deltas, const SimilarityOptions& options) {
  if (deltas.languages.size() != deltas.files.size())
    throw std::invalid_argument("computeSimilarity: " + std::to_string(deltas.languages.size()) + " languages but " +
                                std::to_string(deltas.files.size()) + " files");
  if (deltas.languages.empty()) throw InputError("similarity: no languages");
  if (options.layers.empty()) throw InputError("similarity: the layer set is empty");
  std::set<std::int64_t> seen;
  for (std::int64_t layer : options.layers) {
    if (layer < 0) throw InputError("similarity: layer " + std::to_string(layer) + " is negative");
    if (!seen.insert(layer).second) throw InputError("similarity: layer " + std::to_string(layer) + " is listed twice");
  }
  if (options.blockValues < 1) throw InputError("similarity: blockValues must be at least 1");
  if (options.languageBlock < 1) throw InputError("similarity: languageBlock must be at least 1");
  if (options.sketchDim < 0) throw InputError("similarity: sketchDim must be 0 (exact) or positive");
  if (options.checkPairs < 0) throw InputError("similarity: checkPairs must not be negative");
}

DeltaSet openDeltas(const DeltaFiles& deltas, const std::vector<std::int64_t>& layers) {
  DeltaSet set;
  set.languages = deltas.languages;
  set.layers = layers;
  set.length.assign(layers.size(), -1);
  set.readers.reserve(deltas.files.size());
  for (size_t i = 0; i < deltas.files.size(); ++i) {
    const safetensors::Reader& reader = set.readers.emplace_back(deltas.files[i]);
    std::vector<const char*>& starts = set.values.emplace_back();
    for (size_t l = 0; l < layers.size(); ++l) {
      const std::string name = deltaTensorName(layers[l]);
      const std::string where = set.describe(i, l);
      const safetensors::TensorEntry* entry = reader.find(name);
      if (!entry)
        throw InputError(reader.path().string() + ": no tensor '" + name + "': the delta of layer " +
                         std::to_string(layers[l]) + " for language '" + deltas.languages[i] + "' is missing");
      if (entry->dtype != safetensors::DType::F32)
        throw InputError(where + " is " + safetensors::dtypeName(entry->dtype) + ", expected F32");
      if (entry->shape.size() != 1)
        throw InputError(where + " has " + std::to_string(entry->shape.size()) + " dimensions, expected 1");
      if (set.length[l] < 0) {
        set.length[l] = entry->numel();
      } else if (entry->numel() != set.length[l]) {
        throw InputError(where + " has " + std::to_string(entry->numel()) + " values, but language '" +
                         deltas.languages[0] + "' (" + deltas.files[0].string() + ") has " +
                         std::to_string(set.length[l]));
      }
      starts.push_back(reader.bytes(*entry).data());
    }
  }
  return set;
}

// Calls the callback when the permille changes, and always at the end.
class Progress {
 public:
  Progress(const std::function<void(std::int64_t, std::int64_t)>& callback, std::int64_t total)
      : callback_(callback), total_(std::max<std::int64_t>(total, 1)) {}
  void advance() {
    ++done_;
    const std::int64_t permille = done_ * 1000 / total_;
    if (callback_ && (permille != reported_ || done_ == total_)) callback_(done_, total_);
    reported_ = permille;
  }

 private:
  const std::function<void(std::int64_t, std::int64_t)>& callback_;
  std::int64_t total_, done_ = 0, reported_ = -1;
};

std::int64_t ceilDiv(std::int64_t a, std::int64_t b) { return (a + b - 1) / b; }

// Values [start, start + count) of one layer of `languages` as float64 rows of
// `buffer` ([≥ languages, ≥ count], contiguous); returns that [languages, count] view.
torch::Tensor loadBlock(const DeltaSet& set, const int* languages, std::int64_t languageCount, size_t layer,
                        std::int64_t start, std::int64_t count, torch::Tensor& buffer) {
  const std::int64_t stride = buffer.size(1);
  double* out = buffer.data_ptr<double>();
  for (std::int64_t r = 0; r < languageCount; ++r) {
    const char* in = set.values[languages[r]][layer] + start * 4;
    double* row = out + r * stride;
    for (std::int64_t v = 0; v < count; ++v) {
      float f;
      std::memcpy(&f, in + v * 4, 4);  // the map gives no alignment guarantee
      row[v] = f;
    }
  }
  return buffer.narrow(0, 0, languageCount).narrow(1, 0, count);
}

// Blocked products fill only the upper triangle's blocks; mirror it so that
// the matrix, and every cosine from it, is exactly symmetric.
torch::Tensor mirrorUpper(const torch::Tensor& g) { return g.triu() + g.triu(1).t(); }

std::int64_t blockPairs(std::int64_t languages, std::int64_t languageBlock) {
  const std::int64_t blocks = ceilDiv(languages, languageBlock);
  return blocks * (blocks + 1) / 2;
}

std::int64_t exactUnits(const DeltaSet& set, std::int64_t languages, const SimilarityOptions& options) {
  std::int64_t units = 0;
  for (std::int64_t length : set.length)
    units += ceilDiv(length, options.blockValues) * blockPairs(languages, options.languageBlock);
  return units;
}

// Per-layer Gram matrices [m, m] of the listed languages, streamed.
std::vector<torch::Tensor> streamGram(const DeltaSet& set, const std::vector<int>& languages,
                                      const SimilarityOptions& options, Progress& progress) {
  const std::int64_t m = static_cast<std::int64_t>(languages.size());
  const std::int64_t rows = std::min(options.languageBlock, m);
  const std::int64_t longest = *std::max_element(set.length.begin(), set.length.end());
  const std::int64_t columns = std::max<std::int64_t>(1, std::min(options.blockValues, longest));
  torch::Tensor bufferA = torch::empty({rows, columns}, kF64);
  torch::Tensor bufferB = m > rows ? torch::empty({rows, columns}, kF64) : torch::Tensor();
  std::vector<torch::Tensor> grams;
  for (size_t l = 0; l < set.layers.size(); ++l) {
    torch::Tensor gram = torch::zeros({m, m}, kF64);
    for (std::int64_t start = 0; start < set.length[l]; start += options.blockValues) {
      const std::int64_t count = std::min(options.blockValues, set.length[l] - start);
      for (std::int64_t bi = 0; bi < m; bi += rows) {
        const std::int64_t ni = std::min(rows, m - bi);
        torch::Tensor a = loadBlock(set, languages.data() + bi, ni, l, start, count, bufferA);
        gram.narrow(0, bi, ni).narrow(1, bi, ni).add_(a.mm(a.t()));
        progress.advance();
        for (std::int64_t bj = bi + rows; bj < m; bj += rows) {
          const std::int64_t nj = std::min(rows, m - bj);
          torch::Tensor b = loadBlock(set, languages.data() + bj, nj, l, start, count, bufferB);
          gram.narrow(0, bi, ni).narrow(1, bj, nj).add_(a.mm(b.t()));
          progress.advance();
        }
      }
    }
    grams.push_back(mirrorUpper(gram));
  }
  return grams;
}

std::uint64_t mix(std::uint64_t a, std::uint64_t b) { return SplitMix64(a ^ (b * 0xD1B54A32D192ED03ull)).next(); }

struct SketchGrams {
  std::vector<torch::Tensor> perLayer;
  torch::Tensor combined;
};

// Gram matrices of the count sketches s = R v: value `index` of layer `layer`
// goes to bucket h mod k with sign ±1, h one draw seeded by (seed, layer,
// index), so R has one ±1 per column and never exists. Each language's row is
// summed in index order by one thread: the same bits whatever the block sizes
// and thread count.
SketchGrams streamSketch(const DeltaSet& set, const SimilarityOptions& options, Progress& progress) {
  const std::int64_t n = static_cast<std::int64_t>(set.languages.size()), k = options.sketchDim;
  const std::int64_t step = options.blockValues;
  std::vector<std::int64_t> bucket(static_cast<size_t>(step));
  std::vector<double> sign(static_cast<size_t>(step));
  torch::Tensor combined = torch::zeros({n, k}, kF64);
  SketchGrams grams;
  for (size_t l = 0; l < set.layers.size(); ++l) {
    torch::Tensor sketch = torch::zeros({n, k}, kF64);
    double* rows = sketch.data_ptr<double>();
    const std::uint64_t layerSeed = mix(options.sketchSeed, static_cast<std::uint64_t>(set.layers[l]));
    for (std::int64_t start = 0; start < set.length[l]; start += step) {
      const std::int64_t count = std::min(step, set.length[l] - start);
      at::parallel_for(0, count, 4096, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t c = begin; c < end; ++c) {
          const std::uint64_t h = mix(layerSeed, static_cast<std::uint64_t>(start + c));
          bucket[c] = static_cast<std::int64_t>((h >> 1) % static_cast<std::uint64_t>(k));
          sign[c] = (h & 1) ? -1.0 : 1.0;
        }
      });
      at::parallel_for(0, n, 1, [&](std::int64_t begin, std::int64_t end) {
        for (std::int64_t i = begin; i < end; ++i) {
          const char* in = set.values[i][l] + start * 4;
          double* row = rows + i * k;
          for (std::int64_t c = 0; c < count; ++c) {
            float f;
            std::memcpy(&f, in + c * 4, 4);  // the map gives no alignment guarantee
            row[bucket[c]] += sign[c] * f;
          }
        }
      });
      progress.advance();
    }
    grams.perLayer.push_back(mirrorUpper(sketch.mm(sketch.t())));
    combined.add_(sketch);
  }
  grams.combined = mirrorUpper(combined.mm(combined.t()));
  return grams;
}

// Why row i's cosines are undefined, or nothing.
std::optional<std::string> degenerate(double squaredNorm) {
  if (!std::isfinite(squaredNorm)) return "contains NaN or infinite values";
  if (squaredNorm <= 0) return "is all zeros";
  return std::nullopt;
}

SimilarityMatrix cosineOfGram(const torch::Tensor& gram) {
  const torch::Tensor g = gram.contiguous();
  const std::int64_t n = g.size(0);
  const double* data = g.data_ptr<double>();
  SimilarityMatrix cosine(static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(n), 1.0));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      if (i != j)
        cosine[i][j] = std::clamp(data[i * n + j] / std::sqrt(data[i * n + i] * data[j * n + j]), -1.0, 1.0);
  return cosine;
}

// Throws when a language's delta in a layer has no direction.
void checkDegenerate(const DeltaSet& set, const std::vector<torch::Tensor>& perLayer, const std::vector<int>& languages) {
  for (size_t l = 0; l < perLayer.size(); ++l) {
    const torch::Tensor diagonal = perLayer[l].diagonal().contiguous();
    for (size_t i = 0; i < languages.size(); ++i)
      if (auto why = degenerate(diagonal.data_ptr<double>()[i]))
        throw InputError(set.describe(static_cast<size_t>(languages[i]), l) + " " + *why +
                         ": its cosine similarity is undefined");
  }
}

// `count` distinct pairs i < j of n languages, a seeded sample (all when fewer), sorted.
std::vector<std::pair<int, int>> samplePairs(int n, std::int64_t count, std::uint64_t seed) {
  std::vector<std::pair<int, int>> pairs;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) pairs.emplace_back(i, j);
  if (count < static_cast<std::int64_t>(pairs.size())) {
    SplitMix64 rng(mix(seed, 0x5041495253ull));  // not the sketch's stream
    for (std::int64_t i = 0; i < count; ++i)
      std::swap(pairs[i], pairs[i + static_cast<std::int64_t>(rng.next() % (pairs.size() - i))]);
    pairs.resize(static_cast<size_t>(count));
    std::sort(pairs.begin(), pairs.end());
  }
  return pairs;
}

// The sketch's combined cosines against exact ones streamed for just the sampled pairs' languages.
SketchCheck checkSketch(const DeltaSet& set, const SimilarityOptions& options, const SimilarityMatrix& sketched,
                        const std::vector<std::pair<int, int>>& pairs, const std::vector<int>& checked,
                        Progress& progress) {
  SketchCheck check;
  check.dim = options.sketchDim;
  check.seed = options.sketchSeed;
  check.pairs = static_cast<std::int64_t>(pairs.size());
  const double rootK = std::sqrt(static_cast<double>(options.sketchDim));
  check.expectedStdError = pairs.empty() ? 1.0 / rootK : 0.0;
  if (pairs.empty()) return check;
  std::vector<torch::Tensor> grams = streamGram(set, checked, options, progress);
  checkDegenerate(set, grams, checked);
  torch::Tensor sum = grams[0];
  for (size_t l = 1; l < grams.size(); ++l) sum = sum + grams[l];
  const SimilarityMatrix exact = cosineOfGram(sum);
  auto position = [&](int language) {
    return std::lower_bound(checked.begin(), checked.end(), language) - checked.begin();
  };
  double total = 0;
  for (auto [i, j] : pairs) {
    const double cosine = exact[position(i)][position(j)], error = std::abs(sketched[i][j] - cosine);
    check.maxAbsError = std::max(check.maxAbsError, error);
    check.expectedStdError = std::max(check.expectedStdError, (1 - cosine * cosine) / rootK);
    total += error;
  }
  check.meanAbsError = total / static_cast<double>(pairs.size());
  return check;
}

}  // namespace

std::string deltaTensorName(std::int64_t layer) { return "layers." + std::to_string(layer); }

SimilarityResult computeSimilarity(const DeltaFiles& deltas, const SimilarityOptions& options,
                                   const std::function<void(std::int64_t, std::int64_t)>& progress) {
  checkOptions(deltas, options);
  const DeltaSet set = openDeltas(deltas, options.layers);
  const int n = static_cast<int>(set.languages.size());
  std::vector<int> all(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) all[i] = i;

  SimilarityResult result;
  result.languages = deltas.languages;
  result.layers = options.layers;
  std::vector<torch::Tensor> perLayer;
  torch::Tensor combined;
  if (options.sketchDim == 0) {
    Progress bar(progress, exactUnits(set, n, options));
    perLayer = streamGram(set, all, options, bar);
    checkDegenerate(set, perLayer, all);
    combined = perLayer[0];
    for (size_t l = 1; l < perLayer.size(); ++l) combined = combined + perLayer[l];
    result.combined = cosineOfGram(combined);
  } else {
    const auto pairs = samplePairs(n, options.checkPairs, options.sketchSeed);
    std::set<int> members;
    for (auto [i, j] : pairs) members.insert({i, j});
    const std::vector<int> checked(members.begin(), members.end());
    std::int64_t units = pairs.empty() ? 0 : exactUnits(set, static_cast<std::int64_t>(checked.size()), options);
    for (std::int64_t length : set.length) units += ceilDiv(length, options.blockValues);
    Progress bar(progress, units);
    SketchGrams grams = streamSketch(set, options, bar);
    checkDegenerate(set, grams.perLayer, all);
    perLayer = std::move(grams.perLayer);
    result.combined = cosineOfGram(grams.combined);
    result.sketch = checkSketch(set, options, result.combined, pairs, checked, bar);
  }
  for (const torch::Tensor& gram : perLayer) result.perLayer.push_back(cosineOfGram(gram));
  return result;
}

SimilarityMatrix cosineOfRows(const torch::Tensor& rows) {
  const torch::Tensor r = rows.to(torch::kCPU, kF64).contiguous();
  const torch::Tensor gram = mirrorUpper(r.mm(r.t()));
  const torch::Tensor diagonal = gram.diagonal().contiguous();
  for (std::int64_t i = 0; i < r.size(0); ++i)
    if (auto why = degenerate(diagonal.data_ptr<double>()[i]))
      throw InputError("row " + std::to_string(i) + " " + *why + ": its cosine similarity is undefined");
  return cosineOfGram(gram);
}

}  // namespace dmoe
