#!/usr/bin/env python3
"""Fingerprint measurement cells (issue 33; not part of CI: minutes to hours on a CPU).

    scripts/fingerprint_cells.py run PROJECT CELLS.json --out DIR [--only NAME ...]
        CELLS.json: {"bases": {BASE: PATCH, ...}, "cells": {CELL: {"base": BASE, "patch": PATCH}, ...}}.
        Each base is the project with PATCH merged in (RFC 7396: null deletes)
        and its own runs folder DIR/runs-BASE; its cells run one after the
        other in that folder (`dmoe run --until group`; an activations cell
        runs to the base, then similarity and group), so the tokenizer,
        token cache and pretrained base are made once per base and each cell
        recomputes only the stages its patch changes (deviation, similarity,
        group). After each cell, its similarity.json, groups.json and event
        stream are kept in DIR/cells/CELL/ with the seconds each stage took.
        Cells already kept are skipped (delete DIR/cells/CELL to rerun one).
    scripts/fingerprint_cells.py tabulate DIR [--labelling family] [--seeds-of PREFIX ...]
        one Markdown row per kept cell: the fingerprint's source, split-half
        reliability (own half nearest, median half–half cosine), whether the
        pairs repeat between halves (r, p), the family score against the
        labelling (within − across, p, relatives on top, ARI of the tree), the
        ARI of the groups against it, and the seconds of the deviation and
        similarity stages when the cell computed them ("(skipped)" when an
        earlier cell of its base left them up to date). For each
        --seeds-of PREFIX, the mean pairwise ARI between the groups of the cells
        whose names start with PREFIX (the between-seed ARI).

The numbers are the stages' own (similarity.json's split_half and families;
the groups' ARI as the report computes it); this script only runs and tabulates. Standard
library only.
"""
import argparse
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from demo_seeds import ari, fail, merge_patch, read_json, relocated

HERE = Path(__file__).resolve().parent


def base_project(project: Path, base: str, patch, out: Path) -> dict:
    # An imported corpus is shared by every base (same source); given files stay where they are.
    return relocated(merge_patch(json.loads(project.read_text()), patch), project, out / f"runs-{base}", out / "corpus")


def stage_seconds(events_text):
    """{stage: seconds} of the stages that computed (done); skipped ones are left out."""
    started, seconds = {}, {}
    for line in events_text.splitlines():
        e = json.loads(line)
        if e.get("event") != "stage":
            continue
        if e["status"] == "started":
            started[e["stage"]] = e["t"]
        elif e["stage"] in started:
            t = started.pop(e["stage"])
            if e["status"] == "done":
                seconds[e["stage"]] = round(e["t"] - t, 1)
    return seconds


def run(args):
    out = Path(args.out).resolve()
    spec = read_json(args.cells)
    for name, cell in spec["cells"].items():
        if args.only and name not in args.only:
            continue
        kept = out / "cells" / name
        if (kept / "cell.json").exists():
            print(f"==> {name}: kept earlier, skipped", flush=True)
            continue
        base = cell["base"]
        p = merge_patch(base_project(Path(args.project).resolve(), base, spec["bases"][base], out), cell.get("patch", {}))
        out.mkdir(parents=True, exist_ok=True)
        target = out / f"{base}.dmoe.json"
        target.write_text(json.dumps(p, indent=2) + "\n")
        print(f"==> {name} (base {base})", flush=True)
        # The activations fingerprint needs the base, not the deviation stage:
        # its cells run the pipeline to the base, then similarity and group.
        similarity = p.get("similarity", {})
        activations = similarity.get("source") == "activations" and similarity.get("layer_set") != "selected"
        commands = ([["run", "--until", "pretrain"], ["run", "--from", "similarity", "--until", "group"]]
                    if activations else [["run", "--until", "group"]])
        events = ""
        for command in commands:
            result = subprocess.run([args.dmoe, "--events", "jsonl", *command, str(target)], stdout=subprocess.PIPE, text=True)
            events += result.stdout
            if result.returncode != 0:
                sys.stderr.write(result.stdout[-3000:])
                fail(f"{name}: dmoe {' '.join(command)} exited with {result.returncode}")
        runs = Path(p["runs_dir"])
        kept.mkdir(parents=True, exist_ok=True)
        for f in ("similarity/similarity.json", "group/groups.json"):
            shutil.copy(runs / f, kept / Path(f).name)
        (kept / "events.jsonl").write_text(events)
        cell_record = {"base": base, "patch": cell.get("patch", {}), "seconds": stage_seconds(events),
                       "project": p}
        (kept / "cell.json").write_text(json.dumps(cell_record, indent=1) + "\n")
        print(f"    seconds: {cell_record['seconds']}", flush=True)


