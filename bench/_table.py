"""A table of real runs (bench/finetune_grid.py's CSV) as a search scenario.

The harness (bench/search_efficiency.py) runs its methods on anything with the
interface of ``_yahpo.Scenario``; :class:`TableScenario` gives it one for a grid of
real fine-tuning runs, so the same methods, ledger and scoring replay on measured
accuracies instead of a surrogate:

* **space**: one categorical parameter per grid column (``learning_rate``,
  ``lora_r``, ``warmup_ratio``) with the grid's values;
* **fidelity**: the data fraction, as a fraction of the *full data* (1.0 = every
  training row), whatever the table's largest fraction is. The table's *levels* are
  the fractions it holds completely (see below); the largest is the *reference*.
  A requested fraction snaps *up* to the smallest level at or above it; above the
  reference it reads the reference. It is charged ``max(requested, level)``: never
  cheaper than asked, never cheaper than the run whose value it reads;
* **planned cells**: the small fractions hold every cell; the upward extension holds
  only the cells bench/finetune_grid.py planned there (``EXTENSION``: the best and
  worst at a smaller fraction). A (fraction, seed) counts once it holds every planned
  cell; a fraction still running is left out until it does;
* **a cell not run at a level** (the extension's middle cells): it reads the nearest
  larger level that has it (charged at the level asked); when no larger level has it,
  its value is *imputed* (:func:`impute`: an isotonic map from its largest measured
  level, fitted on the cells measured at both) and marked so (:meth:`TableScenario.measured`);
* **noise**: replay seed ``s`` reads, at every level, the level's seed ``s mod n``
  (:meth:`TableScenario.for_seed`); the extension has one seed, so every replay reads it;
* **score and reference**: regret is scored on the seed-mean at the reference
  (:meth:`TableScenario.score`); best and worst are the best and worst measured cells
  there (:meth:`TableScenario.reference`);
* **steps**: the CSV's ``train_rows`` and ``optimizer_steps`` give the training rows
  at 1.0 (:attr:`Table.train_rows`), so the step floor of ``scout.min_steps`` applies.
"""

from __future__ import annotations

import copy
import csv
import itertools
import math
import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _yahpo import Param, Reference

#: The grid's hyperparameter columns (bench/finetune_grid.py).
PARAM_COLUMNS = ("learning_rate", "lora_r", "warmup_ratio")
#: Metric columns and whether larger is better.
TARGETS = {"eval_accuracy": True, "eval_f1": True, "eval_loss": False}
DEFAULT_TARGET = "eval_accuracy"
#: The one instance a table has (the harness's ``--instances``).
INSTANCE = "grid"
#: The fidelity a table has (the harness's ``--fidelity``).
FIDELITY = "fraction"
#: Relative tolerance when matching fractions (CSV text and float arithmetic).
_TOL = 1e-9

Cell = tuple[Any, ...]


