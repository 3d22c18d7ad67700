"""Side by side with what users run instead: time to a config that holds at full scale (issue 15).

The competitors run one after another, each in a fresh process, each with the whole machine and the
same data (the embedded 20,000-row SST-2 sample, eval on the example's stratified 300-row dev slice),
model (MiniLM + LoRA), search space (learning rate, LoRA r, warmup: examples/sst2-minilm-lora.yaml),
metric (eval_accuracy) and wall-clock budget (see bench/_peers_run.py for each one's set-up):

    hf-scout       HF Trainer.hyperparameter_search (optuna: TPE + MedianPruner), at hpscout's scouting fraction
    hf-full        the same on 100% of the sample
    tpe            plain Optuna TPE, every trial on 100%
    tpe-hyperband  Optuna TPE + HyperbandPruner with epochs as the resource, on 100%
    hpscout        hpscout run with the example's defaults (ladder, search, climbing transfer check, final pick)

Then every pick is retrained on 100% of the sample with each seed (THE number that matters), and the
incumbent each run held at 25/50/75% of its wall time with the first seed (the time-to-quality curve);
a retrain whose cell is in bench/results/finetune_grid.csv (read only) is taken from there. A fixed-cost
probe measures where one trial's time goes at the scouting rung (process start, data, tokenising, model
load, training, evaluation).

Resumable: each competitor and the probe write one JSON each when they finish (atomically; a piece that
did not finish is rerun whole, since its wall time must be measured in one go), each retrain appends one
row to a CSV. Run it again to continue; pieces already done are skipped.

Usage::

    python bench/peers.py                 # full size: 45 min per competitor, 2 seeds (~5-6 CPU-hours)
    python bench/peers.py --only hpscout,tpe --no-retrain     # a piece at a time
    python bench/peers.py --quick         # 1,000-row slice, 90 s budget, 1 seed: < 20 min on 2 cores
    python bench/peers.py --smoke --work /tmp/peers   # tiny BERT, seconds: the CI smoke test
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _finetune import Job, key_of, read_rows, run_jobs  # noqa: E402
from _peers_result import (  # noqa: E402
    KEY_COLUMNS,
    CompetitorRun,
    draw,
    format_table,
    retrain_plan,
    summarize,
    time_shares,
)

HERE = Path(__file__).resolve().parent
GRID = HERE / "results" / "finetune_grid.csv"
COMPETITORS = ("hpscout", "hf-scout", "hf-full", "tpe", "tpe-hyperband")
#: the issue's threshold: evaluation above this share of a scouting trial is worth cutting
EVAL_SHARE_LIMIT = 0.15

#: the three sizes: budget per competitor (s), retrain seeds, training rows (None = the 20k sample),
#: eval rows, tiny model, fixed-cost probe rungs (None = the scouting fraction) and whether it uses the 20k sample
MODES: dict[str, dict[str, Any]] = {
    "full": dict(budget_s=2700.0, seeds=(0, 1), train_rows=None, eval_rows=300, tiny_model=False,
                 probe_fractions=(0.05, 0.1, 0.2), probe_full_sample=True),
    "quick": dict(budget_s=90.0, seeds=(0,), train_rows=1000, eval_rows=300, tiny_model=False,
                  probe_fractions=(0.05,), probe_full_sample=True),
    "smoke": dict(budget_s=20.0, seeds=(0,), train_rows=320, eval_rows=64, tiny_model=True,
                  probe_fractions=None, probe_full_sample=False),
}


def make_setup(args: argparse.Namespace) -> Any:
    from _peers_setup import Setup

    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    spec = dict(MODES[mode])
    if args.budget is not None:
        spec["budget_s"] = float(args.budget)
    if args.seeds is not None:
        spec["seeds"] = tuple(range(args.seeds))
    cache = HERE / ".cache" / "peers" / mode
    work = args.work or (cache / "work" if mode == "smoke" else HERE / "results" / "peers" / mode)
    return Setup(mode=mode, work=Path(work), scratch=Path(args.scratch or cache), peer_threads=args.peer_threads, **spec)


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="1,000-row slice, 90 s per competitor, 1 seed")
    size.add_argument("--smoke", action="store_true", help="tiny BERT on 320 rows, 20 s per competitor (CI)")
    p.add_argument("--budget", type=float, default=None, help="wall-clock seconds per competitor (overrides the mode)")
    p.add_argument("--seeds", type=int, default=None, help="retrain seeds 0..N-1 (overrides the mode)")
    p.add_argument("--only", default=None, help=f"run only these competitors now (comma-separated of {','.join(COMPETITORS)})")
    p.add_argument("--no-retrain", action="store_true", help="run the searches only; retrain later")
    p.add_argument("--no-curve", action="store_true", help="retrain the picks only, not the 25/50/75%% curve incumbents")
    p.add_argument(
        "--retrain-picks", default=None,
        help="retrain only these competitors' picks now (comma-separated; e.g. hpscout and the best peer for a second seed)",
    )
    p.add_argument("--no-probe", action="store_true", help="skip the fixed-cost probe (the report uses it if it was run earlier)")
    p.add_argument("--workers", type=int, default=2, help="retrain processes (one torch thread each)")
    p.add_argument(
        "--peer-threads", type=int, default=None,
        help="torch threads of each peer's process (default: torch's, every core; 1 is steadier on a shared machine)",
    )
    p.add_argument("--work", type=Path, default=None, help="pieces: competitor JSONs, probe, retrains.csv")
    p.add_argument("--scratch", type=Path, default=None, help="trial and run folders, logs (default bench/.cache/peers/MODE)")
    p.add_argument("--grid", type=Path, default=GRID, help="full-scale cells to reuse (full mode only; read only)")
    p.add_argument("--out", type=Path, default=None, help="results JSON")
    p.add_argument("--plot", type=Path, default=None, help="time-to-quality plot (PNG)")
    p.add_argument("--piece", default=None, help=argparse.SUPPRESS)  # internal: run one piece in this process
    p.add_argument("--launched-at", type=float, default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


# --------------------------------------------------------------------------- pieces


def piece_file(setup: Any, name: str) -> Path:
    return setup.work / "pieces" / f"{name}.json"


def run_piece(setup: Any, name: str, argv: list[str]) -> dict[str, Any]:
    """A piece's result: read it when it is done, else run it in a fresh process and time it from launch."""
    from hpscout._io import atomic_write_json, read_json

    done = piece_file(setup, name)
    if done.exists():
        data = read_json(done)
        if data.get("budget_s", setup.budget_s) != setup.budget_s:
            raise SystemExit(
                f"{done} was run with a budget of {data['budget_s']:g} s, not {setup.budget_s:g} s: "
                "use another --work folder (or delete the piece to rerun it)"
            )
        print(f"[peers] {name}: done earlier, skipped ({done})", flush=True)
        return data
    partial = done.with_suffix(".partial.json")
    partial.unlink(missing_ok=True)
    log = setup.scratch / "logs" / f"{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[peers] {name}: running (log {log})", flush=True)
    launched = time.time()
    with log.open("w") as fh:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *argv, "--piece", name, "--launched-at", repr(launched)],
            stdout=fh, stderr=subprocess.STDOUT, check=False,
        )
    wall = time.time() - launched
    if proc.returncode != 0 or not partial.exists():
        tail = log.read_text(errors="replace").splitlines()[-25:]
        raise SystemExit(f"piece {name} failed (exit {proc.returncode}); last lines of {log}:\n" + "\n".join(tail))
    data = read_json(partial)
    data["wall_s"] = wall
    atomic_write_json(done, data)
    partial.unlink()
    print(f"[peers] {name}: done in {wall:.0f} s", flush=True)
    return data


