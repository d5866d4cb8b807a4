#!/usr/bin/env python3
"""Parity fixtures made by Hugging Face transformers (issue 14, part 1 and the
Qwen2-MoE/Mixtral references of part 2): tiny random-initialised models of
every family the workbench loads, saved with save_pretrained (safetensors,
fp32), and what transformers computes on fixed token ids — logits, loss and
the L2 norm of every parameter's gradient after one backward pass.

    python3 scripts/device/make_hf_fixtures.py OUTDIR [--only NAME,...|none] [--check DIR ...] [--max-bytes N]

OUTDIR/<fixture>/ holds the checkpoint (config.json, model.safetensors, and
whatever else save_pretrained writes), expected.safetensors (input_ids I64
[B,T], logits F32 [B,T,V], loss F32 [1], and one F64 [1] tensor
"grad_norm/<checkpoint tensor name>" per saved tensor) and fixture.json (the
same numbers readable, the effective config, the versions, and how the
workbench's config reader would read config.json: `workbench_reader`).
OUTDIR/manifest.json lists the fixtures and the total size, which must stay
under --max-bytes (2,000,000 by default: the issue's 2 MB); the script exits
1 when it does not or when a fixture failed.

Runs on the CPU in fp32 with eager attention (and eager experts), so anyone
with torch and transformers can regenerate the files; no GPU is used. The
gradient norms are keyed by the names in the saved checkpoint, the names the
workbench's loader sees: transformers 5 keeps MoE experts fused in memory
(mlp.experts.gate_up_proj [E, 2F, D]) but saves them per expert (Mixtral's
block_sparse_moe.experts.E.w1/w3/w2, Qwen2-MoE's mlp.experts.E.gate_proj/…);
each saved tensor is matched by value to a slice of a parameter and the
gradient is sliced the same way. The norms by in-memory parameter name are in
fixture.json too.

Deterministic choices: model seed per fixture; 1-D parameters (norm weights,
biases) moved off their constant initial values so a missing bias or a norm
computed as w·x̂ instead of (1+w)·x̂ shows; input ids never contain the pad
id (an nn.Embedding with padding_idx has no gradient for that row); for MoE
fixtures the ids are chosen so that every token's top-k router choice wins by
at least ROUTER_MARGIN in probability and every expert gets a token, so a
reimplementation's rounding cannot flip a routing decision.

--check DIR (repeatable) takes a committed fixture folder whose
expected.safetensors the workbench recorded (tests/fixtures/hf/
dmoe_export_qwen2_moe: a DMoE written by `dmoe export`, issue 14 part 2):
transformers loads it with from_pretrained, runs the same ids, writes
OUTDIR/<name>/ with its own expected.safetensors and the comparison in
fixture.json ("workbench_vs_transformers"), prints the largest differences,
and counts the folder as failed above 1e-4 relative.

Not here: the comparison on the workbench's side (tests/test_hf_parity.cpp and
`dmoe parity` read these files),
HF tokenizers (covered elsewhere), and anything on the GPU.
"""
import argparse
import json
import math
import platform
import sys
from pathlib import Path

BATCH, SEQ = 2, 12
VOCAB = 96
INIT_RANGE = 0.1  # initializer_range: wider than HF's 0.02 so attention is not nearly uniform
ONE_D_NOISE = 0.1  # added to every 1-D parameter (norm weights, biases)
ROUTER_MARGIN = 1e-3  # minimum gap between the k-th and (k+1)-th router probability
INPUT_ATTEMPTS = 200  # MoE fixtures: input seeds tried until the routing is unambiguous
DEFAULT_MAX_BYTES = 2_000_000

