#!/usr/bin/env python3
"""Totals a Chrome trace of LibTorch operators (`dmoe-bench --profile FILE`)
per operator name: self time (inclusive time minus the operators nested inside,
on the same thread), call count and share, largest first. Standard library only.

    build/benchmarks/dmoe-bench --steps 5 --warmup 1 --profile /tmp/trace.json
    python3 benchmarks/trace_summary.py /tmp/trace.json --top 25
"""
import argparse
import collections
import json


def self_times(events):
    """{name: [self microseconds, calls]} from complete ("X") events, nesting by time per thread."""
    totals = collections.defaultdict(lambda: [0.0, 0])
    by_thread = collections.defaultdict(list)
    for e in events:
        if e.get("ph") == "X":
            by_thread[(e.get("pid"), e.get("tid"))].append(e)
    for thread_events in by_thread.values():
        thread_events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack = []  # [end, name, child time]
        def close(until):
            while stack and stack[-1][0] <= until:
                end, name, children, dur = stack.pop()
                totals[name][0] += dur - children
                totals[name][1] += 1
                if stack:
                    stack[-1][2] += dur
        for e in thread_events:
            close(e["ts"])
            stack.append([e["ts"] + e["dur"], e["name"], 0.0, e["dur"]])
        close(float("inf"))
    return totals


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trace")
    ap.add_argument("--top", type=int, default=20)
    a = ap.parse_args()
    with open(a.trace) as f:
        totals = self_times(json.load(f))
    whole = sum(t for t, _ in totals.values()) or 1.0
    print(f"{'operator':44} {'self ms':>10} {'share':>7} {'calls':>7}")
    for name, (t, n) in sorted(totals.items(), key=lambda kv: -kv[1][0])[: a.top]:
        print(f"{name[:44]:44} {t / 1000:10.1f} {100 * t / whole:6.1f}% {n:7d}")
    print(f"{'all':44} {whole / 1000:10.1f}")


if __name__ == "__main__":
    main()
