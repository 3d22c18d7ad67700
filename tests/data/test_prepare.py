"""prepare_data: what the trial runner gets for a config and a fraction."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from hpscout import DataError
from hpscout.config import builtin_path, config_from_dict
from hpscout.data import clear_cache, load_table, prepare_data, subset_fractions, subset_size

pytest.importorskip("datasets")

N = 2000


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_cache()
    yield
    clear_cache()


def write_csv(path, n=N, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.choice([0, 1, 2], size=n, p=[0.55, 0.35, 0.10])
    lines = ["text,label"] + [f"example text {i} {'x' * (i % 37)},{lab}" for i, lab in enumerate(labels)]
    path.write_text("\n".join(lines) + "\n")
    return labels


def make_config(train, **data):
    return config_from_dict(
        {
            "name": "t",
            "seed": 42,
            "data": {"train": str(train), **data},
            "scout": {"fraction": 0.05, "fidelities": [0.01, 0.02, 0.05]},
        }
    )


def test_subset_fractions_ladder(tmp_path):
    cfg = make_config(tmp_path / "t.csv")
    assert subset_fractions(cfg) == [0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 1.0]  # the climb's rungs are nested too
    cfg = config_from_dict(
        {"name": "t", "data": {"train": "t.csv"}, "scout": {"fraction": 0.5}, "transfer": {"fraction": 0.8}}
    )
    assert subset_fractions(cfg) == [0.5, 0.8, 1.0]
    cfg = config_from_dict(
        {"name": "t", "data": {"train": "t.csv"}, "scout": {"fraction": 0.3}, "transfer": {"climb": False}}
    )
    assert subset_fractions(cfg) == [0.3, 1.0]  # one-shot transfer min(1, 4 x 0.3) = 1.0
    cfg = config_from_dict({"name": "t", "data": {"train": "t.csv"}, "scout": {"fraction": 0.3}})
    assert subset_fractions(cfg) == [0.3, 0.6, 1.0]  # climbing: 2 x 0.3, then the full data


def test_held_out_eval_never_overlaps_and_ladder_nests(tmp_path):
    train = tmp_path / "train.csv"
    labels = write_csv(train)
    cfg = make_config(train)
    default = prepare_data(cfg)
    assert default.fraction == 0.05
    eval_rows = subset_size(0.1, N)
    assert len(default.eval) == eval_rows
    pool = N - eval_rows
    assert default.full_train_rows == pool
    full = load_table(train)
    previous = None
    for f in subset_fractions(cfg):
        data = prepare_data(cfg, f)
        idx = data.train_indices
        assert len(data.train) == idx.size == subset_size(f, pool)
        assert np.all(np.diff(idx) > 0)
        assert data.train["text"][:] == [full["text"][int(i)] for i in idx]  # indices are original file rows
        assert not set(data.eval["text"][:]) & set(data.train["text"][:])
        if previous is not None:
            assert np.isin(previous, idx).all()
        previous = idx
        counts = np.bincount(labels[idx], minlength=3)
        assert np.all(counts >= 1)
    assert np.array_equal(prepare_data(cfg, 0.05).train_indices, default.train_indices)
    assert default.source_sha256 and len(default.source_sha256) == 64
    eval_counts = np.bincount(np.asarray(default.eval["label"][:]), minlength=3)
    assert np.all(np.abs(eval_counts - 0.1 * np.bincount(labels)) <= 1)  # stratified hold-out


def test_fraction_off_the_ladder_fits_between_its_neighbours(tmp_path):
    train = tmp_path / "train.csv"
    write_csv(train)
    cfg = make_config(train)
    lo, mid, hi = (prepare_data(cfg, f).train_indices for f in (0.02, 0.03, 0.05))
    assert np.isin(lo, mid).all() and np.isin(mid, hi).all()
    assert mid.size == subset_size(0.03, N - subset_size(0.1, N))
    # asking for 0.03 did not change the ladder's subsets
    clear_cache()
    assert np.array_equal(prepare_data(cfg, 0.05).train_indices, hi)


def test_same_indices_in_another_process(tmp_path):
    train = tmp_path / "train.csv"
    write_csv(train)
    cfg = make_config(train)
    here = prepare_data(cfg, 0.02).train_indices.tolist()
    code = (
        "import json, sys\n"
        "from hpscout.config import config_from_dict\n"
        "from hpscout.data import prepare_data\n"
        "cfg = config_from_dict(json.loads(sys.argv[1]))\n"
        "print(json.dumps(prepare_data(cfg, 0.02).train_indices.tolist()))\n"
    )
    from hpscout.config import config_to_dict

    r = subprocess.run(
        [sys.executable, "-c", code, json.dumps(config_to_dict(cfg))],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
        env=dict(os.environ, PYTHONHASHSEED="123"),
    )
    assert json.loads(r.stdout.strip().splitlines()[-1]) == here


def test_eval_file_and_max_eval_samples(tmp_path):
    train, dev = tmp_path / "train.csv", tmp_path / "dev.csv"
    write_csv(train)
    dev_labels = write_csv(dev, n=300, seed=1)
    cfg = make_config(train, eval=str(dev))
    data = prepare_data(cfg, 1.0)
    assert data.full_train_rows == N and data.train_indices.tolist() == list(range(N))
    assert len(data.eval) == 300
    capped_cfg = make_config(train, eval=str(dev), max_eval_samples=50)
    capped = prepare_data(capped_cfg, 0.01)
    assert len(capped.eval) == 50
    counts = np.bincount(np.asarray(capped.eval["label"][:]), minlength=3)
    assert np.all(np.abs(counts - 50 * np.bincount(dev_labels) / 300) <= 1)
    clear_cache()
    assert prepare_data(capped_cfg, 0.01).eval["text"][:] == capped.eval["text"][:]


def test_held_out_eval_capped(tmp_path):
    train = tmp_path / "train.csv"
    write_csv(train)
    data = prepare_data(make_config(train, max_eval_samples=30), 0.05)
    assert len(data.eval) == 30


def test_table_is_cached_until_the_file_changes(tmp_path, monkeypatch):
    import hpscout.data._prepare as prep

    train = tmp_path / "train.csv"
    write_csv(train)
    calls = []
    real = prep.load_table
    monkeypatch.setattr(prep, "load_table", lambda *a, **k: calls.append(a) or real(*a, **k))
    cfg = make_config(train)
    for f in (0.01, 0.02, 0.05, 0.01):
        prepare_data(cfg, f)
    assert len(calls) == 1
    write_csv(train, n=N + 10)
    os.utime(train, ns=(1, 1))  # a different mtime even on coarse clocks
    assert prepare_data(cfg, 0.01).full_train_rows == N + 10 - subset_size(0.1, N + 10)
    assert len(calls) == 2


def test_missing_columns_name_column_file_and_columns(tmp_path):
    train = tmp_path / "train.csv"
    write_csv(train)
    with pytest.raises(DataError) as exc:
        prepare_data(make_config(train, text_column="sentence"))
    msg = str(exc.value)
    assert (
        "'sentence'" in msg and "data.text_column" in msg and str(train) in msg and "['text', 'label']" in msg
    )
    with pytest.raises(DataError, match="'topic'"):
        prepare_data(make_config(train, stratify=["topic"]))
    with pytest.raises(DataError, match="does not exist"):
        prepare_data(make_config(tmp_path / "nope.csv"))


@pytest.mark.parametrize("fraction", [0, 1.5, -1])
def test_bad_fraction(tmp_path, fraction):
    train = tmp_path / "train.csv"
    write_csv(train)
    with pytest.raises(DataError, match="fraction"):
        prepare_data(make_config(train), fraction)


def test_causal_lm_on_alpaca_with_length_buckets():
    path = builtin_path("builtin:alpaca/alpaca_en_demo.json")
    cfg = config_from_dict(
        {
            "name": "alpaca",
            "task": "causal-lm",
            "data": {"train": str(path), "stratify": ["length_bucket:output"], "eval_split": 0.1},
            "scout": {"fraction": 0.2, "fidelities": [0.1, 0.2]},
        }
    )
    data = prepare_data(cfg)
    assert data.full_train_rows == 999 - 100 and len(data.train) == subset_size(0.2, 899)
    assert {"instruction", "input", "output"} <= set(data.train.column_names)
    everything = prepare_data(cfg, 1.0)
    assert np.isin(data.train_indices, everything.train_indices).all()
    assert len(everything.train) + len(everything.eval) == 999


def test_write_run_subsets_matches_prepare_data(tmp_path):
    import json

    from hpscout.config import config_from_dict
    from hpscout.data import load_manifest, prepare_data, write_run_subsets

    rows = ["text,label"] + [f"row number {i} {'x' * (i % 7)},{i % 3}" for i in range(400)]
    (tmp_path / "d.csv").write_text("\n".join(rows) + "\n")
    cfg = config_from_dict(
        {"name": "w", "data": {"train": str(tmp_path / "d.csv"), "eval_split": 0.1},
         "scout": {"fraction": 0.1, "fidelities": [0.05, 0.1]}}
    )
    manifest, report = write_run_subsets(cfg, tmp_path / "subsets")
    ss = load_manifest(manifest)
    heldout = set(range(400))
    for s in ss:
        expected = np.sort(prepare_data(cfg, s.fraction).train_indices)
        assert np.array_equal(s.indices, expected)
        heldout -= set(s.indices.tolist()) if s.fraction == 1.0 else set()
    assert len(heldout) == 40  # the eval rows are in no subset
    assert [s.fraction for s in ss] == [0.05, 0.1, 0.2, 0.4, 1.0]  # the climb: 0.2, 0.4, then the full data
    assert json.loads(report.read_text())["subsets"]
