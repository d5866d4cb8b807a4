// OpenMP wait policy for the executables (dmoe, dmoe-bench).
//
// Why: LibTorch's element-wise kernels run on libgomp's thread pool, its
// matrix products on OpenBLAS's own pthreads. With libgomp's default policy
// its idle workers spin for a while after every parallel region and take the
// cores OpenBLAS needs next: on 2 cores, training the demo model ran 2x slower
// (1.4k vs 2.8k tokens/s, dmoe-bench). OMP_WAIT_POLICY=PASSIVE fixes it, but
// libgomp reads it once, when it is loaded — before main(). So main() calls
// this first: if the variable is unset, it is set and the program re-executes
// itself (same arguments); a user's own setting is always respected.
#pragma once

namespace dmoe {

void reexecWithPassiveOpenMP(char** argv);

}  // namespace dmoe
