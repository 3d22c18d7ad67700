"""load_table and file hashing over every supported format."""

from __future__ import annotations

import hashlib
import json

import pytest

from hpscout import DataError
from hpscout.config import builtin_path
from hpscout.data import data_format, file_sha256, load_table, source_sha256

datasets = pytest.importorskip("datasets")
pd = pytest.importorskip("pandas")

RECORDS = [
    {"text": "good film", "label": 1},
    {"text": 'he said "bad', "label": 0},
    {"text": "", "label": 1},
]


def test_csv(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text('text,label\ngood film,1\n"he said ""bad",0\n,1\n')
    ds = load_table(p)
    assert ds.num_rows == 3 and ds.column_names == ["text", "label"]
    assert ds["label"][:] == [1, 0, 1]
    assert ds["text"][:] == ["good film", 'he said "bad', ""]  # empty cells stay empty strings


def test_tsv_with_raw_quotes_keeps_rows_apart(tmp_path):
    p = tmp_path / "d.tsv"
    p.write_text('sentence\tlabel\n"a quote opens here\t1\nand never closes "\t0\nplain\t1\n')
    ds = load_table(p)
    assert ds.num_rows == 3
    assert ds["sentence"][0] == '"a quote opens here'
    assert ds.features["label"].dtype == "int64"


def test_json_list_splits_and_columns(tmp_path):
    p = tmp_path / "d.json"
    p.write_text(json.dumps(RECORDS))
    assert load_table(p)["text"][:] == [r["text"] for r in RECORDS]
    p.write_text(json.dumps({"train": RECORDS, "test": RECORDS[:1]}))
    assert load_table(p, split="test").num_rows == 1
    with pytest.raises(DataError, match="'validation'"):
        load_table(p, split="validation")
    p.write_text(json.dumps({"text": ["a", "b"], "label": [0, 1]}))
    assert load_table(p)["label"][:] == [0, 1]
    p.write_text(json.dumps([{"a": 1}, {"a": 2, "b": "x"}]))  # a key missing from a record is None there
    assert load_table(p)["b"][:] == [None, "x"]


def test_jsonl(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("\n".join(json.dumps(r) for r in RECORDS) + "\n\n")
    assert load_table(p).num_rows == 3
    p.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(DataError, match="line 2"):
        load_table(p)


def test_parquet(tmp_path):
    pytest.importorskip("pyarrow")
    p = tmp_path / "d.parquet"
    pd.DataFrame(RECORDS).to_parquet(p)
    ds = load_table(p)
    assert ds.num_rows == 3 and ds["label"][:] == [1, 0, 1]


def test_saved_dataset_and_dataset_dict(tmp_path):
    ds = datasets.Dataset.from_list(RECORDS)
    ds.save_to_disk(str(tmp_path / "one"))
    assert load_table(tmp_path / "one").num_rows == 3
    datasets.DatasetDict({"train": ds, "validation": ds.select([0])}).save_to_disk(str(tmp_path / "dict"))
    assert load_table(tmp_path / "dict", split="validation").num_rows == 1
    with pytest.raises(DataError, match="splits"):
        load_table(tmp_path / "dict", split="test")
    assert data_format(tmp_path / "dict") == "saved"
    (tmp_path / "plain").mkdir()
    with pytest.raises(DataError, match="save_to_disk"):
        load_table(tmp_path / "plain")


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_table(tmp_path / "nope.csv")
    (tmp_path / "d.xlsx").write_text("x")
    with pytest.raises(DataError, match="not a known data format"):
        load_table(tmp_path / "d.xlsx")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(DataError, match="empty"):
        load_table(tmp_path / "empty.csv")
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(DataError, match="cannot parse"):
        load_table(tmp_path / "bad.json")


def test_hub_name_failure_is_a_clear_data_error(monkeypatch):
    def offline(*args, **kwargs):
        raise ConnectionError("Couldn't reach the Hugging Face Hub")

    monkeypatch.setattr(datasets, "load_dataset", offline)
    assert data_format("someone/some-data") == "hub"
    with pytest.raises(DataError) as exc:
        load_table("someone/some-data")
    assert "offline" in str(exc.value) and "someone/some-data" in str(exc.value)


def test_hub_name_success_is_hashed_by_content(monkeypatch):
    ds = datasets.Dataset.from_list(RECORDS)
    monkeypatch.setattr(datasets, "load_dataset", lambda name, split: ds)
    assert load_table("some-data").num_rows == 3
    assert source_sha256("some-data") == source_sha256("some-data")
    assert len(source_sha256("some-data")) == 64


def test_file_sha256_file_and_folder(tmp_path):
    p = tmp_path / "a.csv"
    p.write_bytes(b"x,y\n1,2\n")
    assert file_sha256(p) == hashlib.sha256(b"x,y\n1,2\n").hexdigest()
    folder = tmp_path / "saved"
    folder.mkdir()
    (folder / "data.arrow").write_bytes(b"123")
    (folder / "state.json").write_text("{}")
    before = file_sha256(folder)
    assert before == file_sha256(folder)
    (folder / "data.arrow").write_bytes(b"124")
    assert file_sha256(folder) != before
    with pytest.raises(DataError, match="does not exist"):
        file_sha256(tmp_path / "missing")


def test_sst2_row_counts_and_int_labels():
    train, dev = load_table(builtin_path("builtin:sst2/train.tsv")), load_table(builtin_path("builtin:sst2/dev.tsv"))
    assert train.num_rows == 20000 and dev.num_rows == 872  # a 20k-row sample of train; the full dev set
    assert train.column_names == ["sentence", "label"]
    assert train.features["label"].dtype == "int64" and set(dev["label"][:]) == {0, 1}
    # the embedded dev set is byte for byte GLUE's SST-2 dev.tsv
    assert file_sha256(builtin_path("builtin:sst2/dev.tsv")) == "f7271f7a919ea884ca8563e13ed03028aa44296d1f738c003af3142b9a2188f8"


def test_alpaca_demo_json():
    ds = load_table(builtin_path("builtin:alpaca/alpaca_en_demo.json"))
    assert ds.num_rows == 999 and {"instruction", "input", "output"} <= set(ds.column_names)
