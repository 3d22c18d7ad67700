"""Run every benchmark in turn: `python -m bench [--quick] [--train]` (or `make bench`).

Each script prints its own figures (medians and side-by-side ratios); docs/benchmarks.md
records them with the machine and the versions. The real fine-tuning benchmarks read the
grid in bench/results/finetune_grid.csv; `--train` first trains whatever the grid and the
LR-drift runs still miss (resumable; about 5 CPU-hours from scratch on 2 cores).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
YAHPO = HERE.parent.parent / "shared" / "data" / "yahpo"


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    py = sys.executable
    bench_py = HERE.parent / ".venv-bench" / "bin" / "python"
    jobs: list[list[str]] = [
        [py, str(HERE / "subset_speed.py"), *(["--quick"] if quick else [])],
        [py, str(HERE / "search_overhead.py"), "all", *(["--trials", "200"] if quick else [])],
        [py, str(HERE / "runner_throughput.py"), *(["--repeats", "1"] if quick else [])],
    ]
    if YAHPO.exists():
        ypy = str(bench_py) if bench_py.exists() else py
        for scenario, inst in (("lcbench", "3945,7593,34539,126025,126026"), ("rbv2_xgboost", "16,40923,41143,470,1487")):
            seeds, budget = ("3", "5") if quick else ("20", "30")
            jobs.append([ypy, str(HERE / "search_efficiency.py"), "--data-path", str(YAHPO), "--scenario", scenario,
                         "--instances", inst, "--seeds", seeds, "--budget", budget, "--jobs", "2",
                         "--out", f"/tmp/hpscout-bench-{scenario}.json"])
    grid = HERE / "results" / "finetune_grid.csv"
    if "--train" in argv:
        jobs.append([py, str(HERE / "finetune_grid.py"), "--workers", "2"])
    if grid.exists():
        jobs.append([py, str(HERE / "finetune_replay.py"), "--csv", str(grid), "--out", "/tmp/hpscout-bench-replay.json",
                     *(["--seeds", "3"] if quick else [])])
        jobs.append([py, str(HERE / "lr_drift.py"), "--out", "/tmp/hpscout-bench-lr-drift.json",
                     *([] if "--train" in argv else ["--no-run"])])
    failed = 0
    for cmd in jobs:
        print("\n$ " + " ".join(cmd), flush=True)
        failed += subprocess.run(cmd).returncode != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
