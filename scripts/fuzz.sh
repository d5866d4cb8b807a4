#!/usr/bin/env bash
# The libFuzzer campaign (fuzz/): builds the targets with clang under
# AddressSanitizer and UBSan in their own build folder, then runs each for
# SECONDS on its seed corpus (fuzz/corpus/<target>, never written to; new
# inputs go to the build folder) and prints how many inputs each survived.
# A crash, leak, UB report or uncaught exception fails the script and leaves
# the input under <build>/crashes/.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]         # default 10 s, every target
#   scripts/fuzz.sh --runs N [TARGET...]          # N inputs each (the long run)
#   DMOE_FUZZ_BUILD_DIR (default build-fuzz), DMOE_JOBS (default 2)
#
# Targets: safetensors project corpus_line corpus_file corpus_compressed tokenizer_json config_json events
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${DMOE_FUZZ_BUILD_DIR:-$root/build-fuzz}
if [ "${1:-}" = --runs ]; then
  limit="-runs=${2:?--runs needs a count}"
  shift 2
else
  limit="-max_total_time=${1:-10}"
  [ $# -gt 0 ] && shift
fi
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(safetensors project corpus_line corpus_file corpus_compressed tokenizer_json config_json events)

if ! command -v clang++ >/dev/null; then
  echo "scripts/fuzz.sh: clang++ is missing (Debian packages clang libclang-rt-14-dev)" >&2
  exit 2
fi
if [ ! -f "$build/build.ninja" ]; then
  CC=clang CXX=clang++ cmake -S "$root/fuzz" -B "$build" -G Ninja >/dev/null
fi
cmake --build "$build" -j "${DMOE_JOBS:-2}"

mkdir -p "$build/crashes"
printf '%-18s %12s %8s\n' target executions seconds
for t in "${targets[@]}"; do
  work="$build/work/$t"
  mkdir -p "$work"
  log="$build/work/$t.log"
  started=$SECONDS
  if ! "$build/fuzz_$t" "$limit" -print_final_stats=1 -rss_limit_mb=2048 -max_len=65536 \
      -timeout=20 -artifact_prefix="$build/crashes/$t-" "$work" "$root/fuzz/corpus/$t" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "scripts/fuzz.sh: fuzz_$t failed; the input is in $build/crashes/ (log: $log)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  printf '%-18s %12s %8s\n' "$t" "${runs:-?}" "$((SECONDS - started))"
done
