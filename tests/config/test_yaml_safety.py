"""Hostile and broken YAML: every case is a ConfigError naming file and line; nothing executes."""

import pytest

from hpscout import ConfigError
from hpscout.cli import main
from hpscout.config import load_config

CASES = {
    "truncated": ("name: t\ndata: {train: a.csv\n", "invalid YAML"),
    "duplicate": ("name: t\nname: u\ndata: {train: a.csv}\n", "duplicate key 'name'"),
    "python_tag": ("name: !!python/object/apply:os.system ['touch PWNED']\ndata: {train: a.csv}\n", "tags such as"),
    "alias_bomb": (
        "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nname: t\ndata: {train: a.csv}\n",
        "aliases",
    ),
    "wrong_type": ("name: t\ndata: {train: a.csv}\ntrain: {batch_size: lots}\n", "train.batch_size"),
    "low_gt_high": (
        "name: t\ndata: {train: a.csv}\nsearch:\n  space:\n    train.learning_rate: {type: float, low: 1, high: 0.1}\n",
        "low must be <= high",
    ),
    "log_low_zero": (
        "name: t\ndata: {train: a.csv}\nsearch:\n  space:\n    train.learning_rate: {type: float, low: 0, high: 1, log: true}\n",
        "low must be > 0",
    ),
    "unknown_key": ("name: t\ndata: {train: a.csv}\nsaerch: {}\n", "did you mean 'search'"),
    "not_a_mapping": ("- a\n- b\n", "mapping"),
    "empty": ("", "empty"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_yaml_is_a_clear_config_error(case, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text, needle = CASES[case]
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=needle) as exc:
        load_config(p)
    msg = str(exc.value)
    assert str(p) in msg
    if case not in ("empty", "not_a_mapping"):
        assert "line" in msg
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_yaml_cli_exit_2_and_no_study(case, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    p = tmp_path / "bad.yaml"
    p.write_text(CASES[case][0])
    assert main(["validate", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(p) in err
    assert not (tmp_path / "runs").exists()
    assert not (tmp_path / "PWNED").exists()


def test_binary_and_missing_files(tmp_path):
    p = tmp_path / "bin.yaml"
    p.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
