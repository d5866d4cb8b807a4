#!/usr/bin/env python3
"""Seed-to-seed spread of a project's results (not part of CI: hours on a CPU).

    scripts/demo_seeds.py run PROJECT --seeds 2 3 [--out DIR] [--patch JSON]
        writes DIR/<name>-seed<S>.dmoe.json for each seed — the project with
        every training seed (base pretraining, deviation, the router
        initialisation of merge, DMoE stages 1 and 2,
        adaptation, random grouping) set to S and its own runs folder; the data
        slices, tokenizer and held-out documents stay those of the project —
        and runs `dmoe run` on each, one after the other. --patch merges a
        JSON merge patch (RFC 7396) into every seed's project first, e.g.
        '{"precision": "bf16"}' for the same seeds in another precision (give
        each variant its own --out).
    scripts/demo_seeds.py tabulate RUNS_DIR [RUNS_DIR ...]
        reads report/report.json (when the run got that far), group/groups.json
        and similarity/similarity.json of each runs folder and prints, per
        method, the mean held-out PPL ± the sample standard deviation over the
        runs, the groups' pairwise adjusted Rand index, and the clustering
        checks below per run.
    scripts/demo_seeds.py check SIMILARITY.csv
        the clustering checks on a similarity matrix in the published CSV
        layout (e.g. the paper's BLOOM-560M matrix in shared/reference/).

Clustering checks (docs/demo-design.md states them): each of the known
relatives in PAIRS has positive similarity and ranks in the top quarter (the
first 4 of 17) of both languages' rows; the groups' adjusted Rand index
against FAMILIES.

The project's own runs folder is the seed it names (1234 in the demo). Standard
library only.
"""
import argparse
import csv
import itertools
import json
import math
import os
import subprocess
import sys
from pathlib import Path

SEEDED = [("base_model", "pretrain"), ("deviation",), ("merge",), ("train", "stage1"), ("train", "stage2"),
          ("adaptation",), ("grouping",)]
# Language tags (the similarity files' labels).
PAIRS = [("ru", "uk"), ("hi", "ur"), ("ta", "te"), ("ar", "ur"), ("de", "nl"), ("fr", "it"), ("ja", "zh")]
# The labelling the demo's groups are compared with: the language family where
# the 18 hold several of one (Slavic, Germanic, Romance, Indo-Aryan,
# Dravidian), else the areal group (East Asian; mainland and maritime
# Southeast Asian); Arabic alone. Stated in docs/demo-design.md before measuring.
FAMILIES = {"ru": "slavic", "uk": "slavic", "de": "germanic", "nl": "germanic", "fr": "romance", "it": "romance",
            "bn": "indo-aryan", "hi": "indo-aryan", "ur": "indo-aryan", "ta": "dravidian", "te": "dravidian",
            "ja": "east-asian", "ko": "east-asian", "zh": "east-asian", "id": "southeast-asian",
            "th": "southeast-asian", "vi": "southeast-asian", "ar": "semitic"}


