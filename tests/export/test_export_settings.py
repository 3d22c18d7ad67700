"""Exports keep every setting: early stopping, gradient checkpointing, seq2seq generation and the target precision.

Each setting is checked in both formats, and the TrainingArguments JSON is run for real:
a tiny Trainer with transformers' own EarlyStoppingCallback stops early against the file's arguments.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))
from _fake_run import make_fake_run  # noqa: E402

from hpscout.cli import main  # noqa: E402
from hpscout.config import apply_updates, save_config  # noqa: E402
from hpscout.export import export_run, final_config, sidecar_path_for  # noqa: E402

transformers = pytest.importorskip("transformers")


def _final(run, updates: dict) -> None:
    """Replace the run's final config with the best trial's config plus ``updates``."""
    save_config(apply_updates(final_config(run.run_dir), updates), run.run_dir / "final" / "config.yaml")


def _hf(run, **kwargs) -> tuple[dict, dict]:
    path = export_run(run.run_dir, "hf", storage=run.storage, **kwargs)
    return json.loads(path.read_text()), json.loads(sidecar_path_for(path).read_text())


def _lf(run, **kwargs) -> tuple[dict, str]:
    path = export_run(run.run_dir, "llamafactory", storage=run.storage, **kwargs)
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text), text


EARLY_STOPPING = {"train.early_stopping.patience": 2, "train.early_stopping.threshold": 0.01,
                  "train.eval_strategy": "steps", "train.eval_steps": 20, "train.max_steps": 120}


# --------------------------------------------------------------------------- evaluation


def test_full_run_evaluates_per_epoch_when_trials_evaluated_at_their_end(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    _final(run, {"train.eval_strategy": "end"})
    args, sidecar = _hf(run)
    ta = transformers.TrainingArguments(**args)
    assert ta.eval_strategy.value == ta.save_strategy.value == "epoch" and "eval_steps" not in args
    assert sidecar["full_data_plan"]["eval_strategy"] == "epoch"
    lf, _ = _lf(run)
    assert (lf["eval_strategy"], lf["save_strategy"]) == ("epoch", "epoch") and "eval_steps" not in lf
    exported = json.loads(export_run(run.run_dir, "json", storage=run.storage).read_text())
    assert exported["config"]["train"]["eval_strategy"] == "epoch"
    assert exported["scouted_config"]["train"]["eval_strategy"] == "end"


# --------------------------------------------------------------------------- early stopping


def test_early_stopping_in_training_args_json(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    _final(run, EARLY_STOPPING)
    args, sidecar = _hf(run, full_samples=20_000)
    ta = transformers.TrainingArguments(**args)
    assert ta.load_best_model_at_end is True
    assert ta.metric_for_best_model == "eval_accuracy" and ta.greater_is_better is True
    assert ta.save_strategy.value == ta.eval_strategy.value == "steps" and ta.save_steps == ta.eval_steps
    assert sidecar["early_stopping_callback"] == {"early_stopping_patience": 2, "early_stopping_threshold": 0.01}


def test_no_best_model_keys_without_early_stopping(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    args, sidecar = _hf(run)
    assert "load_best_model_at_end" not in args and "metric_for_best_model" not in args
    assert sidecar["early_stopping_callback"] is None
    # reduce_lr_on_plateau watches metric_for_best_model, so it is written for it
    _final(run, {"train.lr_scheduler": "reduce_lr_on_plateau"})
    args, _ = _hf(run)
    assert args["metric_for_best_model"] == "eval_accuracy" and "load_best_model_at_end" not in args


class _TinyRegressor:
    """A one-weight model and a dataset for a real Trainer on CPU (built lazily: torch is heavy)."""

    @staticmethod
    def build():
        import torch

        class Model(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.w = torch.nn.Linear(1, 1)

            def forward(self, x, labels=None):
                pred = self.w(x)
                return {"loss": torch.nn.functional.mse_loss(pred, labels), "logits": pred}

        class Data(torch.utils.data.Dataset):
            def __len__(self) -> int:
                return 64

            def __getitem__(self, i):
                x = torch.tensor([i / 64.0])
                return {"x": x, "labels": 2 * x}

        return Model(), Data()


def test_real_early_stopping_callback_runs_against_the_exported_args(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    _final(run, EARLY_STOPPING)
    # 320 rows / 16 = 20 steps an epoch: a run short enough to train here
    args, sidecar = _hf(run, full_samples=320)
    args = dict(args, output_dir=str(tmp_path / "out"), report_to="none", disable_tqdm=True, dataloader_pin_memory=False)
    ta = transformers.TrainingArguments(**args)
    stopper = transformers.EarlyStoppingCallback(**sidecar["early_stopping_callback"])
    model, data = _TinyRegressor.build()
    # a metric that never improves: the callback must stop after `patience` evaluations past the first
    trainer = transformers.Trainer(model=model, args=ta, train_dataset=data, eval_dataset=data,
                                   compute_metrics=lambda p: {"accuracy": 0.5}, callbacks=[stopper])
    trainer.train()
    evals = [e for e in trainer.state.log_history if "eval_accuracy" in e]
    assert ta.max_steps > 3 * ta.eval_steps, "the plan must leave room to stop early"
    assert len(evals) == 1 + sidecar["early_stopping_callback"]["early_stopping_patience"]
    assert trainer.state.global_step == 3 * ta.eval_steps < ta.max_steps
    assert stopper.early_stopping_patience_counter == 2
    assert trainer.state.best_global_step == ta.eval_steps  # load_best_model_at_end restored the first evaluation


def test_early_stopping_in_llamafactory_yaml(tmp_path):
    run = make_fake_run(tmp_path, task="causal-lm")
    _final(run, {**EARLY_STOPPING, "search.metric": "eval_loss", "search.direction": "minimize"})
    d, text = _lf(run, full_samples=20_000)
    assert d["early_stopping_steps"] == 2 and d["load_best_model_at_end"] is True
    assert d["metric_for_best_model"] == "eval_loss" and d["greater_is_better"] is False
    assert d["save_strategy"] == d["eval_strategy"] == "steps" and d["save_steps"] == d["eval_steps"]
    assert "# train.early_stopping.threshold 0.01 has no LLaMA-Factory key" in text


def test_llamafactory_falls_back_to_eval_loss_and_says_why(tmp_path):
    run = make_fake_run(tmp_path)  # classification, ranked by eval_accuracy
    _final(run, {**EARLY_STOPPING, "train.early_stopping.threshold": 0.0})
    d, text = _lf(run)
    assert d["metric_for_best_model"] == "eval_loss" and d["greater_is_better"] is False
    assert "scouting ranked by eval_accuracy, which LLaMA-Factory does not compute while training" in text
    assert "threshold" not in text  # 0 is LLaMA-Factory's own threshold: nothing to explain


# --------------------------------------------------------------------------- gradient checkpointing


@pytest.mark.parametrize("on", [True, False])
def test_gradient_checkpointing_in_both_exports(tmp_path, on):
    run = make_fake_run(tmp_path, precision="fp32", gradient_checkpointing=on)
    args, _ = _hf(run)
    ta = transformers.TrainingArguments(**args)
    assert ta.gradient_checkpointing is on
    assert "activation_checkpointing" in args or "gradient_checkpointing" in args
    d, _ = _lf(run)
    assert d["disable_gradient_checkpointing"] is (not on)  # LLaMA-Factory's switch is the negation


# --------------------------------------------------------------------------- seq2seq generation


def _seq2seq_run(tmp_path, **train):
    run = make_fake_run(tmp_path, precision="fp32", **train)
    _final(run, {"task": "seq2seq", "data.target_column": "summary", "search.metric": "eval_rougeL",
                 "search.direction": "maximize", "train.generation_max_length": 40, "train.generation_num_beams": 4,
                 **EARLY_STOPPING})
    return run


def test_seq2seq_generation_in_training_args_json(tmp_path):
    args, sidecar = _hf(_seq2seq_run(tmp_path), full_samples=20_000)
    assert sidecar["arguments_class"] == "transformers.Seq2SeqTrainingArguments"
    sa = transformers.Seq2SeqTrainingArguments(**args)
    assert sa.predict_with_generate is True and sa.generation_max_length == 40 and sa.generation_num_beams == 4
    assert sa.metric_for_best_model == "eval_rougeL" and sa.greater_is_better is True and sa.load_best_model_at_end


def test_seq2seq_generation_in_llamafactory_yaml(tmp_path):
    d, text = _lf(_seq2seq_run(tmp_path), full_samples=20_000)
    assert d["max_new_tokens"] == 40 and d["num_beams"] == 4
    assert "predict_with_generate" not in d  # LLaMA-Factory refuses it with do_train ...
    assert "LLaMA-Factory refuses it while training" in text  # ... and the file says so
    assert d["metric_for_best_model"] == "eval_loss" and "# metric_for_best_model" not in text
    assert "metric_for_best_model: eval_loss  # scouted: eval_rougeL" in text


# --------------------------------------------------------------------------- precision


def test_precision_fp32_constructs_on_cpu_through_the_cli(tmp_path, capsys):
    run = make_fake_run(tmp_path)  # precision auto
    out = tmp_path / "ta.json"
    argv = ["export", str(run.run_dir), "--format", "hf", "--precision", "fp32", "--out", str(out)]
    assert main(argv + ["--storage", run.storage]) == 0
    assert "precision fp32 (--precision fp32)" in capsys.readouterr().err
    args = json.loads(out.read_text())
    assert args["bf16"] is False and args["fp16"] is False
    ta = transformers.TrainingArguments(**args)  # exactly the file: no use_cpu, on any machine
    assert not ta.bf16 and not ta.fp16
    sidecar = json.loads(sidecar_path_for(out).read_text())
    assert sidecar["precision"]["bf16"] is False and "runs anywhere" in sidecar["precision"]["note"]


def test_default_precision_stays_bf16_and_names_what_it_needs(tmp_path, capsys):
    run = make_fake_run(tmp_path)
    args, sidecar = _hf(run)
    assert args["bf16"] is True
    assert "Ampere" in sidecar["precision"]["note"] and "fp32 for CPU" in sidecar["precision"]["note"]
    d, text = _lf(run)
    assert d["bf16"] is True
    header = [ln for ln in text.splitlines() if ln.startswith("#") and "precision auto -> bf16" in ln]
    assert header and "Ampere" in header[0] and "--precision fp16" in header[0]


@pytest.mark.parametrize("precision", ["fp16", "fp32"])
def test_llamafactory_follows_the_precision_choice(tmp_path, precision):
    run = make_fake_run(tmp_path)
    d, text = _lf(run, precision=precision)
    assert d.get("fp16", False) is (precision == "fp16") and d.get("bf16", False) is False
    assert f"precision {precision} (--precision {precision})" in text
    data = export_run(run.run_dir, "json", storage=run.storage, precision=precision)
    assert json.loads(data.read_text())["config"]["train"]["precision"] == precision


def test_bad_precision_exits_2(tmp_path, capsys):
    run = make_fake_run(tmp_path)
    assert main(["export", str(run.run_dir), "--format", "hf", "--precision", "fp8", "--storage", run.storage]) == 2


# --------------------------------------------------------------------------- loggers


def test_swanlab_goes_into_llamafactory_the_llamafactory_way(tmp_path):
    from hpscout.plan import lint_file

    run = make_fake_run(tmp_path, precision="fp32")
    _final(run, {"train.report_to": ["swanlab", "tensorboard"]})
    lf, text = _lf(run, full_samples=20_000)
    name = final_config(run.run_dir).name
    # LLaMA-Factory adds its own SwanLab callback for use_swanlab; swanlab left in report_to would log twice
    assert lf["use_swanlab"] is True and lf["report_to"] == "tensorboard"
    assert lf["swanlab_project"] == name and lf["swanlab_run_name"] == f"{name}-full"
    out = tmp_path / "lf.yaml"
    out.write_text(text, encoding="utf-8")
    assert [f for f in lint_file(out, samples=20_000) if f.rule == "unknown-key"] == []
    # and the HF JSON keeps transformers' own integration name
    args, _ = _hf(run, full_samples=20_000)
    assert args["report_to"] == ["swanlab", "tensorboard"]


def test_no_swanlab_keys_unless_asked(tmp_path):
    run = make_fake_run(tmp_path, precision="fp32")
    lf, _ = _lf(run, full_samples=20_000)
    assert "use_swanlab" not in lf and lf["report_to"] == "none"
