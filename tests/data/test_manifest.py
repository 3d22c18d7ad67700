"""Manifests: the JSON contract, round trips, and a changed source being caught."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpscout import DataError
from hpscout.data import file_sha256, load_manifest, make_subsets, subsets_from_file

pytest.importorskip("datasets")


def write_csv(path, n=400, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 1, 2], size=n, p=[0.6, 0.3, 0.1])
    lines = ["text,label"] + [f"row number {i},{lab}" for i, lab in enumerate(labels)]
    path.write_text("\n".join(lines) + "\n")
    return labels


def test_manifest_contract_and_round_trip(tmp_path):
    src = tmp_path / "train.csv"
    labels = write_csv(src)
    ss, _ = subsets_from_file(src, [0.05, 0.01], stratify="label", seed=42)
    path = ss.save_manifest(tmp_path / "out")
    assert path == tmp_path / "out" / "subsets.json"
    obj = json.loads(path.read_text())
    assert obj["source"] == {"path": str(src.resolve()), "sha256": file_sha256(src), "rows": 400}
    assert obj["seed"] == 42 and obj["stratify"] == ["label"]
    assert [s["fraction"] for s in obj["subsets"]] == [0.01, 0.05]
    for entry in obj["subsets"]:
        idx = entry["indices"]
        assert idx == sorted(idx) and len(idx) == entry["size"] and min(idx) >= 0 and max(idx) < 400
        # 0-based data rows (the header is not a row): strata counts match the labels at those rows
        counts = np.bincount(labels[idx], minlength=3)
        assert entry["strata"] == {str(k): int(c) for k, c in enumerate(counts)}
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.startswith(".")]  # no temp files left

    back = load_manifest(tmp_path / "out")
    assert back.fractions == ss.fractions and back.seed == 42 and back.stratify == ("label",)
    for a, b in zip(ss, back, strict=True):
        assert np.array_equal(a.indices, b.indices) and a.strata == b.strata
    assert back.to_manifest() == ss.to_manifest()


def test_changed_source_is_caught(tmp_path):
    src = tmp_path / "train.csv"
    write_csv(src)
    ss, _ = subsets_from_file(src, [0.1], stratify="label", seed=1)
    manifest = ss.save_manifest(tmp_path / "subsets.json")
    expected = file_sha256(src)
    with src.open("a") as fh:
        fh.write("one more row,0\n")
    found = file_sha256(src)
    with pytest.raises(DataError) as exc:
        load_manifest(manifest)
    msg = str(exc.value)
    assert str(src.resolve()) in msg and expected in msg and found in msg and "changed" in msg
    assert load_manifest(manifest, verify_source=False).rows == 400  # opt out explicitly


def test_deleted_source_is_caught(tmp_path):
    src = tmp_path / "train.csv"
    write_csv(src)
    ss, _ = subsets_from_file(src, [0.1], stratify="label", seed=1)
    manifest = ss.save_manifest(tmp_path / "subsets.json")
    src.unlink()
    with pytest.raises(DataError, match="does not exist"):
        load_manifest(manifest)


def test_in_memory_manifest_has_no_source_to_check(tmp_path):
    ss = make_subsets(np.array([0, 1] * 50), [0.1, 0.2], seed=0)
    path = ss.save_manifest(tmp_path / "m.json")
    obj = json.loads(path.read_text())
    assert obj["source"] == {"path": None, "sha256": None, "rows": 100}
    assert load_manifest(path).indices(0.2).tolist() == ss.indices(0.2).tolist()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda o: o["subsets"][0].update(indices=[5, 3], size=2), "ascending"),
        (lambda o: o["subsets"][0].update(indices=[0, 1000], size=2), r"\[0, 100\)"),
        (lambda o: o["subsets"][0].update(size=3), "size"),
        (lambda o: o.pop("seed"), "'seed'"),
        (lambda o: o.update(version=99), "version"),
        (lambda o: o["subsets"][1].update(indices=[0, 1], size=2), "not inside"),
    ],
)
def test_malformed_manifest(tmp_path, change, message):
    ss = make_subsets(np.array([0, 1] * 50), [0.1, 0.2], seed=0)
    obj = ss.to_manifest()
    obj["subsets"][0]["indices"] = [10, 20] if message == "not inside" else obj["subsets"][0]["indices"]
    obj["subsets"][0]["size"] = len(obj["subsets"][0]["indices"])
    change(obj)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(obj))
    with pytest.raises(DataError, match=message):
        load_manifest(path)
