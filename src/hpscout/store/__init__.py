"""The run folder: per-trial results next to the Optuna study, and the checkpoints trials keep.

Report and export read only from here, never from a live search. Checkpoints load
back only through :func:`load_checkpoint_state`, which checks the manifest hpscout
wrote next to them and never unpickles anything but tensors.
"""

from hpscout.store._checkpoint import (
    CHECKPOINT_MANIFEST,
    WEIGHT_SUFFIXES,
    load_checkpoint_state,
    verify_checkpoint,
    write_checkpoint_manifest,
)
from hpscout.store._layout import RunLayout, check_writable, run_label, safe_label
from hpscout.store._read import final_config_paths, load_run_config, trial_result_path

__all__ = [
    "CHECKPOINT_MANIFEST",
    "WEIGHT_SUFFIXES",
    "RunLayout",
    "check_writable",
    "final_config_paths",
    "load_checkpoint_state",
    "load_run_config",
    "run_label",
    "safe_label",
    "trial_result_path",
    "verify_checkpoint",
    "write_checkpoint_manifest",
]
