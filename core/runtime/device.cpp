#include "runtime/device.h"

#include <filesystem>
#include <fstream>
#include <thread>

#include "torch_compat.h"
#include "util/error.h"

namespace dmoe {

std::string resolveDevice(const std::string& requested) {
  const bool cuda = torch::cuda::is_available();
  if (requested == "cpu") return "cpu";
  if (requested == "cuda") {
    if (!cuda) throw InputError("device 'cuda' requested but this LibTorch has no CUDA or no GPU is visible");
    return "cuda:0";
  }
  if (requested != "auto") throw InputError("unknown device '" + requested + "' (expected auto, cpu or cuda)");
  return cuda ? "cuda:0" : "cpu";
}

void configureThreads(int threads) {
  int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  torch::set_num_threads(n);
}

RuntimeInfo runtimeInfo() {
  RuntimeInfo info;
  info.torch_version = compat::torchVersion();
  info.cuda_built = torch::cuda::is_available() || at::hasCUDA();
  info.cuda_devices = static_cast<int>(torch::cuda::device_count());
  info.threads = torch::get_num_threads();
  // Debian's LibTorch links the generic libblas.so.3, which the alternatives
  // system points at OpenBLAS or the slow reference BLAS: report the mapped file.
  std::ifstream maps("/proc/self/maps");
  for (std::string line; std::getline(maps, line);) {
    size_t slash = line.find('/');
    if (slash != std::string::npos && line.find("blas", slash) != std::string::npos) {
      info.blas = std::filesystem::canonical(line.substr(slash)).string();
      break;
    }
  }
  if (info.blas.empty()) info.blas = "built in";
  return info;
}

Json toJson(const RuntimeInfo& info) {
  return Json{{"torch_version", info.torch_version}, {"cuda_built", info.cuda_built},
              {"cuda_devices", info.cuda_devices}, {"threads", info.threads}, {"blas", info.blas}};
}

}  // namespace dmoe
