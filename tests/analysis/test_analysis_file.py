"""analysis.json: one section at a time, nothing clobbered, atomic."""

from __future__ import annotations

import json
import math
import threading
from pathlib import Path

import pytest

from hpscout._errors import StorageError
from hpscout.analysis import SECTIONS, analysis_path, read_analysis, write_section
from hpscout.config import config_from_dict


def test_absent_file_reads_empty(tmp_path: Path) -> None:
    assert read_analysis(tmp_path / "analysis.json") == {"version": 1}


def test_sections_are_merged_not_clobbered(tmp_path: Path) -> None:
    p = tmp_path / "analysis.json"
    write_section(p, "ablation", {"factors": {"a": 1}})
    write_section(p, "cost", {"ratio": 0.5})
    write_section(p, "cost", {"ratio": 0.25})
    data = read_analysis(p)
    assert data["ablation"] == {"factors": {"a": 1}}
    assert data["cost"] == {"ratio": 0.25}
    assert set(data["updated"]) == {"ablation", "cost"}
    assert data["version"] == 1


def test_nan_becomes_null_and_file_is_valid_json(tmp_path: Path) -> None:
    p = tmp_path / "analysis.json"
    write_section(p, "transfer", {"spearman": math.nan, "kendall": math.inf})
    raw = json.loads(p.read_text())
    assert raw["transfer"] == {"spearman": None, "kendall": None}
    assert not list(tmp_path.glob(".analysis.json.*.tmp"))


def test_unknown_section_and_bad_payload(tmp_path: Path) -> None:
    with pytest.raises(StorageError, match="one of"):
        write_section(tmp_path / "a.json", "nope", {})
    with pytest.raises(StorageError, match="mapping"):
        write_section(tmp_path / "a.json", "cost", [1, 2])  # type: ignore[arg-type]


def test_corrupt_or_foreign_file_is_an_error(tmp_path: Path) -> None:
    p = tmp_path / "analysis.json"
    p.write_text("[1, 2]")
    with pytest.raises(StorageError, match="JSON object"):
        read_analysis(p)
    p.write_text('{"version": 99}')
    with pytest.raises(StorageError, match="version 99"):
        write_section(p, "cost", {})
    assert json.loads(p.read_text()) == {"version": 99}  # left as it was


def test_config_target_uses_run_dir(tmp_path: Path) -> None:
    cfg = config_from_dict({"name": "demo", "data": {"train": "t.csv"}, "output_dir": str(tmp_path / "run")})
    assert analysis_path(cfg) == tmp_path / "run" / "analysis.json"
    write_section(cfg, "importance", {"status": "ok"})
    assert read_analysis(cfg)["importance"] == {"status": "ok"}


def test_concurrent_writers_keep_every_section(tmp_path: Path) -> None:
    p = tmp_path / "analysis.json"
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            for i in range(20):
                write_section(p, name, [{"i": i}] if name == "ladder" else {"i": i})
        except BaseException as exc:  # noqa: BLE001 - surfaced by the assert below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(s,)) for s in SECTIONS]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    data = read_analysis(p)
    assert all(data[s] == ([{"i": 19}] if s == "ladder" else {"i": 19}) for s in SECTIONS)


def test_the_ladder_section_is_a_list(tmp_path: Path) -> None:
    p = tmp_path / "analysis.json"
    write_section(p, "ladder", [{"fraction": 0.05, "rows": 1000, "steps": 126}])
    assert read_analysis(p)["ladder"] == [{"fraction": 0.05, "rows": 1000, "steps": 126}]
    with pytest.raises(StorageError, match="'ladder' must be a list"):
        write_section(p, "ladder", {"fraction": 0.05})
    with pytest.raises(StorageError, match="'cost' must be a mapping"):
        write_section(p, "cost", [1])
