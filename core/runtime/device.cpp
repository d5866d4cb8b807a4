#include "runtime/device.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "project/project.h"
#include "runtime/blas_core.h"
#include "runtime/distributed.h"
#include "runtime/process_environment.h"
#include "torch_compat.h"
#include "util/error.h"
#include "util/system_memory.h"

namespace dmoe {

namespace {
struct PrecisionState {
  bool cpuBf16 = false;
  bool cudaBf16 = false;
  std::string device = "cpu";  // the configured one
};
PrecisionState& precisionState() {
  static PrecisionState state;
  return state;
}

// The mapped file of the first library whose path names BLAS (Debian's LibTorch
// links the generic libblas.so.3, which the alternatives system points at
// OpenBLAS or the slow reference BLAS).
std::string mappedBlasLibrary() {
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    size_t slash = line.find('/');
    if (slash != std::string::npos && line.find("blas", slash) != std::string::npos)
      return std::filesystem::canonical(line.substr(slash)).string();
  }
  return "built in";
}
}  // namespace

namespace {
// cuda:<LOCAL_RANK> among the GPUs this process sees (several processes on
// one GPU, or one visible GPU per process under SLURM, share cuda:0 onwards).
std::string localCudaDevice() {
  const auto visible = static_cast<int>(torch::cuda::device_count());
  return "cuda:" + std::to_string(visible > 0 ? localRank() % visible : 0);
}
}  // namespace

std::string resolveDevice(const std::string& requested) {
  const bool cuda = torch::cuda::is_available();
  if (requested == "cpu") return "cpu";
  if (requested == "cuda") {
    if (!cuda) throw InputError("device 'cuda' requested but this LibTorch has no CUDA or no GPU is visible");
    return localCudaDevice();
  }
  if (requested != "auto") throw InputError("unknown device '" + requested + "' (expected auto, cpu or cuda)");
  return cuda ? localCudaDevice() : "cpu";
}

void configureThreads(int threads) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int n = threads > 0 ? threads : std::max(1, cores / localProcessCount());
  // The same count for BLAS products, unless the user sized OpenBLAS's pool and the project leaves threads to us.
  if (threads > 0 || !std::getenv("OPENBLAS_NUM_THREADS")) setOpenBlasThreads(n);
  torch::set_num_threads(n);
}

void configurePrecision(const std::string& requested, const std::string& device) {
  PrecisionState& s = precisionState();
  if (requested == "fp32") {
    s = {false, false, device};
  } else if (requested == "bf16") {
    s = {true, true, device};
  } else if (requested == "auto") {
    s = {currentCpuFeatures().hasBf16Units(), true, device};
  } else {
    throw InputError("unknown precision '" + requested + "' (expected fp32, bf16 or auto)");
  }
}

bool computesInBf16(const std::string& device) {
  return device.rfind("cuda", 0) == 0 ? precisionState().cudaBf16 : precisionState().cpuBf16;
}

std::string computePrecisionTag() {
  const std::string& device = precisionState().device;  // as configured: may still be "auto"
  const bool cuda = device.rfind("cuda", 0) == 0 || (device == "auto" && torch::cuda::is_available());
  return computesInBf16(cuda ? "cuda" : "cpu") ? "bf16" : "";
}

void configureCompute(const Project& project) {
  configureThreads(static_cast<int>(project.threads));
  // The device as the project names it: resolving it here would fail stages
  // that need none (tokens, group) on a machine without the GPU it asks for.
  configurePrecision(project.precision, project.device);
}

std::int64_t availableMemoryBytes(const std::string& device) {
  return device.rfind("cpu", 0) == 0 ? availableRamBytes() : -1;
}

void checkTrainingMemory(std::int64_t parameters, const std::string& device, const std::string& what) {
  const std::int64_t available = availableMemoryBytes(device);
  const double needed = 16.0 * static_cast<double>(parameters);
  if (available < 0 || needed <= static_cast<double>(available)) return;
  auto gib = [](double bytes) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
    return std::string(text);
  };
  throw InputError(what + ": a model of " + std::to_string(parameters) + " parameters needs at least " + gib(needed) +
                   " to train (fp32 weights, gradients and AdamW state: 16 bytes a parameter), but " + device +
                   " has " + gib(static_cast<double>(available)) + " available: make the model smaller");
}

RuntimeInfo runtimeInfo(bool measure) {
  RuntimeInfo info;
  info.torch_version = compat::torchVersion();
  info.cuda_built = torch::cuda::is_available() || at::hasCUDA();
  info.cuda_devices = static_cast<int>(torch::cuda::device_count());
  info.threads = torch::get_num_threads();
  const CpuFeatures cpu = currentCpuFeatures();
  info.cpu = cpu.model;
  info.cpu_bf16_units = cpu.hasBf16Units();
  info.blas = mappedBlasLibrary();
  info.blas_core = loadedOpenBlasCore();
  info.blas_core_origin = decideBlasCore(BlasCoreEnvironment::current(), cpu).origin;
  info.allocator = allocatorSettings();
  if (measure) {
    info.matmul_gflops_fp32 = measureMatmulGflops(1024, "fp32");
    info.matmul_gflops_bf16 = measureMatmulGflops(1024, "bf16");
  }
  return info;
}

Json toJson(const RuntimeInfo& info) {
  Json j{{"torch_version", info.torch_version}, {"cuda_built", info.cuda_built},
         {"cuda_devices", info.cuda_devices},   {"threads", info.threads},
         {"cpu", info.cpu},                     {"cpu_bf16_units", info.cpu_bf16_units},
         {"blas", info.blas},                   {"blas_core", info.blas_core},
         {"blas_core_origin", info.blas_core_origin}, {"allocator", info.allocator}};
  if (info.matmul_gflops_fp32 > 0) j["matmul_1024_gflops"] = {{"fp32", info.matmul_gflops_fp32}, {"bf16", info.matmul_gflops_bf16}};
  return j;
}

}  // namespace dmoe