# One row per fixture. `config`: keyword arguments of the family's config
# class (names common to transformers 4.4x and 5.x); `rope_theta`: None keeps
# the class default, a number is passed the way the installed version takes
# it (5.x: rope_parameters). Sizes are tiny on purpose: the whole set must
# stay under 2 MB in fp32.
FIXTURES = [
    dict(name="llama_gqa_untied", model_type="llama", seed=11,
         notes="grouped-query attention (4 query heads, 2 KV heads), separate lm_head",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     rms_norm_eps=1e-5, tie_word_embeddings=False)),
    dict(name="llama_mha_tied_theta", model_type="llama", seed=12, rope_theta=500000.0,
         notes="multi-head attention, tied embeddings, a non-default RoPE base (Llama 3's 500000): "
               "transformers 5 writes it as rope_parameters.rope_theta in config.json",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=64,
                     rms_norm_eps=1e-6, tie_word_embeddings=True)),
    dict(name="qwen2_gqa_untied", model_type="qwen2", seed=21,
         notes="q/k/v biases, grouped-query attention, separate lm_head",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     rms_norm_eps=1e-6, tie_word_embeddings=False, use_sliding_window=False)),
    dict(name="qwen2_mqa_tied", model_type="qwen2", seed=22,
         notes="q/k/v biases, one KV head, tied embeddings",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=1, max_position_embeddings=64,
                     rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False)),
    dict(name="gemma_mqa_headdim", model_type="gemma", seed=31,
         notes="one KV head, head_dim 16 with 4 heads on width 32 (heads x head_dim != hidden, as gemma-7b), "
               "tied embeddings, tanh GELU, (1 + w) RMSNorm, embeddings x sqrt(D)",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=1, head_dim=16, max_position_embeddings=64,
                     rms_norm_eps=1e-6, tie_word_embeddings=True)),
    dict(name="gemma_gqa_untied", model_type="gemma", seed=32,
         notes="grouped-query attention, head_dim = D/H, separate lm_head",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, head_dim=8, max_position_embeddings=64,
                     rms_norm_eps=1e-6, tie_word_embeddings=False)),
    dict(name="bloom_6heads", model_type="bloom", seed=41,
         notes="6 heads (not a power of two: ALiBi's interleaved extra slopes), LayerNorms with biases, "
               "fused QKV, tanh GELU MLP of width 4D, tied lm_head",
         config=dict(vocab_size=VOCAB, hidden_size=36, n_layer=2, n_head=6, layer_norm_epsilon=1e-5,
                     hidden_dropout=0.0, attention_dropout=0.0, pad_token_id=3)),
    dict(name="qwen2_moe_shared", model_type="qwen2_moe", seed=51,
         notes="3 layers, layer 1 dense (mlp_only_layers), layers 0 and 2 with 4 experts of width 16, top 2 "
               "without renormalisation, a shared expert of width 24 with its sigmoid gate, q/k/v biases",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     rms_norm_eps=1e-6, tie_word_embeddings=False, use_sliding_window=False,
                     num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16,
                     shared_expert_intermediate_size=24, decoder_sparse_step=1, mlp_only_layers=[1],
                     norm_topk_prob=False, output_router_logits=False)),
    dict(name="mixtral_top2", model_type="mixtral", seed=61,
         notes="every layer sparse: 4 experts of width 24, top 2 renormalised, grouped-query attention, "
               "no sliding window",
         config=dict(vocab_size=VOCAB, hidden_size=32, intermediate_size=24, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                     rms_norm_eps=1e-5, tie_word_embeddings=False, sliding_window=None,
                     num_local_experts=4, num_experts_per_tok=2, router_jitter_noise=0.0,
                     output_router_logits=False)),
]

CONFIG_CLASSES = {"llama": "LlamaConfig", "qwen2": "Qwen2Config", "gemma": "GemmaConfig", "bloom": "BloomConfig",
                  "qwen2_moe": "Qwen2MoeConfig", "mixtral": "MixtralConfig"}
MOE_TYPES = {"qwen2_moe", "mixtral"}

# What core/model/model_family.cpp assumes when a config.json key is absent
# (the HF config classes' defaults as the workbench knows them).
WORKBENCH_DEFAULTS = {
    "llama": dict(tie=False, eps_key="rms_norm_eps", eps=1e-6, theta=1e4, act_key="hidden_act", act="silu", kv=0),
    "qwen2": dict(tie=False, eps_key="rms_norm_eps", eps=1e-6, theta=1e4, act_key="hidden_act", act="silu", kv=0),
    "gemma": dict(tie=True, eps_key="rms_norm_eps", eps=1e-6, theta=1e4, act_key="hidden_activation",
                  act="gelu_pytorch_tanh", kv=0),
    "bloom": dict(tie=True, eps_key="layer_norm_epsilon", eps=1e-5, theta=None, act_key=None,
                  act="gelu_pytorch_tanh", kv=0),
    "qwen2_moe": dict(tie=False, eps_key="rms_norm_eps", eps=1e-6, theta=1e4, act_key="hidden_act", act="silu", kv=0),
    "mixtral": dict(tie=False, eps_key="rms_norm_eps", eps=1e-6, theta=1e6, act_key="hidden_act", act="silu", kv=8),
}


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("outdir", type=Path)
    ap.add_argument("--only", default="", help="comma-separated fixture names (default: all; 'none' for --check alone)")
    ap.add_argument("--check", type=Path, action="append", default=[], metavar="DIR",
                    help="also: a committed fixture folder whose expected.safetensors the workbench recorded "
                         "(e.g. tests/fixtures/hf/dmoe_export_qwen2_moe); transformers runs it, writes "
                         "OUTDIR/<name>/ with its own expected.safetensors and compares (repeatable)")
    ap.add_argument("--max-bytes", type=int, default=DEFAULT_MAX_BYTES,
                    help="fail when all fixtures together are larger (default: %(default)s)")
    return ap.parse_args()


