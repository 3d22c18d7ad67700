"""Staged search: a few broad trials on the parameters that matter most, then narrowed ones on the rest.

The guides' recipe: search the learning rate and batch size first (10-15 broad trials), then
the remaining parameters with the ranges narrowed around what worked (15-20 trials).
``search.stages`` says which parameters each stage starts searching:

* stage i searches its own parameters over their full ``search.space`` range, the parameters
  of earlier stages narrowed around the previous stage's ``top`` trials
  (:func:`narrow_spec`), and holds the parameters of later stages at their base values;
* every stage but the last is its own study, ``<name>-stage<i>``, with its own folder
  ``<run_dir>/stages/stage<i>``; the last stage is the study ``<name>`` in the run folder, so
  the top-k configs, the transfer check, the ablation and the report read it as usual;
* resuming re-runs each stage's study to its budget (a finished stage adds no trial), and the
  narrowing is a pure function of the finished stage, so a resumed run narrows the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from hpscout._errors import SearchError
from hpscout.config import ExperimentConfig, ParamSpec
from hpscout.search._results import top_trials
from hpscout.search._search import SearchOptions, run_search
from hpscout.search._study import load_study

if TYPE_CHECKING:  # typing.Unpack is Python >= 3.11; hpscout runs on 3.10 too
    from typing import Unpack

__all__ = ["narrow_spec", "stage_config", "run_staged_search"]

#: a narrowed log-scale range reaches this factor beyond the top trials' values (linear: this share of the range)
LOG_MARGIN = 1.5
LINEAR_MARGIN = 0.1


def narrow_spec(spec: ParamSpec, values: Sequence[Any]) -> ParamSpec:
    """``spec`` narrowed around ``values`` (the previous stage's top trials), within the original bounds.

    Floats and ints span the values' range widened by ``LOG_MARGIN`` x (log scale) or
    ``LINEAR_MARGIN`` of the original range; categoricals keep the choices that appear.

    Example:
        >>> s = ParamSpec(type="float", low=1e-5, high=1e-2, log=True)
        >>> n = narrow_spec(s, [2e-4, 4e-4])
        >>> round(n.low, 8), round(n.high, 8)
        (0.00013333, 0.0006)
        >>> narrow_spec(ParamSpec(type="categorical", choices=[4, 8, 16]), [8, 8, 16]).choices
        [8, 16]
    """
    present = [v for v in values if v is not None]
    if not present:
        return spec
    if spec.type == "categorical":
        kept = [c for c in spec.choices or [] if any(c == v for v in present)]
        return spec.model_copy(update={"choices": kept or spec.choices})
    lo, hi = float(spec.low), float(spec.high)  # type: ignore[arg-type]
    vmin, vmax = min(float(v) for v in present), max(float(v) for v in present)
    if spec.log:
        new_lo, new_hi = vmin / LOG_MARGIN, vmax * LOG_MARGIN
    else:
        pad = LINEAR_MARGIN * (hi - lo)
        new_lo, new_hi = vmin - pad, vmax + pad
    new_lo, new_hi = max(lo, new_lo), min(hi, new_hi)
    if spec.type == "int":
        new_lo, new_hi = float(math.floor(new_lo)), float(math.ceil(new_hi))
    if spec.step is not None:  # stay on the original grid
        step = float(spec.step)
        new_lo = lo + math.floor((new_lo - lo) / step) * step
        new_hi = min(hi, lo + math.ceil((new_hi - lo) / step) * step)
    return ParamSpec(**{**spec.model_dump(), "low": new_lo, "high": new_hi})


def stage_config(config: ExperimentConfig, index: int, previous_top: Sequence[dict[str, Any]] | None) -> ExperimentConfig:
    """The config stage ``index`` (0-based) runs: its space, its budget, its study name and folder."""
    stages = config.search.stages
    if not 0 <= index < len(stages):
        raise SearchError(f"stage index must be in [0, {len(stages)}), but got {index}")
    space: dict[str, ParamSpec] = {}
    for earlier in stages[:index]:
        for key in earlier.params:
            values = [p.get(key) for p in previous_top or []]
            space[key] = narrow_spec(config.search.space[key], values)
    for key in stages[index].params:
        space[key] = config.search.space[key]
    search = config.search.model_copy(update={"space": space, "trials": stages[index].trials, "timeout": None, "stages": []})
    update: dict[str, Any] = {"search": search}
    if index < len(stages) - 1:
        update["name"] = f"{config.name}-stage{index + 1}"
        update["output_dir"] = str(config.run_dir / "stages" / f"stage{index + 1}")
    return config.model_copy(update=update)


def run_staged_search(
    config: ExperimentConfig,
    *,
    say: Callable[[str], None] | None = None,
    **options: Unpack[SearchOptions],
) -> Any:
    """Run the stages of ``search.stages`` one after another (resumable); without stages, :func:`run_search`.

    ``options`` are those of :func:`run_search` (storage, trials, workers, objective,
    progress); ``trials`` does not apply to a staged search. Returns the last stage's
    :class:`SearchSummary` (the study ``<name>``).
    """
    if not config.search.stages:
        return run_search(config, **options)
    if options.get("trials") is not None:
        raise SearchError("--trials does not apply to a staged search: set search.stages[i].trials")
    tell = say or (lambda _msg: None)
    previous: list[dict[str, Any]] | None = None
    summary = None
    for i, stage in enumerate(config.search.stages):
        cfg = stage_config(config, i, previous)
        narrowed = [k for k in cfg.search.space if k not in stage.params]
        tell(
            f"search stage {i + 1}/{len(config.search.stages)}: {stage.trials} trials on {', '.join(stage.params)}"
            + (f"; narrowed: {', '.join(narrowed)}" if narrowed else "")
        )
        summary = run_search(cfg, **options)
        study = load_study(cfg, storage=options.get("storage"))
        previous = [dict(t.params) for t in top_trials(study, stage.top, cfg.search.direction)]
        if not previous:
            raise SearchError(
                f"search stage {i + 1} ({cfg.name}) completed no trial, so the next stage has nothing to narrow "
                f"around; see `hpscout trials` for its failures"
            )
    return summary
