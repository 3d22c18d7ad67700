"""report_data: the computed report, checked without drawing anything."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from _fake_run import make_fake_run

from hpscout import StorageError
from hpscout.report import PLOT_KEYS, report_data, summary_text, trial_table_text
from hpscout.report._data import (
    ablation_series,
    importance_series,
    lr_law_series,
    param_series,
    transfer_series,
)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return make_fake_run(tmp_path_factory.mktemp("rd"))


@pytest.fixture(scope="module")
def data(run):
    return report_data(run.run_dir, storage=run.storage)


def test_rows_ranked_by_metric(data, run):
    ranked = [r for r in data.rows if r.rank is not None]
    assert [r.rank for r in ranked] == list(range(1, len(ranked) + 1))
    values = [r.value for r in ranked]
    assert values == sorted(values, reverse=True)  # maximize
    assert data.best is not None and data.best.number == run.best_trial and data.best.value == run.best_value
    # unranked trials come after the ranked ones: pruned first, then failures
    tail = [r.status for r in data.rows[len(ranked):]]
    assert tail[:2] == ["pruned", "pruned"] and set(tail[2:]) == {"diverged", "oom"}


def test_row_columns_come_from_the_trial(data):
    row = next(r for r in data.rows if r.name == "t0002")
    assert row.learning_rate == pytest.approx(2.2e-3)
    assert row.lora_r == 16 and row.batch_size == 16 and row.warmup_ratio == pytest.approx(0.1)
    assert row.train_loss is not None and row.seconds is not None and row.trainable_params == 36_864 * 16 + 1_538
    pruned = next(r for r in data.rows if r.name == "t0003")
    assert pruned.value is None and pruned.last_value is not None and pruned.fraction == 0.01


def test_failed_trials_with_reasons(data):
    failed = {r.name: r for r in data.failed}
    assert set(failed) == {"t0004", "t0009"}
    assert "exceeded 10x" in failed["t0004"].message
    assert "out of memory" in failed["t0009"].message
    assert data.counts == {"complete": 8, "pruned": 2, "diverged": 1, "oom": 1}


def test_best_config_and_final_files(data):
    assert data.best_config["train.learning_rate"] == pytest.approx(2.2e-3)
    assert data.best_config["source"] == "top/top1.yaml"
    files = {f.label: f.exists for f in data.final_files}
    assert files["top config 1"] is True and files["LLaMA-Factory YAML"] is False


def test_every_plot_has_data(data):
    assert tuple(data.plots) == PLOT_KEYS
    missing = {k: p.note for k, p in data.plots.items() if not p.has_data}
    assert missing == {}


def test_history_best_so_far_is_monotone(data):
    h = data.plots["history"].data
    assert h["best_so_far"] == sorted(h["best_so_far"])  # maximize: never decreases
    assert h["best_so_far"][-1] == data.best.value
    assert set(h["stopped"]["statuses"]) == {"pruned", "diverged"}  # the oom trial reported nothing


def test_curves_of_the_top_trials(data):
    curves = data.plots["curves"].data["curves"]
    assert [c["name"] for c in curves] == [r.name for r in data.rows[:3]]
    assert all(c["train_steps"] and c["eval_steps"] for c in curves)
    assert data.plots["curves"].data["metric"] == "eval_accuracy"


def test_schedule_of_the_final_config(data):
    s = data.plots["schedule"].data
    # full data 20,000 rows (analysis.json cost), batch 16, 2 epochs -> 2,500 steps; warmup ceil(0.1 x 2500)
    assert s["total_steps"] == 2500 and s["warmup_steps"] == 250
    assert s["steps"][0] == 0 and s["steps"][-1] == 2500
    assert max(s["lrs"]) == pytest.approx(2.2e-3)
    assert s["lrs"][-1] == pytest.approx(0.0, abs=1e-12)


def test_lr_law_line_passes_through_the_prediction(data):
    d = data.plots["lr_law"].data
    # least squares through the points: the line at full x equals the analysis' prediction
    lo_x, hi_x = d["fit_x"][0], d["fit_x"][-1]
    assert hi_x == pytest.approx(2500)
    assert d["fit_lr"][-1] == pytest.approx(d["predicted_full_lr"], rel=0.05)
    assert d["fit_lr"][0] > d["fit_lr"][-1] and lo_x < hi_x  # beta > 0: LR falls with more steps
    assert d["band"]["low"][-1] != d["band"]["high"][-1]


def test_sections_missing_read_as_not_run(tmp_path):
    run = make_fake_run(tmp_path, with_analysis=False, with_top=False)
    d = report_data(run.run_dir, storage=run.storage)
    assert d.ablation is None and d.transfer is None and d.cost is None and d.lr_scaling is None
    for key in ("importance", "ablation", "transfer", "lr_law"):
        assert not d.plots[key].has_data and "not run" in d.plots[key].note
    assert d.best_config["source"] == "best trial t0002"


def test_plot_notes_when_nothing_to_compare():
    from hpscout.report import TrialRow

    rows = [TrialRow(number=i, name=f"t{i}", status="complete", value=0.5 + i, learning_rate=1e-3) for i in range(3)]
    p = param_series(rows, "learning_rate", "LR", "train.learning_rate", log=True)
    assert not p.has_data and "same train.learning_rate" in p.note
    assert "no complete trial" in param_series([], "lora_r", "r", "train.lora.r").note
    assert importance_series({"status": "not enough trials", "note": "3 trials < 5"}).note == "3 trials < 5"
    assert importance_series({"ped_anova": {"error": "boom"}}).note
    assert "refused" in lr_law_series({"status": "refused", "message": "1 rung"}).note
    assert not transfer_series({"configs": [{"trial": 1, "small_value": None, "large_value": 0.5}]}).has_data
    assert not ablation_series({"factors": {"x": {"levels": [{"level": "a", "mean": None}]}}}).has_data


def test_default_storage_and_missing_storage(tmp_path):
    run = make_fake_run(tmp_path / "a", default_storage=True, n_trials=4)
    d = report_data(run.run_dir)
    assert d.storage.endswith("study.log") and len(d.rows) == 4
    with pytest.raises(StorageError, match="does not exist"):
        report_data(run.run_dir, storage=f"sqlite:///{tmp_path / 'missing.db'}")
    assert not (tmp_path / "missing.db").exists()
    with pytest.raises(StorageError, match="not a run folder"):
        report_data(tmp_path / "nowhere")


def test_no_complete_trial(tmp_path):
    run = make_fake_run(tmp_path, n_trials=0, with_top=False)
    d = report_data(run.run_dir, storage=run.storage)
    assert d.best is None and d.rows == [] and d.notes
    assert "no trial" in d.plots["history"].note
    assert "no trials" in trial_table_text(d) and "no complete trial" in summary_text(d)


def test_terminal_table_matches_rows(data):
    text = trial_table_text(data)
    lines = text.splitlines()
    assert "eval_accuracy" in lines[0] and len(lines) == 2 + len(data.rows)
    assert lines[2].split()[:3] == ["1", "t0002", "complete"]
    assert "(0.5859 @0.01)" in text  # pruned: last value at its fraction
    short = trial_table_text(data, limit=3)
    assert "9 more trials" in short


def test_report_data_draws_nothing(run):
    """Compute, then draw: computing the report imports no plotting library."""
    code = (
        f"import sys, json; sys.path.insert(0, {str(Path(__file__).parent)!r});"
        "from hpscout.report import report_data;"
        f"d = report_data({str(run.run_dir)!r}, storage={run.storage!r});"
        "print(json.dumps([m for m in ('plotly', 'matplotlib') if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_values_are_finite(data):
    for row in data.rows:
        for v in (row.value, row.last_value, row.train_loss):
            assert v is None or math.isfinite(v)


def test_interrupted_trials_are_not_failures(tmp_path):
    import optuna

    run = make_fake_run(tmp_path, n_trials=3)
    study = optuna.load_study(study_name=run.study_name, storage=run.storage)
    study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL,
                                              user_attrs={"interrupted": "worker died (no heartbeat)"}))
    d = report_data(run.run_dir, storage=run.storage)
    row = d.rows[-1]
    assert row.status == "interrupted" and row.message == "worker died (no heartbeat)"
    assert row not in d.failed


def test_the_config_box_shows_what_final_holds_when_transfer_and_search_disagree(tmp_path):
    """The search's top-1 is 2.2e-3 (top/top1.yaml); the transfer climb picked another trial (7.3e-3):
    the box shows final/config.yaml's values and says why it was chosen (issue 17, item 10)."""
    from hpscout.config import apply_updates, load_config, save_config

    run = make_fake_run(tmp_path)
    top1 = load_config(run.run_dir / "top" / "top1.yaml")
    final = apply_updates(top1, {"train.learning_rate": 7.3e-3})
    why = "trial 6: best eval_accuracy 0.893 at fraction 0.2, the highest rung the transfer check reached"
    save_config(final, run.run_dir / "final" / "config.yaml", header=f"final config of run x, chosen by hpscout run: {why}")
    d = report_data(run.run_dir, storage=run.storage)
    assert d.best is not None and d.best.params["train.learning_rate"] == pytest.approx(2.2e-3)
    assert d.best_config["source"] == "final/config.yaml"
    assert d.best_config["train.learning_rate"] == pytest.approx(7.3e-3)
    assert d.best_config["why"] == why
    from hpscout.report import render_html

    html = render_html(d)
    assert "Final config" in html and "Chosen because: trial 6" in html


