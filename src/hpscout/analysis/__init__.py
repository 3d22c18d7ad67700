"""Analysis: ablation effects with CIs, importance, the transfer check, cost, LR scaling, loss-curve diagnosis.

Every result lands in one file, ``<run_dir>/analysis.json`` (shape in
:mod:`hpscout.analysis._analysis_file`), which the report reads. Each stage
writes only its own section.

Example:
    >>> from hpscout.analysis import mean_ci
    >>> round(mean_ci([1.0, 2.0, 3.0]).mean, 1)
    2.0
"""

from hpscout.analysis._ablation import run_ablation
from hpscout.analysis._ablation_plan import (
    DEFAULT_FACTORS,
    AblationLevel,
    ablation_plan,
    default_factors,
    resolve_baseline,
    resolve_level,
)
from hpscout.analysis._ablation_verdicts import (
    EXPECTED_PATTERNS,
    CellRun,
    apply_ablation_verdicts,
    check_pattern,
    summarize_ablation,
)
from hpscout.analysis._analysis_file import (
    ANALYSIS_VERSION,
    SECTIONS,
    analysis_path,
    read_analysis,
    write_section,
)
from hpscout.analysis._cells import RunCell, default_run_cell
from hpscout.analysis._cost import climb_cost, compute_cost, cost_summary, full_samples_of, preflight
from hpscout.analysis._curves import (
    CURVE_LABELS,
    CurveDiagnosis,
    TrialCurves,
    curve_points,
    diagnose_curve,
    diagnose_trials,
    search_curve_note,
)
from hpscout.analysis._importance import compute_importance, importance_from_trials, top_fraction_trials
from hpscout.analysis._lr_scaling import (
    HORIZON_BETA,
    HORIZON_MIN_FACTOR,
    best_lr_per_rung,
    compute_lr_scaling,
    fit_lr_scaling,
    fit_power_law,
    horizon_lr,
)
from hpscout.analysis._stats import (
    MeanCI,
    bonferroni,
    holm,
    kendall,
    mean_ci,
    pooled_sd,
    sample_sd,
    spearman,
    welch_test,
)
from hpscout.analysis._summary import analyze_search
from hpscout.analysis._transfer import compare_transfer, soft_agreement, topk_size, transfer_trust
from hpscout.analysis._transfer_climb import run_transfer, transfer_fraction

__all__ = [
    "ANALYSIS_VERSION",
    "CURVE_LABELS",
    "DEFAULT_FACTORS",
    "EXPECTED_PATTERNS",
    "HORIZON_BETA",
    "HORIZON_MIN_FACTOR",
    "SECTIONS",
    "AblationLevel",
    "CellRun",
    "CurveDiagnosis",
    "MeanCI",
    "RunCell",
    "TrialCurves",
    "ablation_plan",
    "apply_ablation_verdicts",
    "analysis_path",
    "analyze_search",
    "best_lr_per_rung",
    "bonferroni",
    "check_pattern",
    "compare_transfer",
    "soft_agreement",
    "climb_cost",
    "compute_cost",
    "preflight",
    "compute_importance",
    "compute_lr_scaling",
    "cost_summary",
    "curve_points",
    "default_factors",
    "default_run_cell",
    "diagnose_curve",
    "diagnose_trials",
    "fit_lr_scaling",
    "fit_power_law",
    "horizon_lr",
    "full_samples_of",
    "holm",
    "importance_from_trials",
    "kendall",
    "mean_ci",
    "pooled_sd",
    "read_analysis",
    "resolve_baseline",
    "resolve_level",
    "run_ablation",
    "run_transfer",
    "sample_sd",
    "search_curve_note",
    "spearman",
    "summarize_ablation",
    "top_fraction_trials",
    "topk_size",
    "transfer_fraction",
    "transfer_trust",
    "welch_test",
    "write_section",
]
