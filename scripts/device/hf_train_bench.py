#!/usr/bin/env python3
"""The transformers side of issue 14's speed comparison: a model of a given
shape built by transformers (random weights) and trained in a plain PyTorch
loop on one GPU — bf16 autocast with fp32 master weights and optimizer state,
SDPA attention where the family supports it, AdamW — the same loop as
benchmarks/reference_train.py and the workbench's Trainer (decay on >= 2-D
weights, cosine schedule with warm-up, global-norm clipping at 1.0, token-mean
cross-entropy, one .item() per step). Prints one JSON object with the keys
dmoe-bench prints, plus peak GPU memory and model FLOPs utilisation (MFU).

    python3 scripts/device/hf_train_bench.py --family llama --hidden 1536 --layers 18 \\
        --heads 12 --kv-heads 4 --ffn 4096 --vocab 32000 --seq 2048 --batch 8 [--out FILE]
    python3 scripts/device/hf_train_bench.py --family bloom --hidden 1024 --layers 24 \\
        --heads 16 --vocab 250880 --seq 2048 --batch 8

FLOPs per token are counted as dmoe-bench counts them (matrix products only:
2 per weight of every projection and the LM head, plus QK^T and AV over the
whole T x T square; training = 3 x forward), so both MFU figures use one
formula: MFU = 3 * forward FLOPs/token * tokens/s / --peak-tflops. The default
peak, 989.4 TFLOP/s, is the H100/H200 SXM dense BF16 tensor-core figure
(without 2:4 sparsity); an H200 NVL (PCIe) is lower: pass its figure.

Not here: the workbench's side (dmoe-bench), multi-GPU, torch.compile, fused
kernels beyond what transformers picks itself, or anything on the CPU.
"""
import argparse
import json
import statistics
import sys
import time
from pathlib import Path

