"""Record real MiniLM + LoRA training histories on SST-2 for the curve-diagnosis tests.

Run once (about 15 minutes on 2 CPU cores); the tests read the JSON it writes and
never train. The runs are cells of the fine-tuning grid (bench/finetune_grid.py:
the embedded sst2-minilm-lora example, fraction 0.05 = 1,000 rows, seed 0, LoRA
r 16, warmup 0.1, batch 16, 2 epochs = 126 steps, a loss logged every 5 steps)
at four of its learning rates, plus three outside it (3e-5, 0.05 and 10.0) so that
every curve class has a real example.

Usage::

    PYTHONPATH=src python tests/analysis/data/record_minilm_histories.py
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from importlib.resources import files
from pathlib import Path

OUT = Path(__file__).resolve().parent / "minilm_sst2_histories.json"
LEARNING_RATES = (3e-5, 3e-4, 1.2e-3, 2.5e-3, 1e-2, 5e-2, 10.0)
GRID_CELL = {"seed": 0, "train.lora.r": 16, "train.warmup_ratio": 0.1}
FRACTION = 0.05
KEEP = ("step", "epoch", "loss", "learning_rate", "eval_loss", "eval_accuracy")


def main() -> int:
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from hpscout import __version__
    from hpscout.config import apply_updates, load_config
    from hpscout.runner import run_trial

    base = load_config(str(files("hpscout") / "templates" / "sst2-minilm-lora.yaml"))
    runs = []
    for lr in LEARNING_RATES:
        config = apply_updates(base, {**GRID_CELL, "train.learning_rate": lr})
        with tempfile.TemporaryDirectory(prefix="hpscout-curves-") as tmp:
            result = run_trial(config, out_dir=tmp, fraction=FRACTION)
        history = [{k: row[k] for k in KEEP if k in row} for row in result.history]
        runs.append(
            {
                "learning_rate": lr,
                "status": result.status.value,
                "message": result.message,
                "steps": result.steps,
                "eval_accuracy": result.metrics.get("eval_accuracy"),
                "history": history,
            }
        )
        print(f"lr={lr:g}: {result.status.value} acc={result.metrics.get('eval_accuracy')} steps={result.steps}", flush=True)
    payload = {
        "source": (
            f"hpscout {__version__}, tests/analysis/data/record_minilm_histories.py: sst2-minilm-lora template, "
            f"fraction {FRACTION}, {GRID_CELL}"
        ),
        "runs": runs,
    }
    OUT.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
