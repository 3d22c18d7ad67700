"""The learning-rate limits lint checks against, by task family, method and model size.

Encoders and seq2seq models read their limits from the recommendation table
(:data:`hpscout.plan._preset_table.PRESET_TABLE`), so ``recommend`` and ``lint`` agree.
Causal LMs get their own rows from LLM sources, because the ``<1B`` preset rows were
measured on a 22M encoder (MiniLM needs LoRA LRs near 2e-3) and flag a 0.5B causal
LM trained at the usual 2e-4 as "low".

Severity ladder (checked in this order; ``lr`` is the peak learning rate):

* ``lr > error_above``  error: far above the usual range
* ``lr > warn_above``   warning: above the usual range
* ``lr < low / 10``     warning: more than 10x below the low end of the usual range
* ``lr < info_below``   info, only when the model size is known: below the usual range

With the model size unknown, lint takes the most lenient limit over every size.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from hpscout.plan._preset_table import MODEL_SIZE_BUCKETS, PRESET_TABLE

__all__ = ["LrLimits", "CAUSAL_LM_LIMITS", "lr_limits"]

#: the low end of the usual range over this is the "far below" warning
FAR_BELOW = 10.0


@dataclass(frozen=True)
class LrLimits:
    """Usual range and lint limits for one (task family, method, model size)."""

    family: str  # "causal-lm" or "encoder" (the preset table: encoders, seq2seq, and LLMs >= 1B)
    method: str
    size: str  # "<1B", "1-10B", ">10B", or "any" when the size is unknown
    start: float  # where to start (the warmup rule checks LRs at or above it)
    low: float
    high: float
    warn_above: float
    error_above: float
    info_below: float
    source: str

    @property
    def warn_below(self) -> float:
        """More than :data:`FAR_BELOW` x below the low end of the usual range."""
        return self.low / FAR_BELOW


# fmt: off
#: Causal-LM SFT rows (the ``<1B`` rows cover small LLMs such as Qwen2.5-0.5B, not encoders).
CAUSAL_LM_LIMITS: tuple[LrLimits, ...] = (
    # LoRA / QLoRA SFT of LLMs: QLoRA paper (Dettmers et al. 2023) 2e-4 for 7B/13B and 1e-4 for 33B/65B;
    # LLaMA-Factory's LoRA SFT examples use 1e-4; Alpaca-LoRA 3e-4. Small LLMs sit in the same band.
    # The LLaMA-Factory guides list LoRA + cosine at 1e-3 as the first mistake: above 5e-4 is a warning.
    LrLimits("causal-lm", "lora", "<1B", 2e-4, 5e-5, 5e-4, 5e-4, 1e-2, 5e-5,
             "LLaMA-Factory LoRA SFT examples use 1e-4, the QLoRA paper 2e-4 for 7B/13B, Alpaca-LoRA 3e-4"),
    LrLimits("causal-lm", "lora", "1-10B", 2e-4, 1e-4, 5e-4, 5e-4, 1e-2, 1e-4,
             "the QLoRA paper used 2e-4 for 7B/13B and LLaMA-Factory's LoRA SFT examples use 1e-4"),
    LrLimits("causal-lm", "lora", ">10B", 1e-4, 5e-5, 3e-4, 5e-4, 5e-3, 5e-5,
             "the QLoRA paper used 1e-4 for 33B/65B"),
    # Full fine-tuning: Alpaca 7B and Llama-2 SFT 2e-5, LLaMA-Factory's full SFT examples 1e-5;
    # small causal LMs (GPT-2, Qwen2.5-0.5B) take up to ~1e-4 (transformers' run_clm default 5e-5).
    LrLimits("causal-lm", "full", "<1B", 5e-5, 1e-5, 1e-4, 2e-4, 2e-3, 1e-5,
             "transformers' run_clm default is 5e-5; small-LLM full SFT recipes use 1e-5 to 5e-5"),
    LrLimits("causal-lm", "full", "1-10B", 2e-5, 5e-6, 5e-5, 5e-5, 5e-4, 5e-6,
             "Alpaca 7B and Llama-2 SFT used 2e-5; LLaMA-Factory's full SFT examples use 1e-5"),
    LrLimits("causal-lm", "full", ">10B", 1e-5, 3e-6, 3e-5, 5e-5, 5e-4, 3e-6,
             "Llama-2 70B SFT used 2e-5; larger models tolerate less"),
)
# fmt: on


def _causal_row(method: str, size: str) -> LrLimits:
    base = "lora" if method == "qlora" else method  # QLoRA trains the same adapter at the same LRs
    row = next(r for r in CAUSAL_LM_LIMITS if r.method == base and r.size == size)
    return row if base == method else replace(row, method=method)


def _preset_limits(method: str, size: str) -> LrLimits:
    row = next(r for r in PRESET_TABLE if r.method == method and r.size == size)
    return LrLimits("encoder", method, size, row.lr, row.lr_low, row.lr_high, row.lr_warn_above, row.lr_error_above,
                    row.lr_info_below, row.source)


def lr_limits(method: str, size: str | None, *, causal_lm: bool) -> LrLimits:
    """The limits for ``method`` on a model of ``size`` (a bucket, or None when unknown).

    Args:
        method: ``lora``, ``qlora`` or ``full``.
        size: ``<1B``, ``1-10B``, ``>10B``, or None: the most lenient limits over every size.
        causal_lm: a causal LM (LLaMA-Factory files, hpscout ``task: causal-lm``); else the preset table.

    Example:
        >>> lr_limits("lora", "<1B", causal_lm=True).low, lr_limits("lora", "<1B", causal_lm=False).low
        (5e-05, 0.0003)
    """
    pick = _causal_row if causal_lm else _preset_limits
    if size is not None:
        return pick(method, size)
    rows = [pick(method, s) for s in MODEL_SIZE_BUCKETS]
    return replace(
        rows[0],  # the <1B row's source: its limits are the lenient ones in most columns
        size="any",
        start=max(r.start for r in rows),
        low=min(r.low for r in rows),
        high=max(r.high for r in rows),
        warn_above=max(r.warn_above for r in rows),
        error_above=max(r.error_above for r in rows),
        info_below=min(r.info_below for r in rows),
    )