def merge_patch(target, patch):
    """RFC 7396: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return patch
    target = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        else:
            target[k] = merge_patch(target.get(k), v)
    return target


def relocated(p: dict, project: Path, runs: Path, corpus_root: Path) -> dict:
    """The project p (read from `project`) written elsewhere: its own runs folder;
    an imported corpus (corpus.source) under corpus_root, given files where they are;
    the labelling CSV found where the original names it."""
    p = dict(p)
    p["runs_dir"] = str(runs)
    corpus = p.setdefault("corpus", {})
    corpus["root"] = str(corpus_root) if "source" in corpus else str((project.parent / corpus.get("root", "corpus")).resolve())
    labelling = p.get("similarity", {}).get("labelling")
    if labelling:
        p["similarity"] = dict(p["similarity"], labelling=str((project.parent / labelling).resolve()))
    return p


def seeded_project(project: Path, seed: int, out: Path, patch=None) -> Path:
    runs = out / f"runs-seed{seed}"
    p = relocated(merge_patch(json.loads(project.read_text()), patch or {}), project, runs, runs / "corpus")
    for path in SEEDED:
        node = p
        for k in path:
            node = node.setdefault(k, {})
        node["seed"] = seed
    p["name"] = f"{p.get('name', project.stem)} (seed {seed})"
    target = out / f"{project.name.split('.')[0]}-seed{seed}.dmoe.json"
    target.write_text(json.dumps(p, indent=2) + "\n")
    return target


def run(args):
    out = Path(args.out).resolve()
    try:
        patch = json.loads(args.patch) if args.patch else None
    except json.JSONDecodeError as e:
        fail(f"--patch: not JSON ({e})")
    if patch is not None and not isinstance(patch, dict):
        fail("--patch: expected a JSON object (a merge patch of the project)")
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        target = seeded_project(Path(args.project).resolve(), seed, out, patch)
        print(f"==> {target}", flush=True)
        code = subprocess.call([args.dmoe, "run", str(target)])
        if code != 0:
            sys.exit(code)


def ari(a, b):
    """Adjusted Rand index of two partitions given as {item: label}."""
    items = sorted(set(a) & set(b))
    n = len(items)
    comb = lambda k: k * (k - 1) / 2
    table = {}
    for i in items:
        table[(a[i], b[i])] = table.get((a[i], b[i]), 0) + 1
    rows, cols = {}, {}
    for (x, y), c in table.items():
        rows[x] = rows.get(x, 0) + c
        cols[y] = cols.get(y, 0) + c
    index = sum(comb(c) for c in table.values())
    row_sum, col_sum = sum(comb(c) for c in rows.values()), sum(comb(c) for c in cols.values())
    expected = row_sum * col_sum / comb(n)
    top = (row_sum + col_sum) / 2
    return 1.0 if top == expected else (index - expected) / (top - expected)


def mean_sd(values):
    m = sum(values) / len(values)
    sd = math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1)) if len(values) > 1 else float("nan")
    return m, sd


def relatives(tags, matrix):
    """Per pair of PAIRS: (similarity, rank of b in a's row, rank of a in b's row, passes)."""
    n = len(tags)
    quarter = (n - 1) // 4
    out = {}
    for a, b in PAIRS:
        if a not in tags or b not in tags:
            continue
        i, j = tags.index(a), tags.index(b)
        rank = lambda r, c: 1 + sum(1 for k in range(n) if k not in (r, c) and matrix[r][k] > matrix[r][c])
        ri, rj = rank(i, j), rank(j, i)
        out[(a, b)] = (matrix[i][j], ri, rj, matrix[i][j] > 0 and ri <= quarter and rj <= quarter)
    return out


def print_checks(tags, matrix, groups=None):
    checks = relatives(tags, matrix)
    print("  relatives (similarity, rank in both rows): " + ", ".join(
        f"{a}–{b} {v:+.2f} ({ri},{rj}){'' if ok else ' ✗'}" for (a, b), (v, ri, rj, ok) in checks.items()) +
          f" — {sum(ok for *_, ok in checks.values())} of {len(checks)} pass")
    if groups is not None:
        labels = {t: g for g, group in enumerate(groups) for t in group}
        print(f"  groups {' '.join('{' + ' '.join(g) + '}' for g in groups)}: ARI against the families "
              f"{ari(labels, FAMILIES):.2f}")


def fail(message):
    sys.exit(f"demo_seeds.py: {message}")


def read_json(path):
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        fail(f"{path}: missing (has that stage run in this runs folder?)")
    except json.JSONDecodeError as e:
        fail(f"{path}:{e.lineno}: not valid JSON ({e.msg})")


def read_run(d):
    d = Path(d)
    sim = read_json(d / "similarity" / "similarity.json")
    if not all(k in sim for k in ("labels", "languages", "matrix")):
        fail(f"{d / 'similarity' / 'similarity.json'}: expected keys labels, languages, matrix")
    tags = sim["labels"]
    tag_of = dict(zip(sim["languages"], tags))
    groups = None
    if (d / "group" / "groups.json").exists():
        groups = [[tag_of.get(l, l) for l in g["languages"]] for g in read_json(d / "group" / "groups.json")["groups"]]
    report = d / "report" / "report.json"
    return tags, sim["matrix"], groups, read_json(report) if report.exists() else None


def tabulate(args):
    runs = [read_run(d) for d in args.runs]
    print(f"{len(runs)} runs: " + ", ".join(args.runs))
    reports = [r[3] for r in runs if r[3] is not None]
    if reports:
        methods = [row["method"] for row in reports[0]["perplexity"]]
        print(f"\n{'method':34} {'mean PPL':>9} {'± sd':>7}   per run ({len(reports)} with a report)")
        for m in methods:
            values = [next(r for r in rep["perplexity"] if r["method"] == m)["average"] for rep in reports]
            mean, sd = mean_sd(values)
            print(f"{m:34} {mean:9.1f} {sd:7.1f}   " + " ".join(f"{v:.1f}" for v in values))
        # Within a seed every method starts from the same base: the paired difference is the comparison.
        reference = next((m for m in methods if "dense-continue" in m), None)
        if reference is not None:
            ref = [next(r for r in rep["perplexity"] if r["method"] == reference)["average"] for rep in reports]
            print(f"\npaired, relative to {reference} in the same run (mean ± sd over runs):")
            for m in methods:
                if m == reference:
                    continue
                values = [next(r for r in rep["perplexity"] if r["method"] == m)["average"] for rep in reports]
                diffs = [100 * (v / d - 1) for v, d in zip(values, ref)]
                mean, sd = mean_sd(diffs)
                print(f"  {m:32} {mean:+6.1f} % ± {sd:4.1f}   " + " ".join(f"{x:+.1f}" for x in diffs))
    labels = [{t: g for g, group in enumerate(r[2]) for t in group} for r in runs if r[2] is not None]
    scores = [ari(labels[i], labels[j]) for i, j in itertools.combinations(range(len(labels)), 2)]
    if scores:
        print(f"\ngroups, pairwise adjusted Rand index: " + " ".join(f"{s:.2f}" for s in scores) +
              f" (mean {sum(scores) / len(scores):.2f})")
    for i, (tags, matrix, groups, report) in enumerate(runs):
        print(f"\nrun {i + 1} ({args.runs[i]}):")
        print_checks(tags, matrix, groups)
        deviation = Path(args.runs[i]) / "deviation" / "deviation.json"
        st = json.loads(deviation.read_text()).get("stationarity") if deviation.exists() else None
        if st and st.get("r") is not None:
            print(f"  stationarity r {st['r']:.2f} (orthogonal pulls: {st.get('r_orthogonal') or float('nan'):.2f})")
        adaptation = (report or {}).get("adaptation")
        if isinstance(adaptation, dict) and "new_experts" in adaptation:
            shares = {lang: share for e in adaptation["new_experts"]
                      for lang, share in e.get("learned_router_top1_share", {}).items()}
            print(f"  adaptation: old languages' learned-router PPL {adaptation['soft_average_before']:.1f} → "
                  f"{adaptation['soft_average_after']:.1f}, hard-routed unchanged: {adaptation['old_hard_ppl_unchanged']}, "
                  f"old tensors bit-identical: {adaptation['frozen_bit_identical']}; new languages' top-1 share: " +
                  " ".join(f"{lang} {100 * v:.0f} %" for lang, v in shares.items()))


def read_matrix_csv(path):
    """The published layout: header lang,<tag>,...; one row per tag in the same order."""
    try:
        rows = list(csv.reader(Path(path).open(newline="")))
    except FileNotFoundError:
        fail(f"{path}: no such file")
    rows = [r for r in rows if r]
    if not rows or len(rows[0]) < 2:
        fail(f"{path}:1: expected a header lang,<tag>,<tag>,...")
    tags = [t.strip() for t in rows[0][1:]]
    matrix = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(tags) + 1 or row[0].strip() != tags[number - 2]:
            fail(f"{path}:{number}: expected the row of '{tags[number - 2] if number - 2 < len(tags) else '?'}' "
                 f"with {len(tags)} values")
        try:
            matrix.append([float(v) for v in row[1:]])
        except ValueError as e:
            fail(f"{path}:{number}: {e}")
    if len(matrix) != len(tags):
        fail(f"{path}: {len(matrix)} rows for {len(tags)} languages")
    return tags, matrix


def check(args):
    tags, matrix = read_matrix_csv(args.csv)
    print(args.csv)
    print_checks(tags, matrix, [g.split() for g in args.groups] if args.groups else None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="write seed variants of a project and run them")
    r.add_argument("project")
    r.add_argument("--seeds", type=int, nargs="+", required=True)
    r.add_argument("--out", default="seed-runs")
    r.add_argument("--patch", help="JSON merge patch applied to every seed's project, e.g. '{\"precision\": \"bf16\"}'")
    r.add_argument("--dmoe", default=os.environ.get("DMOE_CLI", "build/app/dmoe"))
    t = sub.add_parser("tabulate", help="mean ± spread over finished runs folders")
    t.add_argument("runs", nargs="+")
    c = sub.add_parser("check", help="the clustering checks on a published similarity CSV")
    c.add_argument("csv")
    c.add_argument("--groups", nargs="*", help="groups to score against the families, e.g. 'fr id vi' 'hi ta te' …")
    a = ap.parse_args()
    {"run": run, "tabulate": tabulate, "check": check}[a.command](a)


if __name__ == "__main__":
    main()
