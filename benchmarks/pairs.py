#!/usr/bin/env python3
"""dmoe-bench against the Python peer in alternating pairs, in the same environment (not part of CI).

    /usr/bin/python3 benchmarks/pairs.py [--pairs 6] [--steps 15] [--warmup 3] [--precision fp32|bf16]
                                [--bench build/benchmarks/dmoe-bench] [--dmoe build/app/dmoe] [--json FILE]

A CPU VM's speed drifts by tens of percent within minutes, so one run of each
says little: this runs `dmoe-bench` and `reference_train.py` one after the
other, N times, swapping which goes first every pair (ABBA), and reports each
pair's train tokens/s, their ratio, and the medians. The peer gets the
environment dmoe gives itself (core/runtime/process_environment.h), read from
`dmoe info`: OMP_WAIT_POLICY=PASSIVE, the allocator setting, and
OPENBLAS_CORETYPE when dmoe chose the core (values already in this process's
environment are kept). The heading names the machine (CPU, bf16 matrix units,
OpenBLAS core, threads), so a figure always says where it came from. Run it
on an idle machine, with the Python that has torch (Debian's python3-torch:
/usr/bin/python3): the peer runs under this interpreter. Standard library only.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def fail(message):
    print(f"pairs.py: {message}", file=sys.stderr)
    sys.exit(2)


def runtime(dmoe):
    """dmoe info's runtime record (no matrix-product timing)."""
    try:
        out = subprocess.run([dmoe, "--events", "jsonl", "info", "--quick"], stdout=subprocess.PIPE, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        fail(f"{dmoe} info failed: {e}")
    for line in out.splitlines():
        event = json.loads(line)
        if event.get("event") == "result" and event.get("name") == "runtime":
            return event["data"]
    fail(f"{dmoe} info printed no runtime result")


def peer_environment(info):
    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    allocator = info.get("allocator", "")
    if allocator.startswith("GLIBC_TUNABLES=") and "dmoe's setting" in allocator:
        env.setdefault("GLIBC_TUNABLES", allocator.split("=", 1)[1].split(" ", 1)[0])
    if info.get("blas_core_origin", "").startswith("chosen by dmoe"):
        env.setdefault("OPENBLAS_CORETYPE", info["blas_core"])
    return env


def measure(command, env=None):
    result = subprocess.run(command, stdout=subprocess.PIPE, text=True, env=env)
    if result.returncode != 0:
        fail(f"{' '.join(command)} exited with {result.returncode}")
    start = result.stdout.find("{")
    try:
        return json.loads(result.stdout[start:]) if start >= 0 else fail(f"{' '.join(command)} printed no JSON")
    except json.JSONDecodeError as e:
        fail(f"{' '.join(command)} printed JSON that does not parse: {e}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--steps", type=int, default=15)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--bench", default="build/benchmarks/dmoe-bench")
    ap.add_argument("--dmoe", default=os.environ.get("DMOE_CLI", "build/app/dmoe"))
    ap.add_argument("--json", help="also write every run's record here")
    a = ap.parse_args()
    if a.pairs < 1:
        fail("--pairs must be at least 1")

    if subprocess.run([sys.executable, "-c", "import torch"], capture_output=True).returncode != 0:
        fail(f"{sys.executable} cannot import torch, which the peer needs: run this script with /usr/bin/python3 "
             "(Debian's python3-torch)")
    info = runtime(a.dmoe)
    env = peer_environment(info)
    common = ["--steps", str(a.steps), "--warmup", str(a.warmup), "--precision", a.precision]
    cpp = [a.bench, *common]
    python = [sys.executable, str(HERE / "reference_train.py"), *common]
    runs = []
    for pair in range(a.pairs):
        order = [("cpp", cpp, None), ("python", python, env)]
        if pair % 2:
            order.reverse()
        record = {}
        for name, command, environment in order:
            record[name] = measure(command, environment)
            print(f"pair {pair + 1}/{a.pairs} {name}: {record[name]['train_tokens_per_s']:,.0f} train tokens/s",
                  file=sys.stderr, flush=True)
        runs.append(record)

    peer_env = " ".join(f"{k}={env[k]}" for k in ("OMP_WAIT_POLICY", "GLIBC_TUNABLES", "OPENBLAS_CORETYPE") if k in env)
    print(f"### {info['cpu']}, bf16 matrix units: {'yes' if info.get('cpu_bf16_units') else 'no'}, "
          f"OpenBLAS core {info.get('blas_core', '?')} ({info.get('blas_core_origin', '?')}), {info['threads']} threads\n")
    print(f"{a.precision}, {a.pairs} alternating pairs of {a.steps} timed steps after {a.warmup}; peer environment: {peer_env}\n")
    print("| pair | dmoe-bench train tok/s | reference_train.py | ratio | dmoe-bench share of the matmul peak |")
    print("|---:|---:|---:|---:|---:|")
    ratios = []
    for i, r in enumerate(runs):
        c, p = r["cpp"]["train_tokens_per_s"], r["python"]["train_tokens_per_s"]
        ratios.append(c / p)
        share = r["cpp"].get("train_share_of_peak")
        print(f"| {i + 1} | {c:,.0f} | {p:,.0f} | {c / p:.2f} | {f'{100 * share:.1f} %' if share else '–'} |")
    med = lambda key, who: statistics.median(r[who][key] for r in runs)
    print(f"| median | {med('train_tokens_per_s', 'cpp'):,.0f} | {med('train_tokens_per_s', 'python'):,.0f} | "
          f"{statistics.median(ratios):.2f} | |")
    print(f"\nInference tokens/s, medians: dmoe-bench {med('inference_tokens_per_s', 'cpp'):,.0f}, "
          f"reference_train.py {med('inference_tokens_per_s', 'python'):,.0f}. "
          f"Peak RSS, medians: {med('peak_rss_mib', 'cpp'):,.0f} and {med('peak_rss_mib', 'python'):,.0f} MiB.")
    if a.json:
        Path(a.json).write_text(json.dumps({"runtime": info, "peer_environment": peer_env, "runs": runs}, indent=1) + "\n")


if __name__ == "__main__":
    main()
