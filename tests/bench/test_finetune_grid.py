"""bench/finetune_grid.py's cell choice (no training): --cells and --select pick the runs to do."""

from __future__ import annotations

import pytest

from _bench import load_bench

fg = load_bench("finetune_grid")


def test_cells_name_grid_cells_and_jobs_run_only_them():
    cells = fg.parse_cells("0.0012:16:0.0,2.5e-3:4:0.1")
    assert cells == [(0.0012, 16, 0.0), (0.0025, 4, 0.1)]
    todo = fg.jobs((0, 1), (1.0,), cells)
    assert [(j.key["seed"], j.key["learning_rate"], j.key["lora_r"]) for j in todo] == [
        (0, 0.0012, 16), (0, 0.0025, 4), (1, 0.0012, 16), (1, 0.0025, 4)
    ]
    assert fg.parse_cells(None) is None


@pytest.mark.parametrize(
    ("spec", "message"),
    [("0.0012:16", "is not LR:R:WARMUP"), ("0.0013:16:0.0", "is not a grid cell"), ("x:16:0.0", "is not LR:R:WARMUP")],
)
def test_bad_cells_say_what_is_allowed(spec, message):
    with pytest.raises(SystemExit, match=message):
        fg.parse_cells(spec)


def test_select_and_cells_are_exclusive(capsys):
    with pytest.raises(SystemExit) as info:
        fg.main(["--select", "best=1,at=0.1", "--cells", "0.0012:16:0.0"])
    assert info.value.code == 2
    assert "choose cells two ways" in capsys.readouterr().err
