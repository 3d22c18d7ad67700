"""HFRunner on tiny random-init models: classification (BERT), causal-LM SFT (Llama), seq2seq (T5)."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from _fixtures import (
    TINY_LLAMA,
    TINY_T5,
    RecordingReporter,
    classification_config,
    write_alpaca_json,
    write_classification_csv,
    write_summaries_jsonl,
)

from hpscout.config import apply_updates, config_from_dict
from hpscout.runner import FAULT_ENV, TrialResult, TrialStatus, run_trial, validate_trial_config

pytest.importorskip("transformers")
pytest.importorskip("peft")


def test_classification_complete(tmp_path):
    cfg = classification_config(tmp_path, epochs=2, eval_strategy="epoch")
    rep = RecordingReporter()
    r = run_trial(cfg, out_dir=tmp_path / "t", reporter=rep)
    assert r.status is TrialStatus.COMPLETE, r.message
    assert set(r.metrics) >= {"eval_loss", "eval_accuracy", "eval_f1"}
    assert r.objective == r.metrics["eval_accuracy"]
    assert r.steps == 16 and r.train_samples == 64 and r.samples_processed == 128
    assert r.trainable_params == r.total_params > 0  # full fine-tuning
    assert r.seed == 7 and r.fraction == 1.0 and r.config["train"]["epochs"] == 2
    assert {"torch", "transformers", "python"} <= set(r.versions)
    # one report per epoch, at the epoch's last step
    assert [s for s, _ in rep.values] == [8, 16]
    # history: train logs every step, eval rows merged in
    assert [h["step"] for h in r.history] == list(range(1, 17))
    assert all("loss" in h and "learning_rate" in h for h in r.history)
    assert "eval_accuracy" in r.history[7] and "eval_accuracy" in r.history[15]
    # files
    saved = TrialResult.load(tmp_path / "t" / "result.json")
    assert saved.status is TrialStatus.COMPLETE and saved.metrics == r.metrics
    rows = list(csv.DictReader(open(tmp_path / "t" / "history.csv")))
    assert len(rows) == 16 and rows[0]["step"] == "1"
    assert list((tmp_path / "t" / "tb").glob("events.out.tfevents.*"))
    assert not (tmp_path / "t" / ".checkpoints").exists()


def test_lora_string_labels_grad_accum(tmp_path):
    cfg = classification_config(tmp_path, method="lora", grad_accum=3, lora={"r": 4, "target": "qkvo"})
    write_classification_csv(tmp_path / "train.csv", 64, seed=1, string_labels=True)
    write_classification_csv(tmp_path / "eval.csv", 16, seed=2, string_labels=True)
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert 0 < r.trainable_params < r.total_params
    # 8 batches per epoch, windows of 3 -> 3 optimizer steps (the last window has 2 batches)
    assert r.steps == 3 and r.samples_processed == 64


def test_classifier_head_trainable_under_lora(tmp_path):
    from hpscout.runner._models import apply_method, load_model, load_tokenizer

    cfg = classification_config(tmp_path, method="lora")
    tok = load_tokenizer(cfg.model)
    model = apply_method(load_model(cfg, tokenizer=tok, num_labels=2), cfg)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("classifier" in n for n in trainable)
    assert any("lora_A" in n and "query" in n for n in trainable)
    assert not any("lora_A" in n and ".key." in n for n in trainable)  # qv preset
    assert not any("word_embeddings" in n for n in trainable)


def _sft_config(tmp_path, **train):
    data = write_alpaca_json(tmp_path / "alpaca.json", 24)
    settings = {"learning_rate": 1e-3, "batch_size": 4, "max_steps": 3, "logging_steps": 1, "method": "lora"}
    settings.update(train)
    return config_from_dict(
        {
            "name": "tiny-sft",
            "task": "causal-lm",
            "model": {"from_config": TINY_LLAMA},
            "data": {"train": str(data), "eval_split": 0.25, "max_length": 96},
            "scout": {"fraction": 1.0},
            "train": settings,
            "search": {"metric": "eval_loss"},
        }
    )


def test_causal_lm_sft(tmp_path):
    r = run_trial(_sft_config(tmp_path), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert set(r.metrics) >= {"eval_loss", "eval_perplexity"}
    assert r.metrics["eval_perplexity"] == pytest.approx(math.exp(r.metrics["eval_loss"]), rel=1e-6)
    assert r.train_samples == 18 and r.steps == 3


def test_sft_prompt_tokens_are_masked(tmp_path):
    from hpscout.data import prepare_data
    from hpscout.runner._models import load_tokenizer
    from hpscout.runner._tasks import IGNORE_INDEX, alpaca_prompt, tokenize

    cfg = _sft_config(tmp_path)
    cfg = apply_updates(cfg, {"data.max_length": 512})
    prepared = prepare_data(cfg)
    tok = load_tokenizer(cfg.model)
    feats = tokenize("causal-lm", prepared.train, tok, cfg.data)
    for raw, f in zip(prepared.train, feats, strict=True):
        prompt = alpaca_prompt(raw["instruction"], raw["input"])
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
        labels = f["labels"]
        assert labels[:n_prompt] == [IGNORE_INDEX] * n_prompt
        assert IGNORE_INDEX not in labels[n_prompt:]
        assert labels[n_prompt:] == f["input_ids"][n_prompt:]  # the response is supervised token for token
        assert labels[-1] == tok.sep_token_id  # eos (BERT vocab: [SEP]) closes the response


def test_sft_truncation_keeps_response_tokens():
    from hpscout.runner._tasks import IGNORE_INDEX, _sft_features

    ids, labels = _sft_features(list(range(100)), [7] * 50, max_length=64)
    assert len(ids) == 64 and labels.count(IGNORE_INDEX) == 32 and labels[32:] == [7] * 32


def test_seq2seq_rouge(tmp_path):
    data = write_summaries_jsonl(tmp_path / "sum.jsonl", 40)
    cfg = config_from_dict(
        {
            "name": "tiny-s2s",
            "task": "seq2seq",
            "model": {"from_config": TINY_T5},
            "data": {"train": str(data), "text_column": "document", "target_column": "summary", "max_target_length": 8},
            "scout": {"fraction": 1.0},
            "train": {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 3, "method": "lora", "lora": {"target": "qkvo"}},
            "search": {"metric": "eval_rouge1", "direction": "maximize"},
        }
    )
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert set(r.metrics) >= {"eval_loss", "eval_rouge1", "eval_rouge2", "eval_rougeL"}
    assert all(0.0 <= r.metrics[k] <= 1.0 for k in ("eval_rouge1", "eval_rouge2", "eval_rougeL"))


def test_unknown_metric_fails_with_available_names(tmp_path):
    cfg = apply_updates(classification_config(tmp_path), {"search.metric": "eval_bleu"})
    with pytest.raises(Exception, match="eval_accuracy, eval_f1"):
        validate_trial_config(cfg)
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED
    assert "eval_bleu" in r.message and "eval_loss, eval_accuracy, eval_f1" in r.message
    assert json.loads((tmp_path / "t" / "result.json").read_text())["status"] == "failed"
    assert (tmp_path / "t" / "traceback.txt").exists()


def test_setup_error_is_a_failed_trial(tmp_path):
    cfg = apply_updates(classification_config(tmp_path), {"data.train": str(tmp_path / "missing.csv")})
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED and "missing.csv" in r.message


def test_early_stopping_restores_best_and_deletes_checkpoints(tmp_path):
    # threshold 10: no evaluation after the first counts as an improvement -> stop after patience=1
    cfg = classification_config(
        tmp_path, max_steps=12, eval_strategy="steps", eval_steps=2,
        early_stopping={"patience": 1, "threshold": 10.0},
    )
    rep = RecordingReporter()
    r = run_trial(cfg, out_dir=tmp_path / "t", reporter=rep)
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.steps == 4 and [s for s, _ in rep.values] == [2, 4]
    evals = [h for h in r.history if "eval_accuracy" in h]
    best_step = 2 if evals[0]["eval_accuracy"] >= evals[1]["eval_accuracy"] else 4
    assert r.objective == next(h["eval_accuracy"] for h in evals if h["step"] == best_step)
    assert not (tmp_path / "t" / ".checkpoints").exists()
    assert not (tmp_path / "t" / "best_checkpoint").exists()


def test_save_best_checkpoint_keeps_it(tmp_path):
    cfg = classification_config(tmp_path, max_steps=4, eval_strategy="steps", eval_steps=2, save_best_checkpoint=True)
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert (tmp_path / "t" / "best_checkpoint" / "config.json").exists()
    assert not (tmp_path / "t" / ".checkpoints").exists()


def test_eval_every_n_steps_plus_final(tmp_path):
    cfg = classification_config(tmp_path, max_steps=5, eval_strategy="steps", eval_steps=2)
    rep = RecordingReporter()
    r = run_trial(cfg, out_dir=tmp_path / "t", reporter=rep)
    assert r.status is TrialStatus.COMPLETE, r.message
    assert [s for s, _ in rep.values] == [2, 4, 5]


def test_eval_at_end_once_with_the_final_metrics_of_epoch(tmp_path):
    # end (what auto resolves to here): one evaluation, after the last step; fewer evaluations change no training
    cfg = classification_config(tmp_path, epochs=2, method="lora", lora={"r": 4})
    assert cfg.train.eval_strategy == "auto" and cfg.resolved_eval_strategy == "end"
    rep = RecordingReporter()
    end = run_trial(cfg, out_dir=tmp_path / "end", reporter=rep)
    epoch = run_trial(apply_updates(cfg, {"train.eval_strategy": "epoch"}), out_dir=tmp_path / "epoch")
    assert end.status is epoch.status is TrialStatus.COMPLETE, (end.message, epoch.message)
    assert [h["step"] for h in end.history if "eval_loss" in h] == [16]
    assert [h["step"] for h in epoch.history if "eval_loss" in h] == [8, 16]
    assert rep.values == [(16, end.objective)]  # the pruner hears of the rung's end once
    assert end.metrics["eval_loss"] == epoch.metrics["eval_loss"]
    assert end.metrics["eval_accuracy"] == epoch.metrics["eval_accuracy"] == end.objective == epoch.objective
    assert [h["loss"] for h in end.history] == [h["loss"] for h in epoch.history]
    # the evaluation ran inside training, while the TensorBoard writer was open
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tmp_path / "end" / "tb")).Reload()
    assert [e.step for e in events.Scalars("eval/accuracy")] == [16]


def test_eval_at_end_skips_a_diverged_or_pruned_run(tmp_path, monkeypatch):
    cfg = classification_config(tmp_path, max_steps=6, eval_strategy="end")
    pruned = run_trial(cfg, out_dir=tmp_path / "p", reporter=RecordingReporter(prune_after=1))
    assert pruned.status is TrialStatus.PRUNED and pruned.steps == 6 and pruned.objective == pruned.metrics["eval_accuracy"]
    monkeypatch.setenv(FAULT_ENV, "nan@6")  # at the last step: the divergence guard calls the evaluation off
    diverged = run_trial(cfg, out_dir=tmp_path / "d")
    assert diverged.status is TrialStatus.DIVERGED and diverged.steps == 6
    assert not [h for h in diverged.history if "eval_loss" in h]


def test_same_seed_same_metrics_other_seed_differs(tmp_path):
    cfg = classification_config(tmp_path, max_steps=4, method="lora")
    a = run_trial(cfg, out_dir=tmp_path / "a")
    b = run_trial(cfg, out_dir=tmp_path / "b")
    c = run_trial(apply_updates(cfg, {"seed": 8}), out_dir=tmp_path / "c")
    assert a.status is b.status is c.status is TrialStatus.COMPLETE
    assert a.metrics == b.metrics
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]
    assert a.metrics["eval_loss"] != c.metrics["eval_loss"]


def test_one_cycle_and_legacy_optimizer(tmp_path):
    cfg = classification_config(tmp_path, max_steps=8, lr_scheduler="one_cycle", warmup_ratio=0.25, optimizer="adamw_hf")
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert "adamw_hf" in r.message and "adamw_torch" in r.message
    lrs = [h["learning_rate"] for h in r.history]
    peak = lrs.index(max(lrs))
    assert max(lrs) == pytest.approx(1e-3)
    assert 0 < peak < len(lrs) - 1 and lrs[0] < lrs[peak] > lrs[-1]


def test_qlora_needs_gpu_and_bitsandbytes(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this checks the message on machines without CUDA")
    r = run_trial(classification_config(tmp_path, method="qlora"), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED and "qlora needs a CUDA GPU and bitsandbytes" in r.message


def test_step_matched_fidelity_trains_the_scouting_steps(tmp_path):
    cfg = apply_updates(classification_config(tmp_path), {"scout.step_matched": True})
    r = run_trial(cfg, out_dir=tmp_path / "t", fraction=0.5)
    assert r.status is TrialStatus.COMPLETE, r.message
    # 32 rows at fraction 0.5, but 64 rows / batch 8 = 8 steps at the scouting fraction 1.0
    assert r.train_samples == 32 and r.steps == 8 and "step-matched" in r.message


# --------------------------------------------------------------------------- seq2seq: ROUGE in any script, generation


TINY_T5_64 = {"model_type": "t5", "d_model": 64, "d_ff": 128, "d_kv": 16, "num_heads": 4, "num_layers": 2,
              "num_decoder_layers": 2, "dropout_rate": 0.0}


def _korean_rows(tmp_path, train_rows: int = 96, eval_rows: int = 16):
    """Korean dialogue/summary pairs from the embedded sample, as train and eval JSONL files."""
    from hpscout.config import builtin_path

    rows = [json.loads(line) for line in builtin_path("builtin:dialogue_summary/train.jsonl").read_text("utf-8").splitlines()]
    ko = [r for r in rows if r["lang"] == "ko"]
    assert len(ko) >= train_rows + eval_rows
    paths = []
    for name, part in (("train", ko[:train_rows]), ("eval", ko[train_rows:train_rows + eval_rows])):
        p = tmp_path / f"ko_{name}.jsonl"
        p.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in part), encoding="utf-8")
        paths.append(str(p))
    return paths


def _korean_config(tmp_path, files=None, **train):
    tr, ev = files or _korean_rows(tmp_path)
    settings = {"learning_rate": 1e-2, "batch_size": 16, "max_steps": 40, "method": "full", "eval_strategy": "steps",
                "eval_steps": 40}
    settings.update(train)
    return config_from_dict({
        "name": "ko-s2s", "seed": 1, "task": "seq2seq",
        "model": {"from_config": TINY_T5_64, "tokenizer": "builtin:dialogue_summary"},
        "data": {"train": tr, "eval": ev, "text_column": "dialogue", "target_column": "summary", "max_length": 96,
                 "max_target_length": 32},
        "scout": {"fraction": 1.0},
        "train": settings,
        "search": {"metric": "eval_rougeL", "direction": "maximize"},
    })


def test_korean_seq2seq_rouge_is_not_zero(tmp_path):
    # rouge_score's own tokenizer drops Hangul: every Korean trial scored 0 and all trials tied
    r = run_trial(_korean_config(tmp_path), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.objective == r.metrics["eval_rougeL"] > 0.05
    assert 0 < r.metrics["eval_rouge2"] <= r.metrics["eval_rouge1"] <= 1


def test_seq2seq_eval_loss_objective_does_not_generate(tmp_path):
    cfg = apply_updates(_korean_config(tmp_path, max_steps=2, eval_steps=2), {"search.metric": "eval_loss",
                                                                              "search.direction": "minimize"})
    r = run_trial(cfg, out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert "eval_loss" in r.metrics and not any(k.startswith("eval_rouge") for k in r.metrics)


def test_rouge_objective_without_generation_is_refused(tmp_path):
    cfg = _korean_config(tmp_path, predict_with_generate=False)
    with pytest.raises(Exception, match="train.predict_with_generate is false"):
        validate_trial_config(cfg)


def test_empty_reference_fails_before_the_model_loads(tmp_path):
    tr, ev = _korean_rows(tmp_path)
    rows = Path(ev).read_text("utf-8").splitlines()
    bad = json.loads(rows[3]) | {"summary": "?!"}  # nothing ROUGE could match: it used to score 0 silently
    Path(ev).write_text("\n".join(rows[:3] + [json.dumps(bad, ensure_ascii=False)] + rows[4:]) + "\n", encoding="utf-8")
    r = run_trial(_korean_config(tmp_path, (tr, ev)), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.FAILED
    assert "ROUGE reference 3 of the eval data tokenizes to nothing" in r.message
    assert r.steps == 0 and not r.total_params  # no model was built


def test_generation_and_checkpointing_settings_reach_the_trainer(tmp_path):
    from hpscout.runner import DeviceInfo, resolve_precision
    from hpscout.runner._hf_trainer import build_training_args

    cfg = _korean_config(tmp_path, generation_max_length=20, generation_num_beams=3, gradient_checkpointing=True)
    device = DeviceInfo(cuda=False)
    args = build_training_args(cfg, output_dir=tmp_path / "o", precision=resolve_precision("fp32", device), device=device,
                               optim="adamw_torch", checkpointing=False, report_to=[])
    assert type(args).__name__ == "Seq2SeqTrainingArguments"
    assert args.predict_with_generate is True and args.generation_max_length == 20 and args.generation_num_beams == 3
    assert args.gradient_checkpointing is True
    # unset generation_max_length follows data.max_target_length
    default = build_training_args(_korean_config(tmp_path), output_dir=tmp_path / "o", precision=resolve_precision("fp32", device),
                                  device=device, optim="adamw_torch", checkpointing=False, report_to=[])
    assert default.generation_max_length == 32 and default.generation_num_beams == 1 and not default.gradient_checkpointing


def test_gradient_checkpointing_trains_lora_to_the_same_losses(tmp_path):
    # recomputing activations in the backward pass saves memory and changes nothing else
    cfg = classification_config(tmp_path, max_steps=4, method="lora")
    off = run_trial(cfg, out_dir=tmp_path / "off")
    on = run_trial(apply_updates(cfg, {"train.gradient_checkpointing": True}), out_dir=tmp_path / "on")
    assert off.status is on.status is TrialStatus.COMPLETE, on.message
    assert [h["loss"] for h in on.history] == pytest.approx([h["loss"] for h in off.history], rel=1e-5)
    assert on.history[0]["loss"] != on.history[-1]["loss"]  # the adapters trained
    assert on.config["train"]["gradient_checkpointing"] is True
