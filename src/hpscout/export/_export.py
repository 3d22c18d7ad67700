"""``export_run``: write the final config for full-scale training in one of three formats."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from hpscout._errors import ExportError
from hpscout._io import atomic_write_json, atomic_write_text
from hpscout.config import config_to_dict
from hpscout.export._hf import sidecar_path_for, training_args_dict
from hpscout.export._llamafactory import llamafactory_yaml
from hpscout.export._prepare import prepare_export
from hpscout.store import RunLayout

__all__ = ["EXPORT_FORMATS", "DEFAULT_FILES", "export_run"]

#: the formats ``export_run`` writes
EXPORT_FORMATS = ("llamafactory", "hf", "json")

#: default file under ``<run_dir>/final/`` per format
DEFAULT_FILES = {"llamafactory": "llamafactory.yaml", "hf": "training_args.json", "json": "final.json"}


def exported_lr_correction(run_dir: str | Path) -> dict[str, Any] | None:
    """The ``lr_correction`` the run's json export recorded (``final/final.json`` provenance), or None without it."""
    try:
        corr = json.loads((RunLayout(Path(run_dir)).final_dir / DEFAULT_FILES["json"]).read_text(encoding="utf-8"))
        corr = corr["provenance"]["lr_correction"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return corr if isinstance(corr, dict) else None


def export_run(
    run_dir: str | Path,
    fmt: Literal["llamafactory", "hf", "json"],
    *,
    full_samples: int | None = None,
    devices: int | None = None,
    out: str | Path | None = None,
    storage: str | None = None,
    lr_correction: Literal["horizon", "law", "off"] = "horizon",
    precision: Literal["bf16", "fp16", "fp32"] | None = None,
) -> Path:
    """Export the run's final config for full-scale training; returns the file written.

    Args:
        run_dir: the run folder (``final/config.yaml`` or ``top/top1.yaml`` must exist).
        fmt: ``llamafactory`` (YAML for ``llamafactory-cli train``), ``hf`` (``TrainingArguments``
            JSON, plus ``<name>.provenance.json`` beside it) or ``json`` (the final hpscout
            config with its provenance and full-data plan).
        full_samples: training rows of the full data; default: analysis.json, else estimated
            from the scouting subset.
        devices: data-parallel devices of the full run; default ``train.devices``.
        out: output file; default ``<run_dir>/final/<llamafactory.yaml|training_args.json|final.json>``.
        storage: Optuna storage URL of the study (for provenance); default: the run's own.
        lr_correction: how the full run's learning rate is set. ``horizon`` (default): lowered for
            the full run's longer horizon, ``x (full steps / steps it was chosen at)^-0.3``
            (:func:`hpscout.analysis.horizon_lr`; on SST-2 the scouted pick lost 2.5-3.7 points at
            100% of the data and the rule's LR was the best measured there, docs/benchmarks.md,
            "Scouting that holds"). ``law``: the fitted LR law (analysis.json ``lr_scaling``), only
            when beta's 95% interval excludes 0. ``off``: the scouted LR.
        precision: the target machine's precision (``bf16``, ``fp16`` or ``fp32``); default: the
            scouted ``train.precision``, with ``auto`` written as bf16. bf16 needs an Ampere-or-newer
            GPU: ``TrainingArguments`` raises on a V100, T4 or CPU (fp16 for those GPUs, fp32 for CPU).

    Example:
        >>> export_run("runs/alpaca-sft", "llamafactory", full_samples=52_000, devices=8)  # doctest: +SKIP
        PosixPath('runs/alpaca-sft/final/llamafactory.yaml')
    """
    if fmt not in EXPORT_FORMATS:
        raise ExportError(f"export format must be one of {', '.join(EXPORT_FORMATS)}, but got {fmt!r}")
    root = Path(run_dir)
    target = Path(out) if out is not None else RunLayout(root).final_dir / DEFAULT_FILES[fmt]
    prep = prepare_export(root, full_samples=full_samples, devices=devices, storage=storage,
                          lr_correction_mode=lr_correction, precision=precision)
    if fmt == "llamafactory" and prep.config.task == "llamafactory":  # the user's own file, scouted
        from hpscout.export._llamafactory_roundtrip import roundtrip_yaml

        atomic_write_text(target, roundtrip_yaml(prep))
    elif fmt == "llamafactory":
        atomic_write_text(target, llamafactory_yaml(prep))
    elif fmt == "hf":
        args, sidecar = training_args_dict(prep)
        # sidecar first: a training_args.json never appears without its provenance
        atomic_write_json(sidecar_path_for(target), sidecar)
        atomic_write_text(target, json.dumps(args, indent=2, sort_keys=True) + "\n")
    else:
        atomic_write_json(target, {
            "format": "hpscout-final",
            "version": 1,
            "config": config_to_dict(prep.config),
            "scouted_config": config_to_dict(prep.scouted),
            "provenance": prep.provenance.to_dict(),
            "full_data_plan": prep.plan.to_dict(),
            "notes": list(prep.notes),
        })
    return target
