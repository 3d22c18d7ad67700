"""Loading data and drawing representative, nested subsets with manifests.

``import hpscout.data`` is light: ``datasets``, ``pandas`` and ``pyarrow`` load only
when a table is read or a subset is drawn.

Example:
    >>> import numpy as np
    >>> from hpscout.data import make_subsets
    >>> ss = make_subsets(np.repeat([0, 1, 2], [700, 250, 50]), [0.01, 0.1], seed=42)
    >>> [s.size for s in ss], ss[0.01].strata
    ([10, 100], {'0': 7, '1': 2, '2': 1})
"""

from hpscout.data._allocation import allocate, subset_size
from hpscout.data._load import FORMATS, data_format, file_sha256, load_table, source_sha256, table_sha256
from hpscout.data._manifest import MANIFEST_NAME, MANIFEST_VERSION, SourceInfo, save_manifest
from hpscout.data._manifest_load import load_manifest, verify_source
from hpscout.data._prepare import (
    PreparedData,
    check_data,
    class_column,
    clear_cache,
    prepare_data,
    stratify_keys,
    subset_fractions,
    write_run_subsets,
)
from hpscout.data._report import (
    class_warnings,
    format_report,
    length_stats,
    representativeness,
    total_variation,
)
from hpscout.data._strata import LENGTH_BUCKET_PREFIX, StrataCodes, strata_codes, text_lengths
from hpscout.data._subsets import Subset, SubsetSet, make_subsets, subsets_from_file

__all__ = [
    "FORMATS",
    "LENGTH_BUCKET_PREFIX",
    "MANIFEST_NAME",
    "MANIFEST_VERSION",
    "PreparedData",
    "SourceInfo",
    "StrataCodes",
    "Subset",
    "SubsetSet",
    "allocate",
    "check_data",
    "class_column",
    "class_warnings",
    "clear_cache",
    "data_format",
    "file_sha256",
    "format_report",
    "length_stats",
    "load_manifest",
    "load_table",
    "make_subsets",
    "prepare_data",
    "representativeness",
    "save_manifest",
    "source_sha256",
    "strata_codes",
    "stratify_keys",
    "subset_fractions",
    "subset_size",
    "subsets_from_file",
    "table_sha256",
    "text_lengths",
    "total_variation",
    "verify_source",
    "write_run_subsets",
]
