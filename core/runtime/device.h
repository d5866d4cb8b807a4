// Where tensors live, how many CPU threads LibTorch uses, and in which
// precision the forward/backward passes compute.
// Qt-free and torch-free header: callers that only need the facts
// (CLI `dmoe info`, the GUI's diagnostics) don't pay for torch headers.
#pragma once
#include <cstdint>
#include <string>

#include "util/json.h"

namespace dmoe {

struct RuntimeInfo {
  std::string torch_version;
  bool cuda_built = false;     // this LibTorch has CUDA
  int cuda_devices = 0;        // GPUs visible now
  int threads = 0;             // intra-op threads in use
  std::string cpu;             // model name
  bool cpu_bf16_units = false; // AVX512-BF16 or AMX-BF16
  std::string blas;            // the BLAS library file LibTorch dispatches to (matters 20x on CPU)
  std::string blas_core;       // OpenBLAS's kernel set in use ("" when not OpenBLAS)
  std::string blas_core_origin;  // who picked it (runtime/blas_core.h)
  std::string allocator;       // glibc's allocator settings and who set them (runtime/process_environment.h)
  double matmul_gflops_fp32 = 0; // measured 1024² product (only when measured)
  double matmul_gflops_bf16 = 0;
};

// "auto" | "cpu" | "cuda" → "cpu" or "cuda:<LOCAL_RANK mod visible GPUs>"
// (cuda:0 for a single process); throws InputError for cuda without a GPU.
std::string resolveDevice(const std::string& requested);
// LibTorch's and OpenBLAS's threads; 0 → every available core, shared evenly
// by a job's processes on this machine (OpenBLAS's left to OPENBLAS_NUM_THREADS
// when the user set it).
void configureThreads(int threads);

// Compute precision of forward/backward passes (the project's `precision`):
//   "fp32" everywhere; "bf16": autocast to bf16 with fp32 master weights,
//   optimizer state, router softmax and losses (train/autocast_guard.h);
//   "auto": bf16 on CUDA, and on a CPU with bf16 matrix units (AVX512-BF16 or
//   AMX), else fp32. Process-wide like the thread count: set once per command.
// `device`: the command's device, resolved ("cpu", "cuda:0") or as a project
// names it ("auto", "cpu", "cuda"). Throws InputError for another precision.
void configurePrecision(const std::string& requested, const std::string& device);
// Whether passes on this device ("cpu", "cuda:0") compute in bf16.
bool computesInBf16(const std::string& device);
// "bf16" when the configured device computes in bf16, else "" (fp32): stage
// manifests record it, so a change of precision recomputes what it affects.
std::string computePrecisionTag();

// threads, device and precision of a project, for a command about to compute.
class Project;
void configureCompute(const Project& project);

// Bytes this machine can still allocate on `device` without swapping: the
// kernel's MemAvailable on CPU; −1 where it is not known (CUDA, no /proc).
std::int64_t availableMemoryBytes(const std::string& device);
// Refuses, before anything is allocated, a training run that cannot fit:
// `parameters` fp32 parameters need 16 bytes each (weights, gradients, AdamW's
// two moments) before any activation. Throws InputError "<what>: …" with the
// figures when that exceeds availableMemoryBytes(device); silent when unknown.
void checkTrainingMemory(std::int64_t parameters, const std::string& device, const std::string& what);

// measure: also time a 1024² matrix product in fp32 and bf16 (about a second).
RuntimeInfo runtimeInfo(bool measure = false);
Json toJson(const RuntimeInfo& info);

}  // namespace dmoe
