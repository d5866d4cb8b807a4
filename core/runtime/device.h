// Where tensors live and how many CPU threads LibTorch uses.
// Qt-free and torch-free header: callers that only need the facts
// (CLI `dmoe info`, the GUI's about box) don't pay for torch headers.
#pragma once
#include <string>

#include "util/json.h"

namespace dmoe {

struct RuntimeInfo {
  std::string torch_version;
  bool cuda_built = false;     // this LibTorch has CUDA
  int cuda_devices = 0;        // GPUs visible now
  int threads = 0;             // intra-op threads in use
  std::string blas;            // the BLAS LibTorch dispatches to (matters 20x on CPU)
};

// "auto" | "cpu" | "cuda" → "cpu" or "cuda:0"; throws InputError for cuda without a GPU.
std::string resolveDevice(const std::string& requested);
// threads = 0 → every available core.
void configureThreads(int threads);
RuntimeInfo runtimeInfo();
Json toJson(const RuntimeInfo& info);

}  // namespace dmoe
