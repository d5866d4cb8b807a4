// Which OpenBLAS kernel set ("core") runs the matrix products, and whether
// dmoe should pick a better one than OpenBLAS found itself.
//
// Why: Debian's OpenBLAS 0.3.21 is a DYNAMIC_ARCH build that picks its core
// from the CPU model at load time. On CPUs newer than the library (e.g. Xeons
// with AMX) it falls back to Prescott, the generic SSE3 kernels: every fp32
// product then runs 7-9x below what the same library does with its SkylakeX
// kernels. OPENBLAS_CORETYPE overrides the choice, read once when the library
// loads — so dmoe sets it and re-executes itself (runtime/process_environment.h).
//
// The decision is a pure function of the environment, the core OpenBLAS
// reports and the CPU's flags (testable with made-up values):
//   - OPENBLAS_CORETYPE set by anyone but dmoe → kept as it is, always;
//   - the reported core's instruction-set level is below the best the CPU's
//     flags allow → choose that core (DMOE_OPENBLAS_CHOSEN records the choice);
//   - a core dmoe chose → verify it: OpenBLAS must report it loaded (a build
//     without that core falls back silently), and its products must agree
//     with double precision; otherwise dmoe removes its choice and records it
//     in DMOE_OPENBLAS_REJECTED, so OpenBLAS's own choice is used from then on.
// Limit: OpenBLAS does not check a forced core against the CPU; the choice
// trusts /proc/cpuinfo's flags (the kernel lists only usable AVX-512).
// Not here: the numeric check itself and the GFLOP/s figure (they need torch:
// runtime/blas_check.cpp), the re-execution (process_environment.cpp).
#pragma once
#include <optional>
#include <set>
#include <string>

namespace dmoe {

// The CPU as /proc/cpuinfo describes its first processor.
struct CpuFeatures {
  std::string vendor;           // "GenuineIntel", "AuthenticAMD", ...
  std::string model;            // "model name"
  std::set<std::string> flags;  // "avx2", "avx512f", "amx_bf16", ...
  bool has(const std::string& flag) const { return flags.count(flag) > 0; }
  // bf16 matrix units a bf16 product can use (AVX512-BF16 or AMX-BF16).
  bool hasBf16Units() const { return has("avx512_bf16") || has("amx_bf16"); }
};
CpuFeatures parseCpuinfo(const std::string& text);
CpuFeatures currentCpuFeatures();  // this machine's (empty where /proc/cpuinfo is missing)

// Instruction-set level of an OpenBLAS core name (case-insensitive):
// 0 generic SSE2/SSE3 … 3 AVX, 4 AVX2+FMA (Haswell, Zen), 5 AVX-512 (SkylakeX),
// 6 AVX-512 + BF16 (Cooperlake, Sapphire Rapids). -1 for a name not known here.
int openBlasCoreLevel(const std::string& core);
// The best core these flags allow ("COOPERLAKE", "SKYLAKEX", "ZEN", "HASWELL",
// "SANDYBRIDGE"), "" when only generic kernels fit.
std::string bestOpenBlasCore(const CpuFeatures& cpu);

// Environment variables of the choice.
inline constexpr const char* kOpenBlasCoreVar = "OPENBLAS_CORETYPE";
inline constexpr const char* kChosenCoreVar = "DMOE_OPENBLAS_CHOSEN";
inline constexpr const char* kRejectedCoreVar = "DMOE_OPENBLAS_REJECTED";

struct BlasCoreEnvironment {
  std::optional<std::string> coretype;  // OPENBLAS_CORETYPE
  std::optional<std::string> chosen;    // DMOE_OPENBLAS_CHOSEN
  std::optional<std::string> rejected;  // DMOE_OPENBLAS_REJECTED
  std::string reported;                 // openblas_get_corename(); "" when the BLAS is not OpenBLAS
  static BlasCoreEnvironment current();
};

enum class BlasCoreAction {
  keep,    // nothing to do
  choose,  // set OPENBLAS_CORETYPE = core (and the marker), then re-execute
  verify,  // dmoe's choice is loaded: check it numerically
};

struct BlasCoreDecision {
  BlasCoreAction action = BlasCoreAction::keep;
  std::string core;    // the core to choose / being verified
  std::string origin;  // one line for `dmoe info`: who picked the core in use, and why
};
BlasCoreDecision decideBlasCore(const BlasCoreEnvironment& env, const CpuFeatures& cpu);

// After a failed check: the environment changes that hand the choice back to OpenBLAS.
// (Unsets OPENBLAS_CORETYPE and DMOE_OPENBLAS_CHOSEN, sets DMOE_OPENBLAS_REJECTED.)
void rejectChosenCore(const std::string& core);

// The loaded OpenBLAS's core name and configuration line; "" when the BLAS is not OpenBLAS.
std::string loadedOpenBlasCore();
std::string loadedOpenBlasConfig();
// OpenBLAS's own thread pool (LibTorch's thread count does not reach it):
// `threads` threads per product; false when OpenBLAS is not loaded.
bool setOpenBlasThreads(int threads);

// --- runtime/blas_check.cpp (needs torch) ---
struct BlasCheck {
  double maxRelativeError = 0;  // max |C − C64| / Σₖ|aᵢₖ||bₖⱼ| over a few fp32 products
  bool passed = false;          // maxRelativeError ≤ kBlasCheckTolerance
};
inline constexpr double kBlasCheckTolerance = 1e-5;  // fp32 kernels measure ~1e-7; a broken one O(1)
BlasCheck checkBlasProducts();
// Measured throughput of an n×n·n×n product in the given dtype ("fp32" | "bf16"), GFLOP/s.
double measureMatmulGflops(int n, const std::string& dtype);

}  // namespace dmoe
