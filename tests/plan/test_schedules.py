import inspect
import math
from pathlib import Path

import pytest

from hpscout._errors import ConfigError
from hpscout.config import SCHEDULERS
from hpscout.plan import (
    METRIC_DRIVEN_SCHEDULES,
    PLOTTABLE_SCHEDULES,
    SCHEDULE_NAMES,
    SCHEDULE_OPTIONS,
    compute_schedule,
    metric_driven_explanation,
    plot_schedules,
)

pytest.importorskip("torch")
pytest.importorskip("transformers")

LR, TOTAL = 5e-5, 1000


def test_worked_figures_cosine():
    c = compute_schedule("cosine", LR, TOTAL, warmup_steps=0)
    assert c.lr_at(0) == pytest.approx(5e-5)
    assert c.lr_at(250) == pytest.approx(4.2678e-5, rel=1e-4)
    assert c.lr_at(500) == pytest.approx(2.5e-5, rel=1e-9)
    assert c.lr_at(750) == pytest.approx(7.3223e-6, rel=1e-4)
    # the widely copied tutorial numbers are not on the cosine curve
    assert c.lr_at(250) != pytest.approx(3.54e-5, rel=1e-2)
    assert c.lr_at(750) != pytest.approx(1.46e-5, rel=1e-2)
    assert c.lr_at(TOTAL) == pytest.approx(0.0, abs=1e-15)


def test_worked_figures_polynomial_power2_lr_end0():
    c = compute_schedule("polynomial", LR, TOTAL, warmup_steps=0, power=2, lr_end=0.0)
    assert c.lr_at(250) == pytest.approx(2.8125e-5, rel=1e-9)
    assert c.lr_at(500) == pytest.approx(1.25e-5, rel=1e-9)
    assert c.lr_at(750) == pytest.approx(3.125e-6, rel=1e-9)


def test_polynomial_defaults_follow_transformers():
    c = compute_schedule("polynomial", LR, TOTAL)
    assert c.params["lr_end"] == 1e-7 and c.params["power"] == 1.0
    assert c.lr_at(TOTAL) == pytest.approx(1e-7)
    assert "power=1" in c.label  # a power-1 polynomial looks like linear; the label says why


def test_worked_figure_linear():
    c = compute_schedule("linear", LR, TOTAL)
    assert c.lr_at(250) == pytest.approx(3.75e-5, rel=1e-9)
    assert c.warmup_steps == 0 and len(c.lrs) == TOTAL + 1 and c.steps[-1] == TOTAL


def test_matches_the_trainers_own_scheduler():
    """The curve is what the Trainer builds: compare with Trainer.create_scheduler on a real optimizer."""
    import torch
    import transformers

    args = transformers.TrainingArguments(
        output_dir="/tmp/hpscout-unused", lr_scheduler_type="cosine", warmup_steps=0.1, learning_rate=3e-4,
        report_to=[], use_cpu=True,
    )
    total = 200
    opt = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=3e-4)
    sched = transformers.get_scheduler("cosine", opt, num_warmup_steps=args.get_warmup_steps(total), num_training_steps=total)
    expected = [opt.param_groups[0]["lr"]]
    for _ in range(total):
        opt.step()
        sched.step()
        expected.append(opt.param_groups[0]["lr"])
    c = compute_schedule("cosine", 3e-4, total, warmup_ratio=0.1)
    assert c.warmup_steps == 20
    assert list(c.lrs) == pytest.approx(expected, rel=1e-12, abs=1e-18)


def test_warmup_ratio_rounds_up_and_marks_peak():
    c = compute_schedule("linear", 1e-3, 471, warmup_ratio=0.1)
    assert c.warmup_steps == 48
    assert c.lr_at(0) == 0.0
    assert c.lr_at(48) == pytest.approx(1e-3)
    assert max(c.lrs) == pytest.approx(1e-3)


@pytest.mark.parametrize("name", PLOTTABLE_SCHEDULES)
def test_every_plottable_schedule_computes(name):
    kwargs = {}
    if "min_lr" in name:
        kwargs["min_lr_rate"] = 0.1
    if name == "warmup_stable_decay":
        kwargs["decay_ratio"] = 0.2
    c = compute_schedule(name, 1e-4, 300, warmup_ratio=0.05, **kwargs)
    assert len(c.lrs) == 301
    assert all(math.isfinite(v) and v >= 0 for v in c.lrs)
    assert max(c.lrs) <= 1e-4 * (1 + 1e-9)
    assert c.to_dict()["name"] == name


