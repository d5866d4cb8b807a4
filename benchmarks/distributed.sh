#!/usr/bin/env bash
# One process with every core vs one process per core, on this machine, for
# the two ways a job splits work (benchmarks/README.md, "Processes"):
#   data-parallel — pretrain and the DMoE stages: one global batch, gradients all-reduced;
#   independent   — the deviation stage: each process fine-tunes its own language.
# Prints one line per run: configuration and the job's training tokens/s.
#   benchmarks/distributed.sh [BUILD_DIR] [extra dmoe-bench flags…]
set -euo pipefail
build=${1:-build}
shift || true
bench=$build/benchmarks/dmoe-bench
cores=$(nproc)
# Debian 12's torchrun (1.13 on Python 3.11) needs non-zero --redirects/--tee (see README).
launch=(torchrun --standalone --nproc_per_node "$cores" --redirects 2 --tee 2 --no_python "$bench")
rate() { python3 -c 'import json,sys; print(round(json.load(sys.stdin)["train_tokens_per_s"]))'; }
for mode in data-parallel independent; do
  # One process: the same run either way (one model, one batch, every core).
  one=$("$bench" --threads "$cores" "$@" | rate)
  echo "$mode: 1 process x $cores threads: $one tokens/s"
  many=$(OMP_NUM_THREADS=1 "${launch[@]}" --threads 1 --job "$mode" "$@" 2>/dev/null | rate)
  echo "$mode: $cores processes x 1 thread: $many tokens/s"
done
