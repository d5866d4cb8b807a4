#!/usr/bin/env python3
"""Writes the end-to-end tests' micro project (tests/micro_project.cpp) as
files, for `dmoe run` on the GPU machine: 5 training languages (two
Latin-script pairs of related word lists, two Cyrillic) and 2 new ones (Greek,
Serbian Cyrillic), 60 synthetic documents each, a 4-layer Llama of width 32,
every stage of the pipeline in seconds — here with "device": "cuda" and a
chosen precision.

    python3 scripts/device/make_micro_project.py DIR [--device cuda] [--precision bf16] [--tokenizer train|hf]

DIR/corpus/<id>.jsonl and DIR/micro.dmoe.json (runs in DIR/runs). The
documents are drawn with Python's random module, so the texts differ from
the C++ test's (same word lists, same sizes); the project settings are the
test's. --tokenizer train (default) trains the shared sentencepiece model as
the tests do; --tokenizer hf instead trains a byte-level BPE tokenizer.json
with the `tokenizers` package (a dependency of transformers) and points
"tokenizer" at it (kind "file"), for a machine where the sentencepiece module
cannot be loaded.

Not here: running the project, or anything the C++ test checks about it.
Standard library only (plus `tokenizers` for --tokenizer hf).
"""
import argparse
import json
import random
from pathlib import Path

WORDS = {
    "en": ["the", "house", "river", "people", "free", "right", "law", "every"],
    "nl": ["het", "huis", "rivier", "mensen", "vrij", "recht", "wet", "ieder"],
    "de": ["das", "Haus", "Fluss", "Menschen", "frei", "Recht", "Gesetz", "jeder"],
    "ru": ["дом", "река", "люди", "свобода", "право", "закон", "каждый", "мир"],
    "uk": ["дім", "річка", "люди", "свобода", "право", "закон", "кожен", "мир"],
    "el": ["σπίτι", "ποτάμι", "άνθρωποι", "ελευθερία", "δίκαιο", "νόμος", "κάθε", "ειρήνη"],
    "sr": ["кућа", "река", "људи", "слобода", "право", "закон", "сваки", "мир"],
}


def training(steps, **extra):
    t = {"seq_len": 32, "batch_sequences": 4, "micro_batch": 4, "learning_rate": 1e-3, "steps": steps}
    t.update(extra)
    return t


def project(device, precision):
    return {
        "format": "dmoe-project/1",
        "name": "micro",
        "description": "The end-to-end tests' micro project (tests/micro_project.cpp), written by "
                       "scripts/device/make_micro_project.py for a run on " + device + ".",
        "languages": [{"id": i} for i in ("en", "nl", "de", "ru", "uk")],
        "new_languages": [{"id": "el"}, {"id": "sr"}],
        "corpus": {"root": "corpus", "heldout": {"fraction": 0.2, "seed": 7}},
        "tokenizer": {"vocab_size": 400, "sample_documents_per_language": 40, "seed": 3},
        "base_model": {
            "kind": "pretrain",
            "config": {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 4, "num_attention_heads": 2,
                       "num_key_value_heads": 1, "intermediate_size": 64, "max_position_embeddings": 32},
            "pretrain": training(30, batch_sequences=8, micro_batch=8, learning_rate=3e-3),
        },
        "deviation": training(3),
        "similarity": {"last_n": 2},
        "grouping": {"groups": 2},
        "layer_selection": {"epsilon": 0.5},
        "train": {"stage1": training(6, micro_batch=2, checkpoint_every=3, router_loss_weight=1.28),
                  "stage2": training(6, balance_loss_weight=0.02)},
        "adaptation": training(5, router_loss_weight=1.28),
        "evaluation": {"every_steps": 4},
        "runs_dir": "runs",
        "device": device,
        "precision": precision,
    }


def write_corpus(folder):
    texts = []
    for lang, words in WORDS.items():
        rng = random.Random(ord(lang[0]) * 31 + ord(lang[1]))
        lines = []
        for _ in range(60):
            text = " ".join(rng.choice(words) for _ in range(12)) + "."
            lines.append(json.dumps({"text": text}, ensure_ascii=False))
            texts.append(text)
        (folder / f"{lang}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return texts


def train_hf_tokenizer(texts, path):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer)
    tok.save(str(path))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dir", type=Path)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="cuda")
    ap.add_argument("--precision", choices=["fp32", "bf16", "auto"], default="bf16")
    ap.add_argument("--tokenizer", choices=["train", "hf"], default="train")
    a = ap.parse_args()
    (a.dir / "corpus").mkdir(parents=True, exist_ok=True)
    texts = write_corpus(a.dir / "corpus")
    p = project(a.device, a.precision)
    if a.tokenizer == "hf":
        train_hf_tokenizer(texts, a.dir / "tokenizer.json")
        p["tokenizer"] = {"kind": "file", "path": "tokenizer.json"}
    (a.dir / "micro.dmoe.json").write_text(json.dumps(p, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(a.dir / "micro.dmoe.json")


if __name__ == "__main__":
    main()
