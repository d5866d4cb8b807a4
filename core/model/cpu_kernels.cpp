// The loops of model/cpu_kernels.h. Sums over a row run in eight lanes added
// in a fixed order (the compiler vectorises them without reordering the
// arithmetic), so every result is the same whatever the thread count.
#include "model/cpu_kernels.h"

#include <cmath>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#define DMOE_CPU_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define DMOE_CPU_CLONES
#endif
// The row helpers are inlined into each clone, so they vectorise for its target.
#if defined(__GNUC__)
#define DMOE_ROW_HELPER __attribute__((always_inline)) inline
#else
#define DMOE_ROW_HELPER inline
#endif

namespace dmoe::kernels {
namespace {

constexpr int kLanes = 8;

DMOE_ROW_HELPER float laneTotal(const float (&lanes)[kLanes]) {
  return ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]));
}

DMOE_ROW_HELPER float laneSum(const float* x, std::int64_t n) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lanes[j] += x[i + j];
  for (int j = 0; i < n; ++i, ++j) lanes[j] += x[i];
  return laneTotal(lanes);
}

DMOE_ROW_HELPER float laneDot(const float* a, const float* b, std::int64_t n) {
  float lanes[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lanes[j] += a[i + j] * b[i + j];
  for (int j = 0; i < n; ++i, ++j) lanes[j] += a[i] * b[i];
  return laneTotal(lanes);
}

// Σ g·s·x with s = w or 1 + w.
DMOE_ROW_HELPER float scaledDot(const float* g, const float* x, const float* w, bool unitOffset, std::int64_t d) {
  float lanes[kLanes] = {};
  const float offset = unitOffset ? 1.0f : 0.0f;
  std::int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lanes[j] += g[i + j] * (w[i + j] + offset) * x[i + j];
  for (int j = 0; i < d; ++i, ++j) lanes[j] += g[i] * (w[i] + offset) * x[i];
  return laneTotal(lanes);
}

DMOE_ROW_HELPER float rowMax(const float* x, std::int64_t v) {
  float lanes[kLanes];
  for (float& lane : lanes) lane = -INFINITY;
  std::int64_t i = 0;
  for (; i + kLanes <= v; i += kLanes)
    for (int j = 0; j < kLanes; ++j) lanes[j] = x[i + j] > lanes[j] ? x[i + j] : lanes[j];
  for (int j = 0; i < v; ++i, ++j) lanes[j] = x[i] > lanes[j] ? x[i] : lanes[j];
  float m = lanes[0];
  for (int j = 1; j < kLanes; ++j) m = lanes[j] > m ? lanes[j] : m;
  return m;
}

// Σ e^(x − shift): the exponentials go through a per-thread scratch row first,
// so that both loops are plain element-wise loops the compiler vectorises.
DMOE_ROW_HELPER float expSum(const float* x, float shift, std::int64_t v) {
  thread_local std::vector<float> scratch;
  if (static_cast<std::int64_t>(scratch.size()) < v) scratch.resize(static_cast<std::size_t>(v));
  float* e = scratch.data();
  for (std::int64_t i = 0; i < v; ++i) e[i] = fastExp(x[i] - shift);
  return laneSum(e, v);
}

DMOE_ROW_HELPER float sigmoid(float a) { return 1.0f / (1.0f + fastExp(-a)); }

}  // namespace

DMOE_CPU_CLONES
void rmsNormForward(const float* x, const float* w, bool unitOffset, float eps, std::int64_t d, std::int64_t r0,
                    std::int64_t r1, float* y, float* rstd) {
  const float offset = unitOffset ? 1.0f : 0.0f;
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* xr = x + r * d;
    float* yr = y + r * d;
    const float s = 1.0f / std::sqrt(laneDot(xr, xr, d) / static_cast<float>(d) + eps);
    rstd[r] = s;
    for (std::int64_t i = 0; i < d; ++i) yr[i] = (xr[i] * s) * (w[i] + offset);
  }
}

