// `dmoe info`: the runtime the computations will use (LibTorch, CPU, BLAS and
// its kernel set, measured matrix-product speed, threads, CUDA).
#include <iomanip>
#include <iostream>

#include "cli_context.h"
#include "runtime/device.h"

namespace dmoe::cli {

void addInfoCommand(CLI::App& app, CliContext& ctx) {
  auto* cmd = app.add_subcommand("info",
                                 "Show the LibTorch build, CPU, BLAS library and kernel set, measured 1024² matrix-product "
                                 "GFLOP/s (fp32 and bf16), threads and GPUs in use");
  auto quick = std::make_shared<bool>(false);
  cmd->add_flag("--quick", *quick, "Skip the matrix-product measurement (about a second)");
  cmd->callback([&ctx, quick] {
    configureThreads(0);
    RuntimeInfo info = runtimeInfo(/*measure=*/!*quick);
    ctx.reporter("info").result("runtime", toJson(info));
    std::ostream& out = ctx.out();
    out << "LibTorch   " << info.torch_version << (info.cuda_built ? " (CUDA)" : " (CPU)") << '\n'
        << "GPUs       " << info.cuda_devices << '\n'
        << "CPU        " << (info.cpu.empty() ? "unknown" : info.cpu)
        << (info.cpu_bf16_units ? " (bf16 matrix units)" : " (no bf16 matrix units)") << '\n'
        << "threads    " << info.threads << '\n'
        << "BLAS       " << info.blas << '\n'
        << "BLAS core  " << (info.blas_core.empty() ? "-" : info.blas_core) << " — " << info.blas_core_origin << '\n'
        << "allocator  " << info.allocator << '\n';
    if (info.matmul_gflops_fp32 > 0)
      out << std::fixed << std::setprecision(1) << "1024² mm   " << info.matmul_gflops_fp32 << " GFLOP/s fp32, "
          << info.matmul_gflops_bf16 << " GFLOP/s bf16\n";
  });
}

}  // namespace dmoe::cli
