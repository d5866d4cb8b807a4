#!/usr/bin/env bash
# run_gpu_checks.sh — issue 14's checks on the GPU machine, in one script:
# environment, transformers parity fixtures, the CUDA build of dmoe_core /
# dmoe / dmoe-bench against PyTorch's bundled LibTorch, the loader on every
# fixture, the micro project on cuda, and the speed comparison with
# transformers. Every section is timed, has its own time limit, and a failure
# does not stop the next; $OUT/summary.txt gets one line per section (plus
# the key figures) as each one ends, so a run cut short still reports.
#
# Not: an installer (nothing is installed; missing build dependencies come
# from the unpacked Debian packages of fetch_debs.sh, carried along), and
# not a test suite (the fixtures made here, once committed to
# tests/fixtures/hf, are compared on every CI run by test_hf_parity; here
# `dmoe parity` runs the same comparison on the CPU and the GPU). Meant for
# the `run` tool; on the 2-core development machine only dry runs of the
# build and inspect sections, against Debian's LibTorch:
#   OUT=/tmp/dry/out DMOE_DEVICE_WORK=/tmp/dry/work DMOE_DEVICE_BUILD=/tmp/dry/build \
#   DMOE_TORCH_PREFIX=/usr/lib/x86_64-linux-gnu/cmake DMOE_FORCE_DEBS=1 DMOE_JOBS=2 \
#   DMOE_DEVICE_BUDGET_S=7200 DMOE_BUILD_LIMIT_S=3000 DMOE_TESTS_LIMIT_S=3000 \
#   bash scripts/device/run_gpu_checks.sh build inspect tests
#
#   bash scripts/device/run_gpu_checks.sh [SECTION ...]     # default: all, in this order
#   bash scripts/device/run_gpu_checks.sh --deps            # only show which dependencies come from where
#
# Sections (rough time on one H200 with 16 cores; the build is the unknown):
#   env       nvidia-smi, versions, compilers, CUDA toolkit, a bf16 matmul peak    ~20 s
#   fixtures  make_hf_fixtures.py -> $OUT/hf-fixtures (CPU, fp32)                 ~30-60 s
#   build     dependencies (system or carried debs), configure, build -> build-cuda ~3-6 min
#   inspect   dmoe info; dmoe inspect and dmoe parity (cpu, cuda) on every fixture  ~40 s
#   micro     the tests' micro project, `dmoe run` with device cuda, bf16          ~1 min
#   bench     dmoe-bench and hf_train_bench.py, bf16, seq 2048, side by side       ~3-4 min
#   tests     the Qt Test suites that need no GUI, built and run (carried Qt Core)  ~4-6 min
#
# Environment: OUT (required on the device; default out/device here),
# PYTHON (python3), DMOE_JOBS (nproc), DMOE_DEVICE_BUDGET_S (560: sections
# that would start later than that many seconds after the script began are
# skipped, so the script ends inside the run tool's 600 s), DMOE_FORCE_DEBS=1
# (use every carried Debian group even where the machine has the library),
# DMOE_TORCH_PREFIX (LibTorch's CMake prefix; default: the Python torch's),
# DMOE_PEAK_TFLOPS (989.4, H200 SXM dense bf16), BENCH_BATCH (8),
# BENCH_STEPS (10), BENCH_WARMUP (3).
# Persistent between calls on a warm machine (git-ignored /build*/ folders):
# build-cuda/ (the build) and build-device/ (fixtures, micro project, deps).
set -uo pipefail
# shellcheck disable=SC2317  # the section_* functions are called by name

self=$(readlink -f "${BASH_SOURCE[0]}")
here=$(dirname "$self")
root=$(cd "$here/../.." && pwd)
cd "$root" || exit 1

export OUT=${OUT:-$root/out/device}
export PYTHON=${PYTHON:-python3}
export DMOE_JOBS=${DMOE_JOBS:-$(nproc)}
work=${DMOE_DEVICE_WORK:-$root/build-device}
build=${DMOE_DEVICE_BUILD:-$root/build-cuda}
debs=${DMOE_DEVICE_DEBS:-$here/debs}
# What the run tool carries is the archive (scripts/device/debs.tar.xz, 15 MB; the
# unpacked folder is 68 MiB, over its 64 MiB): unpacked once into the work folder.
if [ ! -f "$debs/.complete" ] && [ -f "$here/debs.tar.xz" ]; then
  if [ ! -f "$work/debs/.complete" ] || [ "$here/debs.tar.xz" -nt "$work/debs/.complete" ]; then
    rm -rf "$work/debs" "$work/debs.unpacking"
    mkdir -p "$work/debs.unpacking"
    if tar -xJf "$here/debs.tar.xz" -C "$work/debs.unpacking" 2>/dev/null ||
       "$PYTHON" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
         "$here/debs.tar.xz" "$work/debs.unpacking"; then
      mv "$work/debs.unpacking" "$work/debs"
      touch "$work/debs/.complete"  # newer than the archive: unpacked once per archive
    fi
    rm -rf "$work/debs.unpacking"
  fi
  debs=$work/debs
