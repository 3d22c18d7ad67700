"""Planning before training: LR schedules, step math, lint rules and presets (pure functions).

Nothing here trains. ``import hpscout.plan`` imports no torch, transformers or
matplotlib; :func:`compute_schedule` and :func:`plot_schedules` import them when called.

Example:
    >>> from hpscout.plan import plan_steps
    >>> plan_steps(10_000, 8, grad_accum=4, devices=2, epochs=3, warmup_ratio=0.1).total_steps
    471
"""

from hpscout.plan._hardware import GPU_CHOICES, GPU_TABLE, DeviceBatch, GpuRow, device_batch, gpu_row
from hpscout.plan._ladder import LadderPlan, Rung, WorstCase, plan_ladder, rung_steps
from hpscout.plan._lint import (
    RULES,
    SEVERITIES,
    Finding,
    TrainingSettings,
    lint_file,
    lint_settings,
    read_settings,
)
from hpscout.plan._plot import PLOT_FORMATS, plot_schedules
from hpscout.plan._preset_table import (
    BUDGET_CHOICES,
    BUDGET_TABLE,
    DATA_TABLE,
    HYPERPARAMETER_SETS,
    METHOD_CHOICES,
    PRESET_CHOICES,
    PRESET_TABLE,
    TASK_CHOICES,
    USE_CASE_CHOICES,
    USE_CASES,
    BudgetRow,
    DataRow,
    HyperparameterSet,
    PresetRow,
    UseCase,
)
from hpscout.plan._presets import (
    Recommendation,
    data_size_bucket,
    guess_model_params,
    model_size_bucket,
    parse_model_size,
    preset_row,
    recommend,
    warmup_ratio_for,
)
from hpscout.plan._schedules import (
    METRIC_DRIVEN_SCHEDULES,
    ONE_CYCLE_DEFAULT_PCT,
    PLOTTABLE_SCHEDULES,
    SCHEDULE_NAMES,
    SCHEDULE_OPTIONS,
    ScheduleCurve,
    compute_schedule,
    metric_driven_explanation,
    schedule_options,
)
from hpscout.plan._steps import StepPlan, plan_steps, warmup_steps_from

__all__ = [
    "LadderPlan",
    "Rung",
    "WorstCase",
    "plan_ladder",
    "rung_steps",
    "BUDGET_CHOICES",
    "BUDGET_TABLE",
    "GPU_CHOICES",
    "GPU_TABLE",
    "HYPERPARAMETER_SETS",
    "USE_CASE_CHOICES",
    "USE_CASES",
    "DeviceBatch",
    "GpuRow",
    "HyperparameterSet",
    "UseCase",
    "device_batch",
    "gpu_row",
    "warmup_ratio_for",
    "DATA_TABLE",
    "METHOD_CHOICES",
    "METRIC_DRIVEN_SCHEDULES",
    "ONE_CYCLE_DEFAULT_PCT",
    "PLOTTABLE_SCHEDULES",
    "PLOT_FORMATS",
    "PRESET_CHOICES",
    "PRESET_TABLE",
    "RULES",
    "SCHEDULE_NAMES",
    "SCHEDULE_OPTIONS",
    "SEVERITIES",
    "TASK_CHOICES",
    "BudgetRow",
    "DataRow",
    "Finding",
    "PresetRow",
    "Recommendation",
    "ScheduleCurve",
    "StepPlan",
    "TrainingSettings",
    "compute_schedule",
    "data_size_bucket",
    "guess_model_params",
    "lint_file",
    "lint_settings",
    "metric_driven_explanation",
    "model_size_bucket",
    "parse_model_size",
    "plan_steps",
    "plot_schedules",
    "preset_row",
    "read_settings",
    "recommend",
    "schedule_options",
    "warmup_steps_from",
]
