"""Loggers: report_to names are checked, W&B runs are named trial-N@fraction and grouped by study."""

from __future__ import annotations

import pytest

from hpscout._errors import ConfigError
from hpscout.config import REPORT_TO, config_from_dict
from hpscout.store import run_label


def test_report_to_names_are_transformers_integrations() -> None:
    pytest.importorskip("transformers")
    from transformers.integrations.integration_utils import INTEGRATION_TO_CALLBACK

    assert set(REPORT_TO) == set(INTEGRATION_TO_CALLBACK)


def test_unknown_report_to_is_rejected_with_a_suggestion() -> None:
    base = {"name": "x", "data": {"train": "t.csv"}}
    cfg = config_from_dict({**base, "train": {"report_to": ["wandb", "swanlab"]}})
    assert cfg.train.report_to == ["wandb", "swanlab"]
    assert config_from_dict({**base, "train": {"report_to": "mlflow"}}).train.report_to == ["mlflow"]
    with pytest.raises(ConfigError, match=r"but got 'wandbb'; did you mean 'wandb'\?"):
        config_from_dict({**base, "train": {"report_to": ["wandbb"]}})


def test_run_labels() -> None:
    assert run_label("runs/x/trials/t0012/f0.05", 0.05) == "trial-12@0.05"
    assert run_label("runs/x/ablation/baseline_s43", 0.05) == "baseline_s43@0.05"
    assert run_label("/tmp/out", 1.0) == "out@1"


def test_trainer_run_name(tmp_path) -> None:
    pytest.importorskip("transformers")
    from _fixtures import classification_config

    from hpscout.runner._hf_trainer import build_training_args
    from hpscout.runner._precision import DeviceInfo, resolve_precision

    device = DeviceInfo(cuda=False, bf16_supported=False, name="cpu")
    args = build_training_args(
        classification_config(tmp_path), output_dir=tmp_path, precision=resolve_precision("fp32", device),
        device=device, optim="adamw_torch", checkpointing=False, report_to=[], run_name="trial-3@0.05",
    )
    assert args.run_name == "trial-3@0.05"