def test_cosine_with_restarts_restarts():
    c = compute_schedule("cosine_with_restarts", 1.0, 300, num_cycles=3)
    assert c.lr_at(0) == pytest.approx(1.0)
    assert c.lr_at(99) < 0.01 and c.lr_at(100) == pytest.approx(1.0)


def test_cosine_with_min_lr_absolute_and_ratio_agree():
    a = compute_schedule("cosine_with_min_lr", 1e-3, 100, min_lr=1e-4)
    b = compute_schedule("cosine_with_min_lr", 1e-3, 100, min_lr_rate=0.1)
    assert a.lrs == pytest.approx(b.lrs)
    assert a.lr_at(100) == pytest.approx(1e-4)


def test_warmup_stable_decay_phases():
    c = compute_schedule("warmup_stable_decay", 1.0, 1000, warmup_steps=100, num_decay_steps=200, decay_type="linear")
    assert c.params["num_stable_steps"] == 700
    assert c.lr_at(50) == pytest.approx(0.5)
    assert c.lr_at(500) == pytest.approx(1.0)
    assert c.lr_at(900) == pytest.approx(0.5)
    r = compute_schedule("warmup_stable_decay", 1.0, 1000, warmup_steps=100, decay_ratio=0.2, decay_type="linear")
    assert r.lrs == c.lrs


def test_one_cycle_uses_torch_and_warmup_is_pct_start():
    c = compute_schedule("one_cycle", 1e-3, 1000, warmup_ratio=0.25)
    assert c.warmup_steps == 250
    assert c.lr_at(0) == pytest.approx(1e-3 / 25)
    assert c.lr_at(249) == pytest.approx(1e-3)
    d = compute_schedule("one_cycle", 1e-3, 1000)  # torch's default pct_start 0.3
    assert d.warmup_steps == 300


def test_constant_ignores_warmup_and_says_so():
    c = compute_schedule("constant", 1e-4, 100, warmup_steps=10)
    assert set(c.lrs) == {1e-4}
    assert any("constant_with_warmup" in n for n in c.notes)


@pytest.mark.parametrize("name", METRIC_DRIVEN_SCHEDULES)
def test_metric_driven_schedules_are_explained_not_computed(name):
    assert "metric" in metric_driven_explanation(name)
    with pytest.raises(ConfigError, match="no fixed curve"):
        compute_schedule(name, 1e-4, 100)


@pytest.mark.parametrize(
    "args,kwargs",
    [
        (("cosin", 1e-4, 100), {}),
        (("cosine", 0, 100), {}),
        (("cosine", -1e-4, 100), {}),
        (("cosine", 1e-4, 0), {}),
        (("cosine", 1e-4, 100), {"warmup_steps": 5, "warmup_ratio": 0.1}),
        (("cosine", 1e-4, 100), {"warmup_ratio": 1.5}),
        (("linear", 1e-4, 100), {"power": 2}),
        (("polynomial", 1e-4, 100), {"lr_end": 1e-3}),
        (("cosine_with_min_lr", 1e-4, 100), {}),
        (("cosine_with_min_lr", 1e-4, 100), {"min_lr": 1e-5, "min_lr_rate": 0.1}),
        (("warmup_stable_decay", 1e-4, 100), {}),
        (("warmup_stable_decay", 1e-4, 100), {"num_decay_steps": 90, "warmup_steps": 20}),
        (("cosine_with_restarts", 1e-4, 100), {"num_cycles": 1.5}),
        (("one_cycle", 1e-4, 100), {"warmup_steps": 0}),
        (("cosine", 1e-4, 100), {"num_cycles": -1}),
    ],
)
def test_bad_values_raise_config_error(args, kwargs):
    with pytest.raises(ConfigError):
        compute_schedule(*args, **kwargs)


def test_lr_at_rejects_out_of_range():
    c = compute_schedule("linear", 1e-4, 10)
    with pytest.raises(ConfigError):
        c.lr_at(11)


