"""A search objective that replays recorded MiniLM + LoRA runs (no training), for ``hpscout trials``.

Each trial takes the recorded run (tests/analysis/data/minilm_sst2_histories.json)
whose learning rate is nearest its own on a log scale and writes it as the trial's
``result.json``, the way the real objective does.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from hpscout.runner import TrialResult, TrialStatus

RECORDED = Path(__file__).resolve().parents[1] / "analysis" / "data" / "minilm_sst2_histories.json"


def recorded(trial, config):
    runs = json.loads(RECORDED.read_text(encoding="utf-8"))["runs"]
    lr = config.train.learning_rate
    run = min(runs, key=lambda r: abs(math.log(r["learning_rate"] / lr)))
    result = TrialResult(
        status=TrialStatus(run["status"]),
        objective=run["eval_accuracy"],
        steps=run["steps"],
        fraction=config.scout.fraction,
        history=run["history"],
    )
    out = Path(config.output_dir) / "trials" / f"trial-{trial.number}"
    out.mkdir(parents=True, exist_ok=True)
    path = result.save(out / "result.json")
    trial.set_user_attr("result_path", str(path))
    trial.set_user_attr("fraction", config.scout.fraction)
    trial.set_user_attr("recorded_lr", run["learning_rate"])
    if run["status"] != "complete":
        trial.set_user_attr("status", run["status"])
        return float("nan")  # a failed trial, as the real objective records a diverged one
    return run["eval_accuracy"]
