#include "runtime/openmp_environment.h"

#include <unistd.h>

#include <cstdlib>

namespace dmoe {

void reexecWithPassiveOpenMP(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  ::setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  ::execv("/proc/self/exe", argv);
  // exec failed (no /proc): carry on with the default policy, only slower.
}

}  // namespace dmoe