def major_version(version):
    try:
        return int(version.split(".")[0])
    except ValueError:
        return 0


def make_config(transformers, spec):
    cls = getattr(transformers, CONFIG_CLASSES[spec["model_type"]])
    kwargs = dict(spec["config"], initializer_range=INIT_RANGE, use_cache=False)
    theta = spec.get("rope_theta")
    if theta is not None:
        if major_version(transformers.__version__) >= 5:
            kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": float(theta)}
        else:
            kwargs["rope_theta"] = float(theta)
    return cls(**kwargs)


def load_model(load, torch, moe):
    """`load(**kwargs)` (from_config or from_pretrained) in fp32 with eager
    attention (and eager experts on transformers 5), on the CPU."""
    kwargs = dict(dtype=torch.float32, attn_implementation="eager")
    if moe:
        kwargs["experts_implementation"] = "eager"
    try:
        model = load(**kwargs)
    except TypeError:
        # transformers before 4.56 (torch_dtype) or without experts_implementation.
        kwargs.pop("experts_implementation", None)
        kwargs["torch_dtype"] = kwargs.pop("dtype")
        model = load(**kwargs)
    return model.to("cpu").float().eval()


def make_model(transformers, torch, config, moe):
    return load_model(lambda **kw: transformers.AutoModelForCausalLM.from_config(config, **kw), torch, moe)


def prepare_parameters(torch, model, seed):
    """Re-initialise parameters left constant or non-finite by the model's own
    initialisation (e.g. a router created with torch.zeros), then move every
    1-D parameter off its constant value. Returns the names re-initialised."""
    g = torch.Generator().manual_seed(seed + 7919)
    reinitialised = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            bad = not torch.isfinite(p).all() or p.abs().max() > 100
            constant = p.numel() > 1 and p.dim() >= 2 and float(p.std()) == 0.0
            if bad or constant:
                p.copy_(torch.randn(p.shape, generator=g) * INIT_RANGE)
                reinitialised.append(name)
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(torch.randn(p.shape, generator=g) * ONE_D_NOISE)
    return reinitialised


def make_inputs(torch, vocab, excluded, seed):
    g = torch.Generator().manual_seed(seed)
    allowed = torch.tensor([i for i in range(vocab) if i not in excluded], dtype=torch.int64)
    return allowed[torch.randint(0, len(allowed), (BATCH, SEQ), generator=g)]


def router_modules(model):
    """(name, module) of every top-k router: a `gate` under the MoE block with a [E, D] weight."""
    found = []
    for name, module in model.named_modules():
        if name.endswith(".mlp.gate") or name.endswith(".block_sparse_moe.gate"):
            w = getattr(module, "weight", None)
            if w is not None and w.dim() == 2 and w.shape[0] > 1:
                found.append((name, module))
    return found


def routing_check(torch, model, ids, top_k):
    """Runs the model once and returns (min top-k margin, experts never chosen) over every router."""
    captured = []

    def hook(module, args, kwargs, output):
        h = args[0] if args else kwargs.get("hidden_states")
        captured.append((module, h.detach().reshape(-1, h.shape[-1])))

    handles = [m.register_forward_hook(hook, with_kwargs=True) for _, m in router_modules(model)]
    try:
        with torch.no_grad():
            model(input_ids=ids, use_cache=False)
    finally:
        for h in handles:
            h.remove()
    if not captured:
        raise RuntimeError("no router module found (expected …mlp.gate or …block_sparse_moe.gate with a [E, D] weight)")
    margin, unused = float("inf"), 0
    for module, h in captured:
        probs = torch.softmax(h.float() @ module.weight.detach().float().t(), dim=-1)
        top = torch.sort(probs, dim=-1, descending=True).values
        margin = min(margin, float((top[:, top_k - 1] - top[:, top_k]).min()))
        chosen = torch.topk(probs, top_k, dim=-1).indices.unique()
        unused += module.weight.shape[0] - chosen.numel()
    return margin, unused


