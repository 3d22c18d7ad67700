"""Benchmark: stratified, nested subsets of a large label column.

Draws subsets at 0.01, 0.02, 0.05 and 0.1 from a 10,000,000-row label column with 50
skewed classes (numpy-generated, Zipf-like sizes), and compares with a naive per-class
Python scan on 1,000,000 rows. Prints medians over repeats, peak extra memory and the
speed ratio.

Run:
    python bench/subset_speed.py           # the full run (about a minute on 2 cores)
    python bench/subset_speed.py --quick   # a small smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import statistics
import sys
import time
import tracemalloc

import numpy as np

from hpscout.data import make_subsets

FRACTIONS = (0.01, 0.02, 0.05, 0.1)
CLASSES = 50


def skewed_labels(n: int, seed: int = 0) -> np.ndarray:
    """``n`` labels over 50 classes with Zipf-like sizes (the largest ~60x the smallest)."""
    p = 1.0 / np.arange(1, CLASSES + 1) ** 1.05
    p /= p.sum()
    counts = np.floor(p * n).astype(np.int64)
    counts[0] += n - counts.sum()
    labels = np.repeat(np.arange(CLASSES, dtype=np.int16), counts)
    np.random.default_rng(seed).shuffle(labels)
    return labels


def ours(labels: np.ndarray, seed: int) -> list[np.ndarray]:
    ss = make_subsets(labels, FRACTIONS, seed=seed)
    return [s.indices for s in ss]


def naive(labels: list[int], seed: int) -> list[list[int]]:
    """Per class: scan the whole list, then random.sample each fraction's count (nested by prefix)."""
    rnd = random.Random(seed)
    picked: list[list[int]] = [[] for _ in FRACTIONS]
    for c in sorted(set(labels)):
        rows = [i for i, lab in enumerate(labels) if lab == c]
        order = rnd.sample(rows, len(rows))
        for j, f in enumerate(FRACTIONS):
            picked[j].extend(order[: max(1, round(f * len(rows)))])
    return [sorted(p) for p in picked]


def timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def peak_rss_mib() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small smoke run (200k / 50k rows, 1 repeat)")
    ap.add_argument("--repeats", type=int, default=None, help="repeats per measurement (default 5, quick 1)")
    args = ap.parse_args()
    big, small = (200_000, 50_000) if args.quick else (10_000_000, 1_000_000)
    repeats = args.repeats or (1 if args.quick else 5)
    naive_repeats = 1 if args.quick else 3

    print(f"python {platform.python_version()}, numpy {np.__version__}")
    print(f"machine: {platform.platform()}, {platform.machine()}, nproc {os.cpu_count()}")
    print(f"fractions {list(FRACTIONS)}, {CLASSES} classes (Zipf-like), repeats {repeats}")

    labels = skewed_labels(big)
    sizes = np.bincount(labels)
    print(f"\n{big:,} rows: class sizes {sizes.max():,} .. {sizes.min():,}")
    ours(labels[:20_000], 0)  # warm-up: imports (pyarrow) and first-call costs
    rss_before = peak_rss_mib()
    secs, picked = timed(ours, labels, 42)
    rss_delta = peak_rss_mib() - rss_before
    times = [secs] + [timed(ours, labels, 42 + r)[0] for r in range(1, repeats)]
    tracemalloc.start()  # a separate run: tracing slows allocation down
    ours(labels, 42)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(
        f"  make_subsets, 4 fractions: median {statistics.median(times):.3f} s over {len(times)} "
        f"(min {min(times):.3f}, max {max(times):.3f})"
    )
    print(
        f"  peak extra memory: {peak / 2**20:.0f} MiB (tracemalloc, numpy buffers included); "
        f"peak RSS growth {rss_delta:.0f} MiB"
    )
    print(f"  subset sizes: {[p.size for p in picked]}")
    nested = all(np.isin(a, b, assume_unique=True).all() for a, b in zip(picked, picked[1:], strict=False))
    print(f"  nested: {nested}")

    labels_small = skewed_labels(small, seed=1)
    as_list = labels_small.tolist()
    ours_small = [timed(ours, labels_small, 42 + r)[0] for r in range(repeats)]
    naive_small = [timed(naive, as_list, 42 + r)[0] for r in range(naive_repeats)]
    m_ours, m_naive = statistics.median(ours_small), statistics.median(naive_small)
    print(f"\n{small:,} rows:")
    print(f"  make_subsets:               median {m_ours:.4f} s over {len(ours_small)}")
    print(f"  naive per-class list scan:  median {m_naive:.3f} s over {len(naive_small)}")
    print(f"  speed ratio (naive / ours): {m_naive / m_ours:.0f}x")


if __name__ == "__main__":
    main()
