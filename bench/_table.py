"""A table of real runs (bench/finetune_grid.py's CSV) as a search scenario.

The harness (bench/search_efficiency.py) runs its methods on anything with the
interface of ``_yahpo.Scenario``; :class:`TableScenario` gives it one for an
exhaustive grid of real fine-tuning runs, so the same methods, ledger and
scoring replay on measured accuracies instead of a surrogate:

* **space**: one categorical parameter per grid column (``learning_rate``,
  ``lora_r``, ``warmup_ratio``) with the grid's values;
* **fidelity**: the data fraction; its maximum is the largest fraction in the
  table. A requested fraction of the maximum snaps *up* to the smallest table
  fraction at or above it and is charged at that fraction (never cheaper than
  asked: conservative for methods that ask for rungs between table rows);
* **noise**: replay seed ``s`` reads the table's seed ``s mod n_seeds`` for every
  evaluation (:meth:`TableScenario.for_seed`), so a run sees one seed's noise;
* **score and reference**: regret is scored on the seed-mean at the maximum
  fraction (:meth:`TableScenario.score`); best and worst are the best and worst
  seed-mean cells there (:meth:`TableScenario.reference`).

Only complete (fraction, seed) grids count: a partial CSV (a grid still running)
gives a table of the fractions and seeds finished so far, and says what is missing.
"""

from __future__ import annotations

import copy
import csv
import itertools
import math
import os
from collections.abc import Sequence
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
    """Metric values of every grid cell at every complete (fraction, seed).

    Attributes:
        params: the hyperparameter columns, in cell-tuple order.
        choices: each parameter's values, ascending.
        cells: every cell of the grid (the product of ``choices``), in grid order.
        values: (fraction, seed) -> cell -> value, complete grids only.
        missing: (fraction, seed, cells present) for each expected grid that is not complete.
        target: the metric column read.
    """

    params: tuple[str, ...]
    choices: tuple[tuple[Any, ...], ...]
    cells: tuple[Cell, ...]
    values: dict[tuple[float, int], dict[Cell, float]]
    missing: tuple[tuple[float, int, int], ...]
    target: str

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

    def seed_mean(self, fraction: float, seeds: Sequence[int] | None = None) -> dict[Cell, float]:
        """Each cell's mean over ``seeds`` (default: every complete seed) at ``fraction``."""
        seeds = self.seeds_at(fraction) if seeds is None else list(seeds)
        if not seeds:
            raise ValueError(f"no complete grid at fraction {fraction:g} for seeds {seeds}")
        return {c: float(np.mean([self.values[(fraction, s)][c] for s in seeds])) for c in self.cells}


def load_table(
    path: str | os.PathLike[str],
    target: str = DEFAULT_TARGET,
    params: Sequence[str] = PARAM_COLUMNS,
    expected_fractions: Sequence[float] = (),
    expected_seeds: Sequence[int] = (),
) -> Table:
    """Read a grid CSV; keep only (fraction, seed) grids that hold every cell.

    Args:
        path: the CSV (columns ``seed, fraction, <params>, <target>``, one row per run).
        target: the metric column.
        params: the hyperparameter columns; the grid is the product of their values.
        expected_fractions, expected_seeds: the design, so that grids not started yet are
            reported missing too (default: the fractions and seeds the CSV mentions).

    A finished run without a finite metric (a failed run) makes its grid incomplete:
    the table never invents a value for it.
    """
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
    seeds = sorted({int(s) for s in expected_seeds} | {int(r["seed"]) for r in rows})
    values, missing = {}, []
    for f, s in itertools.product(fractions, seeds):
        grid = found.get((f, s), {})
        if cells and len(grid) == len(cells):
            values[(f, s)] = grid
        else:
            missing.append((f, s, len(grid)))
    return Table(tuple(params), choices, cells, values, tuple(missing), target)


# ----------------------------------------------------------------------------- scenario


@dataclass(frozen=True)
class TableFidelity:
    """The data fraction of a table, snapped up to the fractions the table has.

    Has the attributes the harness reads from ``_yahpo.Fidelity``. ``levels`` are
    absolute data fractions (0.01 = 1% of the training set); the harness speaks in
    fractions of the maximum (``levels[-1]``).
    """

    name: str
    levels: tuple[float, ...]
    is_int: bool = False
    fixed: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.levels or list(self.levels) != sorted(set(self.levels)) or self.levels[0] <= 0:
            raise ValueError(f"levels must be distinct positive fractions, ascending, but got {self.levels}")

    @property
    def low(self) -> float:
        return self.levels[0]

    @property
    def high(self) -> float:
        return self.levels[-1]

    @property
    def min_fraction(self) -> float:
        return self.low / self.high

    def value(self, fraction: float) -> float:
        """The table fraction used for ``fraction`` of the maximum: the smallest level >= it."""
        raw = fraction * self.high
        for level in self.levels:
            if level >= raw * (1 - _TOL):
                return level
        return self.high

    def fraction(self, value: float) -> float:
        """``value`` as a fraction of the maximum: what one evaluation at it costs."""
        return round(float(value) / self.high, 12)


