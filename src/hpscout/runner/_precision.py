"""Which device a trial runs on and in which numeric precision.

Device placement is left to the Trainer (or ``torch.device("cuda")`` in the
plain-torch runner), so ``CUDA_VISIBLE_DEVICES`` decides which GPU a worker
uses: the search layer starts one worker per GPU with that variable set.

Precision policy (``train.precision``):

========== ============================== ==================================
requested  CUDA GPU                       CPU
========== ============================== ==================================
auto       bf16 if supported, else fp16   fp32
           with loss scaling
fp32       fp32                           fp32
bf16       bf16; fp16 + note if the GPU   bf16 autocast (torch supports it;
           lacks bf16                     slow on CPUs without AMX)
fp16       fp16 with loss scaling         fp32 + note: fp16 mixed precision
                                          needs a GPU (the Trainer refuses it)
========== ============================== ==================================

A fallback never fails the trial: the note goes into the trial's message, so a
config written for a GPU still scouts on a laptop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from hpscout._errors import RunnerError

__all__ = ["DeviceInfo", "Precision", "resolve_precision"]

PrecisionName = Literal["fp32", "fp16", "bf16"]


@dataclass(frozen=True)
class DeviceInfo:
    """What the trial's device can do. Build it with :meth:`detect`; tests build fakes."""

    cuda: bool
    bf16_supported: bool = False
    name: str = "cpu"

    @classmethod
    def detect(cls) -> DeviceInfo:
        """Inspect the current process (honours ``CUDA_VISIBLE_DEVICES``)."""
        import torch

        if not torch.cuda.is_available():
            return cls(cuda=False, bf16_supported=False, name="cpu")
        return cls(
            cuda=True,
            bf16_supported=bool(torch.cuda.is_bf16_supported()),
            name=f"cuda:{torch.cuda.current_device()} {torch.cuda.get_device_name()}",
        )


@dataclass(frozen=True)
class Precision:
    """The resolved numeric precision of a trial.

    Attributes:
        name: fp32, fp16 or bf16 (the compute dtype of autocast; weights stay fp32).
        loss_scaling: True for fp16 (a GradScaler keeps small gradients from underflowing).
        note: why the result differs from the request, when it does.
    """

    name: PrecisionName
    loss_scaling: bool = False
    note: str | None = None

    @property
    def autocast(self) -> bool:
        """Whether forward passes run under autocast."""
        return self.name != "fp32"


def resolve_precision(requested: str, device: DeviceInfo) -> Precision:
    """Turn ``train.precision`` into what this device runs.

    Args:
        requested: auto, fp32, fp16 or bf16.
        device: the device's capabilities (:meth:`DeviceInfo.detect`).

    Example:
        >>> resolve_precision("auto", DeviceInfo(cuda=True, bf16_supported=True)).name
        'bf16'
        >>> resolve_precision("auto", DeviceInfo(cuda=False)).name
        'fp32'
    """
    if requested not in ("auto", "fp32", "fp16", "bf16"):
        raise RunnerError(f"train.precision must be one of auto, fp32, fp16, bf16, but got {requested!r}")
    if requested == "fp32":
        return Precision("fp32")
    if not device.cuda:
        if requested == "auto":
            return Precision("fp32")
        if requested == "bf16":
            return Precision("bf16", note="bf16 on CPU runs under CPU autocast (slow on CPUs without AMX)")
        return Precision(
            "fp32", note="precision fp16 needs a CUDA GPU (fp16 mixed precision is not supported on CPU); ran in fp32"
        )
    if requested in ("auto", "bf16") and device.bf16_supported:
        return Precision("bf16")
    if requested == "bf16":
        return Precision("fp16", loss_scaling=True, note=f"{device.name} does not support bf16; ran in fp16 with loss scaling")
    return Precision("fp16", loss_scaling=True)
