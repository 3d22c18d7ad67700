"""A minimal training script that speaks hpscout's command protocol.

hpscout runs it once per trial. Hyperparameters arrive as --key=value arguments
(dotted config keys, e.g. --train.learning_rate=0.001) or, with pass_as: env, as
HPSCOUT_* environment variables. The script appends one JSON line per evaluation
to $HPSCOUT_METRICS_FILE; hpscout reads them while it runs, so a pruner can stop it.

Replace the toy objective below with your training loop.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=None)
    args, unknown = parser.parse_known_args()
    params = dict(a.lstrip("-").split("=", 1) for a in unknown if "=" in a)
    lr = float(params.get("train.learning_rate", os.environ.get("HPSCOUT_TRAIN_LEARNING_RATE", "1e-3")))
    epochs = int(float(params.get("train.epochs", os.environ.get("HPSCOUT_TRAIN_EPOCHS", "3"))))
    metrics_file = os.environ.get("HPSCOUT_METRICS_FILE", "metrics.jsonl")
    for epoch in range(1, epochs + 1):
        time.sleep(0.1)  # your training epoch goes here
        accuracy = 0.9 - 0.1 * abs(math.log10(lr) + 3) - 0.05 / epoch  # toy: best at lr = 1e-3
        with open(metrics_file, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"step": epoch, "epoch": epoch, "eval_accuracy": accuracy}) + "\n")


if __name__ == "__main__":
    main()