fi
budget=${DMOE_DEVICE_BUDGET_S:-560}
peak=${DMOE_PEAK_TFLOPS:-989.4}
bench_batch=${BENCH_BATCH:-8}
bench_steps=${BENCH_STEPS:-10}
bench_warmup=${BENCH_WARMUP:-3}
arch=x86_64-linux-gnu
mkdir -p "$OUT/logs/facts" "$work"

# name, seconds it needs at least to be worth starting, time limit in seconds.
sections=(env fixtures build inspect micro bench tests)
declare -A need=([env]=15 [fixtures]=40 [build]=120 [inspect]=10 [micro]=40 [bench]=90 [tests]=180)
declare -A limit=([env]=90 [fixtures]=240 [build]=${DMOE_BUILD_LIMIT_S:-480} [inspect]=150 [micro]=240 [bench]=330 [tests]=${DMOE_TESTS_LIMIT_S:-480})

fact() { echo "$*" >>"$OUT/logs/facts/$section"; }  # a line for summary.txt under the section's own
now() { echo $(( $(date +%s%N) / 1000000 )); }  # milliseconds (no bc or awk needed)
since() { local ms=$(( $(now) - $1 )); printf '%d.%d' $((ms / 1000)) $(((ms % 1000) / 100)); }  # seconds since now() was $1

# ---------------------------------------------------------------- dependencies

# Finds the CUDA toolkit LibTorch's CMake files need (nvcc, headers): the
# usual places, nvcc on PATH, or pip's nvidia wheels beside torch.
find_cuda_root() {
  local c
  for c in "${CUDA_HOME:-}" "${CUDA_PATH:-}" "${CUDA_ROOT:-}" /usr/local/cuda /usr/local/cuda-13 /opt/cuda; do
    if [ -n "$c" ] && [ -x "$c/bin/nvcc" ]; then echo "$c"; return 0; fi
  done
  for c in /usr/local/cuda-*; do
    if [ -x "$c/bin/nvcc" ]; then echo "$c"; return 0; fi
  done
  if c=$(command -v nvcc 2>/dev/null); then dirname "$(dirname "$(readlink -f "$c")")"; return 0; fi
  local site
  site=$("$PYTHON" -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))' 2>/dev/null) || return 1
  c=$(find "$site/nvidia" -path '*/bin/nvcc' -type f 2>/dev/null | head -n 1)
  if [ -n "$c" ]; then dirname "$(dirname "$c")"; return 0; fi
  return 1
}

