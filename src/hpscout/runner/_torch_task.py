"""What a ``torch.factory`` gives the plain-PyTorch runner (:mod:`hpscout.runner._torch`).

Point ``torch.factory`` at ``"module:function"``. The function is called as
``factory(config, info)`` with the resolved :class:`~hpscout.config.ExperimentConfig`
and a :class:`TorchTrialInfo` (fraction, seed, trial folder, device) and returns a
:class:`TorchTask`. The factory owns its data: it takes ``info.fraction`` of its
training rows (with ``info.seed``) itself.

Example factory (a 2-layer MLP on scikit-learn's digits)::

    def factory(config, info):
        x, y = load_digits(return_X_y=True)
        n = max(int(len(x) * info.fraction), 1)
        rows = np.random.default_rng(info.seed).permutation(len(x))[:n]
        ...
        return TorchTask(
            model=mlp,
            train_loader=lambda batch_size, seed: DataLoader(train, batch_size, shuffle=True,
                                                             generator=torch.Generator().manual_seed(seed)),
            loss_fn=lambda model, batch: F.cross_entropy(model(batch[0]), batch[1]),
            eval_fn=lambda model: {"eval_accuracy": ..., "eval_loss": ...},
            train_samples=n,
        )
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpscout._errors import RunnerError
from hpscout._imports import import_callable

__all__ = ["TorchTask", "TorchTrialInfo", "load_factory"]


@dataclass(frozen=True)
class TorchTrialInfo:
    """What a factory gets besides the config.

    Attributes:
        fraction: share of the training rows this trial trains on (the factory subsets its data).
        seed: the trial's seed (``config.seed``); use it for the subset and the model init.
        out_dir: the trial folder (for files the factory wants to keep).
        device: ``"cuda"`` or ``"cpu"``: where the runner puts the model and batches.
    """

    fraction: float
    seed: int
    out_dir: Path
    device: str


@dataclass
class TorchTask:
    """What a ``torch.factory`` returns.

    Attributes:
        model: the ``nn.Module`` to train (the runner moves it to the device).
        train_loader: ``(batch_size, seed) -> iterable of batches`` for one epoch; called
            once per epoch with ``seed = config.seed + epoch``. Batches may be tensors or
            tuples/lists/dicts of tensors; the runner moves them to the device.
        loss_fn: ``(model, batch) -> scalar loss tensor``.
        eval_fn: ``(model) -> {metric: value}``, run under ``torch.no_grad()`` with the
            model in eval mode. Names without an ``eval_`` prefix get one
            (``accuracy`` -> ``eval_accuracy``), so ``search.metric`` reads as for HF tasks.
        train_samples: rows in this trial's training subset.
        steps_per_epoch: batches per epoch, needed only when the loader has no ``len()``.
    """

    model: Any
    train_loader: Callable[[int, int], Iterable[Any]]
    loss_fn: Callable[[Any, Any], Any]
    eval_fn: Callable[[Any], dict[str, float]]
    train_samples: int
    steps_per_epoch: int | None = None


def load_factory(target: str) -> Callable[..., TorchTask]:
    """Import ``"module:function"`` (``torch.factory``)."""
    return import_callable(target, "torch.factory", error=RunnerError)
