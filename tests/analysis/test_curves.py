"""Loss-curve diagnosis: every rule on synthetic curves, then on real MiniLM + LoRA histories."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from hpscout.analysis import CURVE_LABELS, CurveDiagnosis, curve_points, diagnose_curve, search_curve_note
from hpscout.analysis._curves import MIN_POINTS, SLOW_DROP, SWING

REAL = Path(__file__).resolve().parent / "data" / "minilm_sst2_histories.json"


def curve(losses, every=5):
    """History rows as the runner writes them: a loss every ``every`` steps, eval rows in between."""
    rows = [{"step": every * (i + 1), "loss": v, "learning_rate": 1e-3} for i, v in enumerate(losses)]
    rows.insert(len(rows) // 2, {"step": every * (len(losses) // 2) + 1, "eval_loss": 0.5, "eval_accuracy": 0.8})
    return rows


def noisy(values, sd, seed=0):
    rng = random.Random(seed)
    return [v + rng.gauss(0, sd) for v in values]


def decay(start, end, n, rate=0.15):
    return [end + (start - end) * math.exp(-rate * i) for i in range(n)]


# --------------------------------------------------------------------------- synthetic curves, one rule each


def test_healthy_noisy_decay():
    d = diagnose_curve(curve(noisy(decay(0.69, 0.2, 25, rate=0.1), 0.02)))
    assert d.label == "healthy" and d.suggestion == "" and "kept falling" in d.reason


@pytest.mark.parametrize(
    ("kwargs", "losses", "in_reason"),
    [
        ({"status": "diverged"}, [0.7, 0.6, 0.5], "divergence guard"),
        ({}, [0.7, 0.6, float("nan"), 0.5, 0.5, 0.5], "nan at step 15"),
        ({}, [0.7, 0.8, 1.0, 1.3, 1.5, 1.6], "rose from 0.7 to 1.55"),
        # starts exploded already (first log 50) and stays far above chance: the chance level catches it
        ({"chance_loss": math.log(2)}, [50, 40, 30, 20, 15, 12], "worse than guessing"),
    ],
)
def test_diverged(kwargs, losses, in_reason):
    d = diagnose_curve(curve(losses), **kwargs)
    assert d.label == "diverged" and in_reason in d.reason and "lower the learning rate" in d.suggestion


def test_oscillating():
    losses = [0.6, 0.35, 0.62, 0.3, 0.58, 0.33, 0.6, 0.28, 0.55, 0.3, 0.57, 0.31]
    d = diagnose_curve(curve(losses))
    assert d.label == "oscillating" and "warmup" in d.suggestion and "5 of 11" in d.reason
    # one swing is noise, not oscillation
    one = [0.6, 0.5, 0.45, 0.7, 0.4, 0.35, 0.3, 0.28, 0.26, 0.25]
    assert diagnose_curve(curve(one)).label != "oscillating"


def test_too_slow_to_learn():
    d = diagnose_curve(curve([0.69 - 0.002 * i for i in range(25)]))
    assert d.label == "too slow to learn" and "raise the learning rate" in d.suggestion and "fell only" in d.reason


def test_plateaued_early():
    losses = [0.69, 0.5, 0.42, 0.4] + noisy([0.4] * 20, 0.003)
    d = diagnose_curve(curve(losses))
    assert d.label == "plateaued early" and "stop earlier" in d.suggestion
    # the same drop spread over the whole run is healthy
    assert diagnose_curve(curve([0.69 - 0.0125 * i for i in range(24)])).label == "healthy"


def test_too_short():
    d = diagnose_curve(curve([0.7, 0.6, 0.5]))
    assert d.label == "too short" and str(MIN_POINTS) in d.reason
    assert diagnose_curve([]).label == "too short"
    assert diagnose_curve(curve([-1.0, -2.0, -3.0, -4.0, -5.0])).label == "too short"  # a negative custom loss


def test_thresholds_are_where_the_docstring_says():
    # drop just under / over SLOW_DROP
    flat_end = lambda drop: [1.0] + [1.0 - drop] * (MIN_POINTS + 3)  # noqa: E731
    assert diagnose_curve(curve(flat_end(SLOW_DROP - 0.01))).label == "too slow to learn"
    assert diagnose_curve(curve(flat_end(SLOW_DROP + 0.01))).label != "too slow to learn"
    # swings just under SWING x start are not counted
    small = [1.0, 0.9, 0.9 + SWING - 0.01] * 4
    assert diagnose_curve(curve(small)).label != "oscillating"


def test_curve_points_reads_history_rows_and_csv_text():
    rows = [{"step": "10", "loss": "0.5"}, {"step": 5, "loss": 0.7}, {"step": 7, "eval_loss": 0.3}, {"step": 8, "loss": ""},
            {"step": 9, "loss": "nan"}]
    pts = curve_points(rows)
    assert pts[:1] == [(5, 0.7)] and pts[-1] == (10, 0.5) and math.isnan(pts[1][1])


def test_search_note_only_when_most_top_trials_are_slow():
    slow, ok = CurveDiagnosis("too slow to learn", "", ""), CurveDiagnosis("healthy", "", "")
    assert search_curve_note([slow, slow, ok], (1e-5, 1e-4)).endswith("e.g. high 1e-4 -> 1e-3.")
    assert search_curve_note([slow, ok]) is None and search_curve_note([]) is None
    assert "widen the learning-rate range upward." in search_curve_note([slow])
    assert set(CURVE_LABELS) == {"healthy", "diverged", "oscillating", "plateaued early", "too slow to learn", "too short"}