def candidate_views(p):
    """Slices of a parameter that save_pretrained may write as one tensor: the
    whole (or transposed), per leading index (experts), and halves of those
    along either axis (gate/up), each also transposed."""
    def both(desc, fn):
        yield desc, fn
        yield desc + ".T", (lambda t, fn=fn: fn(t).transpose(-1, -2))

    if p.dim() == 2:
        yield from both("", lambda t: t)
    if p.dim() == 3:
        for e in range(p.shape[0]):
            yield from both(f"[{e}]", lambda t, e=e: t[e])
            for axis in (0, 1):
                n = p.shape[1 + axis]
                if n % 2 == 0:
                    h = n // 2
                    if axis == 0:
                        yield from both(f"[{e}, :{h}]", lambda t, e=e, h=h: t[e, :h])
                        yield from both(f"[{e}, {h}:]", lambda t, e=e, h=h: t[e, h:])
                    else:
                        yield from both(f"[{e}, :, :{h}]", lambda t, e=e, h=h: t[e, :, :h])
                        yield from both(f"[{e}, :, {h}:]", lambda t, e=e, h=h: t[e, :, h:])


def match_saved(torch, params, key, saved):
    """(parameter name, view function, description) whose value equals the saved tensor."""
    p = params.get(key)
    if p is not None and p.shape == saved.shape and torch.equal(p.detach(), saved):
        return key, (lambda t: t), ""
    for name, p in params.items():
        if p.numel() < saved.numel():
            continue
        for desc, fn in candidate_views(p):
            view = fn(p.detach())
            if view.shape == saved.shape and torch.equal(view, saved):
                return name, fn, desc
    return None


def rope_theta_of(model, config):
    """The RoPE base: (from the config, as recovered from the model's inv_freq
    buffer); (None, None) without RoPE. transformers 5 keeps it in
    config.rope_parameters, 4.x in config.rope_theta."""
    configured = None
    rope = getattr(config, "rope_parameters", None)
    if isinstance(rope, dict) and "rope_theta" in rope:
        configured = float(rope["rope_theta"])
    elif getattr(config, "rope_theta", None) is not None:
        configured = float(config.rope_theta)
    measured = None
    for name, buf in model.named_buffers():
        if name.endswith("inv_freq") and buf.numel() >= 2:
            dim = 2 * buf.numel()  # inv_freq[i] = theta^(-2i/dim)
            measured = float(buf[1].double() ** (-dim / 2.0))
            break
    return configured, measured


def effective_summary(model, spec):
    c = model.config  # from_config may copy the config it is given (and sets the implementations on the copy)
    tied = model.get_output_embeddings().weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()
    theta, theta_measured = rope_theta_of(model, c)
    if theta is not None and theta_measured is not None and not math.isclose(theta, theta_measured, rel_tol=1e-3):
        raise RuntimeError(f"config says rope_theta {theta}, the model's inv_freq says {theta_measured}")
    heads = getattr(c, "num_attention_heads", None) or getattr(c, "n_head", None)
    s = dict(model_type=c.model_type, architecture=type(model).__name__, vocab_size=c.vocab_size,
             hidden_size=c.hidden_size, num_hidden_layers=getattr(c, "num_hidden_layers", None) or c.n_layer,
             num_attention_heads=heads, num_key_value_heads=getattr(c, "num_key_value_heads", heads),
             head_dim=getattr(c, "head_dim", None) or c.hidden_size // heads,
             intermediate_size=getattr(c, "intermediate_size", None) or 4 * c.hidden_size,
             tie_word_embeddings=tied, rope_theta=theta if theta is not None else theta_measured,
             norm_eps=getattr(c, "rms_norm_eps", None) or getattr(c, "layer_norm_epsilon", None),
             hidden_act=getattr(c, "hidden_activation", None) or getattr(c, "hidden_act", None)
             or "gelu_pytorch_tanh",
             pad_token_id=getattr(c, "pad_token_id", None), bos_token_id=getattr(c, "bos_token_id", None),
             eos_token_id=getattr(c, "eos_token_id", None),
             attn_implementation=getattr(c, "_attn_implementation", None),
             experts_implementation=getattr(c, "_experts_implementation", None))
    if spec["model_type"] in MOE_TYPES:
        for key in ("num_experts", "num_local_experts", "num_experts_per_tok", "moe_intermediate_size",
                    "shared_expert_intermediate_size", "decoder_sparse_step", "mlp_only_layers", "norm_topk_prob"):
            if hasattr(c, key):
                s[key] = getattr(c, key)
    return s


