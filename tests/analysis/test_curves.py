"""Loss-curve diagnosis: every rule on synthetic curves, then on real MiniLM + LoRA histories."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest

from hpscout.analysis import CURVE_LABELS, CurveDiagnosis, curve_points, diagnose_curve, search_curve_note
from hpscout.analysis._curves import MIN_POINTS, SLOW_DROP, SWING, SWING_PER_DROP

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
    assert d.label == "oscillating" and "warmup" in d.suggestion
    assert d.reason.startswith("The typical move between two logs is 4") and "of the whole descent" in d.reason
    # one spike in a falling curve is noise, not oscillation
    one = [0.6, 0.5, 0.45, 0.7, 0.4, 0.35, 0.3, 0.28, 0.26, 0.25]
    assert diagnose_curve(curve(one)).label == "healthy"


def test_collapse_is_diverged():
    # up first, then back to where it began: the updates made the model worse (seen at LR 5e-2 on MiniLM)
    d = diagnose_curve(curve([0.69, 0.8, 0.78, 0.75, 0.72, 0.7, 0.69, 0.69, 0.7, 0.69]))
    assert d.label == "diverged" and "no lower than it began" in d.reason


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
    # a zigzag without progress: moves just under SWING x start are noise, just over are oscillation
    zigzag = lambda move: [1.0 - move * (i % 2) for i in range(12)]  # noqa: E731
    assert diagnose_curve(curve(zigzag(SWING - 0.01))).label == "too slow to learn"
    assert diagnose_curve(curve(zigzag(SWING + 0.01))).label == "oscillating"
    # the same 6% moves on a curve that falls by 50% are small next to the descent; by 20%, they are not
    falling = lambda total: [1.0 - total * i / 23 + 0.03 * (-1) ** i for i in range(24)]  # noqa: E731
    assert diagnose_curve(curve(falling(0.5))).label == "healthy"
    assert diagnose_curve(curve(falling(0.2))).label == "oscillating"
    assert SWING_PER_DROP == 0.2


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


# --------------------------------------------------------------------------- real histories


def _real_runs():
    return {run["learning_rate"]: run for run in json.loads(REAL.read_text(encoding="utf-8"))["runs"]}


@pytest.mark.parametrize(
    ("lr", "label"),
    [
        (3e-5, "too slow to learn"),  # loss 0.692 -> 0.691, accuracy 0.58
        (3e-4, "too slow to learn"),  # 0.692 -> 0.676, accuracy 0.51: still at chance
        (1.2e-3, "healthy"),  # accuracy 0.80
        (2.5e-3, "healthy"),  # accuracy 0.82, the grid's best cell
        (1e-2, "oscillating"),  # accuracy 0.75: swings of 29% of its descent
        (5e-2, "diverged"),  # up 8%, then back to chance (accuracy 0.51)
        (10.0, "diverged"),  # stopped by the runner's guard at step 5
    ],
)
def test_real_minilm_histories(lr, label):
    """Recorded once by tests/analysis/data/record_minilm_histories.py: MiniLM + LoRA on SST-2, 126 steps."""
    run = _real_runs()[lr]
    d = diagnose_curve(run["history"], status=run["status"], chance_loss=math.log(2))
    assert d.label == label, d
    # the verdict does not hinge on the chance level, except that it may only make a curve look worse
    assert diagnose_curve(run["history"], status=run["status"]).label == label


def test_real_history_without_the_status_is_too_short_when_the_guard_stopped_it_early():
    run = _real_runs()[10.0]
    assert run["status"] == "diverged" and diagnose_curve(run["history"]).label == "too short"
