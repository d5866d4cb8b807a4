#include "runtime/process_environment.h"

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

#include "runtime/blas_core.h"

namespace dmoe {

namespace {
// exec failing (no /proc) is not an error: the program carries on, only slower.
void reexec(char** argv) { ::execv("/proc/self/exe", argv); }
}  // namespace

void prepareProcessEnvironment(char** argv) {
  bool changed = false;
  if (!std::getenv("OMP_WAIT_POLICY")) {
    ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
    changed = true;
  }
  const BlasCoreDecision blas = decideBlasCore(BlasCoreEnvironment::current(), currentCpuFeatures());
  if (blas.action == BlasCoreAction::choose) {
    ::setenv(kOpenBlasCoreVar, blas.core.c_str(), 1);
    ::setenv(kChosenCoreVar, blas.core.c_str(), 1);
    changed = true;
  }
  if (changed) reexec(argv);
  if (blas.action == BlasCoreAction::verify) {
    const std::string loaded = loadedOpenBlasCore();
    if (openBlasCoreLevel(loaded) < openBlasCoreLevel(blas.core)) {
      std::cerr << "warning: OpenBLAS did not load core " << blas.core << " (chosen from the CPU flags; it runs "
                << loaded << "); using OpenBLAS's own choice\n";
      rejectChosenCore(blas.core);
      reexec(argv);
      return;
    }
    const BlasCheck check = checkBlasProducts();
    if (!check.passed) {
      std::cerr << "warning: OpenBLAS core " << blas.core << " (chosen from the CPU flags) disagrees with double "
                << "precision (relative error " << check.maxRelativeError << "); using OpenBLAS's own choice\n";
      rejectChosenCore(blas.core);
      reexec(argv);
    }
  }
}

}  // namespace dmoe