def workbench_reader(config_json, effective):
    """What the workbench's config reader (core/model/model_config.cpp) takes
    from config.json, compared with what transformers runs: a list of
    differences and of keys the reader refuses. Empty lists = loadable as is."""
    mt = config_json.get("model_type")
    d = WORKBENCH_DEFAULTS[mt]
    has = lambda k: k in config_json and config_json[k] is not None  # noqa: E731
    read = {"tie_word_embeddings": config_json.get("tie_word_embeddings", d["tie"]),
            "norm_eps": config_json.get(d["eps_key"], d["eps"])}
    if mt != "bloom":
        read["rope_theta"] = config_json.get("rope_theta", d["theta"])
        kv = config_json.get("num_key_value_heads", d["kv"]) or config_json.get("num_attention_heads")
        read["num_key_value_heads"] = kv
        heads = config_json.get("num_attention_heads")
        read["head_dim"] = config_json.get("head_dim") or config_json["hidden_size"] // heads
        read["hidden_act"] = config_json.get(d["act_key"], d["act"])
    differences = []
    for key, value in read.items():
        want = effective.get(key)
        if want is None:
            continue
        if isinstance(want, float) or isinstance(value, float):
            same = value is not None and math.isclose(float(value), float(want), rel_tol=1e-6)
        else:
            same = value == want
        if not same:
            differences.append(f"{key}: the reader would take {value!r}, transformers runs {want!r}")
    refused = []
    if has("rope_scaling"):
        refused.append("rope_scaling (RoPE scaling)")
    rope = config_json.get("rope_parameters")
    if isinstance(rope, dict) and rope.get("rope_type", "default") != "default":
        refused.append(f"rope_parameters.rope_type = {rope.get('rope_type')!r}")
    if mt not in ("qwen2", "qwen2_moe", "bloom") and config_json.get("attention_bias"):
        refused.append("attention_bias")
    if config_json.get("mlp_bias"):
        refused.append("mlp_bias")
    if mt in ("qwen2", "qwen2_moe") and config_json.get("use_sliding_window"):
        refused.append("use_sliding_window")
    if mt == "mixtral" and has("sliding_window"):
        refused.append("sliding_window")
    if mt == "bloom" and config_json.get("apply_residual_connection_post_layernorm"):
        refused.append("apply_residual_connection_post_layernorm")
    return {"reads": read, "differences": differences, "refused_keys": refused,
            "rope_parameters_in_config_json": rope}


def save_checkpoint(model, folder):
    try:
        model.save_pretrained(folder, safe_serialization=True)
    except TypeError:  # a version where safetensors is the only format and the argument is gone
        model.save_pretrained(folder)


def load_saved(folder):
    from safetensors.torch import load_file
    tensors = {}
    for f in sorted(folder.glob("*.safetensors")):
        if f.name == "expected.safetensors":
            continue
        tensors.update(load_file(str(f)))
    return tensors


def forward_backward(torch, model, ids):
    """One forward and backward, labels = input ids (transformers shifts them).
    Returns (logits fp32, loss); fails when transformers' loss is not the plain
    token-mean cross-entropy (an auxiliary loss included)."""
    import torch.nn.functional as F
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, labels=ids, use_cache=False)
    logits = out.logits.detach().float().contiguous()
    loss = out.loss
    own = F.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
    if not math.isclose(float(own), float(loss), rel_tol=1e-5, abs_tol=1e-6):
        raise RuntimeError(f"transformers' loss {float(loss)} is not the token-mean cross-entropy {float(own)} "
                           "(an auxiliary loss included?)")
    loss.backward()
    return logits, loss.detach()


