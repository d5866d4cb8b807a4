#include "runtime/process_environment.h"

#include <unistd.h>

#include <cstring>

#include <cstdlib>
#include <iostream>
#include <string>

#include "runtime/blas_core.h"

namespace dmoe {

const char* const kMallocTunables = "glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=2147483647";

// glibc's own environment variables for its allocator (the names its loader knows).
const char* const kMallocVariables[] = {"MALLOC_CHECK_",          "MALLOC_TOP_PAD_",    "MALLOC_PERTURB_",
                                        "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_MAX_",
                                        "MALLOC_ARENA_MAX",       "MALLOC_ARENA_TEST"};

bool mallocTunedByUser() {
  if (std::getenv("GLIBC_TUNABLES")) return true;
  for (const char* name : kMallocVariables)
    if (std::getenv(name)) return true;
  return false;
}

std::string allocatorSettings() {
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (tunables)
    return std::string("GLIBC_TUNABLES=") + tunables +
           (std::strcmp(tunables, kMallocTunables) == 0 ? " (dmoe's setting)" : " (set in the environment)");
  return mallocTunedByUser() ? "glibc's MALLOC_ variables set in the environment" : "glibc's defaults";
}

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
  if (!mallocTunedByUser()) {
    ::setenv("GLIBC_TUNABLES", kMallocTunables, 1);
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
