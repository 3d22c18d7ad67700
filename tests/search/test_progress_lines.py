"""Off a terminal the search prints one line per event: a passing second (a new ETA) is no event."""

from __future__ import annotations

import io

import optuna

from hpscout.search import Progress


def test_plain_lines_only_when_something_happened(monkeypatch) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study()
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=1.0))
    stream = io.StringIO()
    bar = Progress(budget=3, metric="eval_loss", direction="minimize", stream=stream, live=False)
    clock = iter(range(0, 1000, 7))
    monkeypatch.setattr(bar, "eta", lambda n: float(next(clock)))  # the ETA changes on every call
    for _ in range(5):
        bar.update(study.get_trials(), counted=1)
    status = [ln for ln in stream.getvalue().splitlines() if ln.startswith("[search]")]
    assert len(status) == 1
    study.add_trial(optuna.trial.create_trial(params={}, distributions={}, value=0.5))
    bar.update(study.get_trials(), counted=2)
    status = [ln for ln in stream.getvalue().splitlines() if ln.startswith("[search]")]
    assert len(status) == 2 and "2/3 finished" in status[-1]