def gradient_norms(torch, model, saved):
    """The L2 norm of the gradient of every saved (checkpoint) tensor, by its
    checkpoint name: (norms, where each came from, norms by parameter name)."""
    if not saved:
        raise RuntimeError("no *.safetensors checkpoint tensors to match")
    params = dict(model.named_parameters())
    grad_norms, sources, unmatched = {}, {}, []
    for key in sorted(saved):
        if saved[key].dtype != torch.float32:
            raise RuntimeError(f"{key} was saved as {saved[key].dtype}, expected float32")
        m = match_saved(torch, params, key, saved[key])
        if m is None:
            unmatched.append(key)
            continue
        name, view, desc = m
        g = params[name].grad
        grad = view(g) if g is not None else torch.zeros_like(saved[key])
        grad_norms[key] = float(grad.double().norm())
        sources[key] = name + desc
    if unmatched:
        raise RuntimeError(f"saved tensors matching no parameter slice: {unmatched}")
    param_norms = {n: (float(p.grad.double().norm()) if p.grad is not None else 0.0) for n, p in params.items()}
    return grad_norms, sources, param_norms


def write_expected(torch, folder, ids, logits, loss, grad_norms, transformers_version, name):
    """folder/expected.safetensors in the format the workbench reads (core/train/parity.h)."""
    from safetensors.torch import save_file
    tensors = {"input_ids": ids.contiguous(), "logits": logits, "loss": loss.float().reshape(1).contiguous()}
    for key, value in grad_norms.items():
        tensors["grad_norm/" + key] = torch.tensor([value], dtype=torch.float64)
    save_file(tensors, str(folder / "expected.safetensors"),
              metadata={"format": "dmoe-hf-fixture/1", "fixture": name,
                        "transformers": transformers_version, "torch": torch.__version__})


