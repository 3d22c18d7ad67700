"""The transfer check: do the configs that ranked best on a small fraction still rank best on more data?

This module scores (pure): :func:`compare_transfer` scores the agreement of two
rungs and :func:`soft_agreement` decides whether a climb may stop;
:func:`transfer_trust` reads a finished section. The re-runs themselves, rung by
rung, are :func:`hpscout.analysis.run_transfer` (:mod:`hpscout.analysis._transfer_climb`).

Rules (also written into the output's ``rules``):

* small value = the search trial's objective at ``scout.fraction``; large value = the
  mean over the seeds that finished at the larger fraction;
* a config whose large-scale runs all failed ranks last at the large scale (tied
  with other such configs); it still counts in the correlations;
* ``spearman``/``kendall``: scipy's rank correlations of small vs large values
  (1 = same order; null when a side is constant);
* ``top1_agree``: the small-scale best is also the large-scale best;
* ``topk_overlap``: with ``m = min(3, n - 1)`` (so it is never trivially 1),
  ``|top-m small ∩ top-m large| / m``;
* verdict: ``held`` when top-1 agrees and Spearman >= 0.6 (or is undefined);
  ``did not hold`` when Spearman < 0.2, or the small-scale best falls outside the
  large-scale top-m; else ``partly held``;
* noise: the small-scale values of the re-run configs are *too close to separate*
  when their spread (best minus worst) is below 2 x the seed standard deviation.
  The seed sd comes from the ablation's baseline seeds (same fraction as the
  small values) when analysis.json has them, else from the transfer's own seeds
  (pooled within-config sd at the larger fraction, when seeds > 1), else it is unknown.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from hpscout._errors import SearchError
from hpscout.analysis._stats import kendall, spearman

__all__ = [
    "HELD_SPEARMAN",
    "FAILED_SPEARMAN",
    "NOISE_FACTOR",
    "topk_size",
    "compare_transfer",
    "oriented",
    "soft_agreement",
    "transfer_trust",
]

HELD_SPEARMAN = 0.6
FAILED_SPEARMAN = 0.2
NOISE_FACTOR = 2.0

RULES = {
    "topk_overlap": "m = min(3, n - 1); |top-m at the small fraction ∩ top-m at the large fraction| / m",
    "verdict": (
        f"held: top-1 agrees and Spearman >= {HELD_SPEARMAN} (or undefined); did not hold: Spearman < "
        f"{FAILED_SPEARMAN} or the small-scale best is outside the large-scale top-m; otherwise partly held"
    ),
    "failures": "a config whose large-scale runs all failed ranks last at the large scale (ties among such configs)",
    "noise": (
        f"too small to separate when the spread of the re-run configs' small-scale values < {NOISE_FACTOR} x seed sd; "
        "seed sd from the ablation baseline seeds, else the transfer seeds (pooled), else unknown"
    ),
    "climb": (
        "re-run the top-k one rung at a time (~2x the fraction); stop when the two largest rungs agree (the "
        "smaller rung's best is within epsilon of the larger rung's best, and no pair of the top configs is in "
        "opposite order by more than epsilon at both rungs), at transfer.max_fraction, or before a rung that would "
        "take the climb over transfer.budget full-data runs; epsilon = sqrt(2) x pooled seed sd with >= 2 seeds, "
        "else |difference| of the rung's top config re-run with one more seed; the pick is the best config at the "
        "highest rung reached"
    ),
}


def topk_size(n: int) -> int:
    """How many top configs ``topk_overlap`` compares: ``min(3, n - 1)``, at least 1."""
    return max(1, min(3, n - 1))


def _ranks(scores: Sequence[float]) -> list[int]:
    """1 = best (``scores`` higher = better); ties share the better rank."""
    return [1 + sum(o > v for o in scores) for v in scores]


def compare_transfer(
    small: Sequence[float],
    large: Sequence[float | None],
    *,
    direction: str,
    noise_sd: float | None = None,
    noise_source: str = "unknown",
) -> dict[str, Any]:
    """Score how well a small-scale ranking carried over to a larger scale (pure; see the module rules).

    Args:
        small: small-scale values of the configs, in any order.
        large: large-scale values of the same configs (None: every large run failed).
        direction: ``maximize`` or ``minimize``.
        noise_sd: seed standard deviation of the metric at the small fraction, if known.
        noise_source: where ``noise_sd`` came from.

    Returns:
        ``{"spearman", "kendall", "top1_agree", "topk", "topk_overlap", "rank_small", "rank_large",
        "verdict", "trust", "noise": {...}}``.

    Example:
        >>> compare_transfer([0.1, 0.2, 0.3], [0.15, 0.25, 0.35], direction="minimize")["verdict"]
        'held'
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    n = len(small)
    if n != len(large):
        raise ValueError(f"small and large must have the same length, but got {n} and {len(large)}")
    if n < 2:
        raise SearchError(f"the transfer check compares >= 2 configs, but got {n}")
    sign = 1.0 if direction == "maximize" else -1.0
    gs = [sign * float(v) for v in small]
    finite_large = [sign * float(v) for v in large if v is not None and math.isfinite(v)]
    worst = (min(finite_large) - 1.0) if finite_large else 0.0
    gl = [sign * float(v) if v is not None and math.isfinite(v) else worst for v in large]

    rho = spearman(gs, gl)
    tau = kendall(gs, gl)
    rank_small, rank_large = _ranks(gs), _ranks(gl)
    best_small = max(range(n), key=lambda i: gs[i])
    top1 = bool(finite_large) and rank_large[best_small] == 1 and large[best_small] is not None
    m = topk_size(n)
    top_small = set(sorted(range(n), key=lambda i: -gs[i])[:m])
    top_large = set(sorted(range(n), key=lambda i: -gl[i])[:m]) if finite_large else set()
    overlap = len(top_small & top_large) / m

    verdict = _verdict(top1, rho, best_small in top_large)
    spread = max(gs) - min(gs)
    too_small, noise_msg = _noise_words(spread, noise_sd)
    trust = _trust_words(verdict, m, too_small)
    return {
        "spearman": rho,
        "kendall": tau,
        "top1_agree": top1,
        "topk": m,
        "topk_overlap": overlap,
        "rank_small": rank_small,
        "rank_large": rank_large,
        "verdict": verdict,
        "trust": trust,
        "noise": {
            "sd": noise_sd,
            "source": noise_source if noise_sd is not None else "unknown",
            "top_spread": abs(spread),
            "too_small_to_separate": too_small,
            "rule": RULES["noise"],
            "message": noise_msg,
        },
    }