def test_ladder_and_climb_are_in_the_report(data):
    assert data.ladder == [{"fraction": 0.05, "rows": 1000, "steps": 126}]
    climb = data.plots["climb"].data
    assert climb["fractions"] == [0.05, 0.1, 0.2] and climb["pick"] == 6
    lines = {line["label"]: line["y"] for line in climb["lines"]}
    assert lines["t0006"] == [0.869, 0.89, 0.893] and lines["t0011"] == [0.88, 0.884, 0.89]
    from hpscout.report import render_html

    html = render_html(data)
    assert "dropped: under the floor" in html and "126" in html and "preflight: scouting is projected" in html
    assert "The climb" in html and "disagreed: climb to 0.2" in html and "agreed: stop" in html


def test_every_trial_with_a_history_has_a_curve_class(data):
    from hpscout.analysis import CURVE_LABELS

    labelled = [r for r in data.rows if r.curve is not None]
    assert labelled and all(r.curve in CURVE_LABELS for r in labelled)
    assert all(r.curve_suggestion for r in labelled if r.curve != "healthy")  # healthy: nothing to change
    diverged = [r for r in data.rows if r.status == "diverged" and r.curve is not None]
    assert all(r.curve == "diverged" for r in diverged)
    from hpscout.report import render_html, trial_table_text

    assert "curve" in trial_table_text(data) and "<th>curve</th>" in render_html(data)


def test_the_summary_card_follows_the_climb(data):
    from hpscout.report import render_html

    html = render_html(data)
    assert "transfer climb" in html and ">trusted<" in html and "chosen at fraction 0.2 (agreed)" in html
    assert "strict verdict (no seed-noise allowance)" in html
