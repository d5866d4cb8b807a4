#!/usr/bin/env python3
"""Tables of the GPU benchmark runs that run_gpu_checks.sh leaves in
$OUT/bench, in the README's Markdown, and the host-sync count of a
`dmoe-bench --profile` trace. Standard library only.

    python3 scripts/device/summarize_bench.py table BENCH_DIR [--peak-tflops 989.4]
        BENCH_DIR/<shape>.<impl>.json (impl: dmoe = dmoe-bench, hf = hf_train_bench.py)
        and, beside each, <shape>.<impl>.gpumem (nvidia-smi memory.used samples
        in MiB, one per line; the first is the idle baseline). Prints one row per
        run — training and inference tokens/s, MFU, peak GPU memory — and per
        shape the dmoe / transformers training ratio.
    python3 scripts/device/summarize_bench.py syncs TRACE STEPS
        Counts the operators of a LibTorch trace (Chrome JSON, `dmoe-bench
        --profile`) that wait for the GPU — item() (_local_scalar_dense),
        nonzero, is_nonzero, equal — in total and per training step.

Not here: running anything, or judging the figures (the README does that).
"""
import argparse
import json
import statistics
from pathlib import Path

SYNC_OPS = ("aten::_local_scalar_dense", "aten::item", "aten::nonzero", "aten::is_nonzero", "aten::equal",
            "aten::masked_select", "aten::unique", "aten::_unique2")


def gpu_peak_mib(path):
    """(peak − idle baseline, peak) from an nvidia-smi sample file, or (None, None)."""
    try:
        values = [float(x) for x in path.read_text().split() if x.replace(".", "", 1).isdigit()]
    except OSError:
        return None, None
    if not values:
        return None, None
    return max(values) - values[0], max(values)


def read_json_object(path):
    """The JSON object in a run's standard output, from the first line that opens one."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if line.startswith("{"):
            return json.loads("\n".join(lines[i:]))
    raise ValueError(f"no JSON object in {path}")


def fmt(x, digits=0):
    if x is None:
        return "—"
    return f"{x:,.{digits}f}"


def table(a):
    bench = Path(a.bench_dir)
    rows, by_shape = [], {}
    for f in sorted(bench.glob("*.json")):
        parts = f.name.split(".")
        if len(parts) < 3:
            continue
        shape, impl = parts[0], parts[1]
        try:
            r = read_json_object(f)
        except (json.JSONDecodeError, ValueError):
            rows.append(f"| {shape} | {impl} | (unreadable JSON) | | | | | |")
            continue
        if "error" in r:
            rows.append(f"| {shape} | {impl} | error: {r['error']} | | | | | |")
            continue
        train = r.get("train_tokens_per_s")
        gflops = r.get("model_gflops_train")
        mfu = gflops / (a.peak_tflops * 1e3) if gflops else None
        used, _ = gpu_peak_mib(f.with_suffix(".gpumem"))
        torch_peak = r.get("peak_gpu_mem_allocated_mib")
        params = r.get("parameters")
        by_shape.setdefault(shape, {})[impl] = train
        rows.append(f"| {shape} | {impl} | {fmt(params / 1e6 if params else None, 1)} M | {fmt(train)} | "
                    f"{fmt(r.get('inference_tokens_per_s'))} | {fmt(100 * mfu if mfu else None, 1)} % | "
                    f"{fmt(used)} | {fmt(torch_peak)} |")
    print(f"MFU against {a.peak_tflops} TFLOP/s dense bf16; GPU memory: nvidia-smi peak minus idle (MiB), "
          "and torch.cuda.max_memory_allocated where the run reports it.\n")
    print("| shape | implementation | parameters | train tok/s | inference tok/s | train MFU | GPU mem (smi) | "
          "GPU mem (torch) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(row)
    ratios = [(s, v["dmoe"] / v["hf"]) for s, v in sorted(by_shape.items())
              if v.get("dmoe") and v.get("hf")]
    if ratios:
        print()
        for shape, ratio in ratios:
            print(f"- {shape}: dmoe-bench / transformers training tokens/s = {ratio:.2f}x")


def syncs(a):
    with open(a.trace) as f:
        trace = json.load(f)
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    counts = {}
    for e in events:
        name = e.get("name", "")
        if e.get("ph") == "X" and name in SYNC_OPS:
            counts[name] = counts.get(name, 0) + 1
    steps = max(1, a.steps)
    if not counts:
        print("no host-sync operators in the trace")
    for name, n in sorted(counts.items(), key=lambda kv: -kv[1]):
        print(f"{name:32} {n:6d} calls  {n / steps:8.1f} per step")
    durations = [e["dur"] for e in events if e.get("ph") == "X" and e.get("name") in SYNC_OPS and "dur" in e]
    if durations:
        print(f"median sync-op wall time {statistics.median(durations):.0f} us (includes waiting for the GPU)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("table")
    t.add_argument("bench_dir")
    t.add_argument("--peak-tflops", type=float, default=989.4)
    s = sub.add_parser("syncs")
    s.add_argument("trace")
    s.add_argument("steps", type=int)
    a = ap.parse_args()
    table(a) if a.cmd == "table" else syncs(a)


if __name__ == "__main__":
    main()
