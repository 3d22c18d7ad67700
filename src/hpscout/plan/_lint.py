"""Lint training settings: keys, warmup share, LR range, restarts on short runs, precision, clipping, batch.

:mod:`hpscout.plan._lint_read` turns a file (hpscout config, LLaMA-Factory or HF
``TrainingArguments`` YAML) into one normalised :class:`TrainingSettings`;
:func:`lint_settings` then runs every rule in :data:`RULES`. Unknown keys are checked
against :mod:`hpscout.plan._lint_keys`; learning rates against
:mod:`hpscout.plan._lr_ranges` (LLM sources for causal LMs, the preset table otherwise).

Pure Python: no torch import (transformers is imported only to check a key the
bundled list does not know, see :mod:`hpscout.plan._lint_keys`).
"""

from __future__ import annotations

import os

from hpscout.plan._lint_read import TrainingSettings, read_settings
from hpscout.plan._lint_rules import RULES, SEVERITIES, Finding, lint_context

__all__ = ["Finding", "TrainingSettings", "RULES", "SEVERITIES", "lint_file", "lint_settings", "read_settings"]


# --------------------------------------------------------------------------- public API


def lint_file(
    path: str | os.PathLike[str],
    samples: int | None = None,
    *,
    devices: int | None = None,
    model_params: int | None = None,
) -> list[Finding]:
    """Lint a training config file (hpscout experiment config or LLaMA-Factory / HF YAML).

    Args:
        path: the YAML (or JSON) file.
        samples: training rows per epoch, to turn epochs into steps.
        devices: data-parallel devices (overrides the file's ``train.devices``).
        model_params: model parameter count when the name does not tell it.

    Returns:
        Findings, errors first.

    Example:
        >>> findings = lint_file("examples/llamafactory_sft.yaml", samples=20_000)
        >>> any(f.severity == "error" for f in findings)
        False
    """
    return lint_settings(read_settings(path, samples=samples, devices=devices, model_params=model_params))


def lint_settings(settings: TrainingSettings) -> list[Finding]:
    """Run every rule in :data:`RULES` on ``settings``; errors first, then warnings, then info.

    Example:
        >>> s = TrainingSettings(learning_rate=2e-5, warmup_steps=500, max_steps=600, method="full")
        >>> [f.rule for f in lint_settings(s) if f.severity == "error"]
        ['warmup-share']
    """
    ctx = lint_context(settings)
    findings = [Finding("info", "assumption", "-", a) for a in settings.assumptions]
    for rule in RULES:
        findings.extend(rule(settings, ctx))
    order = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(findings, key=lambda f: order[f.severity])