DMOE_CPU_CLONES
void rmsNormBackward(const float* g, const float* x, const float* w, bool unitOffset, const float* rstd,
                     std::int64_t d, std::int64_t r0, std::int64_t r1, float* dx, float* dwPartial) {
  const float offset = unitOffset ? 1.0f : 0.0f;
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* gr = g + r * d;
    const float* xr = x + r * d;
    float* dxr = dx + r * d;
    const float s = rstd[r];
    // dx = s·g·w' − x·s³·(Σ g·w'·x)/D, w' = w or 1 + w; dw += g·x·s.
    const float c = s * s * s * scaledDot(gr, xr, w, unitOffset, d) / static_cast<float>(d);
    for (std::int64_t i = 0; i < d; ++i) {
      dxr[i] = s * gr[i] * (w[i] + offset) - xr[i] * c;
      dwPartial[i] += gr[i] * xr[i] * s;
    }
  }
}

DMOE_CPU_CLONES
void swiGluForward(const float* a, const float* b, std::int64_t i0, std::int64_t i1, float* h) {
  for (std::int64_t i = i0; i < i1; ++i) h[i] = a[i] * sigmoid(a[i]) * b[i];
}

DMOE_CPU_CLONES
void swiGluBackward(const float* g, const float* a, const float* b, std::int64_t i0, std::int64_t i1, float* da,
                    float* db) {
  for (std::int64_t i = i0; i < i1; ++i) {
    const float sig = sigmoid(a[i]);
    // silu'(a) = σ(a)·(1 + a·(1 − σ(a)))
    da[i] = g[i] * b[i] * sig * (1.0f + a[i] * (1.0f - sig));
    db[i] = g[i] * a[i] * sig;
  }
}

DMOE_CPU_CLONES
void causalSoftmaxForward(const float* scores, std::int64_t t, std::int64_t r0, std::int64_t r1, float* y) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* sr = scores + r * t;
    float* yr = y + r * t;
    const std::int64_t n = r % t + 1;  // the visible columns
    const float m = rowMax(sr, n);
    for (std::int64_t i = 0; i < n; ++i) yr[i] = fastExp(sr[i] - m);
    const float inverse = 1.0f / laneSum(yr, n);
    for (std::int64_t i = 0; i < n; ++i) yr[i] *= inverse;
    for (std::int64_t i = n; i < t; ++i) yr[i] = 0.0f;
  }
}

DMOE_CPU_CLONES
void causalSoftmaxBackward(const float* g, const float* y, std::int64_t t, std::int64_t r0, std::int64_t r1,
                           float* dx) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* gr = g + r * t;
    const float* yr = y + r * t;
    float* dr = dx + r * t;
    const std::int64_t n = r % t + 1;
    const float dot = laneDot(gr, yr, n);
    for (std::int64_t i = 0; i < n; ++i) dr[i] = yr[i] * (gr[i] - dot);
    for (std::int64_t i = n; i < t; ++i) dr[i] = 0.0f;
  }
}

DMOE_CPU_CLONES
void crossEntropyForward(const float* logits, const std::int64_t* labels, std::int64_t ignoreIndex, std::int64_t v,
                         std::int64_t r0, std::int64_t r1, float* lse, float* loss) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* xr = logits + r * v;
    const float m = rowMax(xr, v);
    lse[r] = m + std::log(expSum(xr, m, v));
    loss[r] = labels[r] == ignoreIndex ? 0.0f : lse[r] - xr[labels[r]];
  }
}

DMOE_CPU_CLONES
void crossEntropyBackward(const float* logits, const std::int64_t* labels, std::int64_t ignoreIndex,
                          const float* lse, float scale, std::int64_t v, std::int64_t r0, std::int64_t r1,
                          float* dlogits) {
  for (std::int64_t r = r0; r < r1; ++r) {
    const float* xr = logits + r * v;
    float* dr = dlogits + r * v;
    if (labels[r] == ignoreIndex) {
      for (std::int64_t i = 0; i < v; ++i) dr[i] = 0.0f;
      continue;
    }
    const float shift = lse[r];
    for (std::int64_t i = 0; i < v; ++i) dr[i] = scale * fastExp(xr[i] - shift);
    dr[labels[r]] -= scale;
  }
}

}  // namespace dmoe::kernels