# Decides, per dependency of CMakeLists.txt / core/CMakeLists.txt, whether
# the machine provides it or a carried Debian group does, and writes
# $work/deps.env (sourced by the later sections). The carried groups are
# copied to $work/debs-rooted once and their .pc files rewritten to point
# there. Prints one line per dependency.
prepare_deps() {
  local rooted=$work/debs-rooted have_debs=0 pc=""
  if [ -f "$debs/.complete" ]; then
    have_debs=1
    if [ ! -f "$rooted/.complete" ] || [ "$debs/.complete" -nt "$rooted/.complete" ]; then
      rm -rf "$rooted"
      cp -a "$debs" "$rooted"
      local group
      for group in "$rooted"/*/; do
        group=${group%/}
        find "$group" -name '*.pc' -exec sed -i -E \
          "s#^(prefix[[:space:]]*=[[:space:]]*)/usr[[:space:]]*\$#\\1$group/usr#" {} +
      done
      touch "$rooted/.complete"
    fi
  else
    echo "no carried Debian packages at $debs (scripts/device/fetch_debs.sh makes them; carry scripts/device/debs.tar.xz)"
  fi

  # pkg-config: the machine's, else the carried pkgconf behind a wrapper that
  # gives only pkgconf itself the carried library path.
  if command -v pkg-config >/dev/null; then
    pc=$(command -v pkg-config); echo "pkg-config     system   $pc"
  elif command -v pkgconf >/dev/null; then
    pc=$(command -v pkgconf); echo "pkg-config     system   $pc"
  elif [ $have_debs = 1 ]; then
    mkdir -p "$work/bin"
    pc=$work/bin/pkg-config
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
      "$rooted/pkgconf/usr/lib/$arch" "$rooted/pkgconf/usr/bin/pkgconf" >"$pc"
    chmod +x "$pc"
    echo "pkg-config     debs     $pc"
  else
    echo "pkg-config     MISSING  (configure will fail: find_package(PkgConfig REQUIRED))"
  fi

  local prefixes="" libdirs="" pcpath="" spm_train="" missing=""
  use_group() {  # group: add the carried prefix
    prefixes="${prefixes:+$prefixes;}$rooted/$1/usr"
    [ -d "$rooted/$1/usr/lib/$arch" ] && libdirs="${libdirs:+$libdirs:}$rooted/$1/usr/lib/$arch"
    local d
    for d in "$rooted/$1/usr/lib/$arch/pkgconfig" "$rooted/$1/usr/share/pkgconfig"; do
      [ -d "$d" ] && pcpath="${pcpath:+$pcpath:}$d"
    done
    return 0
  }
  decide() {  # name group system-test...: system when the test passes, else the carried group
    local name=$1 group=$2; shift 2
    if [ "${DMOE_FORCE_DEBS:-0}" != 1 ] && "$@" >/dev/null 2>&1; then
      echo "$(printf '%-14s' "$name") system"
    elif [ $have_debs = 1 ] && [ -d "$rooted/$group" ]; then
      use_group "$group"; echo "$(printf '%-14s' "$name") debs     $rooted/$group"
    else
      missing="$missing $name"; echo "$(printf '%-14s' "$name") MISSING"
    fi
  }
  has_header() { local f; for f in "$@"; do [ -f "/usr/include/$f" ] || [ -f "/usr/local/include/$f" ] || return 1; done; }
  pc_has() { [ -n "$pc" ] && "$pc" --exists "$1"; }
  spm_system() {  # sentencepiece.pc and its training library in the same folder
    pc_has sentencepiece || return 1
    local dir; dir=$("$pc" --variable=libdir sentencepiece)
    ls "$dir"/libsentencepiece_train.so* >/dev/null 2>&1
  }
  decide nlohmann_json nlohmann_json has_header nlohmann/json.hpp
  decide CLI11 cli11 has_header CLI/CLI.hpp
  decide sentencepiece sentencepiece spm_system
  decide PCRE2 pcre2 pc_has libpcre2-8
  decide ICU icu pc_has icu-uc
  decide zlib zlib has_header zlib.h
  decide zstd zstd pc_has libzstd
  if [[ ";$prefixes;" == *"/sentencepiece/usr;"* ]]; then
    spm_train=$rooted/sentencepiece/usr/lib/$arch/libsentencepiece_train.so
  fi
  # Qt Core and Test, for the test suites only (optional: without it no suite is built).
  qt_system() {
    local d
    for d in /usr/lib/$arch/cmake /usr/lib/cmake /usr/local/lib/cmake; do [ -f "$d/Qt6Test/Qt6TestConfig.cmake" ] && return 0; done
    return 1
  }
  if [ "${DMOE_FORCE_DEBS:-0}" != 1 ] && qt_system; then
    echo "Qt Core+Test   system"
  elif [ $have_debs = 1 ] && [ -d "$rooted/qt" ]; then
    use_group qt; echo "Qt Core+Test   debs     $rooted/qt"
    # Debian's Qt Core links ICU 72 (libicui18n, libicuuc): its libraries at run time, whoever provides icu-uc.
    [[ ":$libdirs:" == *":$rooted/icu/usr/lib/$arch:"* ]] || libdirs="$libdirs:$rooted/icu/usr/lib/$arch"
  else
    echo "Qt Core+Test   none     (the Qt Test suites are not built; section tests has nothing to run)"
  fi
  {
    echo "export DMOE_PKG_CONFIG='$pc'"
    echo "export DMOE_PREFIXES='$prefixes'"
    echo "export DMOE_LIBDIRS='$libdirs'"
    echo "export DMOE_SPM_TRAIN_LIB='$spm_train'"
    echo "export DMOE_DEPS_MISSING='${missing# }'"
    echo "export PKG_CONFIG_PATH='$pcpath${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}'"
  } >"$work/deps.env"
}

load_deps() {
  [ -f "$work/deps.env" ] || prepare_deps >/dev/null
  # shellcheck disable=SC1091
  source "$work/deps.env"
}

# Library folders a dmoe binary needs at run time: the carried groups (their
# libraries' own dependencies are not on the binary's RUNPATH), and torch's
# and the nvidia wheels' folders only if ldd finds something missing.
runtime_path() {
  local bin=$1 path=${DMOE_LIBDIRS:-}
  if [ -x "$bin" ] && LD_LIBRARY_PATH="$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" ldd "$bin" 2>/dev/null | grep -q 'not found'; then
    local extra; extra=$(torch_libdirs)
    path="${path:+$path:}$extra"
  fi
  echo "$path${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

# torch/lib and the lib folders of pip's nvidia-* wheels, colon-separated.
torch_libdirs() {
  "$PYTHON" - <<'EOF' 2>/dev/null
import glob, os, torch
site = os.path.dirname(os.path.dirname(torch.__file__))
dirs = [os.path.join(os.path.dirname(torch.__file__), "lib")]
dirs += sorted(glob.glob(os.path.join(site, "nvidia", "**", "lib"), recursive=True))
print(":".join(d for d in dirs if os.path.isdir(d)))
EOF
}

# ---------------------------------------------------------------- sections

section_env() {
  echo "== date: $(date -u '+%F %T') UTC; host: $(hostname); repo: $root; git: $(git -C "$root" rev-parse --short HEAD 2>/dev/null) ($(git -C "$root" status --porcelain 2>/dev/null | wc -l) changed files)"
  nvidia-smi || echo "nvidia-smi failed"
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit,mig.mode.current --format=csv || true
  echo "== OS: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-?}"); $(ldd --version 2>&1 | head -n 1); $(nproc) cores; $(free -g | awk '/Mem:/ {print $2 " GiB RAM"}')"
  df -h "$root" | tail -n 1
  local tool
  for tool in cmake ninja c++ g++ gcc clang++ pkg-config pkgconf git; do
    if command -v "$tool" >/dev/null; then echo "$tool: $("$tool" --version 2>&1 | head -n 1)"; else echo "$tool: (none)"; fi
  done
  local cuda
  if cuda=$(find_cuda_root); then echo "CUDA toolkit: $cuda ($("$cuda/bin/nvcc" --version | tail -n 2 | head -n 1))"; fact "CUDA toolkit $cuda"
  else echo "CUDA toolkit: none found (LibTorch's CMake files need nvcc and the CUDA headers)"; fact "no CUDA toolkit found"; fi
  "$PYTHON" - <<'EOF'
import json, os, platform, sys, time
info = {"python": platform.python_version(), "executable": sys.executable}
for mod in ("torch", "transformers", "safetensors", "tokenizers", "numpy", "accelerate"):
    try:
        info[mod] = __import__(mod).__version__
    except Exception as e:  # noqa: BLE001
        info[mod] = f"(not importable: {type(e).__name__})"
try:
    import torch
    info.update(cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(), cuda_available=torch.cuda.is_available(),
                cmake_prefix_path=torch.utils.cmake_prefix_path, cxx11_abi=torch._C._GLIBCXX_USE_CXX11_ABI)
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        info.update(gpu=p.name, capability=f"{p.major}.{p.minor}", gpu_memory_gib=round(p.total_memory / 2**30, 1),
                    sms=p.multi_processor_count)
        # bf16 matrix-product peak as measured: 8192^3, 50 products after 5 warm-up ones.
        n = 8192
        a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
        for _ in range(5):
            a @ b
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(50):
            a @ b
        end.record()
        torch.cuda.synchronize()
        info["bf16_matmul_tflops_8192"] = round(2 * n**3 * 50 / (start.elapsed_time(end) / 1e3) / 1e12, 1)
except Exception as e:  # noqa: BLE001
    info["torch_error"] = f"{type(e).__name__}: {e}"
out = os.environ["OUT"]
with open(os.path.join(out, "env.json"), "w") as f:
    json.dump(info, f, indent=1)
print(json.dumps(info, indent=1))
with open(os.path.join(out, "logs", "facts", "env"), "a") as f:
    f.write(f"{info.get('gpu', 'no GPU')}; torch {info.get('torch')} (CUDA {info.get('cuda')}); "
            f"transformers {info.get('transformers')}; bf16 8192^3 matmul {info.get('bf16_matmul_tflops_8192', '?')} TFLOP/s\n")
sys.exit(0 if info.get("cuda_available") else 1)
EOF
  local rc=$?
  echo "== dependencies (system or carried):"
  prepare_deps
  return $rc
}

# The committed fixtures whose reference the workbench recorded (`dmoe parity --record`
# in expected.safetensors' metadata): transformers checks them (make_hf_fixtures.py --check).
workbench_made_fixtures() {
  "$PYTHON" - "$root"/tests/fixtures/hf/*/expected.safetensors <<'EOF'
import json, struct, sys
from pathlib import Path
for name in sys.argv[1:]:
    path = Path(name)
    if not path.is_file():
        continue
    with open(path, "rb") as f:
        meta = json.loads(f.read(struct.unpack("<Q", f.read(8))[0])).get("__metadata__", {})
    if meta.get("made_by") == "dmoe parity --record":
        print(path.parent)
EOF
}

