"""The scouting stages' sections: the search (space, sampler, pruner, stages), the ablation and the transfer check."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from hpscout.config._base import _Model

__all__ = ["ParamSpec", "StageConfig", "SearchConfig", "AblationConfig", "TransferConfig"]


class ParamSpec(_Model):
    """One searched parameter, mapped onto a dotted config key."""

    type: Literal["float", "int", "categorical"] = Field(..., description="Distribution type.")
    low: float | None = Field(None, description="Lower bound (float/int).")
    high: float | None = Field(None, description="Upper bound (float/int).")
    log: bool = Field(False, description="Sample on a log scale (needs low > 0).")
    step: float | None = Field(None, gt=0, description="Discretisation step (float/int).")
    choices: list[Any] | None = Field(None, description="Choices (categorical).")
    multiplier_of: str | None = Field(
        None, description="Derived parameter: the sampled value multiplies this key's value (e.g. lora.alpha = k x lora.r)."
    )
    when: dict[str, Any] | None = Field(
        None, description="Conditional parameter: only sampled when these keys have these values."
    )

    @model_validator(mode="after")
    def _check(self) -> ParamSpec:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("categorical parameters need a non-empty 'choices' list")
            if self.low is not None or self.high is not None:
                raise ValueError("categorical parameters take 'choices', not 'low'/'high'")
            return self
        if self.choices is not None:
            raise ValueError(f"{self.type} parameters take 'low'/'high', not 'choices'")
        if self.low is None or self.high is None:
            raise ValueError(f"{self.type} parameters need both 'low' and 'high'")
        if self.low > self.high:
            raise ValueError(f"low must be <= high, but got low={self.low}, high={self.high}")
        if self.log and self.low <= 0:
            raise ValueError(f"low must be > 0 when log=true, but got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("'step' cannot be combined with log=true (Optuna does not support it)")
        if self.type == "int" and (self.low != int(self.low) or self.high != int(self.high)):
            raise ValueError(f"int parameters need integer bounds, but got low={self.low}, high={self.high}")
        return self


class StageConfig(_Model):
    """One stage of a staged search (search.stages)."""

    params: list[str] = Field(..., min_length=1, description="search.space keys this stage starts searching.")
    trials: int = Field(..., ge=1, description="Trials of this stage.")
    top: int = Field(3, ge=1, description="How many of this stage's best trials the next stage narrows around.")


class SearchConfig(_Model):
    """The study: space, sampler, pruner, objective and budget."""

    sampler: str = Field("tpe", description="grid | random | tpe | any optuna.samplers class name (e.g. CmaEsSampler).")
    sampler_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the sampler.")
    pruner: Literal["none", "median", "successive-halving", "hyperband"] = Field("hyperband", description="Pruner.")
    pruner_kwargs: dict[str, Any] = Field(default_factory=dict, description="Keyword arguments for the pruner.")
    fidelity: Literal["fraction", "eval"] = Field(
        "fraction",
        description="fraction: rungs are the nested scout.fidelities; eval: rungs are evaluations within one run.",
    )
    trials: int | None = Field(20, ge=1, description="Number of trials in the study (finished trials count).")
    timeout: float | None = Field(None, gt=0, description="Wall-clock budget in seconds.")
    metric: str = Field("eval_loss", description="Metric the search optimises (eval_accuracy, eval_f1, eval_loss, ...).")
    direction: Literal["maximize", "minimize"] = Field("minimize", description="Optimisation direction.")
    space: dict[str, ParamSpec] = Field(default_factory=dict, description="Dotted config key -> distribution.")
    top_k: int = Field(3, ge=1, description="How many top trials to keep as ready-to-run configs.")
    workers: int = Field(1, ge=1, le=256, description="Local worker processes.")
    threads: int | None = Field(
        None,
        ge=1,
        le=1024,
        description="CPU threads per worker process (torch/OpenMP). Default: with several local workers, the "
        "machine's cores divided among them (at least 1); one worker keeps torch's default. Workers that each "
        "use every core run 2-4x slower.",
    )
    stages: list[StageConfig] = Field(
        default_factory=list,
        description="Staged search (the guides: learning rate and batch first, then the rest): each stage starts "
        "searching its params, with the params of earlier stages narrowed around the previous stage's top trials "
        "and the params of later stages held at their base values. Earlier stages run as chained studies "
        "<name>-stage<i> (folders stages/stage<i>); the last stage is the study <name>. search.trials is ignored.",
    )
    heartbeat_interval: int = Field(20, ge=1, description="Seconds between heartbeats (stale-trial detection).")
    grace_period: int | None = Field(None, ge=1, description="Seconds without heartbeat before a trial counts as dead (default 3x interval).")

    @model_validator(mode="after")
    def _budget(self) -> SearchConfig:
        if self.trials is None and self.timeout is None and self.sampler != "grid" and not self.stages:
            raise ValueError("search needs a budget: set search.trials and/or search.timeout")
        return self

    @model_validator(mode="after")
    def _stages(self) -> SearchConfig:
        if not self.stages:
            return self
        seen: dict[str, int] = {}
        for i, stage in enumerate(self.stages, start=1):
            for key in stage.params:
                if key not in self.space:
                    raise ValueError(
                        f"search.stages[{i}].params names {key!r}, which is not in search.space "
                        f"(the keys are: {', '.join(sorted(self.space)) or 'none'})"
                    )
                if key in seen:
                    raise ValueError(f"search.stages: {key!r} is in stage {seen[key]} and stage {i}; give each key one stage")
                seen[key] = i
        missing = [k for k in self.space if k not in seen]
        if missing:
            raise ValueError(f"search.stages: every search.space key needs a stage, but {', '.join(missing)} has none")
        return self


class AblationConfig(_Model):
    """One-factor-at-a-time ablation around a baseline, with repeated seeds."""

    seeds: int = Field(3, ge=1, le=100, description="Seeds per cell, the baseline included.")
    baseline: str = Field("best", description="best | trial:N | a path to a YAML config.")
    factors: dict[str, list[Any]] = Field(
        default_factory=dict,
        description="Dotted config key -> levels. 'train.learning_rate' levels may be written as multipliers 'x0.5'.",
    )
    alpha: float = Field(0.05, gt=0, lt=1, description="Significance level for the verdicts (Welch's t-test).")


class TransferConfig(_Model):
    """Check that small-scale rankings hold at a larger fraction."""

    k: int = Field(5, ge=2, description="How many top configs to re-run.")
    fraction: float | None = Field(
        None,
        gt=0,
        le=1,
        description="The (first) larger fraction; default 2 x scout.fraction when climbing, 4 x scout.fraction "
        "one-shot (capped at 1).",
    )
    seeds: int = Field(1, ge=1, le=20, description="Seeds per re-run config.")
    climb: bool = Field(
        True,
        description="Climb: re-run the top-k at ~2x the fraction, one rung at a time, until their order agrees between "
        "the two largest rungs (differences within seed noise count as ties), max_fraction is reached or the budget "
        "runs out; the pick is the best at the highest rung. false: one re-run at `fraction` (the one-shot check).",
    )
    max_fraction: float = Field(1.0, gt=0, le=1, description="The climb never goes above this fraction.")
    budget: float | None = Field(
        1.0,
        gt=0,
        description="The most training samples the climb may process, as a multiple of one full-data run "
        "(full train rows x epochs); a rung that would exceed it is not started. null: no limit.",
    )

    def resolve_fraction(self, scout_fraction: float) -> float:
        """``fraction``, else 2 x (climbing) or 4 x (one-shot) ``scout_fraction``, capped at 1 and at
        ``max_fraction`` when climbing (the first transfer fraction)."""
        if self.fraction is not None:
            return float(self.fraction)
        if self.climb:
            return min(1.0, self.max_fraction, 2 * float(scout_fraction))
        return min(1.0, 4 * float(scout_fraction))

    def climb_fractions(self, scout_fraction: float) -> list[float]:
        """The transfer rungs above ``scout_fraction``: the first transfer fraction, then ~2x per rung up to
        ``max_fraction`` (a last step under 1.5x is merged into the jump to ``max_fraction``); one-shot: one rung.

        Example:
            >>> TransferConfig().climb_fractions(0.05)
            [0.1, 0.2, 0.4, 1.0]
        """
        first = round(self.resolve_fraction(scout_fraction), 12)
        if not self.climb:
            return [first]
        top = float(self.max_fraction)
        out = [first]
        while out[-1] < top - 1e-12:
            nxt = min(top, 2 * out[-1])
            if top / nxt < 1.5:
                nxt = top
            out.append(round(nxt, 12))
        return [f for f in out if f > scout_fraction + 1e-12]
