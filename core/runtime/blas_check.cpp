// The torch half of runtime/blas_core.h: the numeric check of the loaded BLAS
// kernels and the matrix-product throughput figure.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "runtime/blas_core.h"
#include "torch_compat.h"
#include "util/splitmix64.h"

namespace dmoe {

namespace {

// Deterministic values in [-1, 1): the check needs no torch RNG state.
torch::Tensor pseudoRandom(std::int64_t rows, std::int64_t cols, std::uint64_t seed) {
  torch::Tensor t = torch::empty({rows, cols}, torch::kFloat32);
  float* p = t.data_ptr<float>();
  SplitMix64 random(seed);
  for (std::int64_t i = 0; i < rows * cols; ++i)
    p[i] = static_cast<float>(static_cast<double>(random.next() >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  return t;
}

// max_ij |C_ij − Σₖ a_ik b_kj| / Σₖ |a_ik||b_kj|, the reference summed in double by plain loops
// (independent of the BLAS under test); infinity when C has a NaN or infinity.
// transposed: the product runs on transposed operands (aᵀᵀ·bᵀᵀ), the packing
// path the backward pass takes.
double productError(std::int64_t m, std::int64_t k, std::int64_t n, std::uint64_t seed, bool transposed) {
  torch::Tensor a = pseudoRandom(m, k, seed), b = pseudoRandom(k, n, seed + 1);
  torch::Tensor c = (transposed ? torch::mm(a.t().contiguous().t(), b.t().contiguous().t()) : torch::mm(a, b)).contiguous();
  const float *pa = a.data_ptr<float>(), *pb = b.data_ptr<float>(), *pc = c.data_ptr<float>();
  double worst = 0;
  std::vector<double> sum(n), scale(n);
  for (std::int64_t i = 0; i < m; ++i) {
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(scale.begin(), scale.end(), 0.0);
    for (std::int64_t l = 0; l < k; ++l) {
      const double av = pa[i * k + l];
      const float* brow = pb + l * n;
      for (std::int64_t j = 0; j < n; ++j) {
        sum[j] += av * brow[j];
        scale[j] += std::abs(av * brow[j]);
      }
    }
    for (std::int64_t j = 0; j < n; ++j) {
      const double error = std::abs(pc[i * n + j] - sum[j]) / std::max(scale[j], 1e-30);
      if (!(error <= worst)) worst = std::isfinite(error) ? error : std::numeric_limits<double>::infinity();
    }
  }
  return worst;
}

}  // namespace

BlasCheck checkBlasProducts() {
  // Shapes that exercise the kernels' edges: dimensions that are not multiples
  // of any blocking, a thin one, a square one, a small one (OpenBLAS's small-
  // matrix path), each plain and on transposed operands (~50 M multiply-adds).
  const std::int64_t shapes[][3] = {{97, 203, 131}, {257, 129, 301}, {8, 512, 384}, {192, 192, 192}, {13, 17, 11}};
  BlasCheck check;
  std::uint64_t seed = 1;
  for (const auto& s : shapes)
    for (bool transposed : {false, true}) {
      const double error = productError(s[0], s[1], s[2], seed += 2, transposed);
      if (!(error <= check.maxRelativeError)) check.maxRelativeError = error;
    }
  check.passed = std::isfinite(check.maxRelativeError) && check.maxRelativeError <= kBlasCheckTolerance;
  return check;
}

double measureMatmulGflops(int n, const std::string& dtype) {
  torch::NoGradGuard noGrad;
  const auto type = dtype == "bf16" ? torch::kBFloat16 : torch::kFloat32;
  torch::Tensor a = torch::randn({n, n}).to(type), b = torch::randn({n, n}).to(type);
  const double flops = 2.0 * n * n * static_cast<double>(n);
  // Products until about 0.25 s have passed (at most 6): the best one counts,
  // leaving out the first (it warms the thread pools and packing buffers)
  // unless fewer than 3 ran — a product that slow (bf16 without bf16 units)
  // is not worth repeating.
  std::vector<double> seconds;
  double total = 0;
  do {
    const auto start = std::chrono::steady_clock::now();
    torch::Tensor c = torch::mm(a, b);
    seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    total += seconds.back();
  } while (seconds.size() < 6 && total < 0.25);
  const double best = *std::min_element(seconds.begin() + (seconds.size() >= 3 ? 1 : 0), seconds.end());
  return flops / best / 1e9;
}

}  // namespace dmoe
