"""The run folder: per-trial results next to the Optuna study.

Report and export read only from here, never from a live search.
"""

from hpscout.store._layout import RunLayout, safe_label

__all__ = ["RunLayout", "safe_label"]
