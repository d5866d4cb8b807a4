#!/usr/bin/env python3
"""The reference for dmoe-bench: the same Llama-family model and training loop
written as a straightforward PyTorch script (Debian's python3-torch, the same
LibTorch 1.13 build the workbench links). Prints the same JSON keys as
dmoe-bench so the two can be compared (README: C++/Python ratio).

Model as core/model/llama.cpp: tied embeddings, RMSNorm (fp32), RoPE
(rotate_half), grouped-query attention with the plain causal softmax that
LibTorch 1.13 uses (no scaled_dot_product_attention before 2.0), SwiGLU MLP.
Loop as the Trainer: AdamW (decay on >=2-D weights), cosine schedule with
warm-up, global-norm clipping at 1.0, token-mean cross-entropy, one .item()
per step for the logged loss, metrics appended to a JSONL file.
--precision bf16: torch.autocast to bf16 around forward and loss (fp32 master
weights and optimizer state), as the workbench's `precision: bf16`.
Run it in the environment dmoe gives itself (benchmarks/README.md):
OMP_WAIT_POLICY=PASSIVE, and the OPENBLAS_CORETYPE that `dmoe info` reports
as chosen by dmoe, if any.
"""
import argparse
import json
import math
import os
import statistics
import tempfile
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        x32 = x.float()
        return self.weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)).to(x.dtype)


def rotate_half(x):
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


class Attention(nn.Module):
    def __init__(self, d, heads, kv_heads):
        super().__init__()
        self.h, self.hkv, self.dh = heads, kv_heads, d // heads
        self.q_proj = nn.Linear(d, heads * self.dh, bias=False)
        self.k_proj = nn.Linear(d, kv_heads * self.dh, bias=False)
        self.v_proj = nn.Linear(d, kv_heads * self.dh, bias=False)
        self.o_proj = nn.Linear(heads * self.dh, d, bias=False)

    def forward(self, x, cos, sin):
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.h, self.dh).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.hkv, self.dh).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.hkv, self.dh).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        groups = self.h // self.hkv
        if groups > 1:
            k = k.repeat_interleave(groups, dim=1)
            v = v.repeat_interleave(groups, dim=1)
        future = torch.ones(t, t, dtype=torch.bool, device=x.device).triu(1)
        scores = (q @ k.transpose(-2, -1)).float() / math.sqrt(self.dh)
        scores = scores.masked_fill(future, float("-inf"))
        ctx = torch.softmax(scores, -1).to(v.dtype) @ v
        return self.o_proj(ctx.transpose(1, 2).reshape(b, t, self.h * self.dh))


class Mlp(nn.Module):
    def __init__(self, d, f):
        super().__init__()
        self.gate_proj = nn.Linear(d, f, bias=False)
        self.up_proj = nn.Linear(d, f, bias=False)
        self.down_proj = nn.Linear(f, d, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.hidden, 1e-5)
        self.self_attn = Attention(a.hidden, a.heads, a.kv_heads)
        self.post_attention_layernorm = RMSNorm(a.hidden, 1e-5)
        self.mlp = Mlp(a.hidden, a.ffn)

    def forward(self, x, cos, sin):
        h = x + self.self_attn(self.input_layernorm(x), cos, sin)
        return h + self.mlp(self.post_attention_layernorm(h))


class LlamaLM(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.embed_tokens = nn.Embedding(a.vocab, a.hidden)
        self.layers = nn.ModuleList(Layer(a) for _ in range(a.layers))
        self.norm = RMSNorm(a.hidden, 1e-5)
        dh = a.hidden // a.heads
        inv_freq = 1.0 / (10000.0 ** (torch.arange(0, dh, 2).float() / dh))
        angles = torch.outer(torch.arange(a.seq).float(), inv_freq)
        angles = torch.cat((angles, angles), -1)
        self.cos, self.sin = angles.cos(), angles.sin()
        for p in self.parameters():
            if p.dim() >= 2:
                nn.init.normal_(p, std=0.02)

    def forward(self, ids):
        t = ids.shape[1]
        cos, sin = self.cos[:t].to(ids.device), self.sin[:t].to(ids.device)
        h = self.embed_tokens(ids)
        for layer in self.layers:
            h = layer(h, cos, sin)
        return F.linear(self.norm(h), self.embed_tokens.weight)


def lr_at(step, steps, peak, warmup_fraction=0.05):
    w = round(warmup_fraction * steps)
    if step < w:
        return peak * (step + 1) / w
    p = min(1.0, max(0.0, (step - w) / max(1, steps - w)))
    return peak * 0.5 * (1 + math.cos(math.pi * p))


def inference_rates(forward, ids, steps, warmup):
    """Tokens/s of each of `steps` calls of forward(ids) under no_grad (the
    caller's autocast inside `forward`), the first `warmup` untimed; waits for
    the GPU before each clock reading. hf_train_bench.py times transformers the same way."""
    rates = []
    with torch.no_grad():
        for i in range(steps):
            start = time.perf_counter()
            forward(ids)
            if ids.is_cuda:
                torch.cuda.synchronize()
            if i >= warmup:
                rates.append(ids.numel() / (time.perf_counter() - start))
    return rates


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name, default in [("hidden", 192), ("layers", 8), ("heads", 4), ("kv-heads", 2), ("ffn", 512),
                          ("vocab", 4000), ("seq", 128), ("batch", 16), ("steps", 20), ("warmup", 3), ("threads", 0)]:
        ap.add_argument("--" + name, type=int, default=default)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    a = ap.parse_args()
    torch.set_num_threads(a.threads or os.cpu_count())  # as the workbench: every core
    torch.manual_seed(1)
    device = torch.device(a.device)
    model = LlamaLM(a).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    tokens = torch.randint(0, a.vocab, (1 << 20,))
    total = a.warmup + a.steps
    train_rates = []
    with tempfile.TemporaryDirectory() as tmp, open(os.path.join(tmp, "metrics.jsonl"), "a") as metrics:
        model.train()
        for step in range(total):
            start = time.perf_counter()
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, 1e-3)
            starts = torch.randint(0, tokens.numel() - a.seq - 1, (a.batch,))
            windows = torch.stack([tokens[s:s + a.seq + 1] for s in starts.tolist()]).to(device)
            inputs, labels = windows[:, :-1], windows[:, 1:]
            opt.zero_grad()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
                logits = model(inputs)
                loss = F.cross_entropy(logits.reshape(-1, a.vocab).float(), labels.reshape(-1), ignore_index=-100)
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            loss_value = loss.item()
            seconds = time.perf_counter() - start
            metrics.write(json.dumps({"step": step + 1, "loss": loss_value, "grad_norm": float(norm),
                                      "tokens_per_s": inputs.numel() / seconds}) + "\n")
            metrics.flush()
            if step >= a.warmup:
                train_rates.append(inputs.numel() / seconds)
    model.eval()

    def forward(ids):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.precision == "bf16"):
            return model(ids)

    infer_rates = inference_rates(forward, tokens[: a.batch * a.seq].view(a.batch, a.seq).to(device), total, a.warmup)
    peak = 0.0
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1]) / 1024.0
    print(json.dumps({"implementation": "PyTorch (Python reference)", "torch": torch.__version__,
                      "device": a.device, "threads": torch.get_num_threads(), "precision": a.precision,
                      "parameters": sum(p.numel() for p in model.parameters()), "seq": a.seq, "batch": a.batch,
                      "steps": a.steps, "train_tokens_per_s": statistics.median(train_rates),
                      "inference_tokens_per_s": statistics.median(infer_rates), "peak_rss_mib": peak}, indent=2))


if __name__ == "__main__":
    main()
