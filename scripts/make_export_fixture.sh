#!/usr/bin/env bash
# make_export_fixture.sh — makes tests/fixtures/hf/dmoe_export_qwen2_moe (issue
# 14, part 2): a real DMoE exported as a Hugging Face Qwen2-MoE checkpoint,
# with the workbench's own logits, loss and gradient norms on fixed ids
# (`dmoe parity --record`: ids of the first seed from 1000 whose every top-2
# router choice wins by at least 1e-3), so test_hf_parity keeps the export's loading and
# numbers stable, and transformers can check the same folder on a machine that
# has it (scripts/device/make_hf_fixtures.py --check DIR writes transformers'
# expected.safetensors for it and prints the differences).
#
#   scripts/make_export_fixture.sh [OUT_DIR]     # default tests/fixtures/hf/dmoe_export_qwen2_moe
#
# The DMoE is the tests' micro project (scripts/device/make_micro_project.py:
# 5 languages, a 4-layer Llama of width 32, seconds on the CPU) with 3 groups,
# so each MoE layer routes top-2 of 3 experts, run up to `train`. Needs the
# built `dmoe` ($DMOE, default build/app/dmoe) and python3 (standard library).
# The tokenizer files the export copies are left out: the fixture is about
# weights. Not deterministic across machines (training rounds differently on
# other CPUs): a regenerated fixture is a new one, with new numbers.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dmoe=${DMOE:-$root/build/app/dmoe}
out=${1:-$root/tests/fixtures/hf/dmoe_export_qwen2_moe}
[ -x "$dmoe" ] || { echo "no $dmoe: build first (scripts/setup.sh build) or set DMOE" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 "$root/scripts/device/make_micro_project.py" "$work/micro" --device cpu --precision fp32
python3 - "$work/micro/micro.dmoe.json" <<'EOF'
import json, sys
path = sys.argv[1]
project = json.load(open(path))
project["grouping"]["groups"] = 3  # top-2 of 3 experts: the router's choice is exercised
json.dump(project, open(path, "w"), indent=2)
EOF
(cd "$work/micro" && "$dmoe" run micro.dmoe.json --until train)
"$dmoe" export "$work/micro/runs/train/model" "$work/exported"
rm -f "$work/exported"/tokenizer*
"$dmoe" parity "$work/exported" --record "$work/exported/expected.safetensors" --batch 2 --seq 12 --seed 1000
"$dmoe" parity "$work/exported"

python3 - "$work/exported" <<'EOF'
import json, struct, sys
from pathlib import Path
folder = Path(sys.argv[1])
config = json.loads((folder / "config.json").read_text())
with open(folder / "expected.safetensors", "rb") as f:  # the header's metadata: seed and routing margin used
    recorded = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))["__metadata__"]
summary = {
    "format": "dmoe-hf-fixture/1",
    "name": "dmoe_export_qwen2_moe",
    "model_type": config["model_type"],
    "notes": f"the tests' micro project (3 groups) trained by the workbench up to `train` and written by "
             f"`dmoe export` as Qwen2-MoE: {config['num_hidden_layers']} layers, dense {config['mlp_only_layers']}, "
             f"the others {config['num_experts']} experts top-{config['num_experts_per_tok']} renormalised, the zero "
             f"shared expert of width {config['shared_expert_intermediate_size']}, zero q/k/v biases, "
             f"{'tied' if config.get('tie_word_embeddings') else 'untied'} embeddings",
    "made_by": "scripts/make_export_fixture.sh",
    "reference": "the workbench itself (dmoe parity --record, CPU, fp32): a regression reference until "
                 "transformers' numbers for this folder replace expected.safetensors "
                 "(scripts/device/make_hf_fixtures.py --check)",
    "input": {"batch": 2, "seq": 12, "seed": int(recorded["seed"]),
              "min_router_margin": float(recorded["min_router_margin"]),
              "required_margin": 1e-3},
    "files": {f.name: f.stat().st_size for f in sorted(folder.iterdir()) if f.is_file()},
}
(folder / "fixture.json").write_text(json.dumps(summary, indent=1) + "\n")
EOF
rm -rf "$out.tmp"
mkdir -p "$(dirname "$out")"
cp -r "$work/exported" "$out.tmp"
rm -rf "$out"
mv "$out.tmp" "$out"
du -b "$out"/* | sed 's/^/  /'
echo "wrote $out"