def child(setup: Any, piece: str, launched_at: float) -> int:
    """Inside the piece's own process: run it, write its partial JSON (the parent adds the wall time)."""
    from _peers_run import main_piece

    from hpscout._io import atomic_write_json

    result = main_piece(setup, piece, launched_at)
    data = result.to_dict() if isinstance(result, CompetitorRun) else result
    atomic_write_json(piece_file(setup, piece).with_suffix(".partial.json"), data)
    return 0


# --------------------------------------------------------------------------- retrains


def grid_rows(setup: Any, grid: Path | None) -> dict[tuple[str, ...], dict[str, str]]:
    """Full-scale cells of the fine-tuning grid (full mode: same data, model and training settings)."""
    if setup.mode != "full" or grid is None or not grid.exists():
        return {}
    rows = {}
    for row in read_rows(grid):
        if row.get("status") == "complete" and abs(float(row["fraction"]) - 1.0) < 1e-9:
            rows[key_of(row, KEY_COLUMNS)] = {**row, "source": "grid"}
    return rows


def check_retrain_config(setup: Any) -> dict[str, Any]:
    """The retrain config updates; refuse when bench/finetune_base.yaml no longer trains like the example."""
    from _finetune import base_config
    from _peers_setup import competitor_config, mode_updates

    from hpscout.config import config_to_dict

    updates = mode_updates(setup)
    base, example = config_to_dict(base_config(updates)), config_to_dict(competitor_config(setup))
    differ = [k for k in ("model", "data", "train", "task") if base[k] != example[k]]
    if differ:
        raise SystemExit(f"bench/finetune_base.yaml and the example differ in {differ}: retrains would not train the picks as searched")
    return updates