def make_fixture(torch, transformers, spec, outdir):
    folder = outdir / spec["name"]
    folder.mkdir(parents=True, exist_ok=True)
    moe = spec["model_type"] in MOE_TYPES
    config = make_config(transformers, spec)
    torch.manual_seed(spec["seed"])
    model = make_model(transformers, torch, config, moe)
    reinitialised = prepare_parameters(torch, model, spec["seed"])
    vocab = config.vocab_size
    pad = getattr(config, "pad_token_id", None)
    excluded = {pad} if pad is not None else set()

    # Inputs: fixed seed; for MoE, the first seed whose routing is unambiguous.
    input_seed, margin, unused = 1000 + spec["seed"], None, None
    ids = make_inputs(torch, vocab, excluded, input_seed)
    if moe:
        for attempt in range(INPUT_ATTEMPTS):
            ids = make_inputs(torch, vocab, excluded, input_seed + attempt)
            margin, unused = routing_check(torch, model, ids, config.num_experts_per_tok)
            if margin >= ROUTER_MARGIN and unused == 0:
                input_seed += attempt
                break
        else:
            raise RuntimeError(f"no input seed in {INPUT_ATTEMPTS} gives a top-k margin >= {ROUTER_MARGIN} "
                               f"with every expert used (last: margin {margin}, {unused} experts unused)")

    logits, loss = forward_backward(torch, model, ids)
    save_checkpoint(model, folder)
    saved = load_saved(folder)
    grad_norms, sources, param_norms = gradient_norms(torch, model, saved)
    write_expected(torch, folder, ids, logits, loss, grad_norms, transformers.__version__, spec["name"])

    config_json = json.loads((folder / "config.json").read_text())
    effective = effective_summary(model, spec)
    summary = {
        "format": "dmoe-hf-fixture/1",
        "name": spec["name"], "notes": spec["notes"], "model_type": spec["model_type"],
        "made_by": "scripts/device/make_hf_fixtures.py",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "seed": spec["seed"], "input_seed": input_seed, "batch": BATCH, "seq": SEQ,
        "init": {"initializer_range": INIT_RANGE, "one_d_noise": ONE_D_NOISE, "reinitialised": reinitialised},
        "effective_config": effective,
        "parameters": sum(p.numel() for p in model.parameters()),
        "input_ids": ids.tolist(),
        "loss": float(loss),
        "logits_abs_max": float(logits.abs().max()), "logits_sum": float(logits.double().sum()),
        "grad_norms": grad_norms,
        "grad_source": sources,
        "grad_norms_by_parameter": param_norms,
        "saved_tensors": {k: list(v.shape) for k, v in sorted(saved.items())},
        "workbench_reader": workbench_reader(config_json, effective),
        "files": {},
    }
    if moe:
        summary["routing"] = {"min_topk_margin": margin, "required_margin": ROUTER_MARGIN, "unused_experts": unused}
    summary["files"] = {f.name: f.stat().st_size for f in sorted(folder.iterdir()) if f.is_file()}
    (folder / "fixture.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    summary["files"]["fixture.json"] = (folder / "fixture.json").stat().st_size
    return summary


CHECK_TOLERANCE = 1e-4  # the "1e-4 relative in fp32", as test_hf_parity


def finite_or_none(x):
    """Strict JSON (jq, nlohmann): a missing or non-finite difference is null, not Infinity or NaN."""
    return x if x is not None and math.isfinite(x) else None


def worst_of(rows):
    """The largest relative difference of the rows; NaN counts as infinite."""
    return max((math.inf if math.isnan(r[3]) else r[3]) for r in rows)


def compare_with(theirs, logits, loss, grad_norms):
    """Rows (quantity, reference = transformers, workbench, relative difference)
    on the scales core/train/parity.cpp uses."""
    ref = logits.double()
    rows = [("logits", float(ref.abs().max()), float(theirs["logits"].double().abs().max()),
             float((theirs["logits"].double() - ref).abs().max() / max(float(ref.abs().max()), 1e-30))),
            ("loss", float(loss), float(theirs["loss"]), abs(float(theirs["loss"]) - float(loss)) / max(abs(float(loss)), 1e-30))]
    for key, norm in sorted(grad_norms.items()):
        other = theirs.get("grad_norm/" + key)
        if other is None:
            rows.append(("grad_norm/" + key, norm, None, math.inf))
        else:
            diff = abs(float(other) - norm)
            rows.append(("grad_norm/" + key, norm, float(other), 0.0 if diff == 0 else diff / max(abs(norm), 1e-30)))
    for key in sorted(theirs):
        if key.startswith("grad_norm/") and key[len("grad_norm/"):] not in grad_norms:
            rows.append((key, None, float(theirs[key]), math.inf))
    return rows


def check_fixture(torch, transformers, src, outdir):
    """A committed fixture whose expected.safetensors the workbench recorded
    (tests/fixtures/hf/dmoe_export_qwen2_moe, made by scripts/make_export_fixture.sh):
    transformers loads the folder with from_pretrained and runs the same ids.
    Writes OUTDIR/<name>/ (the same checkpoint, transformers' expected.safetensors,
    fixture.json with the comparison) and returns the comparison rows."""
    import shutil
    from safetensors.torch import load_file

    folder = outdir / src.name
    folder.mkdir(parents=True, exist_ok=True)
    theirs = load_file(str(src / "expected.safetensors"))
    ids = theirs["input_ids"].long()
    config_json = json.loads((src / "config.json").read_text())
    moe = config_json.get("model_type") in MOE_TYPES
    model = load_model(lambda **kw: transformers.AutoModelForCausalLM.from_pretrained(str(src), **kw), torch, moe)
    margin = unused = None
    if moe:
        margin, unused = routing_check(torch, model, ids, model.config.num_experts_per_tok)
    logits, loss = forward_backward(torch, model, ids)
    saved = load_saved(src)
    grad_norms, sources, param_norms = gradient_norms(torch, model, saved)
    for f in src.iterdir():
        if f.is_file() and f.name not in ("expected.safetensors", "fixture.json"):
            shutil.copy2(f, folder / f.name)
    write_expected(torch, folder, ids, logits, loss, grad_norms, transformers.__version__, src.name)
    rows = compare_with(theirs, logits, loss, grad_norms)
    worst = worst_of(rows)
    summary = json.loads((src / "fixture.json").read_text()) if (src / "fixture.json").exists() else {}
    summary.update({
        "made_by": f"{summary.get('made_by', 'unknown')} (checkpoint); scripts/device/make_hf_fixtures.py --check "
                   "(expected.safetensors)",
        "reference": f"transformers {transformers.__version__} (make_hf_fixtures.py --check: from_pretrained, "
                     "eager attention and experts, CPU fp32)",
        "versions": {"transformers": transformers.__version__, "torch": torch.__version__,
                     "python": platform.python_version()},
        "loss": float(loss), "grad_norms": grad_norms, "grad_source": sources,
        "grad_norms_by_parameter": param_norms,
        "workbench_vs_transformers": {"tolerance": CHECK_TOLERANCE, "max_relative": finite_or_none(worst),
                                      "rows": [dict(quantity=q, transformers=a, workbench=b,
                                                    relative=finite_or_none(r)) for q, a, b, r in rows]},
    })
    if moe:
        summary["routing"] = {"min_topk_margin": margin, "required_margin": ROUTER_MARGIN, "unused_experts": unused}
    summary["files"] = {f.name: f.stat().st_size for f in sorted(folder.iterdir()) if f.is_file()}
    (folder / "fixture.json").write_text(json.dumps(summary, indent=1, default=str) + "\n")
    return rows, margin


def run_checks(torch, transformers, sources, outdir):
    """--check: each folder compared; returns (results for the manifest, names that failed)."""
    results, failures = [], []
    for src in sources:
        try:
            rows, margin = check_fixture(torch, transformers, src, outdir)
            bad = [r for r in rows if not r[3] <= CHECK_TOLERANCE]
            for q, a, b, r in sorted(rows, key=lambda r: -r[3])[:6]:
                print(f"    {q:60} transformers {a!s:>14}  workbench {b!s:>14}  rel {r:.3g}", flush=True)
            status = "ok" if not bad else "differs"
            print(f"  check {src.name:22} {status}: max relative {worst_of(rows):.3g} over {len(rows)} "
                  f"quantities ({len(bad)} above {CHECK_TOLERANCE})"
                  + (f"; router top-k margin {margin:.3g}" if margin is not None else ""), flush=True)
            results.append({"name": src.name, "status": status, "checked": True,
                            "max_relative": finite_or_none(worst_of(rows)), "above_tolerance": [r[0] for r in bad]})
            if bad:
                failures.append(src.name)
        except Exception as e:  # noqa: BLE001 — reported like a fixture's failure
            print(f"  check {src.name:22} FAILED: {type(e).__name__}: {e}", flush=True)
            failures.append(src.name)
            results.append({"name": src.name, "status": "failed", "checked": True, "error": f"{type(e).__name__}: {e}"})
    return results, failures


def main():
    a = parse_args()
    import torch
    import transformers

    torch.use_deterministic_algorithms(True, warn_only=True)
    wanted = {n for n in a.only.split(",") if n}
    specs = [] if wanted == {"none"} else [s for s in FIXTURES if not wanted or s["name"] in wanted]
    unknown = wanted - {s["name"] for s in FIXTURES} - {"none"}
    if unknown:
        sys.exit(f"unknown fixture(s): {', '.join(sorted(unknown))}")
    a.outdir.mkdir(parents=True, exist_ok=True)
    print(f"transformers {transformers.__version__}, torch {torch.__version__}, writing {a.outdir}", flush=True)

    results, failures = [], []
    for spec in specs:
        try:
            s = make_fixture(torch, transformers, spec, a.outdir)
            size = sum(s["files"].values())
            notes = s["workbench_reader"]["differences"] + s["workbench_reader"]["refused_keys"]
            print(f"  {spec['name']:22} ok   {s['parameters']:7d} params  loss {s['loss']:.6f}  {size / 1024:6.1f} KiB"
                  + (f"  reader: {'; '.join(notes)}" if notes else ""), flush=True)
            results.append({"name": spec["name"], "model_type": spec["model_type"], "status": "ok", "bytes": size,
                            "reader_notes": notes})
        except Exception as e:  # noqa: BLE001 — one family's failure must not hide the others'
            print(f"  {spec['name']:22} FAILED: {type(e).__name__}: {e}", flush=True)
            failures.append(spec["name"])
            results.append({"name": spec["name"], "model_type": spec["model_type"], "status": "failed",
                            "error": f"{type(e).__name__}: {e}"})
    checked, check_failures = run_checks(torch, transformers, a.check, a.outdir)
    results += checked
    failures += check_failures

    total = sum(f.stat().st_size for f in a.outdir.rglob("*") if f.is_file())
    manifest = {"format": "dmoe-hf-fixtures/1", "made_by": "scripts/device/make_hf_fixtures.py",
                "versions": {"transformers": transformers.__version__, "torch": torch.__version__},
                "batch": BATCH, "seq": SEQ, "fixtures": results, "total_bytes": total, "max_bytes": a.max_bytes}
    (a.outdir / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    total = sum(f.stat().st_size for f in a.outdir.rglob("*") if f.is_file())
    print(f"total {total} bytes ({total / 1e6:.3f} MB) in {a.outdir}; limit {a.max_bytes}", flush=True)
    if total > a.max_bytes:
        print(f"FAILED: the fixtures exceed {a.max_bytes} bytes: make the models smaller", flush=True)
        return 1
    if failures:
        print(f"FAILED: {len(failures)} fixture(s): {', '.join(failures)}", flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