class TableScenario:
    """A grid table as a scenario with ``_yahpo.Scenario``'s interface.

    Args:
        data_path: the grid CSV.
        name: a label for reports (``sst2-minilm-lora``).
        instance: must be :data:`INSTANCE` (a table is one instance).
        target: a metric column (default ``eval_accuracy``).
        fidelity: must be :data:`FIDELITY` or None.
        seed: the replay seed whose table seed every evaluation reads (``seed mod n_seeds``);
            None reads the seed-mean.

    Example::

        sc = TableScenario("bench/results/finetune_grid.csv", "sst2-minilm-lora").for_seed(3)
        sc.evaluate([{"learning_rate": 5e-3, "lora_r": 16, "warmup_ratio": 0.1}], 0.2)
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
        # The replay needs every seed at every fraction: fractions with any complete grid,
        # seeds complete at all of them (while the largest fraction is still running, the
        # seeds that have finished it).
        levels = self.table.fractions
        self.seeds = [
            s
            for s in sorted({s for _, s in self.table.values})
            if all((f, s) in self.table.values for f in levels)
        ]
        if not self.seeds:
            raise ValueError(
                f"{data_path} has no seed with a complete grid at every fraction it has "
                f"(complete: {self.table.complete}); wait for the grid to finish a seed"
            )
        self.fidelity = TableFidelity(FIDELITY, tuple(levels))
        self.params = [
            Param(p, "categorical", choices=choices)
            for p, choices in zip(self.table.params, self.table.choices, strict=True)
        ]
        self.seed = seed

    @property
    def direction(self) -> str:
        return "maximize" if self.maximize else "minimize"

    @property
    def table_seed(self) -> int | None:
        """The table seed this replay reads (None: the seed-mean)."""
        return None if self.seed is None else self.seeds[self.seed % len(self.seeds)]

    def for_seed(self, seed: int) -> TableScenario:
        """The scenario as replay ``seed`` sees it: every evaluation reads table seed ``seed mod n_seeds``."""
        view = copy.copy(self)  # shares the table
        view.seed = seed
        return view

    def _lookup(self, config: dict[str, Any], level: float, seeds: Sequence[int]) -> float:
        cell = tuple(config[p] for p in self.table.params)
        if cell not in self.table.values[(level, seeds[0])]:
            raise KeyError(f"configuration {config} is not a cell of the grid {self.table.choices}")
        return float(np.mean([self.table.values[(level, s)][cell] for s in seeds]))

    def evaluate(self, configs: list[dict[str, Any]], fraction: float | list[float]) -> np.ndarray:
        """Table values of ``configs`` at ``fraction`` of the maximum (snapped up), for this seed."""
        fractions = [fraction] * len(configs) if isinstance(fraction, (int, float)) else list(fraction)
        seeds = self.seeds if self.table_seed is None else [self.table_seed]
        return np.array(
            [
                self._lookup(cfg, self.fidelity.value(frac), seeds)
                for cfg, frac in zip(configs, fractions, strict=True)
            ],
            dtype=float,
        )

    def score(self, configs: list[dict[str, Any]]) -> np.ndarray:
        """What regret is scored on: the seed-mean at the maximum fraction, whatever the replay seed."""
        return np.array([self._lookup(cfg, self.fidelity.high, self.seeds) for cfg in configs], dtype=float)

    def reference(self) -> Reference:
        """Best and worst seed-mean cells at the maximum fraction."""
        means = self.table.seed_mean(self.fidelity.high, self.seeds)
        vals = np.array(list(means.values()))
        best, worst = (vals.max(), vals.min()) if self.maximize else (vals.min(), vals.max())
        if best == worst:
            raise ValueError(
                f"every cell of {self.data_path} has the same {self.target} at the maximum fraction"
            )
        return Reference(float(best), float(worst), len(vals), 0)

    def describe(self) -> dict[str, Any]:
        """Plain data for reports: what the replay reads."""
        return {
            "csv": self.data_path,
            "target": self.target,
            "levels": list(self.fidelity.levels),
            "levels_relative": [self.fidelity.fraction(v) for v in self.fidelity.levels],
            "seeds": self.seeds,
            "cells": len(self.table.cells),
            "complete_grids": [list(k) for k in self.table.complete],
            "missing_grids": [list(k) for k in self.table.missing],
        }
