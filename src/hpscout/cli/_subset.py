"""``hpscout subset``: draw stratified, nested subsets of a data file and write their manifest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hpscout._checks import check_fraction
from hpscout._errors import DataError
from hpscout._io import atomic_write_json
from hpscout.cli._common import JsonOpt, echo_json, info
from hpscout.config import BUILTIN_PREFIX, builtin_path
from hpscout.store import check_writable


def _parse_fractions(text: str) -> list[float]:

    parts = [p.strip() for p in text.split(",") if p.strip()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if not values:
        raise DataError(
            f"--fractions must be comma-separated numbers in (0, 1] like 0.01,0.05, but got {text!r}"
        )
    return [check_fraction(v, "--fractions entries", error=DataError) for v in values]


def _parse_stratify(items: list[str] | None) -> list[str]:
    keys: list[str] = []
    for item in items or []:
        keys.extend(k.strip() for k in item.split(",") if k.strip())
    return keys


DataArg = Annotated[
    str,
    typer.Argument(
        help="CSV/TSV/JSON/JSONL/Parquet file, saved dataset folder, hub name, or builtin:sst2/train.tsv "
        "(the example data shipped with hpscout, as in configs).",
        show_default=False,
    ),
]
FractionsOpt = Annotated[
    str, typer.Option("--fractions", help="Comma-separated fractions in (0, 1], e.g. 0.01,0.02,0.05,0.1.", show_default=False)
]
OutOpt = Annotated[Path, typer.Option("--out", help="Folder for subsets.json and report.json.", show_default=False)]
StratifyOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--stratify",
        help="Column or length_bucket:<column> whose (joint) distribution the subsets keep. Repeatable or comma-separated.",
        show_default=False,
    ),
]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the per-stratum random order.")]
ReportOpt = Annotated[bool, typer.Option("--report", help="Print the representativeness report (always saved as report.json).")]
LengthBucketsOpt = Annotated[int, typer.Option("--length-buckets", help="Quantile buckets per length_bucket: key.")]
TextColumnOpt = Annotated[
    str | None, typer.Option("--text-column", help="Column whose lengths the report summarises (default: the first text column).")
]
SplitOpt = Annotated[str, typer.Option("--split", help="Split of a saved DatasetDict, JSON split mapping or hub dataset.")]


def subset(
    data: DataArg,
    fractions: FractionsOpt,
    out: OutOpt,
    stratify: StratifyOpt = None,
    seed: SeedOpt = 42,
    report: ReportOpt = False,
    length_buckets: LengthBucketsOpt = 4,
    text_column: TextColumnOpt = None,
    split: SplitOpt = "train",
    as_json: JsonOpt = False,
) -> None:
    """Draw nested subsets at several fractions; write OUT/subsets.json (the manifest) and OUT/report.json.

    Every subset has round-half-up(fraction x rows) rows, keeps each stratum's share to
    within one row, keeps at least one row per stratum, and lies inside every larger subset.

    Example:
        hpscout subset builtin:sst2/train.tsv --fractions 0.01,0.02,0.05,0.1 --stratify label --seed 42 --out runs/sst2-subsets --report
        hpscout subset builtin:alpaca/alpaca_en_demo.json --fractions 0.1,0.5 --stratify length_bucket:output --out runs/alpaca-subsets
    """
    from hpscout.data import format_report, representativeness, subsets_from_file

    source = str(builtin_path(data)) if data.startswith(BUILTIN_PREFIX) else data
    fracs = _parse_fractions(fractions)
    if length_buckets < 1:
        raise DataError(f"--length-buckets must be >= 1, but got {length_buckets}")
    if out.exists() and not out.is_dir():
        raise DataError(f"--out must be a folder, but {out} is a file")
    check_writable(out, what="--out")
    keys = _parse_stratify(stratify)
    info(f"drawing {len(fracs)} subsets of {data} (stratify {keys or 'none'}, seed {seed})")
    subsets, table = subsets_from_file(
        source, fracs, stratify=keys, seed=seed, length_buckets=length_buckets, split=split
    )
    rep = representativeness(table, subsets, text_column)
    manifest_path = subsets.save_manifest(out)
    report_path = out / "report.json"
    atomic_write_json(report_path, rep)
    if as_json:
        echo_json(
            {
                "manifest": str(manifest_path),
                "report": str(report_path),
                "rows": subsets.rows,
                "subsets": [{"fraction": s.fraction, "size": s.size, "strata": s.strata} for s in subsets],
            }
        )
        return
    typer.echo(f"{data}: {subsets.rows} rows, {len(subsets.strata)} strata ({', '.join(subsets.stratify) or 'unstratified'})")
    for s, r in zip(subsets, rep["subsets"], strict=True):
        note = "  (counts repaired to nest)" if s.adjusted else ""
        typer.echo(f"  fraction {s.fraction:g}: {s.size} rows, TVD {r['tvd']:.4f}{note}")
    typer.echo(f"wrote {manifest_path} and {report_path}")
    if report:
        typer.echo("")
        typer.echo(format_report(rep))


def register(app: typer.Typer) -> None:
    app.command("subset")(subset)
