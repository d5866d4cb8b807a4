// `dmoe info`: the runtime the computations will use (LibTorch, BLAS, threads, CUDA).
#include <iostream>

#include "cli_context.h"
#include "runtime/device.h"

namespace dmoe::cli {

void addInfoCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("info", "Show the LibTorch build, BLAS library, threads and GPUs in use");
  cmd->callback([&ctx] {
    configureThreads(0);
    RuntimeInfo info = runtimeInfo();
    ctx.reporter("info").result("runtime", toJson(info));
    ctx.out() << "LibTorch  " << info.torch_version << (info.cuda_built ? " (CUDA)" : " (CPU)") << '\n'
              << "GPUs      " << info.cuda_devices << '\n'
              << "threads   " << info.threads << '\n'
              << "BLAS      " << info.blas << '\n';
  });
}

}  // namespace dmoe::cli
