"""Helpers for the LLaMA-Factory tests: a small LLaMA-Factory project, a stand-in CLI, the real venv, a tiny model."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
ALPACA = REPO / "src" / "hpscout" / "templates" / "data" / "alpaca" / "alpaca_en_demo.json"
EXAMPLE = REPO / "examples" / "llamafactory_sft.yaml"
#: the venv `make setup-llamafactory` makes; HPSCOUT_LLAMAFACTORY_PYTHON points elsewhere
REAL_PYTHON = Path(os.environ.get("HPSCOUT_LLAMAFACTORY_PYTHON", REPO / ".venv-llamafactory" / "bin" / "python"))

# A stand-in for `python -m llamafactory.cli train file.yaml`: it reads the trial's YAML and its
# dataset_info.json like LLaMA-Factory does and writes the same files (trainer_log.jsonl,
# all_results.json, the parameter log line), with an eval_loss that depends on the learning rate.
# FAKE_LF_MODE: ok | nan | oom | crash; FAKE_LF_STEP_SECONDS slows each step.
_FAKE_CLI = '''
import json, math, os, sys, time
import yaml

def main():
    assert sys.argv[1] == "train", sys.argv
    args = yaml.safe_load(open(sys.argv[2], encoding="utf-8"))
    out = args["output_dir"]
    os.makedirs(out, exist_ok=True)
    info = json.load(open(os.path.join(args["dataset_dir"], "dataset_info.json"), encoding="utf-8"))
    rows = sum(1 for _ in open(os.path.join(args["dataset_dir"], info[args["dataset"]]["file_name"]), encoding="utf-8"))
    mode = os.environ.get("FAKE_LF_MODE", "ok")
    if mode == "crash":
        print("Traceback (most recent call last):\\nValueError: Cannot find valid samples", file=sys.stderr)
        sys.exit(1)
    if mode == "oom":
        print("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB", file=sys.stderr)
        sys.exit(1)
    print("[INFO|loader] trainable params: 1,024 || all params: 10,240 || trainable%: 10.0000", file=sys.stderr)
    steps = max(1, math.ceil(rows / (args["per_device_train_batch_size"] * args["gradient_accumulation_steps"])))
    target = (math.log10(float(args["learning_rate"])) + 3.5) ** 2 + 1.0
    with open(os.path.join(out, "trainer_log.jsonl"), "a", encoding="utf-8") as fh:
        for step in range(1, steps + 1):
            loss = float("nan") if mode == "nan" and step == 2 else target + 1.0 / step
            fh.write(json.dumps({"current_steps": step, "total_steps": steps, "loss": loss}) + "\\n")
            fh.write(json.dumps({"current_steps": step, "total_steps": steps, "eval_loss": loss}) + "\\n")
            fh.flush()
            time.sleep(float(os.environ.get("FAKE_LF_STEP_SECONDS", "0")))
    results = {"epoch": 1.0, "eval_loss": target, "train_loss": target, "train_runtime": 0.5, "eval_runtime": 0.1}
    json.dump(results, open(os.path.join(out, "all_results.json"), "w", encoding="utf-8"))

if __name__ == "__main__":
    main()
'''


def install_fake_llamafactory(root: Path, monkeypatch: Any) -> str:
    """Put the stand-in ``llamafactory`` package (with version 0.9.5 metadata) on PYTHONPATH; returns the interpreter."""
    from hpscout.runner._llamafactory import llamafactory_version

    pkg = root / "fake_lf" / "llamafactory"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("", encoding="utf-8")
    (pkg / "cli.py").write_text(_FAKE_CLI, encoding="utf-8")
    meta = root / "fake_lf" / "llamafactory-0.9.5.dist-info"
    meta.mkdir()
    (meta / "METADATA").write_text("Metadata-Version: 2.1\nName: llamafactory\nVersion: 0.9.5\n", encoding="utf-8")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(root / "fake_lf"), os.environ.get("PYTHONPATH", "")]))
    llamafactory_version.cache_clear()
    return sys.executable


def write_project(
    root: Path,
    *,
    rows: int = 200,
    model: str = "Qwen/Qwen2.5-0.5B-Instruct",
    formatting: str = "alpaca",
    extra: dict[str, Any] | None = None,
    text: str | None = None,
) -> Path:
    """A LLaMA-Factory project: data/dataset_info.json, data/demo.json (alpaca or sharegpt) and sft.yaml."""
    data = root / "data"
    data.mkdir(parents=True, exist_ok=True)
    records = json.loads(ALPACA.read_text(encoding="utf-8"))[:rows]
    entry: dict[str, Any] = {"file_name": "demo.json"}
    if formatting == "sharegpt":
        records = [
            {"conversations": [{"from": "human", "value": r["instruction"]}, {"from": "gpt", "value": r["output"]}]}
            for r in records
        ]
        entry.update(formatting="sharegpt", columns={"messages": "conversations"})
    (data / "demo.json").write_text(json.dumps(records), encoding="utf-8")
    (data / "dataset_info.json").write_text(json.dumps({"demo": entry}), encoding="utf-8")
    path = root / "sft.yaml"
    if text is None:
        args = {
            "model_name_or_path": model,
            "stage": "sft",
            "do_train": True,
            "finetuning_type": "lora",
            "lora_target": "all",
            "dataset": "demo",
            "dataset_dir": str(data),
            "template": "qwen",
            "cutoff_len": 64,
            "output_dir": "saves/demo",
            "per_device_train_batch_size": 8,
            "gradient_accumulation_steps": 1,
            "learning_rate": 1.0e-4,
            "num_train_epochs": 1.0,
            "lr_scheduler_type": "cosine",
            "warmup_ratio": 0.1,
            "report_to": "none",
            **(extra or {}),
        }
        text = yaml.safe_dump(args, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    return path


def build_tiny_model(out: Path) -> Path:
    """A 2-layer Llama (hidden 32) with a BPE tokenizer trained on the bundled alpaca sample, saved to ``out``.

    The tokenizer holds Qwen's chat tokens, so LLaMA-Factory's ``qwen`` template needs no new tokens.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    rows = json.loads(ALPACA.read_text(encoding="utf-8"))
    texts = [" ".join([r["instruction"], r.get("input", ""), r["output"]]) for r in rows]
    specials = ["<unk>", "<s>", "</s>", "<pad>", "<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(
        texts, trainers.BpeTrainer(vocab_size=512, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>", pad_token="<pad>")
    fast.save_pretrained(out)
    config = LlamaConfig(
        vocab_size=len(fast), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=4, max_position_embeddings=256, bos_token_id=1, eos_token_id=2, pad_token_id=3,
    )
    LlamaForCausalLM(config).save_pretrained(out)
    return out
