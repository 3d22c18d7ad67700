"""``hpscout export --format llamafactory`` for a run of task llamafactory: the user's own file, scouted.

The run was made from the user's LLaMA-Factory YAML (``llamafactory.base``, by ``hpscout init
--from-llamafactory``). The export returns that file line for line. Only the keys whose value
scouting chose (the run's config vs its final config) or the full-data plan recomputed
(:data:`STEP_KEYS`) are rewritten: in place, keeping their comment, or appended in a block at
the end when the file did not set them. A header lists every change with its reason, then
the provenance and the full-data plan. ``--set`` overrides used only for scouting (a CPU
precision, a shorter run) are not carried into the file.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hpscout._errors import ConfigError, ExportError
from hpscout.config import ExperimentConfig, load_config, load_yaml_text
from hpscout.export._llamafactory import _scalar
from hpscout.export._prepare import Prepared
from hpscout.llamafactory import llamafactory_from_config
from hpscout.store import RunLayout

__all__ = ["PLAN_KEYS", "STEP_KEYS", "Change", "patch_yaml_text", "roundtrip_changes", "roundtrip_yaml", "scouting_overrides"]

#: keys the full-data plan (effective batch across --devices) or the LR correction (--lr-correction) may change
PLAN_KEYS = ("per_device_train_batch_size", "gradient_accumulation_steps", "learning_rate")
#: keys counted in optimizer steps of one run: when scouting chose them, the full run gets the plan's value
STEP_KEYS = ("max_steps", "warmup_steps", "eval_steps", "logging_steps")
_TOP_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_.\-]*)[ \t]*:(.*)$")


@dataclass(frozen=True)
class Change:
    """One key the export rewrites: its value in the user's file (None: unset), the new one, and why."""

    key: str
    old: Any
    new: Any
    why: str


def _same(a: Any, b: Any) -> bool:
    """Equal as LLaMA-Factory would read them ('1e-4' and 0.0001 are the same learning rate)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    try:
        return math.isclose(float(a), float(b), rel_tol=1e-9)
    except (TypeError, ValueError):
        return bool(a == b)


def roundtrip_changes(prep: Prepared, base: ExperimentConfig, original: dict[str, Any]) -> list[Change]:
    """The keys to rewrite in the user's file, given the run's config ``base`` and the file's keys ``original``.

    Scouted keys are those whose value differs between the run's config and its final config.
    The file's own step counts (warmup_steps, eval_steps, ...) were written for the full data and
    stay, unless scouting chose them; batch and accumulation change only to keep the scouted
    effective batch on ``--devices``.
    """
    before = llamafactory_from_config(base)
    scouted = llamafactory_from_config(prep.scouted)
    full = llamafactory_from_config(prep.config)
    wanted: dict[str, tuple[Any, str]] = {}
    for key, value in scouted.items():
        if not _same(value, before.get(key)):
            in_steps = key in STEP_KEYS and key in full
            wanted[key] = (full[key], "scouted, in steps of the full run") if in_steps else (value, "scouted")
    corrected = prep.provenance.lr_correction.applied
    for key in PLAN_KEYS:
        if key in full and not _same(full[key], scouted.get(key)):
            wanted[key] = (full[key], f"lr_correction {prep.provenance.lr_correction.mode}" if key == "learning_rate"
                           and corrected else "full-data plan")
    warmup = original.get("warmup_steps")
    if "warmup_ratio" in wanted and isinstance(warmup, float) and 0 < warmup < 1:
        wanted["warmup_steps"] = wanted.pop("warmup_ratio")  # the file spells its ratio transformers-5 style
    return [Change(k, original.get(k), v, why) for k, (v, why) in wanted.items() if not _same(v, original.get(k))]


def scouting_overrides(base: ExperimentConfig, original: dict[str, Any]) -> list[str]:
    """Mapped keys the run's config set differently from the file (``--set`` for scouting); they are not written back."""
    before = llamafactory_from_config(base)
    return [f"{k} {_scalar(before[k])} (your file: {_scalar(original[k])})" for k in before if k in original and not _same(before[k], original[k])]


def _split_comment(rest: str) -> tuple[str, str]:
    """``' 1e-4  # note'`` -> ``(' 1e-4', '  # note')``: the first '#' after whitespace outside quotes."""
    quote = None
    for i, ch in enumerate(rest):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or rest[i - 1] in " \t"):
            j = i
            while j > 0 and rest[j - 1] in " \t":
                j -= 1
            return rest[:j], rest[j:]
    return rest, ""


