"""Shared helpers for the runner tests: tiny models, small data files, configs, reporters, a torch factory."""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path
from typing import Any

from hpscout.config import builtin_path, config_from_dict

#: the alpaca demo set embedded in the package (999 records)
ALPACA = builtin_path("builtin:alpaca/alpaca_en_demo.json")

# Random-init models from a config dict: seconds to build and train on CPU.
TINY_BERT = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}
TINY_LLAMA = {
    "model_type": "llama",
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "num_key_value_heads": 2,
    "max_position_embeddings": 256,
}
TINY_T5 = {
    "model_type": "t5",
    "d_model": 32,
    "d_ff": 64,
    "d_kv": 16,
    "num_layers": 1,
    "num_decoder_layers": 1,
    "num_heads": 2,
}

_POS = ["good", "great", "lovely", "fine", "superb", "happy"]
_NEG = ["bad", "awful", "poor", "dull", "boring", "sad"]
_FILL = ["the", "movie", "was", "plot", "acting", "really", "quite", "a", "film", "story"]


def write_classification_csv(path: Path, rows: int, *, seed: int = 0, string_labels: bool = False) -> Path:
    """Short sentences whose label is given away by one sentiment word."""
    rng = random.Random(seed)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "label"])
        for i in range(rows):
            y = i % 2
            words = rng.sample(_FILL, rng.randint(2, 8)) + [rng.choice(_POS if y else _NEG)]
            rng.shuffle(words)
            label: Any = ("positive" if y else "negative") if string_labels else y
            w.writerow([" ".join(words), label])
    return path


def write_alpaca_json(path: Path, rows: int) -> Path:
    """The first ``rows`` records of the embedded alpaca demo set."""
    records = json.loads(ALPACA.read_text(encoding="utf-8"))[:rows]
    path.write_text(json.dumps(records), encoding="utf-8")
    return path


def write_summaries_jsonl(path: Path, rows: int, *, seed: int = 0) -> Path:
    """Toy summarisation: the target is the source's first three words."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8") as fh:
        for _ in range(rows):
            words = [rng.choice(_FILL + _POS + _NEG) for _ in range(rng.randint(6, 14))]
            fh.write(json.dumps({"document": " ".join(words), "summary": " ".join(words[:3])}) + "\n")
    return path


def classification_config(tmp_path: Path, *, train_rows: int = 64, eval_rows: int = 16, **train: Any) -> Any:
    """A tiny-BERT classification config on fresh CSV files in ``tmp_path``."""
    tr = write_classification_csv(tmp_path / "train.csv", train_rows, seed=1)
    ev = write_classification_csv(tmp_path / "eval.csv", eval_rows, seed=2)
    settings = {"learning_rate": 1e-3, "batch_size": 8, "epochs": 1, "logging_steps": 1, "method": "full"}
    settings.update(train)
    return config_from_dict(
        {
            "name": "tiny-cls",
            "seed": 7,
            "task": "sequence-classification",
            "model": {"from_config": TINY_BERT},
            "data": {"train": str(tr), "eval": str(ev), "max_length": 32},
            "scout": {"fraction": 1.0},
            "train": settings,
            "search": {"metric": "eval_accuracy", "direction": "maximize"},
            "output_dir": str(tmp_path / "run"),
        }
    )


def torch_config(tmp_path: Path, **train: Any) -> Any:
    settings = {"learning_rate": 1e-2, "batch_size": 32, "epochs": 2, "logging_steps": 2, "method": "full"}
    settings.update(train)
    return config_from_dict(
        {
            "name": "tiny-torch",
            "seed": 3,
            "task": "torch",
            "torch": {"factory": "_fixtures:digits_factory"},
            "data": {"train": "unused"},
            "scout": {"fraction": 0.5},
            "train": settings,
            "search": {"metric": "eval_accuracy", "direction": "maximize"},
            "output_dir": str(tmp_path / "run"),
        }
    )


class RecordingReporter:
    """Records reports; prunes once ``prune_after`` values have been reported (never when None)."""

    def __init__(self, prune_after: int | None = None) -> None:
        self.values: list[tuple[int, float]] = []
        self.prune_after = prune_after

    def report(self, value: float, step: int) -> None:
        self.values.append((step, value))

    def should_prune(self) -> bool:
        return self.prune_after is not None and len(self.values) >= self.prune_after


def digits_factory(config: Any, info: Any) -> Any:
    """A 2-layer MLP on a ``info.fraction`` subset of scikit-learn's digits (eval: a fixed 300 rows)."""
    import numpy as np
    import torch
    from sklearn.datasets import load_digits

    from hpscout.runner import TorchTask

    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x / 16.0, dtype=torch.float32)
    y = torch.tensor(y, dtype=torch.long)
    order = np.random.default_rng(0).permutation(len(x))
    eval_rows, pool = order[:300], order[300:]
    n = max(int(len(pool) * info.fraction), 1)
    train_rows = np.sort(np.random.default_rng(info.seed).permutation(pool)[:n])
    train = torch.utils.data.TensorDataset(x[train_rows], y[train_rows])
    x_eval, y_eval = x[eval_rows], y[eval_rows]
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))

    def train_loader(batch_size: int, seed: int) -> Any:
        gen = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(train, batch_size=batch_size, shuffle=True, generator=gen)

    def loss_fn(model: Any, batch: Any) -> Any:
        xb, yb = batch
        return torch.nn.functional.cross_entropy(model(xb), yb)

    def eval_fn(model: Any) -> dict[str, float]:
        dev = next(model.parameters()).device
        logits = model(x_eval.to(dev)).float()
        loss = torch.nn.functional.cross_entropy(logits, y_eval.to(dev))
        acc = (logits.argmax(-1).cpu() == y_eval).float().mean()
        return {"eval_loss": float(loss), "accuracy": float(acc)}

    return TorchTask(model=model, train_loader=train_loader, loss_fn=loss_fn, eval_fn=eval_fn, train_samples=n)


