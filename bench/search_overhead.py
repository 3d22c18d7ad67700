"""Search benchmarks: hpscout's orchestration overhead per trial, and the local storage choice.

    python bench/search_overhead.py overhead [--trials 1000] [--samplers random tpe]
    python bench/search_overhead.py storage  [--trials 200] [--workers 1 2 4]
    python bench/search_overhead.py all --out bench/results/search.json

overhead: a no-op objective over a 3-parameter space, ``trials`` trials, through
``hpscout.search.run_search`` (one worker, default storage: the journal file) and through raw
``study.optimize`` with the same sampler and the same storage kind. Per-trial wall time
is the gap between consecutive trials' completion times; reported as the median over
trials 90-110 ("at trial 100") and over the last 20 trials ("at trial 1,000"); each
figure is the median of ``--repeat`` runs (hpscout and raw alternate, so machine load
drifts hit both).

storage: 1-4 local worker processes hammer one study with no-op trials (raw Optuna
ask/tell, RandomSampler) on SQLite and on the journal file; reports trials/s and how many
storage calls raised (SQLite's "database is locked"). Then the same through
``run_search(workers=N)``: exact COMPLETE count and trials/s with hpscout's claim lock.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SPACE = {
    "train.learning_rate": {"type": "float", "low": 1e-5, "high": 1e-1, "log": True},
    "train.batch_size": {"type": "categorical", "choices": [8, 16, 32, 64]},
    "train.warmup_ratio": {"type": "float", "low": 0.0, "high": 0.2},
}


def _config(root: Path, name: str, trials: int, sampler: str, storage: str | None = None) -> Any:
    from hpscout.config import config_from_dict

    data = {
        "name": name,
        "output_dir": str(root / name),
        "data": {"train": "unused.csv"},
        "scout": {"fraction": 0.05, "fidelities": [0.05]},
        "search": {"trials": trials, "sampler": sampler, "pruner": "none", "space": SPACE},
    }
    if storage:
        data["storage"] = storage
    return config_from_dict(data)


def noop(trial: Any, config: Any) -> float:
    """The hpscout no-op objective: read the sampled config, return a number."""
    return float(config.train.learning_rate * config.train.batch_size + config.train.warmup_ratio)


def _raw_objective(trial: Any) -> float:
    lr = trial.suggest_float("train.learning_rate", 1e-5, 1e-1, log=True)
    bs = trial.suggest_categorical("train.batch_size", [8, 16, 32, 64])
    wr = trial.suggest_float("train.warmup_ratio", 0.0, 0.2)
    return float(lr * bs + wr)


def _per_trial_ms(study: Any) -> dict[str, float]:
    from optuna.trial import TrialState

    done = sorted(
        (t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE), key=lambda t: t.datetime_complete
    )
    stamps = [t.datetime_complete.timestamp() for t in done]
    gaps = [1000 * (b - a) for a, b in zip(stamps, stamps[1:], strict=False)]
    n = len(gaps)
    at100 = statistics.median(gaps[89:109]) if n >= 109 else float("nan")
    last = statistics.median(gaps[-20:]) if n >= 20 else float("nan")
    return {"ms_at_100": round(at100, 2), "ms_at_last": round(last, 2), "mean_ms": round(statistics.mean(gaps), 2)}


def _median_dict(runs: list[dict[str, float]]) -> dict[str, float]:
    return {k: round(statistics.median(r[k] for r in runs), 2) for k in runs[0]}


def bench_overhead(trials: int, samplers: list[str], repeat: int = 1) -> dict[str, Any]:
    import optuna

    from hpscout.search import make_sampler, open_study, run_search

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    out: dict[str, Any] = {"trials": trials, "repeat": repeat, "dir": tempfile.gettempdir()}
    for sampler in samplers:
        hp_runs, raw_runs = [], []
        for r in range(repeat):  # alternate the two so drift in machine load hits both
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                cfg = _config(root, f"ovh-{sampler}-{r}", trials, sampler)
                t0 = time.perf_counter()
                run_search(cfg, objective=noop, progress=False)
                wall = time.perf_counter() - t0
                hp_runs.append({**_per_trial_ms(open_study(cfg)), "wall_s": wall, "ms_per_trial": 1000 * wall / trials})

                # raw Optuna: same sampler settings, same storage kind (a journal file), no hpscout
                kwargs = {"n_startup_trials": 20} if sampler == "tpe" else {}
                storage = optuna.storages.JournalStorage(
                    optuna.storages.journal.JournalFileBackend(str(root / "raw.log"))
                )
                study = optuna.create_study(
                    study_name="raw", storage=storage, sampler=make_sampler(sampler, seed=cfg.seed, **kwargs)
                )
                t0 = time.perf_counter()
                study.optimize(_raw_objective, n_trials=trials)
                wall = time.perf_counter() - t0
                raw_runs.append({**_per_trial_ms(study), "wall_s": wall, "ms_per_trial": 1000 * wall / trials})
        hp, raw = _median_dict(hp_runs), _median_dict(raw_runs)
        out[sampler] = {
            "hpscout": hp,
            "raw_optuna": raw,
            "ratio_wall": round(hp["wall_s"] / raw["wall_s"], 2),
            "overhead_ms_per_trial": round(hp["ms_per_trial"] - raw["ms_per_trial"], 2),
        }
        print(json.dumps({sampler: out[sampler]}), file=sys.stderr, flush=True)
    return out


# --------------------------------------------------------------------------- storage choice


def _raw_worker(url: str, n: int, queue: Any) -> None:
    import warnings

    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    warnings.simplefilter("ignore")
    errors: dict[str, int] = {}
    done = 0
    try:
        storage = _open_raw(url)
        study = optuna.load_study(study_name="bench", storage=storage, sampler=optuna.samplers.RandomSampler())
    except Exception as exc:  # noqa: BLE001 - counted as a failure of this worker
        queue.put({"done": 0, "errors": {f"open: {type(exc).__name__}: {str(exc)[:80]}": 1}})
        return
    for _ in range(n):
        try:
            trial = study.ask()
            value = _raw_objective(trial)
            study.tell(trial, value)
            done += 1
        except Exception as exc:  # noqa: BLE001 - this is what we measure
            key = f"{type(exc).__name__}: {str(exc).splitlines()[0][:80]}"
            errors[key] = errors.get(key, 0) + 1
    queue.put({"done": done, "errors": errors})


def _open_raw(url: str) -> Any:
    import optuna

    if url.endswith(".log"):
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(url))
    return optuna.storages.RDBStorage("sqlite:///" + url)


def _raw_run(url: str, workers: int, trials: int) -> dict[str, Any]:
    import optuna

    optuna.create_study(study_name="bench", storage=_open_raw(url))
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    per = trials // workers
    procs = [ctx.Process(target=_raw_worker, args=(url, per, queue)) for _ in range(workers)]
    t0 = time.perf_counter()
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.perf_counter() - t0
    errors: dict[str, int] = {}
    for r in results:
        for k, v in r["errors"].items():
            errors[k] = errors.get(k, 0) + v
    done = sum(r["done"] for r in results)
    study = optuna.load_study(study_name="bench", storage=_open_raw(url))
    states: dict[str, int] = {}
    for t in study.get_trials(deepcopy=False):
        states[t.state.name] = states.get(t.state.name, 0) + 1
    return {
        "workers": workers,
        "asked": per * workers,
        "completed": done,
        "trials_per_s": round(done / wall, 1),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "states_in_study": states,
        "wall_s": round(wall, 2),
    }


def _hpscout_run(root: Path, kind: str, workers: int, trials: int) -> dict[str, Any]:
    from optuna.trial import TrialState

    from hpscout.search import open_study, run_search

    storage = str(root / f"hp-{kind}-{workers}.{'db' if kind == 'sqlite' else 'log'}")
    cfg = _config(root, f"hp-{kind}-{workers}", trials, "random", storage=storage)
    t0 = time.perf_counter()
    error = None
    try:
        run_search(cfg, objective="bench_search_overhead_objectives:noop", workers=workers, progress=False)
    except Exception as exc:  # noqa: BLE001 - reported
        error = f"{type(exc).__name__}: {exc}"[:200]
    wall = time.perf_counter() - t0
    trials_all = open_study(cfg).get_trials(deepcopy=False)
    complete = sum(1 for t in trials_all if t.state == TrialState.COMPLETE)
    interrupted = sum(1 for t in trials_all if "interrupted" in t.user_attrs)
    return {
        "workers": workers,
        "budget": trials,
        "complete": complete,
        "exact": complete == trials,
        "interrupted_and_retried": interrupted,
        "trials_per_s": round(complete / wall, 1),
        "wall_s": round(wall, 2),
        "error": error,
    }


def bench_storage(trials: int, workers: list[int]) -> dict[str, Any]:
    out: dict[str, Any] = {"trials": trials, "raw_optuna": {}, "hpscout": {}}
    # the hpscout runs import the objective in spawned workers: expose this file under a module name
    mod_dir = Path(tempfile.mkdtemp(prefix="hpscout-bench-"))
    (mod_dir / "bench_search_overhead_objectives.py").write_text(
        "def noop(trial, config):\n"
        "    return float(config.train.learning_rate * config.train.batch_size + config.train.warmup_ratio)\n"
    )
    sys.path.insert(0, str(mod_dir))
    os.environ["PYTHONPATH"] = str(mod_dir) + os.pathsep + os.environ.get("PYTHONPATH", "")
    out["dir"] = tempfile.gettempdir()
    for kind in ("sqlite", "journal"):
        out["raw_optuna"][kind] = []
        out["hpscout"][kind] = []
        for n in workers:
            with tempfile.TemporaryDirectory() as tmp:
                url = str(Path(tmp) / ("bench.db" if kind == "sqlite" else "bench.log"))
                r = _raw_run(url, n, trials)
                out["raw_optuna"][kind].append(r)
                print(json.dumps({"raw": kind, **r}), file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                r = _hpscout_run(Path(tmp), kind, n, trials)
                out["hpscout"][kind].append(r)
                print(json.dumps({"hpscout": kind, **r}), file=sys.stderr, flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["overhead", "storage", "all"])
    parser.add_argument("--trials", type=int, default=None)
    parser.add_argument("--samplers", nargs="+", default=["random", "tpe"])
    parser.add_argument("--workers", nargs="+", type=int, default=[1, 2, 4])
    parser.add_argument("--repeat", type=int, default=3, help="Overhead runs per sampler (medians are reported).")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--dir", type=Path, default=None, help="Where the study files go (default: the temp dir).")
    args = parser.parse_args()
    if args.dir:
        args.dir.mkdir(parents=True, exist_ok=True)
        tempfile.tempdir = str(args.dir)
    result: dict[str, Any] = {"python": sys.version.split()[0], "cpus": os.cpu_count()}
    import optuna

    result["optuna"] = optuna.__version__
    if args.what in ("storage", "all"):
        result["storage"] = bench_storage(args.trials or 200, args.workers)
    if args.what in ("overhead", "all"):
        result["overhead"] = bench_overhead(args.trials or 1000, args.samplers, args.repeat)
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
