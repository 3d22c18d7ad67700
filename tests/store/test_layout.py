import pytest

from hpscout import StorageError
from hpscout.store import RunLayout, safe_label


@pytest.mark.parametrize("bad", ["../x", "a/b", "x\x00", "a" * 600, "..", ".hidden", "", "a b;DROP TABLE x"])
def test_hostile_labels_rejected(bad):
    with pytest.raises(StorageError, match="invalid name"):
        safe_label(bad)


def test_paths_stay_under_run_dir(tmp_path):
    lay = RunLayout(tmp_path / "runs" / "x")
    assert lay.trial_dir("t0001").parent == lay.trials_dir
    for p in (lay.config, lay.analysis, lay.report_dir, lay.final_dir, lay.top_dir, lay.state):
        assert lay.root in p.parents
    with pytest.raises(StorageError):
        lay.trial_dir("../../etc")


def test_results_listing(tmp_path):
    lay = RunLayout(tmp_path)
    for label in ("t0002", "t0001"):
        d = lay.trial_dir(label)
        d.mkdir(parents=True)
        (d / "result.json").write_text("{}")
    assert [p.parent.name for p in lay.results()] == ["t0001", "t0002"]
