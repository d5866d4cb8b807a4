// How dmoe and dmoe-bench prepare their own process before any work. Three
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
// 3. GLIBC_TUNABLES=glibc.malloc.mmap_max=0:glibc.malloc.trim_threshold=…:
//    glibc serves blocks over its mmap threshold (≤ 32 MiB) with fresh
//    mappings and returns freed heap tops to the kernel, so every training
//    step page-faulted its large activations and gradients anew (0.56 M minor
//    faults in a 30-step dmoe-bench run, 0.17 M with these settings: then
//    only the first touch of the peak). Freed memory stays with the process
//    for reuse; its peak RSS grew 3 % there (602 → 622 MiB). Kept as the
//    user set it when GLIBC_TUNABLES or any of glibc's MALLOC_ variables
//    (MALLOC_ARENA_MAX, MALLOC_MMAP_THRESHOLD_, …) is set.
// Not here: threads and precision (runtime/device.h), set per project.
#pragma once
#include <string>

namespace dmoe {

// The GLIBC_TUNABLES value of item 3.
extern const char* const kMallocTunables;

// True when the environment already tunes glibc's allocator (item 3 keeps it).
bool mallocTunedByUser();
// For `dmoe info`: "GLIBC_TUNABLES=… (dmoe's setting)", "… (set in the
// environment)", or "glibc's defaults".
std::string allocatorSettings();

void prepareProcessEnvironment(char** argv);

}  // namespace dmoe
