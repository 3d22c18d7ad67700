"""LLaMA-Factory in the loop: scout a user's own LLaMA-Factory training YAML by running LLaMA-Factory.

``hpscout init --from-llamafactory my.yaml`` maps the file's keys onto a scouting config
(:func:`write_scout_config`); the ``llamafactory`` runner (:mod:`hpscout.runner`) trains each
trial with ``llamafactory-cli train`` on its nested subset; ``hpscout export --format
llamafactory`` returns the file with the scouted values. See docs/llamafactory.md.

``import hpscout.llamafactory`` is light: nothing here imports torch or LLaMA-Factory,
which lives in its own interpreter (``llamafactory.python``).

Example:
    >>> from hpscout.llamafactory import updates_from_llamafactory
    >>> ups, notes = updates_from_llamafactory({"model_name_or_path": "m", "lora_target": "q_proj,v_proj"},
    ...                                        rows=None, source="sft.yaml")
    >>> ups["train.lora.target"]
    ['q_proj', 'v_proj']
"""

from hpscout.llamafactory._dataset import (
    DATASET_INFO,
    FORMATTINGS,
    TRIAL_EVAL,
    TRIAL_TRAIN,
    ResolvedDatasets,
    resolve_datasets,
    write_trial_datasets,
)
from hpscout.llamafactory._init import (
    DEFAULT_VENV,
    LlamaFactoryFile,
    ScoutDraft,
    model_params,
    read_llamafactory_file,
    scout_config_from_llamafactory,
    write_scout_config,
)
from hpscout.llamafactory._keys import (
    MAPPED_KEYS,
    REFUSED_VALUES,
    TRIAL_KEYS,
    check_keys,
    llamafactory_from_config,
    updates_from_llamafactory,
)

__all__ = [
    "DATASET_INFO",
    "DEFAULT_VENV",
    "FORMATTINGS",
    "MAPPED_KEYS",
    "REFUSED_VALUES",
    "TRIAL_EVAL",
    "TRIAL_KEYS",
    "TRIAL_TRAIN",
    "LlamaFactoryFile",
    "ResolvedDatasets",
    "ScoutDraft",
    "check_keys",
    "llamafactory_from_config",
    "model_params",
    "read_llamafactory_file",
    "resolve_datasets",
    "scout_config_from_llamafactory",
    "updates_from_llamafactory",
    "write_scout_config",
    "write_trial_datasets",
]
