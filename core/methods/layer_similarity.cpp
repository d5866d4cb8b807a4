#include "methods/layer_similarity.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "util/error.h"

namespace dmoe {

namespace {

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  return std::inner_product(a.begin(), a.end(), b.begin(), 0.0);
}

double meanOr(double sum, std::int64_t count) {
  return count > 0 ? sum / static_cast<double>(count) : std::numeric_limits<double>::quiet_NaN();
}

void checkShapes(const std::vector<std::string>& languages, const std::vector<bool>& isNew,
                 const std::vector<std::int64_t>& tokens, const std::vector<std::vector<std::vector<double>>>& meanUnit) {
  const size_t n = languages.size();
  if (isNew.size() != n || tokens.size() != n || meanUnit.size() != n)
    throw InputError("layer similarity: " + std::to_string(n) + " languages but " + std::to_string(isNew.size()) +
                     " new flags, " + std::to_string(tokens.size()) + " token counts and " +
                     std::to_string(meanUnit.size()) + " mean vectors");
  const auto fresh = std::count(isNew.begin(), isNew.end(), true);
  if (fresh == 0 || fresh == static_cast<std::ptrdiff_t>(n))
    throw InputError("layer similarity needs old and new languages (" + std::to_string(n - fresh) + " old, " +
                     std::to_string(fresh) + " new)");
  for (size_t a = 0; a < n; ++a) {
    if (meanUnit[a].size() != meanUnit[0].size())
      throw InputError("layer similarity: " + languages[a] + " has " + std::to_string(meanUnit[a].size()) +
                       " layers, " + languages[0] + " " + std::to_string(meanUnit[0].size()));
    for (const auto& v : meanUnit[a])
      if (v.size() != meanUnit[0].front().size())
        throw InputError("layer similarity: " + languages[a] + "'s vectors differ in size from " + languages[0] + "'s");
  }
  if (meanUnit[0].empty()) throw InputError("layer similarity: no layers");
}

}  // namespace

LayerSimilarity layerSimilarity(const std::vector<std::string>& languages, const std::vector<bool>& isNew,
                                const std::vector<std::int64_t>& tokens,
                                const std::vector<std::vector<std::vector<double>>>& meanUnit) {
  checkShapes(languages, isNew, tokens, meanUnit);
  LayerSimilarity s;
  s.languages = languages;
  s.isNew = isNew;
  s.tokens = tokens;
  const size_t n = languages.size();
  for (size_t i = 0; i < meanUnit[0].size(); ++i) {
    std::vector<std::vector<double>> matrix(n, std::vector<double>(n));
    double newNew = 0, newOld = 0;
    std::int64_t newNewPairs = 0, newOldPairs = 0;
    for (size_t a = 0; a < n; ++a)
      for (size_t b = 0; b < n; ++b) {
        matrix[a][b] = dot(meanUnit[a][i], meanUnit[b][i]);
        if (a >= b || (!isNew[a] && !isNew[b])) continue;  // each unordered pair of two languages once
        if (isNew[a] && isNew[b]) {
          newNew += matrix[a][b];
          ++newNewPairs;
        } else {
          newOld += matrix[a][b];
          ++newOldPairs;
        }
      }
    s.pairs.push_back(std::move(matrix));
    s.newNew.push_back(meanOr(newNew, newNewPairs));
    s.newOld.push_back(meanOr(newOld, newOldPairs));
    s.combined.push_back(newNewPairs > 0 ? 0.5 * (s.newNew.back() + s.newOld.back()) : s.newOld.back());
  }
  return s;
}

}  // namespace dmoe
