// How dmoe and dmoe-bench prepare their own process before any work. Two
// libraries read their settings only once, when they are loaded — before
// main() — so main() calls prepareProcessEnvironment() first: it sets what is
// missing in the environment and re-executes the program (same arguments)
// once; a value the user or the machine set is always kept.
//
// 1. OMP_WAIT_POLICY=PASSIVE. LibTorch's element-wise kernels run on
//    libgomp's thread pool, its matrix products on OpenBLAS's own pthreads.
//    With libgomp's default policy its idle workers spin after every parallel
//    region and take the cores OpenBLAS needs next: on 2 cores, training the
//    demo model ran 2x slower (1.4k vs 2.8k tokens/s, dmoe-bench).
// 2. OPENBLAS_CORETYPE, when OpenBLAS found a lesser core than the CPU's flags
//    allow (runtime/blas_core.h: the decision, and the numeric check of a
//    chosen core, which re-executes once more without it if it disagrees).
// Not here: threads and precision (runtime/device.h), set per project.
#pragma once

namespace dmoe {

void prepareProcessEnvironment(char** argv);

}  // namespace dmoe