def _number(text: str) -> int | float:
    """A CSV field as int when it is written as one (``16``), else float (``0.0003``)."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return float(text)


@dataclass(frozen=True)
class Table:
    """Metric values of the planned cells at every complete (fraction, seed).

    Attributes:
        params: the hyperparameter columns, in cell-tuple order.
        choices: each parameter's values, ascending.
        cells: every cell of the grid (the product of ``choices``), in grid order.
        planned: fraction -> the cells planned there (every cell unless the extension chose some).
        values: (fraction, seed) -> cell -> value, complete grids only (every planned cell present).
        missing: (fraction, seed, cells present) for each planned grid that is not complete.
        target: the metric column read.
        train_rows: training rows at fraction 1.0 (``train_rows / fraction`` in the CSV; None without the column).
        steps: fraction -> optimizer steps of its runs (the CSV's ``optimizer_steps``; largest per fraction).
    """

    params: tuple[str, ...]
    choices: tuple[tuple[Any, ...], ...]
    cells: tuple[Cell, ...]
    planned: dict[float, tuple[Cell, ...]]
    values: dict[tuple[float, int], dict[Cell, float]]
    missing: tuple[tuple[float, int, int], ...]
    target: str
    train_rows: int | None = None
    steps: dict[float, int] = field(default_factory=dict)

    @property
    def complete(self) -> list[tuple[float, int]]:
        """The complete (fraction, seed) grids, sorted."""
        return sorted(self.values)

    @property
    def fractions(self) -> list[float]:
        """Fractions with at least one complete grid, ascending."""
        return sorted({f for f, _ in self.values})

    def seeds_at(self, fraction: float) -> list[int]:
        """Seeds with a complete grid at ``fraction``."""
        return sorted(s for f, s in self.values if f == fraction)

    def cells_at(self, fraction: float) -> tuple[Cell, ...]:
        """The cells planned at ``fraction`` (grid order)."""
        return self.planned.get(fraction, self.cells)

    def seed_mean(self, fraction: float, seeds: Sequence[int] | None = None) -> dict[Cell, float]:
        """Each planned cell's mean over ``seeds`` (default: every complete seed) at ``fraction``."""
        seeds = self.seeds_at(fraction) if seeds is None else list(seeds)
        if not seeds:
            raise ValueError(f"no complete grid at fraction {fraction:g} for seeds {seeds}")
        return {
            c: float(np.mean([self.values[(fraction, s)][c] for s in seeds])) for c in self.cells_at(fraction)
        }


def _full_train_rows(rows: Sequence[Mapping[str, str]]) -> int | None:
    """Training rows at fraction 1.0: the median of ``train_rows / fraction`` over the rows that have it."""
    guesses = [
        float(r["train_rows"]) / float(r["fraction"])
        for r in rows
        if (r.get("train_rows") or "").strip() and float(r["fraction"]) > 0
    ]
    return round(statistics.median(guesses)) if guesses else None


def _steps(rows: Sequence[Mapping[str, str]]) -> dict[float, int]:
    out: dict[float, int] = {}
    for r in rows:
        text = (r.get("optimizer_steps") or "").strip()
        if text:
            f = float(r["fraction"])
            out[f] = max(out.get(f, 0), int(float(text)))
    return out


def load_table(
    path: str | os.PathLike[str],
    target: str = DEFAULT_TARGET,
    params: Sequence[str] = PARAM_COLUMNS,
    expected_fractions: Sequence[float] = (),
    expected_seeds: Sequence[int] = (),
    plans: Mapping[float, tuple[str, int]] | None = None,
) -> Table:
    """Read a grid CSV; keep only (fraction, seed) grids that hold every planned cell.

    Args:
        path: the CSV (columns ``seed, fraction, <params>, <target>``, one row per run).
        target: the metric column.
        params: the hyperparameter columns; the grid is the product of their values.
        expected_fractions, expected_seeds: the design, so that grids not started yet are
            reported missing too (default: the fractions and seeds the CSV mentions).
        plans: fraction -> (``best=N,worst=M,at=F``, seeds) for fractions that hold only
            some cells (default: bench/finetune_grid.py's ``EXTENSION``). Such a fraction
            counts once ``F`` is complete (the cells are chosen there) and every chosen
            cell is present for each of its seeds.

    A finished run without a finite metric (a failed run) makes its grid incomplete:
    the table never invents a value for it.
    """
    import finetune_grid

    if target not in TARGETS:
        raise ValueError(f"target must be one of {', '.join(TARGETS)}, but got {target!r}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"the grid CSV must be a file, but got {str(path)!r}")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        needed = {"seed", "fraction", target, *params}
        absent = sorted(needed - set(reader.fieldnames or ()))
        if absent:
            raise ValueError(f"{path} must have columns {sorted(needed)}, but lacks {absent}")
        rows = list(reader)
    plans = finetune_grid.EXTENSION if plans is None else plans
    choices = tuple(tuple(sorted({_number(r[p]) for r in rows})) for p in params)
    cells = tuple(itertools.product(*choices))
    found: dict[tuple[float, int], dict[Cell, float]] = {}
    for r in rows:
        value = float(r[target]) if r[target].strip() else math.nan
        if not math.isfinite(value):
            continue
        key = (float(r["fraction"]), int(r["seed"]))
        found.setdefault(key, {})[tuple(_number(r[p]) for p in params)] = value
    fractions = sorted({float(f) for f in expected_fractions} | {float(r["fraction"]) for r in rows})
    all_seeds = sorted(
        {int(s) for s in expected_seeds} | {int(r["seed"]) for r in rows if float(r["fraction"]) not in plans}
    )
    values: dict[tuple[float, int], dict[Cell, float]] = {}
    missing: list[tuple[float, int, int]] = []
    planned: dict[float, tuple[Cell, ...]] = {}
    complete_at = lambda f: any(k[0] == f for k in values)  # noqa: E731 -- fractions are visited in order
    for f in fractions:
        if f in plans:
            chosen = finetune_grid.planned_cells(rows, plans[f][0], complete_at)
            want: tuple[Cell, ...] | None = None if chosen is None else tuple(chosen)
            seeds = list(range(plans[f][1]))
        else:
            want, seeds = cells, all_seeds
        if want is not None:
            planned[f] = want
        for s in seeds:
            grid = found.get((f, s), {})
            if want and all(c in grid for c in want):
                values[(f, s)] = grid
            else:
                missing.append((f, s, len(grid)))
    return Table(
        tuple(params),
        choices,
        cells,
        planned,
        values,
        tuple(missing),
        target,
        _full_train_rows(rows),
        _steps(rows),
    )


# ----------------------------------------------------------------------------- imputation


def impute(value: float, pairs: Sequence[tuple[float, float]]) -> float:
    """A value at a larger fraction for a cell measured only at a smaller one (monotone map).

    ``pairs`` are (small, large) values of the cells measured at both fractions. The
    map is the isotonic (non-decreasing) regression of large on small, linearly
    interpolated and clamped at the ends: a cell keeps its place among the cells
    around it, which is the assumption (stated in every report) behind the numbers.

    Example:
        >>> impute(0.82, [(0.80, 0.84), (0.84, 0.86)])
        0.85
    """
    from scipy.optimize import isotonic_regression

    if not pairs:
        raise ValueError("impute needs at least one cell measured at both fractions")
    pts = sorted(pairs)
    xs = np.array([p[0] for p in pts], dtype=float)
    fitted = isotonic_regression(np.array([p[1] for p in pts], dtype=float)).x
    ux = np.unique(xs)  # np.interp needs distinct x: average the fit over tied x
    uy = np.array([fitted[xs == x].mean() for x in ux])
    return round(float(np.interp(value, ux, uy)), 12)


# ----------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class TableFidelity:
    """The data fraction of a table, snapped up to the levels the table holds.

    Has the attributes the harness reads from ``_yahpo.Fidelity``. ``levels`` are
    absolute data fractions (0.01 = 1% of the training set); ``high`` is the full
    data (1.0), so the harness's fractions of the maximum are fractions of the data.
    """

    name: str
    levels: tuple[float, ...]
    high: float = 1.0
    is_int: bool = False
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.levels or list(self.levels) != sorted(set(self.levels)) or self.levels[0] <= 0:
            raise ValueError(f"levels must be distinct positive fractions, ascending, but got {self.levels}")
        if self.levels[-1] > self.high * (1 + _TOL):
            raise ValueError(f"levels must be at most the full data ({self.high}), but got {self.levels}")

    @property
    def low(self) -> float:
        return self.levels[0]

    @property
    def reference(self) -> float:
        """The largest level: what regret is scored at."""
        return self.levels[-1]

    @property
    def min_fraction(self) -> float:
        return self.low / self.high

    def value(self, fraction: float) -> float:
        """The level read for ``fraction`` of the full data: the smallest level >= it, else the reference."""
        raw = fraction * self.high
        for level in self.levels:
            if level >= raw * (1 - _TOL):
                return level
        return self.reference

    def fraction(self, value: float) -> float:
        """``value`` as a fraction of the full data."""
        return round(float(value) / self.high, 12)

    def cost(self, fraction: float) -> float:
        """What one evaluation at ``fraction`` is charged: ``max(fraction, level read)``."""
        return max(round(float(fraction), 12), self.fraction(self.value(fraction)))


class TableScenario:
    """A grid table as a scenario with ``_yahpo.Scenario``'s interface.

    Args:
        data_path: the grid CSV.
        name: a label for reports (``sst2-minilm-lora``).
        instance: must be :data:`INSTANCE` (a table is one instance).
        target: a metric column (default ``eval_accuracy``).
        fidelity: must be :data:`FIDELITY` or None.
        seed: the replay seed whose table seed every evaluation reads (``seed mod n_seeds``
            at each level); None reads the seed-mean.
        table: a loaded table (default: :func:`load_table` of ``data_path``).

    Example::

        sc = TableScenario("bench/results/finetune_grid.csv", "sst2-minilm-lora").for_seed(3)
        sc.evaluate([{"learning_rate": 5e-3, "lora_r": 16, "warmup_ratio": 0.1}], 0.05)
    """

    def __init__(
        self,
        data_path: str | os.PathLike[str],
        name: str,
        instance: str = INSTANCE,
        target: str | None = None,
        fidelity: str | None = None,
        seed: int | None = None,
        table: Table | None = None,
    ) -> None:
        if str(instance) != INSTANCE:
            raise ValueError(f"a table has one instance, {INSTANCE!r}, but got {instance!r}")
        if fidelity not in (None, FIDELITY):
            raise ValueError(f"a table's fidelity is {FIDELITY!r}, but got {fidelity!r}")
        self.table = table if table is not None else load_table(data_path, target or DEFAULT_TARGET)
        self.data_path = str(data_path)
        self.name = name
        self.instance = INSTANCE
        self.target = self.table.target
        self.maximize = TARGETS[self.target]
        levels = self.table.fractions
        if not levels:
            raise ValueError(
                f"{data_path} has no complete grid at any fraction (missing: {self.table.missing}); "
                "wait for the grid to finish one"
            )
        self.fidelity = TableFidelity(FIDELITY, tuple(levels))
        self.seeds_by_level = {f: self.table.seeds_at(f) for f in levels}
        #: seeds a replay alternates over: those of the level with the most seeds
        self.seeds = max(self.seeds_by_level.values(), key=len)
        self.params = [
            Param(p, "categorical", choices=choices)
            for p, choices in zip(self.table.params, self.table.choices, strict=True)
        ]
        self.seed = seed
        #: what the step floor needs (None: the CSV has no train_rows column)
        self.train_rows = self.table.train_rows
        self._imputed: dict[tuple[Cell, float], float] = {}

    @property
    def direction(self) -> str:
        return "maximize" if self.maximize else "minimize"

    @property
    def reference_fraction(self) -> float:
        return self.fidelity.reference

    @property
    def table_seed(self) -> int | None:
        """The table seed this replay reads at the smallest level (None: the seed-mean)."""
        return None if self.seed is None else self._seed_at(self.fidelity.low)

    def _seed_at(self, level: float) -> int:
        seeds = self.seeds_by_level[level]
        return seeds[(self.seed or 0) % len(seeds)]

    def for_seed(self, seed: int) -> TableScenario:
        """The scenario as replay ``seed`` sees it: each level's seed ``seed mod n``."""
        view = copy.copy(self)  # shares the table and the imputation cache
        view.seed = seed
        return view

    def bench_config(self) -> Any:
        """The config every run of the table trained with (bench/finetune_base.yaml)."""
        from _finetune import base_config

        return base_config()

    # -- lookups

    def _cell(self, config: Mapping[str, Any]) -> Cell:
        cell = tuple(config[p] for p in self.table.params)
        if cell not in self.table.cells:
            raise KeyError(f"configuration {dict(config)} is not a cell of the grid {self.table.choices}")
        return cell

    def _has(self, cell: Cell, level: float) -> bool:
        return cell in self.table.values[(level, self.seeds_by_level[level][0])]

    def _mean(self, cell: Cell, level: float) -> float:
        return float(np.mean([self.table.values[(level, s)][cell] for s in self.seeds_by_level[level]]))

    def _impute(self, cell: Cell, level: float) -> float:
        """The seed-mean at ``level`` mapped from the largest smaller level that has ``cell``."""
        key = (cell, level)
        if key not in self._imputed:
            below = [f for f in self.fidelity.levels if f < level and self._has(cell, f)]
            if not below:
                raise KeyError(f"cell {cell} is measured at no level up to {level:g}")
            g = below[-1]
            pairs = [
                (self._mean(c, g), self._mean(c, level))
                for c in self.table.cells_at(level)
                if self._has(c, g)
            ]
            self._imputed[key] = impute(self._mean(cell, g), pairs)
        return self._imputed[key]

    def measured(self, config: Mapping[str, Any], fraction: float | None = None) -> bool:
        """Whether ``config`` was run at the level read for ``fraction`` or above (default: the reference)."""
        cell = self._cell(config)
        level = self.fidelity.reference if fraction is None else self.fidelity.value(fraction)
        return any(self._has(cell, f) for f in self.fidelity.levels if f >= level)

    def _lookup(self, cell: Cell, level: float, seeded: bool) -> float:
        for f in (f for f in self.fidelity.levels if f >= level):  # a cell not run here: the next level up
            if self._has(cell, f):
                if not seeded:
                    return self._mean(cell, f)
                return float(self.table.values[(f, self._seed_at(f))][cell])
        return self._impute(cell, level)

    def evaluate(self, configs: list[dict[str, Any]], fraction: float | list[float]) -> np.ndarray:
        """Table values of ``configs`` at ``fraction`` of the full data (snapped up), for this seed."""
        fractions = [fraction] * len(configs) if isinstance(fraction, (int, float)) else list(fraction)
        return np.array(
            [
                self._lookup(self._cell(cfg), self.fidelity.value(frac), self.seed is not None)
                for cfg, frac in zip(configs, fractions, strict=True)
            ],
            dtype=float,
        )

    def seed_noise(self, config: Mapping[str, Any], fraction: float) -> tuple[float | None, float | None]:
        """(|difference between two seeds| of ``config``, the level it was read at).

        At the level read for ``fraction`` when it has two seeds of the cell, else at the
        largest level below that has them; (None, None) when no level has two seeds.
        """
        cell = self._cell(config)
        level = self.fidelity.value(fraction)
        for f in sorted((f for f in self.fidelity.levels if f <= level), reverse=True):
            seeds = self.seeds_by_level[f]
            if len(seeds) >= 2 and self._has(cell, f):
                a, b = seeds[(self.seed or 0) % len(seeds)], seeds[((self.seed or 0) + 1) % len(seeds)]
                return abs(self.table.values[(f, a)][cell] - self.table.values[(f, b)][cell]), f
        return None, None

    def score(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """What regret is scored on: the seed-mean at the reference (imputed when not run there)."""
        ref = self.fidelity.reference
        return np.array([self._lookup(self._cell(cfg), ref, seeded=False) for cfg in configs], dtype=float)

    def reference(self) -> Reference:
        """Best and worst measured seed-mean cells at the reference."""
        ref = self.fidelity.reference
        means = self.table.seed_mean(ref, self.seeds_by_level[ref])
        vals = np.array(list(means.values()))
        best, worst = (vals.max(), vals.min()) if self.maximize else (vals.min(), vals.max())
        if best == worst:
            raise ValueError(
                f"every cell of {self.data_path} has the same {self.target} at the reference fraction {ref:g}"
            )
        return Reference(float(best), float(worst), len(vals), 0)

    def describe(self) -> dict[str, Any]:
        """Plain data for reports: what the replay reads."""
        return {
            "csv": self.data_path,
            "target": self.target,
            "levels": list(self.fidelity.levels),
            "reference_fraction": self.fidelity.reference,
            "seeds": self.seeds,
            "seeds_by_level": {f"{f:g}": s for f, s in self.seeds_by_level.items()},
            "cells": len(self.table.cells),
            "cells_by_level": {f"{f:g}": len(self.table.cells_at(f)) for f in self.fidelity.levels},
            "train_rows": self.train_rows,
            "steps_by_level": {f"{f:g}": self.table.steps.get(f) for f in self.fidelity.levels},
            "complete_grids": [list(k) for k in self.table.complete],
            "missing_grids": [list(k) for k in self.table.missing],
            "rules": TABLE_RULES,
        }


#: The table's rules, written into every report that replays it.
TABLE_RULES = {
    "fractions": "fractions of the full data; a request snaps up to the smallest complete level (above the "
    "largest, the reference), charged max(requested, level read)",
    "missing_cells": "a cell not run at a level reads the nearest larger level that has it; when none has it, "
    "its value is imputed from its largest measured level by an isotonic map fitted on the cells measured at both "
    "(it keeps its place among its neighbours); picks scored on imputed values are counted and reported",
    "seeds": "replay seed s reads each level's seed s mod n (the extension has one seed)",
    "seed_noise": "|seed 0 - seed 1| of the cell at the level, or at the largest smaller level with two seeds",
    "score": "seed-mean at the reference (the largest complete level)",
}