def patch_yaml_text(text: str, values: dict[str, Any], *, appended_title: str) -> str:
    """``text`` with the top-level ``values`` rewritten in place (comments kept) or appended; nothing else changes.

    Example:
        >>> print(patch_yaml_text("lr: 1.0  # peak\\nx: 2\\n", {"lr": 0.5, "y": 3}, appended_title="new"), end="")
        lr: 0.5  # peak
        x: 2
        <BLANKLINE>
        ### new
        y: 3
    """
    lines = text.splitlines(keepends=True)
    left = dict(values)
    out: list[str] = []
    i = 0
    while i < len(lines):
        match = _TOP_KEY.match(lines[i].rstrip("\r\n"))
        if not match or match.group(1) not in left:
            out.append(lines[i])
            i += 1
            continue
        key = match.group(1)
        value_text, comment = _split_comment(match.group(2))
        out.append(f"{key}: {_scalar(left.pop(key))}{comment}\n")
        i += 1
        if not value_text.strip():  # a block value (nested mapping or list) follows on indented or '- ' lines
            while i < len(lines) and lines[i].strip() and (lines[i][0] in " \t" or lines[i].startswith("- ")):
                i += 1
    if left:
        if out and not out[-1].endswith("\n"):
            out[-1] += "\n"
        out.append(f"\n### {appended_title}\n")
        out += [f"{k}: {_scalar(v)}\n" for k, v in left.items()]
    return "".join(out)


def _original(base: ExperimentConfig) -> tuple[str, Path, str | None]:
    """The user's file text, its path and a note when it had to be rebuilt from the run's config."""
    lf = base.llamafactory
    if lf is None:  # pragma: no cover - the dispatch only sends llamafactory runs here
        raise ExportError("this run is not of task llamafactory")
    path = Path(lf.base)
    try:
        return path.read_text(encoding="utf-8"), path, None
    except OSError:
        rebuilt = {**lf.args, **llamafactory_from_config(base)}
        text = yaml.safe_dump(rebuilt, sort_keys=False, allow_unicode=True, default_flow_style=False)
        return text, path, f"{path} was not found, so this file is rebuilt from the run's config: its comments and key order are lost"


def roundtrip_yaml(prep: Prepared) -> str:
    """The user's LLaMA-Factory file with the scouted values and the full-data step settings, and a header.

    Example:
        >>> print(roundtrip_yaml(prepare_export("runs/llamafactory_sft")))  # doctest: +SKIP
    """
    layout = RunLayout(prep.run_dir)
    try:
        base = load_config(layout.config)
    except ConfigError as exc:
        raise ExportError(f"cannot read the run's config {layout.config}: {exc}") from None
    text, path, rebuilt = _original(base)
    try:
        original, _ = load_yaml_text(text, str(path))
    except ConfigError as exc:
        raise ExportError(f"cannot read the LLaMA-Factory file the run was made from: {exc}") from None
    original = original if isinstance(original, dict) else {}
    changes = roundtrip_changes(prep, base, original)
    patched = patch_yaml_text(text, {c.key: c.new for c in changes}, appended_title="set by hpscout export (not in the original file)")
    expected = {**original, **{c.key: yaml.safe_load(_scalar(c.new)) for c in changes}}
    if yaml.safe_load(patched) != expected:  # a bug here must not hand the user a file that trains something else
        raise ExportError(f"internal: patching {path} changed more than the keys {[c.key for c in changes]}")

    header = [
        f"hpscout export of run {base.name}: your LLaMA-Factory file {path},",
        "with the values scouting chose and the full-data step settings; every other line is as you wrote it.",
    ]
    if rebuilt:
        header.append(f"note: {rebuilt}")
    overrides = scouting_overrides(base, original)
    if overrides:
        header.append("note: scouting ran with " + "; ".join(overrides) + " - kept as in your file")
    header += [
        f"changed: {c.key}: {'unset' if c.old is None else _scalar(c.old)} -> {_scalar(c.new)} ({c.why})" for c in changes
    ] or ["changed: nothing (the scouted values equal your file's)"]
    header += [""] + prep.provenance.header_lines()
    header += ["", "full-data plan of the scouted config (the source of the 'full-data plan' changes above):"]
    header += [f"  {ln}" for ln in prep.plan.text.splitlines()]
    return "".join(f"# {line}".rstrip() + "\n" for line in header) + "\n" + patched
