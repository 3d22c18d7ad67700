"""Per-device batch and gradient accumulation for a GPU, scaled for the model size.

The guides give per-device batches for their small seq2seq model (a KoBART-size model,
~124M parameters, full fine-tuning in fp16): V100 16 GB 16-32, RTX 3090 24 GB 24-48,
A100 40 GB 32-64; and, by GPU class, batch 16 on A100/H100, 8 on 4090/V100 and 2 on
3080/4060 (at LR 1e-4, linear). :func:`device_batch` turns that into a rule for any model:

1. Fixed memory: weights, gradients and optimizer state. Full fine-tuning with Adam in
   mixed precision keeps 16 bytes per parameter (fp16/bf16 weights and gradients, fp32
   master weights and two Adam moments: the ZeRO paper's count); LoRA keeps the frozen
   weights in 16 bits (2 bytes per parameter; the adapter is small); QLoRA keeps them in
   4-bit NF4 with its quantisation constants (~0.55 bytes per parameter, the QLoRA paper).
   Plus :data:`RUNTIME_GB` for the CUDA context and workspaces.
2. Activation memory per row: :data:`REF_ROW_GB` at the guides' reference model, grown
   with ``(params / 124M) ** (2/3)``. Activations scale with layers x hidden size; for
   standard transformer shapes (params ~ 12 x layers x hidden^2) that grows like
   params^(2/3): Llama-2 7B has 14x KoBART's layers x hidden for 56x its parameters.
   LoRA still stores the activations of the frozen layers for the backward pass.
3. Per-device batch: the largest power of two that fits what is left, never above the
   effective batch asked for; accumulation makes up the rest of the effective batch.

:data:`REF_ROW_GB` is fitted to the guides' ranges: it puts V100 at 16, RTX 3090 at 32
and A100 40 GB at 64 rows, each inside the guides' range. Sequence length is the guides'
(their summarization inputs); double it and the batch halves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hpscout._errors import ConfigError

__all__ = ["GPU_CHOICES", "GPU_TABLE", "GpuRow", "DeviceBatch", "device_batch", "gpu_row"]

#: CUDA context, allocator slack and workspaces (GB)
RUNTIME_GB = 1.5
#: activation memory per row of the guides' reference model (GB), fitted to their per-GPU ranges
REF_ROW_GB = 0.55
#: the guides' reference model: a KoBART-size seq2seq model
REF_PARAMS = 124_000_000
#: bytes per parameter of fixed memory, by method
BYTES_PER_PARAM = {"full": 16.0, "lora": 2.0, "qlora": 0.55}


@dataclass(frozen=True)
class GpuRow:
    """One GPU: memory, bf16 support and what the guides say about it."""

    name: str
    memory_gb: float
    bf16: bool
    guide_class_batch: int | None  # the guides' batch by GPU class (LLaMA-Factory schedulers guide)
    guide_range: tuple[int, int] | None  # the guides' per-device range for their small seq2seq model


# fmt: off
GPU_TABLE: tuple[GpuRow, ...] = (
    GpuRow("H100", 80, True, 16, None),
    GpuRow("A100", 40, True, 16, (32, 64)),   # the 80 GB A100: --gpu-mem 80
    GpuRow("4090", 24, True, 8, None),
    GpuRow("3090", 24, True, None, (24, 48)),
    GpuRow("V100", 16, False, 8, (16, 32)),   # Volta: no bf16, so fp16 with loss scaling
    GpuRow("3080", 10, True, 2, None),
    GpuRow("4060", 8, True, 2, None),
)
# fmt: on

GPU_CHOICES = tuple(g.name for g in GPU_TABLE)


@dataclass(frozen=True)
class DeviceBatch:
    """What :func:`device_batch` proposes, with the arithmetic behind it."""

    batch_size: int
    grad_accum: int
    memory_gb: float
    fixed_gb: float
    row_gb: float
    fits: bool
    gpu: GpuRow | None

    def why(self) -> str:
        """One sentence: the memory arithmetic."""
        free = self.memory_gb - self.fixed_gb
        where = self.gpu.name if self.gpu else "the GPU"
        return (
            f"{where} {self.memory_gb:g} GB: {self.fixed_gb:.1f} GB for weights, gradients and optimizer state, "
            f"{free:.1f} GB left at ~{self.row_gb:.2f} GB of activations per row -> per-device batch "
            f"{self.batch_size}, accumulation {self.grad_accum}"
        )


def gpu_row(name: str) -> GpuRow:
    """The :data:`GPU_TABLE` row for ``name`` (case-insensitive; ``RTX 3090`` and ``a100`` work)."""
    key = name.strip().upper().replace("RTX", "").replace("NVIDIA", "").replace(" ", "").replace("-", "")
    for row in GPU_TABLE:
        if key == row.name or key.startswith(row.name):
            return row
    raise ConfigError(f"--gpu must be one of {', '.join(GPU_CHOICES)} (or give --gpu-mem GB), but got {name!r}")


def device_batch(params: int, method: str, effective_batch: int, *, gpu: str | None = None,
                 memory_gb: float | None = None) -> DeviceBatch:
    """Per-device batch and accumulation for ``effective_batch`` rows per optimizer step.

    Args:
        params: model parameters.
        method: ``full``, ``lora`` or ``qlora``.
        effective_batch: rows per optimizer step wanted (batch x accumulation).
        gpu: a :data:`GPU_CHOICES` name; its memory unless ``memory_gb`` is given.
        memory_gb: GPU memory in GB (overrides the table's).

    Example:
        >>> [device_batch(124_000_000, "full", 64, gpu=g).batch_size for g in ("V100", "3090", "A100")]
        [16, 32, 64]
        >>> d = device_batch(7_000_000_000, "lora", 32, gpu="A100")
        >>> d.batch_size, d.grad_accum
        (2, 16)
    """
    if method not in BYTES_PER_PARAM:
        raise ConfigError(f"method must be one of {', '.join(BYTES_PER_PARAM)}, but got {method!r}")
    if effective_batch < 1:
        raise ConfigError(f"the effective batch must be >= 1, but got {effective_batch}")
    row = gpu_row(gpu) if gpu is not None else None
    if memory_gb is None:
        if row is None:
            raise ConfigError("give --gpu NAME or --gpu-mem GB")
        memory_gb = row.memory_gb
    if not (math.isfinite(memory_gb) and memory_gb > 0):
        raise ConfigError(f"--gpu-mem must be a positive number of GB, but got {memory_gb}")
    fixed = params * BYTES_PER_PARAM[method] / 1e9 + RUNTIME_GB
    row_gb = REF_ROW_GB * (params / REF_PARAMS) ** (2 / 3)
    fit_rows = (memory_gb - fixed) / row_gb
    fits = fit_rows >= 1
    batch = 1 if not fits else 2 ** int(math.floor(math.log2(fit_rows)))
    batch = min(batch, 2 ** int(math.floor(math.log2(effective_batch))))
    accum = max(1, math.ceil(effective_batch / batch))
    return DeviceBatch(batch, accum, float(memory_gb), fixed, row_gb, fits, row)