def retrain(
    setup: Any, runs: list[CompetitorRun], known: dict[tuple[str, ...], Any], workers: int, *, curve: bool = True
) -> None:
    """Train every planned (pick, seed) at 100% that neither the retrain CSV (run_jobs skips those) nor the grid has."""
    updates = check_retrain_config(setup)
    jobs = []
    for params, seed in retrain_plan(runs, setup.seeds, curve=curve):
        key = {"seed": seed, "fraction": 1.0, **params}
        if key_of(key, KEY_COLUMNS) in known:
            continue
        jobs.append(
            Job(
                key=key,
                updates={**updates, "seed": seed, "train.learning_rate": params["learning_rate"],
                         "train.lora.r": params["lora_r"], "train.warmup_ratio": params["warmup_ratio"]},
                fraction=1.0,
            )
        )
    if jobs:
        run_jobs(jobs, setup.work / "retrains.csv", workers=workers, log=lambda m: print(f"[retrain] {m}", flush=True))


def retrain_rows(setup: Any, grid: Path | None) -> dict[tuple[str, ...], dict[str, str]]:
    rows = grid_rows(setup, grid)
    for row in read_rows(setup.work / "retrains.csv"):
        rows[key_of(row, KEY_COLUMNS)] = {**row, "source": "retrain"}
    return rows


# --------------------------------------------------------------------------- report


def fixed_cost_lines(probe: dict[str, Any] | None, runs: list[CompetitorRun]) -> tuple[list[str], dict[str, Any]]:
    """Where a trial's time goes: the probe's rungs, then the shares measured inside each competitor's trials."""
    lines, data = [], {"probe": probe, "per_competitor": {}}
    if probe:
        lines.append(f"process start (python + torch/transformers/peft/hpscout imports): {probe['process_start_s']:.1f} s")
        for r in probe["rungs"]:
            lines.append(
                f"rung {r['fraction']:g} ({r['rows']:,} rows, 1 thread): trial {r['trial_wall_s']:.1f} s = runner setup "
                f"{r['runner_setup_s']:.1f} s ({r['setup_share']:.0%}) + training {r['train_s']:.1f} s + evaluation "
                f"{r['eval_s'] or 0:.1f} s in {r['evals']} evals of {r['eval_rows']} rows ({r['eval_share']:.0%}); cold: data "
                f"{r['data_s']:.1f} s, tokenising {r['tokenize_s']:.1f} s, model + LoRA {r['model_load_s']:.1f} s; a "
                f"process per trial would add {r['process_start_share_if_one_per_trial']:.0%}"
            )
    for run in runs:
        shares = time_shares(run)
        data["per_competitor"][run.name] = shares
        for group in shares:
            lines.append(
                f"{run.name} {group['kind']} at {group['fraction']:g}: {group['trials']} trials, mean {group['mean_s']:.1f} s; "
                f"evaluation {_pct(group['eval_share'])}, setup {_pct(group['setup_share'])}"
            )
    scout = probe["rungs"][0] if probe and probe["rungs"] else None
    if scout is not None:
        share = scout["eval_share"]
        data["eval_share_at_scout_fraction"] = share
        data["proposal"] = share > EVAL_SHARE_LIMIT
        lines.append(
            f"evaluation is {share:.0%} of a trial at the scouting fraction: "
            + (
                "over 15% -> PROPOSAL: evaluate only at the rung's end unless early stopping or search.fidelity=eval is on"
                if share > EVAL_SHARE_LIMIT
                else "under the issue's 15% threshold: per-epoch evaluation is not what makes scouting slow here"
            )
        )
    return lines, data


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0%}"


