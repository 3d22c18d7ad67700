"""An untrusted transfer climb is said in every export's provenance, with the fraction it would have needed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "report"))

from _fake_run import make_fake_run  # noqa: E402

from hpscout._io import atomic_write_json  # noqa: E402
from hpscout.export import export_run  # noqa: E402


def _with_transfer(run_dir: Path, **transfer) -> None:
    path = run_dir / "analysis.json"
    data = json.loads(path.read_text())
    data["transfer"].update(transfer)
    atomic_write_json(path, data)


def test_untrusted_climb_is_named_in_both_exports(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path, with_final=True)
    _with_transfer(run.run_dir, trusted=False, stop_reason="budget", final_fraction=0.1, needed_fraction=0.2,
                   rungs=[{"fraction": 0.1, "decision": "disagreed: stop, climbing to 0.2 would exceed transfer.budget"}])
    lf = export_run(run.run_dir, "llamafactory", storage=run.storage).read_text()
    header = [line for line in lf.splitlines() if line.startswith("#")]
    assert any("UNTRUSTED" in line and "would have needed fraction 0.2 next" in line for line in header), header
    assert any("chosen at fraction 0.1" in line for line in header)
    hf = json.loads(export_run(run.run_dir, "json", storage=run.storage).read_text())
    prov = hf["provenance"] if "provenance" in hf else hf.get("hpscout", {}).get("provenance", {})
    assert prov["trusted"] is False and "fraction 0.2" in prov["untrusted_reason"]


def test_trusted_climb_says_where_it_was_chosen(tmp_path: Path) -> None:
    run = make_fake_run(tmp_path, with_final=True)
    lf = export_run(run.run_dir, "llamafactory", storage=run.storage).read_text()
    assert "UNTRUSTED" not in lf and "chosen at fraction 0.2" in lf
