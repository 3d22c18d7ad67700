"""Export: the final config for full-scale training, as LLaMA-Factory YAML, TrainingArguments JSON or JSON.

Every export starts from the run's final config (``final/config.yaml``, else the
best trial's ``top/top1.yaml``), recomputes the step-based settings for the full
data and device count (:func:`full_data_plan`), lowers the learning rate for the full
run's longer horizon (``--lr-correction``: horizon, law or off), and writes a provenance header.
Reads only the store, never a live search.

Example:
    >>> from hpscout.export import export_run
    >>> export_run("runs/alpaca-sft", "llamafactory", full_samples=52_000)  # doctest: +SKIP
    PosixPath('runs/alpaca-sft/final/llamafactory.yaml')
"""

from hpscout.export._export import DEFAULT_FILES, EXPORT_FORMATS, export_run, exported_lr_correction
from hpscout.export._full_data import FullDataPlan, full_data_plan
from hpscout.export._hf import sidecar_path_for, training_args_class, training_args_dict, training_args_fields
from hpscout.export._llamafactory import LLAMAFACTORY_VERSION, llamafactory_keys, llamafactory_yaml
from hpscout.export._prepare import (
    EXPORT_PRECISIONS,
    BestModel,
    Prepared,
    best_model_settings,
    export_precision,
    lora_targets,
    precision_flags,
    prepare_export,
)
from hpscout.export._provenance import (
    LR_CORRECTIONS,
    LrCorrection,
    Provenance,
    final_config,
    final_config_source,
    lr_correction,
    pick_steps,
)

__all__ = [
    "DEFAULT_FILES",
    "EXPORT_FORMATS",
    "EXPORT_PRECISIONS",
    "LLAMAFACTORY_VERSION",
    "LR_CORRECTIONS",
    "BestModel",
    "FullDataPlan",
    "LrCorrection",
    "Prepared",
    "Provenance",
    "best_model_settings",
    "export_precision",
    "export_run",
    "exported_lr_correction",
    "final_config",
    "final_config_source",
    "full_data_plan",
    "llamafactory_keys",
    "llamafactory_yaml",
    "lora_targets",
    "lr_correction",
    "pick_steps",
    "precision_flags",
    "prepare_export",
    "sidecar_path_for",
    "training_args_class",
    "training_args_dict",
    "training_args_fields",
]