def test_names_cover_config_and_transformers():
    import transformers

    assert set(SCHEDULERS) <= set(SCHEDULE_NAMES)
    transformers_names = {t.value for t in transformers.SchedulerType}
    assert transformers_names <= set(SCHEDULE_NAMES) | {"one_cycle"}


def test_option_names_match_transformers_signatures():
    """Our option table mirrors the scheduler functions' keywords (catches renames on upgrades)."""
    import torch
    from transformers.optimization import TYPE_TO_SCHEDULER_FUNCTION
    from transformers.trainer_utils import SchedulerType

    ours = {"warmup_stable_decay": {"decay_ratio", "min_lr_rate"}}
    framework = {"optimizer", "num_warmup_steps", "num_training_steps", "last_epoch"}
    for name, options in SCHEDULE_OPTIONS.items():
        if name == "one_cycle":
            sig = set(inspect.signature(torch.optim.lr_scheduler.OneCycleLR).parameters)
            assert set(options) <= sig
            continue
        sig = set(inspect.signature(TYPE_TO_SCHEDULER_FUNCTION[SchedulerType(name)]).parameters) - framework
        assert set(options) - ours.get(name, set()) == sig, name


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_plot_writes_file(tmp_path, suffix):
    pytest.importorskip("matplotlib")
    curves = [compute_schedule(n, 5e-5, 200, warmup_ratio=0.1) for n in ("linear", "cosine", "polynomial")]
    path = plot_schedules(curves, tmp_path / f"s.{suffix}")
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(b"\x89PNG") if suffix == "png" else b"<svg" in data[:2000]


def test_plot_rejects_bad_suffix(tmp_path):
    with pytest.raises(ConfigError):
        plot_schedules([compute_schedule("linear", 1e-4, 10)], tmp_path / "x.gif")
    with pytest.raises(ConfigError):
        plot_schedules([], tmp_path / "x.png")


# --------------------------------------------------------------------------- what the docs say (issue 16)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "schedules.md"


def _restarts(curve) -> int:
    lrs = list(curve.lrs)
    return sum(1 for a, b in zip(lrs, lrs[1:], strict=False) if b > a + 1e-9)


def test_num_cycles_of_cosine_with_restarts_counts_decays_and_the_help_says_so():
    from typer.main import get_command

    from hpscout.cli import app

    # transformers' formula: num_cycles N gives N cosine decays, N - 1 restarts
    assert [_restarts(compute_schedule("cosine_with_restarts", 1.0, 300, num_cycles=n)) for n in (1, 2, 3)] == [0, 1, 2]
    schedule = get_command(app).commands["schedule"]
    [option] = [p for p in schedule.params if p.name == "num_cycles"]
    assert "N gives N - 1 restarts" in option.help
    text = DOCS.read_text(encoding="utf-8")
    assert "`num_cycles 2` restarts once" in text and "For `cosine_with_restarts` it counts restarts" not in text


def test_trainer_logs_the_lr_of_step_s_minus_1_and_the_docs_say_so(tmp_path):
    import torch
    import transformers

    class Line(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(1, 1)

        def forward(self, x, labels):
            return {"loss": ((self.w(x) - labels) ** 2).mean()}

    rows = [{"x": torch.ones(1), "labels": torch.zeros(1)} for _ in range(16)]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path), max_steps=10, per_device_train_batch_size=1, learning_rate=1.0, lr_scheduler_type="linear",
        logging_steps=1, report_to=[], use_cpu=True, save_strategy="no", disable_tqdm=True,
    )
    trainer = transformers.Trainer(model=Line(), args=args, train_dataset=rows)
    trainer.train()
    logged = {h["step"]: h["learning_rate"] for h in trainer.state.log_history if "learning_rate" in h}
    curve = compute_schedule("linear", 1.0, 10)
    assert sorted(logged) == list(range(1, 11))
    assert [logged[s] for s in range(1, 11)] == pytest.approx([curve.lr_at(s - 1) for s in range(1, 11)])
    assert logged[1] == pytest.approx(1.0) and curve.lr_at(1) == pytest.approx(0.9)
    text = DOCS.read_text(encoding="utf-8")
    assert "logs at `global_step == s` is the curve's value at\n`s - 1`" in text
    assert "it is the `learning_rate` the Trainer logs at `global_step == s`." not in text
