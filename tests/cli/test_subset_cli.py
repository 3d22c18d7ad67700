"""``hpscout subset`` through the CLI entry point."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hpscout.cli import main
from hpscout.config import builtin_path
from hpscout.data import file_sha256

pytest.importorskip("datasets")


def write_csv(path, n=500):
    rng = np.random.default_rng(0)
    labels = rng.choice([0, 1], size=n, p=[0.7, 0.3])
    path.write_text(
        "text,label\n" + "".join(f"text {'w' * (i % 13)} {i},{lab}\n" for i, lab in enumerate(labels))
    )
    return labels


def test_subset_writes_manifest_and_report(tmp_path, capsys):
    src = tmp_path / "train.csv"
    labels = write_csv(src)
    out = tmp_path / "out"
    rc = main(
        [
            "subset",
            str(src),
            "--fractions",
            "0.01,0.05",
            "--stratify",
            "label",
            "--seed",
            "42",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "fraction 0.01: 5 rows" in captured.out and "fraction 0.05: 25 rows" in captured.out
    manifest = json.loads((out / "subsets.json").read_text())
    assert set(manifest) >= {"source", "seed", "stratify", "subsets"}
    assert set(manifest["source"]) == {"path", "sha256", "rows"} and manifest["source"]["rows"] == 500
    assert manifest["seed"] == 42 and manifest["stratify"] == ["label"]
    for entry in manifest["subsets"]:
        assert set(entry) >= {"fraction", "size", "indices", "strata"}
        assert entry["strata"] == {
            str(k): int(c) for k, c in enumerate(np.bincount(labels[entry["indices"]])) if c
        }
    report = json.loads((out / "report.json").read_text())
    assert [s["fraction"] for s in report["subsets"]] == [0.01, 0.05]
    assert "TVD vs full" not in captured.out  # the table only with --report


def test_report_flag_prints_table_and_is_deterministic(tmp_path, capsys):
    src = tmp_path / "train.csv"
    write_csv(src)
    args = [
        "subset",
        str(src),
        "--fractions",
        "0.1, 0.2",
        "--stratify",
        "label,length_bucket:text",
        "--report",
    ]
    assert main(args + ["--out", str(tmp_path / "a"), "--length-buckets", "3"]) == 0
    out = capsys.readouterr().out
    assert "TVD vs full" in out and "text chars mean" in out
    assert main(args + ["--out", str(tmp_path / "b"), "--length-buckets", "3"]) == 0
    a = json.loads((tmp_path / "a" / "subsets.json").read_text())
    b = json.loads((tmp_path / "b" / "subsets.json").read_text())
    assert a == b and a["stratify"] == ["label", "length_bucket:text"] and a["length_buckets"] == 3


def test_json_output(tmp_path, capsys):
    src = tmp_path / "train.csv"
    write_csv(src)
    assert main(["subset", str(src), "--fractions", "0.1", "--out", str(tmp_path / "o"), "--json"]) == 0
    obj = json.loads(capsys.readouterr().out)
    assert obj["rows"] == 500 and obj["subsets"][0]["size"] == 50


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--fractions", "0,0.1", "--stratify", "label"], "(0, 1]"),
        (["--fractions", "1.5", "--stratify", "label"], "(0, 1]"),
        (["--fractions", "abc", "--stratify", "label"], "comma-separated"),
        (["--fractions", "0.1", "--stratify", "topic"], "'topic'"),
        (["--fractions", "0.001", "--stratify", "label"], "fewer than the 2 strata"),
        (["--fractions", "0.1", "--length-buckets", "0", "--stratify", "label"], "--length-buckets"),
    ],
)
def test_bad_input_exits_2(tmp_path, capsys, extra, message):
    src = tmp_path / "train.csv"
    write_csv(src)
    assert main(["subset", str(src), "--out", str(tmp_path / "o"), *extra]) == 2
    assert message in capsys.readouterr().err


def test_missing_value_and_missing_file_exit_2(tmp_path, capsys):
    src = tmp_path / "train.csv"
    src.write_text("text,label\na,1\nb,\nc,0\nd,1\n")
    assert (
        main(["subset", str(src), "--fractions", "0.5", "--stratify", "label", "--out", str(tmp_path / "o")])
        == 2
    )
    err = capsys.readouterr().err
    assert "'label'" in err and "missing" in err and "row 1" in err
    assert (
        main(["subset", str(tmp_path / "nope.csv"), "--fractions", "0.5", "--out", str(tmp_path / "o")]) == 2
    )
    assert "does not exist" in capsys.readouterr().err


def test_sst2_cli_takes_builtin_paths(tmp_path, capsys):
    rc = main(
        [
            "subset",
            "builtin:sst2/train.tsv",  # as configs take it
            "--fractions",
            "0.01,0.02,0.05,0.1",
            "--stratify",
            "label",
            "--out",
            str(tmp_path),
            "--report",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "20000 rows" in out and "fraction 0.01: 200 rows" in out and "sentence chars" in out
    manifest = json.loads((tmp_path / "subsets.json").read_text())
    assert manifest["source"]["path"].endswith("templates/data/sst2/train.tsv")
    assert manifest["source"]["sha256"] == file_sha256(builtin_path("builtin:sst2/train.tsv"))


def test_unknown_builtin_names_the_available_ones(tmp_path, capsys):
    assert main(["subset", "builtin:sst2/nope.tsv", "--fractions", "0.5", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "unknown builtin data 'builtin:sst2/nope.tsv'" in err and "builtin:sst2/train.tsv" in err
