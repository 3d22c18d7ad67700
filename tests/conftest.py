"""Shared fixtures: a real PostgreSQL server, the YAHPO surrogates, and the guard that keeps tests
inside the repository (tests/_reads.py: any test that opens a file outside it and its temp
folders fails)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

REPO = Path(__file__).resolve().parents[1]
#: the YAHPO Gym surrogates (too large for the repository): HPSCOUT_YAHPO_DATA, else ../shared/data/yahpo
YAHPO_DATA = Path(os.environ.get("HPSCOUT_YAHPO_DATA") or REPO.parent / "shared" / "data" / "yahpo")
os.environ.setdefault("HPSCOUT_YAHPO_DATA", str(YAHPO_DATA))  # the read guard allows this folder

from _reads import only_repository_reads  # noqa: E402,F401 - the autouse guard fixture

# Keep tests offline and quiet.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        skip = pytest.mark.skip(reason="needs a CUDA GPU")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def yahpo_data() -> Path:
    """The YAHPO Gym surrogate folders (lcbench/, rbv2_xgboost/), for the search-efficiency benchmark."""
    if not YAHPO_DATA.is_dir():
        pytest.skip(
            f"the YAHPO Gym surrogates are not in the repository: get lcbench/ and rbv2_xgboost/ "
            f"from https://github.com/slds-lmu/yahpo_data (Apache-2.0) and set HPSCOUT_YAHPO_DATA to their "
            f"folder (looked in {YAHPO_DATA})"
        )
    return YAHPO_DATA


@pytest.fixture(scope="session")
def pg_cluster():
    """A real PostgreSQL cluster started for this test session (and stopped after).

    In CI (CI=true) a missing server is an error, not a skip.
    """
    from _pg import start_cluster

    try:
        cluster = start_cluster()
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"cannot start PostgreSQL here: {exc}")
    yield cluster
    cluster.stop("immediate")


@pytest.fixture
def postgres_url(pg_cluster, request) -> str:
    """URL of a fresh, empty database on the session's PostgreSQL server."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return pg_cluster.create_database(name)