section_fixtures() {
  rm -rf "$OUT/hf-fixtures"
  local checks=() d
  while IFS= read -r d; do checks+=(--check "$d"); done < <(workbench_made_fixtures)
  "$PYTHON" "$here/make_hf_fixtures.py" "$OUT/hf-fixtures" "${checks[@]}"
  local rc=$?
  rm -rf "$work/hf-fixtures"
  cp -a "$OUT/hf-fixtures" "$work/hf-fixtures" 2>/dev/null
  if [ -f "$OUT/hf-fixtures/manifest.json" ]; then
    "$PYTHON" - "$OUT/hf-fixtures/manifest.json" >>"$OUT/logs/facts/fixtures" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
ok = [f["name"] for f in m["fixtures"] if f["status"] == "ok"]
print(f"{len(ok)}/{len(m['fixtures'])} fixtures, {m['total_bytes']} bytes (limit {m['max_bytes']}), transformers {m['versions']['transformers']}")
for f in m["fixtures"]:
    if f.get("checked") and f["status"] != "failed":
        worst = "none finite" if f["max_relative"] is None else f"{f['max_relative']:.3g}"
        print(f"check {f['name']} (workbench vs transformers): {f['status']}, max relative {worst}"
              + (f", above 1e-4: {', '.join(f['above_tolerance'])[:240]}" if f["above_tolerance"] else ""))
    elif f["status"] != "ok":
        print(f"FAILED {f['name']}: {f['error'][:300]}")
    elif f.get("reader_notes"):
        print(f"reader {f['name']}: {'; '.join(f['reader_notes'])[:300]}")
EOF
  fi
  return $rc
}