def dropout_digits_factory(config: Any, info: Any) -> Any:
    """:func:`digits_factory` with dropout and an eval_fn that draws from the global generators, as eval loaders do."""
    import numpy as np
    import torch

    task = digits_factory(config, info)
    task.model.insert(1, torch.nn.Dropout(0.3))  # masks from torch's global generator
    plain_eval = task.eval_fn

    def eval_fn(model: Any) -> dict[str, float]:
        torch.rand(1), random.random(), np.random.rand()  # a DataLoader iterator draws its seed like this
        return plain_eval(model)

    task.eval_fn = eval_fn
    return task


#: the SST-2 sample embedded in the package: 20,000 rows of GLUE SST-2 train, and the full dev set
SST2_TRAIN = builtin_path("builtin:sst2/train.tsv")
SST2_DEV = builtin_path("builtin:sst2/dev.tsv")
SST2_TRAIN_ROWS = 20000


def minilm_sst2_config(*, name: str, rows: int, max_length: int, **train: Any) -> Any:
    """Real MiniLM + LoRA (r 8, alpha 16, query/value) on a label-stratified ``rows``-row subset of SST-2.

    ``train`` keys override the LoRA defaults (learning rate, epochs, evaluation, ...);
    ``max_eval_samples`` among them goes to ``data``.
    """
    data: dict[str, Any] = {
        "train": str(SST2_TRAIN),
        "eval": str(SST2_DEV),
        "text_column": "sentence",
        "max_length": max_length,
    }
    if "max_eval_samples" in train:
        data["max_eval_samples"] = train.pop("max_eval_samples")
    return config_from_dict(
        {
            "name": name,
            "seed": 42,
            "task": "sequence-classification",
            "model": {"name_or_path": "minilm"},
            "data": data,
            "scout": {"fraction": rows / SST2_TRAIN_ROWS},
            "train": {
                "method": "lora",
                "lora": {"r": 8, "alpha": 16, "target": "qv"},
                "batch_size": 16,
                "eval_batch_size": 64,
                **train,
            },
            "search": {"metric": "eval_accuracy", "direction": "maximize"},
        }
    )


def interrupted_digits_factory(config: Any, info: Any) -> Any:
    """:func:`digits_factory` whose second training step is cut by Ctrl-C (a KeyboardInterrupt)."""
    task = digits_factory(config, info)
    calls = {"n": 0}
    loss_fn = task.loss_fn

    def interrupting_loss(model: Any, batch: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return loss_fn(model, batch)

    task.loss_fn = interrupting_loss
    return task
