"""Search: space -> Optuna distributions; samplers, pruners, the data-fraction fidelity; study lifecycle.

The whole ``hpscout search`` is :func:`run_search`; ``hpscout worker`` is :func:`run_worker`.
See docs/search.md for the design (rungs, storage choice, resume, many workers).
"""

from hpscout.search._claim import run_worker
from hpscout.search._devices import apply_threads, assign_gpus, gpu_count, threads_per_worker, visible_gpus
from hpscout.search._fidelity import (
    FRACTION_STEPS,
    TrialReporter,
    check_ladder,
    fraction_step,
    run_rungs,
    step_fraction,
)
from hpscout.search._ladder import resolve_scout, worst_case
from hpscout.search._outcomes import TrialFailed, counts_toward_budget, trial_row
from hpscout.search._progress import Progress, format_table
from hpscout.search._pruners import PRUNER_NAMES, ladder_reduction_factor, make_pruner
from hpscout.search._results import SearchSummary, summarize, top_trials, trials_table, write_top_configs
from hpscout.search._samplers import (
    DEFAULT_STRATEGY,
    SAMPLER_NAMES,
    Strategy,
    default_startup_trials,
    make_sampler,
)
from hpscout.search._search import run_search
from hpscout.search._space import (
    config_for_params,
    grid_cells,
    grid_values,
    params_to_updates,
    suggest_updates,
    to_distribution,
    to_distributions,
    validate_space,
)
from hpscout.search._stages import narrow_spec, run_staged_search, stage_config
from hpscout.search._storage import (
    DEFAULT_STORAGE_FILE,
    HeartbeatJournalStorage,
    check_storage,
    default_storage_path,
    mask_url,
    resolve_storage,
    storage_kind,
    storage_url,
)
from hpscout.search._study import budget_of, load_study, open_study, storage_warnings, validate_search

__all__ = [
    "narrow_spec",
    "run_staged_search",
    "stage_config",
    "resolve_scout",
    "worst_case",
    "apply_threads",
    "threads_per_worker",
    "DEFAULT_STORAGE_FILE",
    "DEFAULT_STRATEGY",
    "FRACTION_STEPS",
    "PRUNER_NAMES",
    "SAMPLER_NAMES",
    "HeartbeatJournalStorage",
    "Progress",
    "SearchSummary",
    "Strategy",
    "TrialFailed",
    "TrialReporter",
    "assign_gpus",
    "budget_of",
    "check_ladder",
    "config_for_params",
    "counts_toward_budget",
    "default_startup_trials",
    "default_storage_path",
    "format_table",
    "fraction_step",
    "check_storage",
    "gpu_count",
    "grid_cells",
    "grid_values",
    "ladder_reduction_factor",
    "load_study",
    "make_pruner",
    "make_sampler",
    "mask_url",
    "open_study",
    "params_to_updates",
    "resolve_storage",
    "run_rungs",
    "run_search",
    "run_worker",
    "step_fraction",
    "storage_kind",
    "storage_url",
    "storage_warnings",
    "suggest_updates",
    "summarize",
    "to_distribution",
    "to_distributions",
    "top_trials",
    "trial_row",
    "trials_table",
    "validate_search",
    "validate_space",
    "visible_gpus",
    "write_top_configs",
]