def median(values):
    v = sorted(values)
    m = len(v) // 2
    return v[m] if len(v) % 2 else (v[m - 1] + v[m]) / 2


def fmt(v, digits=2, signed=False):
    if v is None:
        return "–"
    return f"{v:+.{digits}f}" if signed else f"{v:.{digits}f}"


def tabulate(args):
    out = Path(args.dir)
    cells = sorted(p for p in (out / "cells").iterdir() if (p / "cell.json").exists())
    if not cells:
        fail(f"{out / 'cells'}: no kept cells")
    print("| cell | source | own half nearest | median half–half | pairs repeat r (p) | within − across (p) "
          "| relatives on top (chance) | ARI tree | ARI groups | s deviation | s similarity |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    groups_of = {}
    for c in cells:
        sim = read_json(c / "similarity.json")
        groups = read_json(c / "groups.json")
        record = read_json(c / "cell.json")
        h = sim.get("split_half")
        fam = next((f for f in sim.get("families", []) if f["labelling"] == args.labelling), None)
        seconds = {k: (f"{record['seconds'][k]:.0f}" if k in record["seconds"] else "(skipped)")
                   for k in ("deviation", "similarity")}
        groups_of[c.name] = {l: g for g, group in enumerate(groups["groups"]) for l in group["languages"]}
        group_ari = ari(groups_of[c.name], dict(zip(sim["languages"], fam["labels"]))) if fam else None
        own = f"{sum(h['own_half_nearest'])}/{len(h['own_half_nearest'])}" if h else "–"
        half_median = fmt(median(h["reliability"]), 3, True) if h else "–"
        repeat = f"{fmt(h['structure_r'])} ({fmt(h['structure_p'], 3)})" if h else "–"
        score = f"{fmt(fam['gap'], 3, True)} ({fmt(fam['p_value'], 3)})" if fam else "–"
        top = f"{fam['relatives_on_top']}/{fam['with_relatives']} ({fam['relatives_on_top_by_chance']:.1f})" if fam else "–"
        print(f"| {c.name} | {sim.get('source', 'weights')} | {own} | {half_median} | {repeat} | {score} | {top} | "
              f"{fmt(fam['cluster_ari']) if fam else '–'} | {fmt(group_ari)} | {seconds['deviation']} | "
              f"{seconds['similarity']} |")
    for prefix in args.seeds_of or []:
        names = [n for n in groups_of if n.startswith(prefix)]
        scores = [ari(groups_of[a], groups_of[b]) for a, b in itertools.combinations(names, 2)]
        if scores:
            print(f"\nbetween-seed ARI of the groups, {prefix}* ({len(names)} cells): "
                  f"{sum(scores) / len(scores):.2f} (pairs: {', '.join(f'{s:.2f}' for s in scores)})")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run the cells of CELLS.json on PROJECT")
    r.add_argument("project")
    r.add_argument("cells")
    r.add_argument("--out", required=True)
    r.add_argument("--only", nargs="*", help="run these cells alone")
    r.add_argument("--dmoe", default=os.environ.get("DMOE", str(HERE.parent / "build" / "app" / "dmoe")))
    t = sub.add_parser("tabulate", help="one table row per kept cell")
    t.add_argument("dir")
    t.add_argument("--labelling", default="family")
    t.add_argument("--seeds-of", nargs="*", help="cell-name prefixes whose groups are compared between seeds")
    args = parser.parse_args()
    run(args) if args.command == "run" else tabulate(args)


if __name__ == "__main__":
    main()