section_build() {
  echo "== dependencies:"
  prepare_deps | tee "$work/deps.txt"
  grep -v ' system' "$work/deps.txt" >>"$OUT/logs/facts/build"  # only what did not come from the machine
  load_deps
  local torch_prefix cuda args t0 t1 rc
  torch_prefix=${DMOE_TORCH_PREFIX:-$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')} ||
    { fact "torch not importable"; return 1; }
  args=(-S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DDMOE_WITH_GUI=OFF
        "-DCMAKE_PREFIX_PATH=$torch_prefix${DMOE_PREFIXES:+;$DMOE_PREFIXES}")
  [ -n "$DMOE_PKG_CONFIG" ] && args+=("-DPKG_CONFIG_EXECUTABLE=$DMOE_PKG_CONFIG")
  [ -n "$DMOE_SPM_TRAIN_LIB" ] && args+=("-DSENTENCEPIECE_TRAIN_LIB=$DMOE_SPM_TRAIN_LIB")
  # Where the linker finds the dependencies of the libraries it links (libicuuc -> libicudata;
  # libtorch_cuda -> pip's cuBLAS, cuDNN, NCCL…), which it checks but does not link.
  local linkpath
  linkpath=$(torch_libdirs)
  linkpath="${DMOE_LIBDIRS}${DMOE_LIBDIRS:+${linkpath:+:}}$linkpath"
  if [ -n "$linkpath" ]; then
    local link="-Wl,-rpath-link,$linkpath"
    args+=("-DCMAKE_EXE_LINKER_FLAGS=$link" "-DCMAKE_SHARED_LINKER_FLAGS=$link" "-DCMAKE_MODULE_LINKER_FLAGS=$link")
  fi
  if cuda=$(find_cuda_root); then
    export CUDACXX=$cuda/bin/nvcc CUDA_HOME=$cuda
    args+=("-DCUDAToolkit_ROOT=$cuda" "-DCUDA_TOOLKIT_ROOT_DIR=$cuda" "-DCMAKE_CUDA_COMPILER=$cuda/bin/nvcc")
    [ -d "$cuda/include/nvtx3" ] && args+=("-Dnvtx3_dir=$cuda/include")
  else
    echo "no CUDA toolkit found: configuring anyway (LibTorch's Caffe2 CMake files will probably ask for one)"
  fi
  export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
  {
    echo "== $(date -u '+%F %T') cmake ${args[*]}"
    echo "== PKG_CONFIG_PATH=$PKG_CONFIG_PATH"
  } >"$OUT/build.log"
  t0=$(now)
  cmake "${args[@]}" >>"$OUT/build.log" 2>&1
  rc=$?
  t1=$(now)
  fact "configure: rc $rc, $(since "$t0") s"
  if [ $rc -eq 0 ]; then
    echo "== $(date -u '+%F %T') cmake --build $build -j $DMOE_JOBS --target dmoe_core dmoe dmoe-bench" >>"$OUT/build.log"
    cmake --build "$build" -j "$DMOE_JOBS" --target dmoe_core dmoe dmoe-bench >>"$OUT/build.log" 2>&1
    rc=$?
    fact "build: rc $rc, $(since "$t1") s, $DMOE_JOBS jobs"
  fi
  grep -E 'LibTorch|Qt 6|CUDA|Found|Could NOT|Manually-specified' "$OUT/build.log" | head -n 40
  if [ $rc -ne 0 ]; then
    grep -n -E 'error:|Error|undefined reference|No such file|not found' "$OUT/build.log" | head -n 80 >"$OUT/build-errors.txt"
    head -n 6 "$OUT/build-errors.txt" | cut -c1-240 | sed 's/^/  /' >>"$OUT/logs/facts/build"
    tail -n 40 "$OUT/build.log"
    return $rc
  fi
  local bin
  for bin in "$build/app/dmoe" "$build/benchmarks/dmoe-bench"; do
    ls -la "$bin"
    LD_LIBRARY_PATH=$(runtime_path "$bin") ldd "$bin" | grep -E 'not found|torch|c10|cuda|icu|pcre|zstd|libz' || true
  done
  # grep -c exits 1 when it counts none: that is not the section's failure.
  { grep -c ': warning:' "$OUT/build.log" || true; } | sed 's/^/compiler warnings: /' | tee -a "$OUT/logs/facts/build"
  return 0
}

# dmoe with the carried libraries on its library path.
run_dmoe() { local bin=$1; shift; LD_LIBRARY_PATH=$(runtime_path "$bin") "$bin" "$@"; }

section_inspect() {
  load_deps
  local dmoe=$build/app/dmoe
  [ -x "$dmoe" ] || { echo "no $dmoe: run the build section first"; fact "no dmoe binary"; return 1; }
  run_dmoe "$dmoe" info | tee "$OUT/dmoe-info.txt"
  fact "$(grep -E '^(LibTorch|GPUs)' "$OUT/dmoe-info.txt" | tr -s ' ' | paste -sd ';' -)"
  local fixtures=$work/hf-fixtures d name ok=0 all=0 failed=""
  [ -d "$fixtures" ] || fixtures=$OUT/hf-fixtures
  mkdir -p "$OUT/inspect"
  for d in "$fixtures"/*/; do
    [ -f "$d/config.json" ] || continue
    name=$(basename "$d"); all=$((all + 1))
    if run_dmoe "$dmoe" inspect "$d" >"$OUT/inspect/$name.txt" 2>&1; then ok=$((ok + 1)); echo "inspect $name: ok"
    else failed="$failed $name"; echo "inspect $name: FAILED"; tail -n 3 "$OUT/inspect/$name.txt"; fi
  done
  fact "dmoe inspect: $ok/$all fixtures load${failed:+; failed:$failed}"
  # Parity with transformers' numbers (train/parity.h), fp32, on the CPU and on the GPU.
  local dev good n bad parity_failed=0
  mkdir -p "$OUT/parity"
  for dev in cpu cuda; do
    good=0; n=0; bad=""
    for d in "$fixtures"/*/; do
      [ -f "$d/expected.safetensors" ] || continue
      name=$(basename "$d"); n=$((n + 1))
      if run_dmoe "$dmoe" parity "$d" --device "$dev" >"$OUT/parity/$name.$dev.txt" 2>&1; then good=$((good + 1))
      else bad="$bad $name"; tail -n 2 "$OUT/parity/$name.$dev.txt"; fi
    done
    fact "dmoe parity --device $dev: $good/$n fixtures within 1e-4${bad:+; outside or failed:$bad}"
    echo "dmoe parity --device $dev: $good/$n${bad:+; not:$bad}"
    [ -z "$bad" ] || parity_failed=1
  done
  [ "$all" -gt 0 ] && [ -z "$failed" ] && [ $parity_failed = 0 ]
}

# The micro project with device cuda; results (not checkpoints) copied to $OUT/micro.
run_micro() {
  local dir=$1 dmoe=$2 rc; shift 2
  rm -rf "$dir"
  "$PYTHON" "$here/make_micro_project.py" "$dir" --device cuda --precision bf16 "$@" || return 1
  local t0; t0=$(now)
  (cd "$dir" && timeout -k 5 150 env LD_LIBRARY_PATH="$(runtime_path "$dmoe")" "$dmoe" run micro.dmoe.json) \
    >"$dir/run.log" 2>&1
  rc=$?
  local name; name=$(basename "$dir")
  mkdir -p "$OUT/$name"
  cp "$dir/run.log" "$dir/micro.dmoe.json" "$OUT/$name/"
  (cd "$dir" && find runs -type f -size -512k \( -name '*.json' -o -name '*.jsonl' -o -name '*.csv' -o -name '*.txt' -o -name '*.md' \) \
     -exec cp --parents {} "$OUT/$name/" \; 2>/dev/null)
  fact "$name (tokenizer ${*:-train}): rc $rc, $(since "$t0") s"
  grep -iE 'error|perplexity|ppl' "$dir/run.log" | tail -n 4 | cut -c1-200 | sed 's/^/  /' >>"$OUT/logs/facts/$section"
  tail -n 25 "$dir/run.log"
  return $rc
}

section_micro() {
  load_deps
  local dmoe=$build/app/dmoe
  [ -x "$dmoe" ] || { echo "no $dmoe: run the build section first"; fact "no dmoe binary"; return 1; }
  run_micro "$work/micro" "$dmoe" && return 0
  if grep -qi 'sentencepiece' "$work/micro/run.log"; then
    echo "== the sentencepiece tokenizer failed: the same project with a byte-level BPE tokenizer.json"
    run_micro "$work/micro-hf" "$dmoe" --tokenizer hf
  fi
  return 1
}

# The Qt Test suites that need no GUI (the build section configured them when Qt
# Core and Test were found), built against this LibTorch and run on its CPU path;
# the tokenizer suites that fetch transformers.js with npm are left out (no internet).
section_tests() {
  load_deps
  [ -f "$build/CMakeCache.txt" ] || { echo "no $build: run the build section first"; fact "not configured"; return 1; }
  local t0 rc
  t0=$(now)
  echo "== $(date -u '+%F %T') cmake --build $build -j $DMOE_JOBS (every target: the suites)" >"$OUT/tests-build.log"
  cmake --build "$build" -j "$DMOE_JOBS" >>"$OUT/tests-build.log" 2>&1
  rc=$?
  fact "suites build: rc $rc, $(since "$t0") s"
  if [ $rc -ne 0 ]; then
    grep -n -E 'error:|undefined reference' "$OUT/tests-build.log" | head -n 6 | cut -c1-240 | sed 's/^/  /' >>"$OUT/logs/facts/tests"
    return $rc
  fi
  local suites; suites=$(ctest --test-dir "$build" -N 2>/dev/null | sed -n 's/^Total Tests: //p')
  [ "${suites:-0}" -gt 0 ] || { fact "no suites configured (Qt Core and Test not found)"; return 1; }
  t0=$(now)
  (cd "$build" && LD_LIBRARY_PATH=$(runtime_path "$build/app/dmoe") QT_QPA_PLATFORM=offscreen \
     ctest -j "$(( DMOE_JOBS > 8 ? 8 : DMOE_JOBS ))" -E 'hf_tokenizer' --output-on-failure) >"$OUT/ctest.log" 2>&1
  rc=$?
  fact "$(grep -E 'tests passed' "$OUT/ctest.log" | tail -n 1) ($(since "$t0") s; tokenizer suites left out)"
  grep -E '^[[:space:]]+[0-9]+ - ' "$OUT/ctest.log" | sed 's/^[[:space:]]*/failed: /' >>"$OUT/logs/facts/tests"
  tail -n 25 "$OUT/ctest.log"
  return $rc
}

# One benchmark process with nvidia-smi sampling GPU memory beside it.
bench_run() {  # out-base command...
  local base=$1; shift
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n 1 >"$base.gpumem"
  ( while :; do nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits 2>/dev/null | head -n 1; sleep 0.25; done ) >>"$base.gpumem" &
  local sampler=$! rc t0
  t0=$(now)
  timeout -k 10 150 "$@" >"$base.json.tmp" 2>"$base.log"
  rc=$?
  kill "$sampler" 2>/dev/null; wait "$sampler" 2>/dev/null
  # Standard output is the run's JSON object (hf_train_bench.py prints one with "error" when out of
  # memory); anything else (a crash) is kept as text.
  if grep -q '^{' "$base.json.tmp"; then mv "$base.json.tmp" "$base.json"; else mv "$base.json.tmp" "$base.stdout.txt"; fi
  echo "$(basename "$base"): rc $rc, $(since "$t0") s"
  [ $rc -eq 0 ] || tail -n 15 "$base.log"
  return $rc
}

section_bench() {
  load_deps
  local out=$OUT/bench bench=$build/benchmarks/dmoe-bench rc=0
  mkdir -p "$out"
  local common=(--seq 2048 --batch "$bench_batch" --steps "$bench_steps" --warmup "$bench_warmup")
  # shape -> model flags shared by dmoe-bench and hf_train_bench.py (tied embeddings, random weights):
  # a Llama of ~500 M parameters and BLOOM-560M itself (ALiBi, LayerNorms, biases, GELU MLP).
  declare -A shapes=(
    [llama500m]="--family llama --hidden 1536 --layers 18 --heads 12 --kv-heads 4 --ffn 4096 --vocab 32000"
    [bloom560m]="--family bloom --hidden 1024 --layers 24 --heads 16 --vocab 250880"
  )
  local shape flags
  for shape in llama500m bloom560m; do
    read -r -a flags <<<"${shapes[$shape]}"
    if [ -x "$bench" ]; then
      bench_run "$out/$shape.dmoe" env LD_LIBRARY_PATH="$(runtime_path "$bench")" \
        "$bench" --device cuda --precision bf16 "${flags[@]}" "${common[@]}" || rc=1
    else
      echo "no $bench: dmoe-bench runs skipped"
    fi
    bench_run "$out/$shape.hf" "$PYTHON" "$here/hf_train_bench.py" "${flags[@]}" "${common[@]}" \
      --label "$shape" --peak-tflops "$peak" || rc=1
  done

  # The table now, in case the profiled run below runs into the section's time limit.
  "$PYTHON" "$here/summarize_bench.py" table "$out" --peak-tflops "$peak" >"$out/table.md"

  # Host syncs per training step of the workbench's loop (dense Llama: no MoE dispatch here).
  if [ -x "$bench" ]; then
    local trace=$work/dmoe-bench-trace.json
    read -r -a flags <<<"${shapes[llama500m]}"
    if timeout -k 10 90 env LD_LIBRARY_PATH="$(runtime_path "$bench")" "$bench" --device cuda --precision bf16 \
         "${flags[@]}" --seq 2048 --batch "$bench_batch" --steps 3 --warmup 1 --profile "$trace" \
         >"$out/llama500m.profiled.txt" 2>&1; then
      "$PYTHON" "$here/summarize_bench.py" syncs "$trace" 4 | tee "$out/llama500m.syncs.txt"
      "$PYTHON" "$root/benchmarks/trace_summary.py" "$trace" --top 30 >"$out/llama500m.trace-summary.txt"
      head -n 3 "$out/llama500m.syncs.txt" | sed 's/^/syncs: /' >>"$OUT/logs/facts/bench"
    else
      echo "profiled dmoe-bench run failed"; tail -n 10 "$out/llama500m.profiled.txt"
    fi
  fi
  "$PYTHON" "$here/summarize_bench.py" table "$out" --peak-tflops "$peak" | tee "$out/table.md"
  grep -E '^\| |^- ' "$out/table.md" | grep -v -- '---' >>"$OUT/logs/facts/bench"
  return $rc
}

# ---------------------------------------------------------------- driver

if [ "${1:-}" = "--section" ]; then  # internal: one section, run by the driver under `timeout`
  section=$2
  "section_$section"
  exit $?
fi
if [ "${1:-}" = "--deps" ]; then  # only decide the dependencies and show $work/deps.env (cheap; for debugging)
  prepare_deps
  cat "$work/deps.env"
  exit 0
fi

requested=("$@")
[ ${#requested[@]} -eq 0 ] && requested=("${sections[@]}")
for s in "${requested[@]}"; do
  [ -n "${need[$s]:-}" ] || { echo "unknown section '$s' (sections: ${sections[*]})" >&2; exit 2; }
done

start=$(date +%s)
summary=$OUT/summary.txt
{
  echo "DMoE Workbench GPU checks (scripts/device/run_gpu_checks.sh ${requested[*]})"
  echo "started $(date -u '+%F %T') UTC on $(hostname); budget ${budget}s"
  printf '%-9s %-7s %8s\n' section status seconds
} >>"$summary"

failed=0
for section in "${requested[@]}"; do
  elapsed=$(( $(date +%s) - start ))
  left=$(( budget - elapsed ))
  if [ "$left" -lt "${need[$section]}" ]; then
    printf '%-9s %-7s %8s  %s\n' "$section" SKIP - "only ${left}s of the budget left; rerun: bash scripts/device/run_gpu_checks.sh $section" | tee -a "$summary"
    continue
  fi
  lim=${limit[$section]}
  [ "$lim" -gt "$left" ] && lim=$left
  echo
  echo "================================================================ $section (limit ${lim}s)"
  rm -f "$OUT/logs/facts/$section"
  t0=$(now)
  timeout -k 15 "$lim" bash "$self" --section "$section" >"$OUT/logs/$section.log" 2>&1
  rc=$?
  seconds=$(since "$t0")
  case $rc in
    0) status=ok ;;
    124|137) status=TIMEOUT; failed=1 ;;
    *) status="FAIL($rc)"; failed=1 ;;
  esac
  tail -n 20 "$OUT/logs/$section.log"
  printf '%-9s %-7s %8s\n' "$section" "$status" "$seconds" | tee -a "$summary"
  [ -f "$OUT/logs/facts/$section" ] && sed 's/^/          /' "$OUT/logs/facts/$section" | tee -a "$summary"
done
echo "ended $(date -u '+%F %T') UTC, $(( $(date +%s) - start )) s" >>"$summary"
echo
echo "================================================================ summary ($summary)"
cat "$summary"
exit $failed