def _verdict(top1: bool, rho: float | None, best_in_large_topm: bool) -> str:
    """``held`` / ``partly held`` / ``did not hold`` (see ``RULES["verdict"]``)."""
    if top1 and (rho is None or rho >= HELD_SPEARMAN):
        return "held"
    if (rho is not None and rho < FAILED_SPEARMAN) or not best_in_large_topm:
        return "did not hold"
    return "partly held"


def _noise_words(spread: float, noise_sd: float | None) -> tuple[bool | None, str]:
    """Whether the top configs' small-scale spread is within seed noise (None: unknown), and the sentence."""
    if noise_sd is None:
        return None, "seed noise unknown (no ablation baseline seeds, transfer seeds = 1): cannot tell ranking from noise"
    too_small = spread < NOISE_FACTOR * noise_sd
    if too_small:
        return too_small, (
            f"the top configs' small-scale values span {spread:.4g}, less than {NOISE_FACTOR:g} x seed sd "
            f"({noise_sd:.4g}): this subset is too small to separate them from noise"
        )
    return too_small, (
        f"the top configs' small-scale values span {spread:.4g}, more than {NOISE_FACTOR:g} x seed sd ({noise_sd:.4g})"
    )


def _trust_words(verdict: str, m: int, too_small: bool | None) -> str:
    """What to do with the pick, given the verdict and whether the small-scale order is within noise."""
    trust = {
        "held": "the small-scale choice held at the larger fraction: use the scouted best",
        "partly held": f"the ranking only roughly held: choose among the top-{m} by their large-scale values",
        "did not hold": "the small-scale ranking did not survive: do not trust it; scout at a larger fraction "
        "or choose by the large-scale values",
    }[verdict]
    if too_small:
        trust += "; the top configs are within seed noise at the small fraction, so their order there means little"
    return trust


