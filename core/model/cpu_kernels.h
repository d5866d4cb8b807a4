// Fused fp32 CPU loops for the element-wise chains of a training step:
// RMSNorm, SwiGLU, attention's causal softmax and the token cross-entropy,
// forward and backward, each a single pass over its rows instead of the 3–10
// separate ATen kernels (and temporaries) of the composed formulas. Plain C++
// on raw row-major arrays, torch-free: model/fused_ops.h and
// train/token_loss.h wrap them as autograd functions, split the rows over
// threads and keep the composed formulas for every other device and dtype.
// On x86-64 each loop is compiled twice (AVX2+FMA and baseline) and the CPU
// picks at load time. Not a general kernel library: only what those functions
// need.
#pragma once
#include <cstdint>
#include <cstring>

namespace dmoe::kernels {

// Work per parallel chunk: about 32 K elements, so thread hand-offs stay cheap.
constexpr std::int64_t kElementsPerChunk = std::int64_t{1} << 15;
// Rows of the given width per chunk (at least one).
constexpr std::int64_t rowsPerChunk(std::int64_t width) {
  return width >= kElementsPerChunk ? 1 : kElementsPerChunk / (width > 0 ? width : 1);
}

// e^x in fp32: x = n·ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor
// polynomial of degree 6 (truncation ≤ 1.7e-7 relative), 2^n put into the
// exponent bits. Relative error below 4e-7 on [−87, 88]; 0 below −87 (so
// e^−∞ = 0), e^88 ≈ 1.65e38 above 88 (saturates, never +∞); NaN stays NaN.
// Branch-free and inline, so the loops below vectorise it.
inline float fastExp(float x) {
  const float c = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);  // NaN passes through both tests
  const float finite = c == c ? c : 0.0f;
  constexpr float kRound = 12582912.0f;  // 1.5·2^23: adding and subtracting it rounds to an integer
  const float n = (finite * 1.44269504088896341f + kRound) - kRound;
  const float r = (finite - n * 0.693359375f) + n * 2.12194440e-4f;  // ln 2 = 0.693359375 − 2.12194440e-4
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<std::int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  const float value = x < -87.0f ? 0.0f : p * scale;
  return x == x ? value : x;
}

// RMSNorm rows [r0, r1) of x [N,D]: rstd[r] = 1/√(mean(x²)+eps),
// y = x·rstd·scale with scale = w (Llama) or 1 + w (Gemma, unitOffset).
void rmsNormForward(const float* x, const float* w, bool unitOffset, float eps, std::int64_t d, std::int64_t r0,
                    std::int64_t r1, float* y, float* rstd);
// Backward of the rows [r0, r1): dx (written) and Σ_rows g·x·rstd added into
// dwPartial [D] (the caller sums the partials of its row blocks in a fixed order).
void rmsNormBackward(const float* g, const float* x, const float* w, bool unitOffset, const float* rstd,
                     std::int64_t d, std::int64_t r0, std::int64_t r1, float* dx, float* dwPartial);

// h = silu(a)·b over the elements [i0, i1); backward: da, db from g.
void swiGluForward(const float* a, const float* b, std::int64_t i0, std::int64_t i1, float* h);
void swiGluBackward(const float* g, const float* a, const float* b, std::int64_t i0, std::int64_t i1, float* da,
                    float* db);

// Causal softmax of score rows [r0, r1) of width t, row r at query position
// r mod t: y = softmax over its columns 0..r mod t, 0 after them (the columns
// a causal mask sets to −∞). Backward: dx = y·(g − Σ g·y) over the same columns.
void causalSoftmaxForward(const float* scores, std::int64_t t, std::int64_t r0, std::int64_t r1, float* y);
void causalSoftmaxBackward(const float* g, const float* y, std::int64_t t, std::int64_t r0, std::int64_t r1,
                           float* dx);

// Cross-entropy rows [r0, r1) of logits [N,V]: lse[r] = log Σ e^x, loss[r] =
// lse − x[label] (0 where label == ignoreIndex). Labels outside [0, V) other
// than ignoreIndex must be rejected by the caller.
void crossEntropyForward(const float* logits, const std::int64_t* labels, std::int64_t ignoreIndex, std::int64_t v,
                         std::int64_t r0, std::int64_t r1, float* lse, float* loss);
// dlogits = scale·(softmax − onehot(label)) for each row, 0 for ignored rows.
void crossEntropyBackward(const float* logits, const std::int64_t* labels, std::int64_t ignoreIndex,
                          const float* lse, float scale, std::int64_t v, std::int64_t r0, std::int64_t r1,
                          float* dlogits);

}  // namespace dmoe::kernels
