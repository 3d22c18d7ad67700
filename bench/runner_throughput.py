"""Runner throughput: hpscout's HF runner vs a plain transformers.Trainer script, and dynamic vs fixed padding.

All in one process, on the same rows (an SST-2 subset drawn by hpscout.data), the
same model (MiniLM + LoRA r=8 on query/value) and the same settings (batch 16,
max_length 64, LR 3e-3, 1 epoch, fp32 on CPU). Runs are interleaved so drifting
machine load hits every variant alike; medians are printed.

* runner vs plain: samples/s of ``trainer.train()`` inside ``run_trial`` (timed by
  wrapping the runner's Trainer class) against the same call in the plain script; the
  eval set is 32 rows, so training dominates. Target: ratio >= 0.95.
* Each figure comes as wall-clock and as CPU-time throughput (this process's CPU
  seconds): on a shared machine wall time swings with the neighbours' load, CPU time
  much less (use ``--threads 1`` there: idle OpenMP threads spin and bill CPU time).
* dynamic vs fixed padding: the plain script with ``DataCollatorWithPadding``
  padding each batch to its longest row against padding every row to max_length.

``--eval-strategies`` times something else: the real scouting trial of
examples/sst2-minilm-lora.yaml (MiniLM + LoRA, 2 epochs, 300 eval rows) at its scouting
fraction (``--fraction`` for a smaller one), with ``train.eval_strategy: epoch`` against
``end`` (one evaluation after the last step), alternating; it prints the trial's wall
seconds, the seconds spent in evaluations and their share, and the medians' ratio.

Usage:
    python bench/runner_throughput.py [--rows 160] [--repeats 3] [--max-length 64] [--threads N]
    python bench/runner_throughput.py --eval-strategies [--fraction 0.05] [--repeats 3] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "sst2"
SST2_TRAIN_ROWS = 67349
EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sst2-minilm-lora.yaml"


def make_config(rows: int, max_length: int, batch_size: int, eval_file: Path, out: Path):
    from hpscout.config import config_from_dict

    return config_from_dict(
        {
            "name": "bench",
            "seed": 42,
            "task": "sequence-classification",
            "model": {"name_or_path": "minilm"},
            "data": {
                "train": str(SHARED / "train.tsv"),
                "eval": str(eval_file),
                "text_column": "sentence",
                "max_length": max_length,
            },
            "scout": {"fraction": rows / SST2_TRAIN_ROWS},
            "train": {
                "method": "lora",
                "lora": {"r": 8, "alpha": 16, "dropout": 0.05, "target": "qv"},
                "learning_rate": 3e-3,
                "batch_size": batch_size,
                "epochs": 1,
                "logging_steps": 5,
            },
            "search": {"metric": "eval_accuracy", "direction": "maximize"},
            "output_dir": str(out),
        }
    )


def _timed(fn):
    """Run ``fn`` and return (its result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run_runner(cfg, out: Path) -> tuple[float, float]:
    """hpscout: samples/s (wall, CPU) of the runner's ``trainer.train()``, timed from outside."""
    import hpscout.runner._hf_trainer as hf
    from hpscout.runner import TrialStatus, run_trial

    cls = hf.scout_trainer_class(cfg.task)
    original = cls.train
    seen: dict[str, float] = {}

    def train(self, *args, **kwargs):
        result, seen["wall"], seen["cpu"] = _timed(lambda: original(self, *args, **kwargs))
        return result

    cls.train = train
    try:
        r = run_trial(cfg, out_dir=out)
    finally:
        cls.train = original
    if r.status is not TrialStatus.COMPLETE:
        raise SystemExit(f"runner trial failed: {r.message}")
    return r.samples_processed / seen["wall"], r.samples_processed / seen["cpu"]


def run_plain(cfg, train_rows, eval_rows, out: Path, *, pad_to_max: bool) -> tuple[float, float]:
    """The script people write by hand: same model, LoRA, rows and TrainingArguments."""
    import peft
    import transformers

    from hpscout.runner._models import resolve_model_path

    path = resolve_model_path("minilm")
    tok = transformers.AutoTokenizer.from_pretrained(path)
    transformers.set_seed(42)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(path, num_labels=2)
    model = peft.get_peft_model(
        model,
        peft.LoraConfig(task_type="SEQ_CLS", r=8, lora_alpha=16, lora_dropout=0.05, target_modules=["query", "value"]),
    )
    max_length = cfg.data.max_length

    def encode(batch):
        enc = tok(batch["sentence"], truncation=True, max_length=max_length)
        enc["labels"] = batch["label"]
        return enc

    train = train_rows.map(encode, batched=True, remove_columns=train_rows.column_names, keep_in_memory=True)
    evals = eval_rows.map(encode, batched=True, remove_columns=eval_rows.column_names, keep_in_memory=True)
    collator = transformers.DataCollatorWithPadding(
        tok, padding="max_length" if pad_to_max else True, max_length=max_length if pad_to_max else None
    )
    args = transformers.TrainingArguments(
        output_dir=str(out),
        per_device_train_batch_size=cfg.train.batch_size,
        per_device_eval_batch_size=2 * cfg.train.batch_size,
        num_train_epochs=1,
        learning_rate=3e-3,
        eval_strategy="epoch",
        logging_steps=5,
        save_strategy="no",
        seed=42,
        data_seed=42,
        use_cpu=True,
        dataloader_num_workers=0,
        disable_tqdm=True,
        report_to=[],
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=train, eval_dataset=evals, data_collator=collator)
    trainer.remove_callback(transformers.trainer_callback.PrinterCallback)  # quiet, like the runner
    _, wall, cpu = _timed(trainer.train)
    del trainer, model
    return len(train) / wall, len(train) / cpu


def run_scouting_trial(cfg, out: Path) -> dict[str, float]:
    """One scouting trial through ``run_trial``: its wall seconds, the seconds and count of its evaluations, its objective."""
    import hpscout.runner._hf_trainer as hf
    from hpscout.runner import TrialStatus, run_trial

    cls = hf.scout_trainer_class(cfg.task)
    original = cls.evaluate
    evals: list[float] = []

    def evaluate(self, *args, **kwargs):
        result, wall, _ = _timed(lambda: original(self, *args, **kwargs))
        evals.append(wall)
        return result

    cls.evaluate = evaluate
    try:
        r, wall, _ = _timed(lambda: run_trial(cfg, out_dir=out))
    finally:
        cls.evaluate = original
    if r.status is not TrialStatus.COMPLETE:
        raise SystemExit(f"scouting trial failed: {r.message}")
    return {"wall": wall, "train_eval": r.elapsed_seconds, "eval": sum(evals), "evals": len(evals), "steps": r.steps,
            "objective": r.objective}


def _bench_eval_strategies(a: argparse.Namespace, work: Path) -> int:
    """The example's scouting trial with eval_strategy epoch vs end, alternating; medians, ratio and eval share."""
    import torch

    from hpscout.config import apply_updates, load_config

    base = load_config(EXAMPLE)
    updates = {"output_dir": str(work / "run")}
    if a.fraction is not None:
        updates.update({"scout.fraction": a.fraction, "scout.fidelities": [a.fraction]})
    base = apply_updates(base, updates)
    configs = {s: apply_updates(base, {"train.eval_strategy": s}) for s in ("epoch", "end")}
    print(
        f"{EXAMPLE.name}: one scouting trial at fraction {base.scout.fraction:g} ({base.train.epochs:g} epochs, "
        f"{base.data.max_eval_samples} eval rows), torch threads {torch.get_num_threads()}, {a.repeats} repeats each"
    )
    warm = {"scout.fraction": 0.01, "scout.fidelities": [0.01], "train.max_steps": 2}
    run_scouting_trial(apply_updates(base, warm), work / "warm")  # warm-up: imports, first allocations, file caches
    results: dict[str, list[dict[str, float]]] = {s: [] for s in configs}
    for i in range(a.repeats):
        order = list(configs) if i % 2 == 0 else list(reversed(configs))  # no variant gets the load trend
        for s in order:
            results[s].append(run_scouting_trial(configs[s], work / f"{s}{i}"))
        print(f"  round {i + 1}: " + ", ".join(
            f"{s} {v[-1]['wall']:.1f} s ({v[-1]['evals']:.0f} evals {v[-1]['eval']:.1f} s)" for s, v in results.items()
        ), flush=True)
    print("medians, seconds     trial  train+eval    eval  eval share  evals  steps  objective")
    med = {}
    for s, runs in results.items():
        med[s] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "train_eval", "eval")}
        objectives = sorted({r["objective"] for r in runs})
        print(f"eval_strategy {s:<6}{med[s]['wall']:6.1f} {med[s]['train_eval']:11.1f} {med[s]['eval']:7.1f} "
              f"{med[s]['eval'] / med[s]['wall']:11.1%} {runs[0]['evals']:6.0f} {runs[0]['steps']:6.0f}  "
              + ", ".join(f"{o:.4f}" for o in objectives))
    print(f"end / epoch: trial {med['end']['wall'] / med['epoch']['wall']:.3f}, train+eval "
          f"{med['end']['train_eval'] / med['epoch']['train_eval']:.3f} "
          f"(saves {med['epoch']['wall'] - med['end']['wall']:.1f} s a trial)")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=160, help="training rows (an SST-2 subset)")
    ap.add_argument("--repeats", type=int, default=3, help="runs per variant")
    ap.add_argument("--max-length", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--threads", type=int, default=None, help="torch threads for every variant (default: torch's)")
    ap.add_argument("--eval-strategies", action="store_true",
                    help="time the example's scouting trial with eval_strategy epoch vs end instead")
    ap.add_argument("--fraction", type=float, default=None,
                    help="with --eval-strategies: the scouting fraction (default: the example's)")
    a = ap.parse_args(argv)
    if a.eval_strategies:
        return _with_setup(a, _bench_eval_strategies)
    if not SHARED.exists():
        print(f"needs the shared SST-2 data at {SHARED}", file=sys.stderr)
        return 2

    return _with_setup(a, _bench)


def _with_setup(a: argparse.Namespace, bench) -> int:
    """Quiet libraries, the thread count, a scratch folder removed afterwards; then ``bench(a, folder)``."""
    import datasets
    import torch
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    if a.threads:
        torch.set_num_threads(a.threads)

    work = Path(tempfile.mkdtemp(prefix="hpscout-runner-bench-"))
    try:
        return bench(a, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _bench(a: argparse.Namespace, work: Path) -> int:
    import torch

    from hpscout.data import prepare_data

    dev = (SHARED / "dev.tsv").read_text(encoding="utf-8").splitlines()
    eval_file = work / "dev32.tsv"
    eval_file.write_text("\n".join(dev[:33]) + "\n", encoding="utf-8")  # header + 32 rows
    cfg = make_config(a.rows, a.max_length, a.batch_size, eval_file, work / "run")
    prepared = prepare_data(cfg)
    lengths = [len(x) for x in prepared.train["sentence"]]
    print(
        f"{len(prepared.train)} SST-2 rows (mean {statistics.mean(lengths):.0f} chars), MiniLM + LoRA r=8 qv, "
        f"batch {a.batch_size}, max_length {a.max_length}, torch threads {torch.get_num_threads()}, "
        f"{a.repeats} repeats; samples/s of the training loop"
    )
    # warm-up: imports, the first-call allocations, file caches
    run_plain(cfg, prepared.train.select(range(32)), prepared.eval, work / "warm", pad_to_max=False)

    variants = {
        "runner": lambda d: run_runner(cfg, d),
        "plain": lambda d: run_plain(cfg, prepared.train, prepared.eval, d, pad_to_max=False),
        "plain_pad_max": lambda d: run_plain(cfg, prepared.train, prepared.eval, d, pad_to_max=True),
    }
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in variants}
    for i in range(a.repeats):
        # alternate the order so a load trend on a shared machine favours no variant
        order = list(variants) if i % 2 == 0 else list(reversed(variants))
        for name in order:
            results[name].append(variants[name](work / f"{name}{i}"))
        print(f"  round {i + 1} (wall/CPU samples/s): " + ", ".join(f"{k} {v[-1][0]:.1f}/{v[-1][1]:.1f}" for k, v in results.items()), flush=True)

    wall = {k: statistics.median(x[0] for x in v) for k, v in results.items()}
    cpu = {k: statistics.median(x[1] for x in v) for k, v in results.items()}
    print("medians, samples/s            wall     CPU")
    print(f"runner (dynamic padding)     {wall['runner']:7.1f} {cpu['runner']:7.1f}")
    print(f"plain Trainer (dynamic)      {wall['plain']:7.1f} {cpu['plain']:7.1f}")
    print(f"plain Trainer (pad to {a.max_length:<3})   {wall['plain_pad_max']:7.1f} {cpu['plain_pad_max']:7.1f}")
    ratio_wall, ratio_cpu = wall["runner"] / wall["plain"], cpu["runner"] / cpu["plain"]
    verdict = "OK" if max(ratio_wall, ratio_cpu) >= 0.95 else "BELOW TARGET"
    print(f"runner / plain = {ratio_wall:.3f} wall, {ratio_cpu:.3f} CPU (target >= 0.95): {verdict}")
    print(f"dynamic / pad-to-max speed-up = {wall['plain'] / wall['plain_pad_max']:.2f}x wall, {cpu['plain'] / cpu['plain_pad_max']:.2f}x CPU")
    return 0


if __name__ == "__main__":
    sys.exit(main())