def soft_agreement(
    small: Sequence[float | None],
    large: Sequence[float | None],
    *,
    direction: str,
    epsilon: float | None,
) -> dict[str, Any]:
    """Do two rungs order the same configs alike, counting differences within ``epsilon`` as ties? (pure)

    ``top1_agree``: the smaller rung's best is within ``epsilon`` of the larger rung's best
    there. ``discordant``: pairs among the top configs (top-m of either rung, m =
    :func:`topk_size`) that the two rungs order oppositely by more than ``epsilon`` at
    both. They agree when ``top1_agree`` and no pair is discordant. A failed run (None)
    ranks below every finished one by more than ``epsilon``. ``tied``: every finished config
    scored exactly the same at the larger rung (typically all at chance): that rung ranks
    nothing, so the rungs do not agree and the climb goes on.

    Example:
        >>> soft_agreement([0.80, 0.79, 0.70], [0.851, 0.853, 0.80], direction="maximize", epsilon=0.01)["agree"]
        True
        >>> soft_agreement([0.51, 0.51, 0.51], [0.51, 0.51, 0.51], direction="maximize", epsilon=0.0)["agree"]
        False
        >>> soft_agreement([0.80, 0.79, 0.70], [0.80, 0.85, 0.70], direction="maximize", epsilon=0.01)["agree"]
        False
    """
    if direction not in ("maximize", "minimize"):
        raise ValueError(f"direction must be 'maximize' or 'minimize', but got {direction!r}")
    if len(small) != len(large):
        raise ValueError(f"small and large must have the same length, but got {len(small)} and {len(large)}")
    eps = max(0.0, float(epsilon)) if epsilon is not None and math.isfinite(epsilon) else 0.0
    sign = 1.0 if direction == "maximize" else -1.0
    gs, gl = oriented(small, sign, eps), oriented(large, sign, eps)
    n = len(gs)
    if n == 0 or all(v is None for v in large):
        return {"top1_agree": False, "discordant": [], "tied": False, "agree": False, "epsilon": eps}
    best_small = max(range(n), key=lambda i: gs[i])
    top1 = large[best_small] is not None and gl[best_small] >= max(gl) - eps
    m = topk_size(n)
    top = set(sorted(range(n), key=lambda i: -gs[i])[:m]) | set(sorted(range(n), key=lambda i: -gl[i])[:m])
    discordant = [
        [i, j]
        for i in sorted(top)
        for j in sorted(top)
        if i < j and abs(gs[i] - gs[j]) > eps and abs(gl[i] - gl[j]) > eps and (gs[i] - gs[j]) * (gl[i] - gl[j]) < 0
    ]
    # every config scored exactly the same at the larger rung (all at chance, say): no ranking to agree with
    done = [float(v) for v in large if v is not None and math.isfinite(v)]
    tied = len(done) >= 2 and max(done) - min(done) <= 1e-12 * max(1.0, max(abs(v) for v in done))
    agree = bool(top1 and not discordant and not tied)
    return {"top1_agree": bool(top1), "discordant": discordant, "tied": tied, "agree": agree, "epsilon": eps}


def oriented(values: Sequence[float | None], sign: float, eps: float) -> list[float]:
    """Values with higher = better; a failed run (None) sits below every finished one by more than ``eps``."""
    finite = [sign * float(v) for v in values if v is not None and math.isfinite(v)]
    floor = (min(finite) if finite else 0.0) - 2 * eps - 1.0
    return [sign * float(v) if v is not None and math.isfinite(v) else floor for v in values]


def transfer_trust(transfer: dict[str, Any]) -> tuple[bool, str | None]:
    """(trusted, warning) of a transfer section: a climb that stopped without agreement below
    the full data is untrusted, and the warning names the fraction it would have needed next."""
    if not transfer or transfer.get("trusted") is None:
        return True, None
    if transfer["trusted"]:
        return True, None
    needed = transfer.get("needed_fraction")
    if transfer.get("stop_reason") == "failed" or not transfer.get("rungs"):
        return False, "UNTRUSTED: the transfer check could not run (every larger run failed); this is the small-scale pick"
    return False, (
        f"UNTRUSTED: the transfer climb stopped at fraction {transfer.get('final_fraction')} without the two largest "
        f"rungs agreeing ({transfer.get('stop_reason')})"
        + (f"; it would have needed fraction {needed:g} next (raise transfer.budget or transfer.max_fraction)" if needed else "")
    )