def report(setup: Any, args: argparse.Namespace, runs: list[CompetitorRun], probe: dict[str, Any] | None) -> dict[str, Any]:
    from hpscout._io import atomic_write_json

    rows = retrain_rows(setup, args.grid)
    summary = summarize(runs, rows, setup.seeds)
    fixed, fixed_data = fixed_cost_lines(probe, runs)
    versions = runs[0].extra.get("versions", {}) if runs else {}
    title = (
        f"peers.py {setup.mode}: {setup.train_rows or 20000:,}-row SST-2 sample, budget {setup.budget_s:.0f} s each, "
        f"{len(setup.seeds)} seed(s); {versions.get('platform', '')}"
    )
    print("\n" + title)
    print(format_table(summary))
    print(summary["verdict"]["line"])
    print("\nper-trial fixed costs:")
    for line in fixed:
        print("  " + line)
    out = args.out or (setup.work / "peers.json" if setup.mode == "smoke" else HERE / "results" / f"peers{'' if setup.mode == 'full' else '_' + setup.mode}.json")
    plot = args.plot or out.with_suffix(".png")
    result = {
        "mode": setup.mode,
        "budget_s": setup.budget_s,
        "seeds": list(setup.seeds),
        "train_rows": setup.train_rows or 20000,
        "eval_rows": setup.eval_rows,
        "model": "tiny BERT (from_config)" if setup.tiny_model else "MiniLM (all-MiniLM-L6-v2) + LoRA",
        "peer_threads": setup.peer_threads or "torch default (all cores)",
        "command": "python bench/peers.py " + " ".join(a for a in sys.argv[1:]),
        "versions": versions,
        "summary": summary,
        "table": format_table(summary),
        "fixed_costs": fixed_data,
        "retrain_sources": {"/".join(k): v.get("source") for k, v in rows.items()},
        "competitors": {r.name: r.to_dict() for r in runs},
    }
    atomic_write_json(out, result)
    draw(summary, plot, title)
    print(f"\nwrote {out} and {plot}")
    return result


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse(argv)
    setup = make_setup(args)
    setup.scratch.mkdir(parents=True, exist_ok=True)
    if args.piece:
        return child(setup, args.piece, args.launched_at or time.time())
    for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.pop(name, None)  # each piece sets its own threads (the peers: torch's default, all cores)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    forward = [a for a in argv if a not in ("--no-retrain", "--no-curve", "--no-probe")]
    forward = _drop_option(forward, ("--only", "--out", "--plot", "--workers", "--retrain-picks"))
    only = _names(args.only, "--only") if args.only else list(COMPETITORS)
    picks = _names(args.retrain_picks, "--retrain-picks") if args.retrain_picks else list(COMPETITORS)
    from hpscout._io import read_json

    t0 = time.time()
    probe_done = piece_file(setup, "probe")
    if args.no_probe:
        probe = read_json(probe_done) if probe_done.exists() else None
    else:
        probe = run_piece(setup, "probe", forward)
    for name in only:
        run_piece(setup, name, forward)
    runs = [CompetitorRun.from_dict(json.loads(piece_file(setup, n).read_text())) for n in COMPETITORS if piece_file(setup, n).exists()]
    if not args.no_retrain:
        retrain(setup, [r for r in runs if r.name in picks], grid_rows(setup, args.grid), args.workers, curve=not args.no_curve)
    report(setup, args, runs, probe)
    print(f"[peers] total {time.time() - t0:.0f} s", flush=True)
    return 0


def _names(value: str, flag: str) -> list[str]:
    names = [c.strip() for c in value.split(",")]
    unknown = [c for c in names if c not in COMPETITORS]
    if unknown:
        raise SystemExit(f"{flag}: unknown competitor(s) {unknown}; choose from {', '.join(COMPETITORS)}")
    return names


def _drop_option(argv: list[str], names: tuple[str, ...]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
            continue
        if a in names:
            skip = True
            continue
        if any(a.startswith(n + "=") for n in names):
            continue
        out.append(a)
    return out


if __name__ == "__main__":
    sys.exit(main())
