"""Build the embedded example data from ../shared/data (run once; the output is committed).

SST-2: a 20,000-row class-stratified random sample of GLUE SST-2 train.tsv (seed 0) plus the
full dev.tsv. Alpaca: the LLaMA-Factory alpaca_en_demo.json (999 records), copied as is.
"""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
SRC = REPO.parent / "shared" / "data"
DST = REPO / "src" / "hpscout" / "templates" / "data"


def main() -> int:
    rows = list(csv.reader(open(SRC / "sst2" / "train.tsv", encoding="utf-8"), delimiter="\t", quoting=csv.QUOTE_NONE))
    header, body = rows[0], rows[1:]
    labels = np.array([int(r[1]) for r in body])
    rng = np.random.default_rng(0)
    n = 20_000
    keep: list[int] = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = int(round(n * len(idx) / len(body)))
        keep.extend(rng.choice(idx, size=k, replace=False).tolist())
    keep = sorted(keep)[:n]
    with open(DST / "sst2" / "train.tsv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar=None, lineterminator="\n")
        w.writerow(header)
        for i in keep:
            w.writerow(body[i])
    shutil.copyfile(SRC / "sst2" / "dev.tsv", DST / "sst2" / "dev.tsv")
    shutil.copyfile(SRC / "alpaca_en_demo" / "alpaca_en_demo.json", DST / "alpaca" / "alpaca_en_demo.json")
    print(f"wrote {len(keep)} SST-2 train rows, 872 dev rows, alpaca demo", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