# The Trainer's learning-rate schedule and the inference timing, one copy each:
# benchmarks/reference_train.py's.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from reference_train import inference_rates, lr_at  # noqa: E402


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--family", choices=["llama", "bloom"], default="llama")
    for name, default in [("hidden", 1536), ("layers", 18), ("heads", 12), ("kv-heads", 0), ("ffn", 4096),
                          ("vocab", 32000), ("seq", 2048), ("batch", 8), ("steps", 10), ("warmup", 3)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--untied", action="store_true", help="Llama: separate lm_head (dmoe-bench always ties)")
    ap.add_argument("--attn", default="sdpa", help="attn_implementation to ask for (falls back to eager if refused)")
    ap.add_argument("--optimizer", choices=["foreach", "fused", "for-loop"], default="foreach",
                    help="AdamW implementation (PyTorch's default on CUDA is foreach)")
    ap.add_argument("--peak-tflops", type=float, default=989.4, help="dense bf16 peak of the GPU (H200 SXM: 989.4)")
    ap.add_argument("--label", default="", help="a name for this run, copied into the JSON")
    ap.add_argument("--out", default="", help="also write the JSON here")
    return ap.parse_args()


def forward_flops_per_token(a, kv_heads):
    """dmoe-bench's count (benchmarks/dmoe_bench.cpp forwardFlopsPerToken), per family."""
    d, f, t = float(a.hidden), float(a.ffn), float(a.seq)
    dh = d / a.heads
    kv = dh * kv_heads
    attention_products = 2 * 2 * t * d
    if a.family == "bloom":
        # fused QKV (3 d x d) and dense (d x d); MLP d -> 4d -> d.
        per_layer = 2 * (3 * d * d + d * d) + 2 * 2 * d * (4 * d) + attention_products
    else:
        per_layer = 2 * (d * d + 2 * d * kv + d * d) + 2 * 3 * d * f + attention_products
    return a.layers * per_layer + 2 * d * a.vocab


def build_model(a, torch, transformers):
    kv = a.kv_heads or a.heads
    if a.family == "bloom":
        config = transformers.BloomConfig(vocab_size=a.vocab, hidden_size=a.hidden, n_layer=a.layers, n_head=a.heads,
                                          hidden_dropout=0.0, attention_dropout=0.0, use_cache=False)
    else:
        config = transformers.LlamaConfig(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.ffn,
                                          num_hidden_layers=a.layers, num_attention_heads=a.heads,
                                          num_key_value_heads=kv, max_position_embeddings=a.seq, rms_norm_eps=1e-5,
                                          tie_word_embeddings=not a.untied, use_cache=False)
    try:
        model = from_config(transformers, torch, config, a.attn)
    except (ValueError, ImportError) as e:
        print(f"attn_implementation={a.attn!r} refused ({type(e).__name__}: {e}); using eager", file=sys.stderr)
        model = from_config(transformers, torch, config, "eager")
    return model, kv


def from_config(transformers, torch, config, attn):
    """fp32 weights created on the GPU (seconds, where initialising 500M
    parameters on the CPU takes much longer)."""
    kwargs = dict(dtype=torch.float32, attn_implementation=attn)
    with torch.device("cuda"):
        try:
            return transformers.AutoModelForCausalLM.from_config(config, **kwargs)
        except TypeError:  # transformers before 4.56 names it torch_dtype
            kwargs["torch_dtype"] = kwargs.pop("dtype")
            return transformers.AutoModelForCausalLM.from_config(config, **kwargs)


def config_dict(config):
    """The config's non-default values (all of them where the version has no to_diff_dict)."""
    for method in ("to_diff_dict", "to_dict"):
        try:
            return {k: v for k, v in getattr(config, method)().items() if not k.startswith("_")}
        except Exception:  # noqa: BLE001 — a report detail must not stop the benchmark
            continue
    return {}


def main():
    a = parse_args()
    import torch
    import torch.nn.functional as F
    import transformers

    if not torch.cuda.is_available():
        sys.exit("hf_train_bench.py: no CUDA device")
    device = torch.device("cuda")
    torch.manual_seed(1)
    model, kv_heads = build_model(a, torch, transformers)
    model.to(device).train()
    attn = getattr(model.config, "_attn_implementation", None)

    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt_kwargs = {"foreach": dict(foreach=True), "fused": dict(fused=True), "for-loop": dict(foreach=False)}[a.optimizer]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **opt_kwargs)
    tokens = torch.randint(0, a.vocab, (1 << 20,))
    total = a.warmup + a.steps
    result = {"implementation": "transformers + PyTorch loop", "label": a.label, "family": a.family,
              "torch": torch.__version__, "transformers": transformers.__version__,
              "cuda": torch.version.cuda, "gpu": torch.cuda.get_device_name(0), "device": "cuda",
              "precision": "bf16", "attn_implementation": attn, "optimizer": f"AdamW ({a.optimizer})",
              "config": config_dict(model.config),
              "parameters": sum(p.numel() for p in model.parameters()), "seq": a.seq, "batch": a.batch,
              "steps": a.steps, "warmup": a.warmup}
    step_seconds, train_rates, losses = [], [], []
    torch.cuda.reset_peak_memory_stats()
    try:
        for step in range(total):
            start = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, 1e-3)
            starts = torch.randint(0, tokens.numel() - a.seq - 1, (a.batch,))
            windows = torch.stack([tokens[s:s + a.seq + 1] for s in starts.tolist()]).to(device, non_blocking=True)
            inputs, labels = windows[:, :-1], windows[:, 1:]
            opt.zero_grad(set_to_none=True)
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits = model(input_ids=inputs, use_cache=False).logits
                loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1))
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(loss.item())  # the step's one host sync, as the Trainer's logged loss
            seconds = time.perf_counter() - start
            if step >= a.warmup:
                step_seconds.append(seconds)
                train_rates.append(inputs.numel() / seconds)
            del logits, loss
        result["peak_gpu_mem_allocated_mib"] = torch.cuda.max_memory_allocated() / 2**20
        result["peak_gpu_mem_reserved_mib"] = torch.cuda.max_memory_reserved() / 2**20

        model.eval()

        def forward(ids):
            with torch.autocast("cuda", dtype=torch.bfloat16):
                return model(input_ids=ids, use_cache=False)

        ids = tokens[: a.batch * a.seq].view(a.batch, a.seq).to(device)
        infer_rates = inference_rates(forward, ids, total, a.warmup)
    except torch.cuda.OutOfMemoryError as e:
        result["error"] = f"out of GPU memory: {e}".splitlines()[0]
        emit(result, a.out)
        return 3

    flops = forward_flops_per_token(a, kv_heads)
    train_rate = statistics.median(train_rates)
    infer_rate = statistics.median(infer_rates)
    result.update({
        "train_tokens_per_s": train_rate,
        "inference_tokens_per_s": infer_rate,
        "step_seconds": step_seconds,
        "first_loss": losses[0], "last_loss": losses[-1],
        "forward_flops_per_token": flops,
        "flops_formula": "dmoe-bench's: matrix products only, full T x T attention square, training = 3 x forward",
        "model_gflops_train": 3 * flops * train_rate / 1e9,
        "model_gflops_inference": flops * infer_rate / 1e9,
        "peak_tflops": a.peak_tflops,
        "mfu_train": 3 * flops * train_rate / (a.peak_tflops * 1e12),
        "mfu_inference": flops * infer_rate / (a.peak_tflops * 1e12),
    })
    emit(result, a.out)
    return 0


def emit(result, path):
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if path:
        with open(path, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    sys.exit(main())
