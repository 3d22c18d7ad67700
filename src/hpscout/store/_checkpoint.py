"""Checkpoints hpscout wrote: a manifest of hashes next to the weights, and the only way back in.

``trainer.save_model`` leaves weights, configs and tokenizer files in a trial's
``best_checkpoint/``. :func:`write_checkpoint_manifest` then lists every file with
its size and SHA-256 in ``hpscout-checkpoint.json``; :func:`load_checkpoint_state`
loads weights only from a folder whose manifest still matches, and only as tensors:
safetensors, or ``torch.load(weights_only=True)`` for ``.bin/.pt/.pth``. A pickle
that holds anything but tensors is refused, even when its hash matches (someone
who rewrote the weights can rewrite the manifest too). hpscout never calls
``pickle.load`` or ``torch.load(weights_only=False)``.

::

    best_checkpoint/
      hpscout-checkpoint.json   {"format": 1, "files": [{"path", "bytes", "sha256"}], "provenance": {...}}
      adapter_model.safetensors
      adapter_config.json ...
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from hpscout._errors import CheckpointError, StorageError
from hpscout._imports import try_import
from hpscout._io import atomic_write_json, read_json, sha256_of_file
from hpscout._version import __version__

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHECKPOINT_MANIFEST",
    "WEIGHT_SUFFIXES",
    "write_checkpoint_manifest",
    "verify_checkpoint",
    "load_checkpoint_state",
]

CHECKPOINT_MANIFEST = "hpscout-checkpoint.json"
MANIFEST_FORMAT = 1
#: files that hold weights (several of them pickles); an unlisted one makes a checkpoint invalid
WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".safetensors")
#: pickle-based formats that torch.load(weights_only=True) can read as plain tensors
_TORCH_SUFFIXES = (".bin", ".pt", ".pth")
_CHUNK = 1 << 20


def write_checkpoint_manifest(directory: str | os.PathLike[str], **provenance: Any) -> Path:
    """List every file of a checkpoint folder (path, bytes, SHA-256) in its manifest, atomically.

    Args:
        directory: the folder ``trainer.save_model`` wrote.
        **provenance: JSON-serialisable facts about where the weights came from
            (config name and hash, step, metric, ...); stored under ``provenance``.

    Returns:
        The manifest's path.

    Example:
        >>> write_checkpoint_manifest("runs/demo/trials/t1/best_checkpoint", config_name="demo")  # doctest: +SKIP
        PosixPath('runs/demo/trials/t1/best_checkpoint/hpscout-checkpoint.json')
    """
    folder = Path(directory)
    if not folder.is_dir():
        raise CheckpointError(f"cannot write a checkpoint manifest: {folder} is not a folder")
    files = []
    for path in _files(folder, include_links=True):
        if path.is_symlink():
            # verify_checkpoint refuses links (they can point anywhere); refuse to vouch for one here too
            raise CheckpointError(f"{path} is a link; a checkpoint hpscout vouches for holds plain files only")
        files.append({"path": _rel(path, folder), "bytes": path.stat().st_size, "sha256": _sha256(path)})
    manifest = {
        "format": MANIFEST_FORMAT,
        "hpscout_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "provenance": provenance,
        "files": files,
    }
    target = folder / CHECKPOINT_MANIFEST
    atomic_write_json(target, manifest)
    return target


def verify_checkpoint(directory: str | os.PathLike[str]) -> dict[str, Any]:
    """Check that a folder is a checkpoint hpscout wrote and nothing in it changed since.

    Raises :class:`CheckpointError` (naming the folder and the file) when the folder
    or its manifest is missing, a listed file is missing or differs from its hash,
    or a weight file (``.bin .pt .pth .pkl .pickle .ckpt .safetensors``) is not listed.

    Returns:
        The manifest.

    Example:
        >>> verify_checkpoint("runs/demo/trials/t1/best_checkpoint")["provenance"]  # doctest: +SKIP
        {'config_name': 'demo', ...}
    """
    folder = Path(directory)
    if not folder.exists():
        raise CheckpointError(f"checkpoint folder {folder} does not exist")
    if not folder.is_dir():
        raise CheckpointError(f"a checkpoint must be a folder, but {folder} is a file")
    manifest_path = folder / CHECKPOINT_MANIFEST
    if not manifest_path.is_file() or manifest_path.is_symlink():
        raise CheckpointError(
            f"{folder} has no {CHECKPOINT_MANIFEST}: it is not a checkpoint hpscout wrote "
            "(trials write one into best_checkpoint/ with train.save_best_checkpoint=true), so it is not loaded"
        )
    try:
        manifest = read_json(manifest_path)
    except StorageError as exc:
        raise CheckpointError(f"{manifest_path} is not a readable checkpoint manifest: {exc}") from exc
    entries = _entries(manifest, manifest_path)
    listed = set()
    for entry in entries:
        rel = entry["path"]
        path = folder / rel
        listed.add(rel)
        if path.is_symlink() or not path.is_file():
            raise CheckpointError(f"{path} is listed in {manifest_path} but is missing (or not a plain file); the checkpoint is refused")
        size, digest = path.stat().st_size, _sha256(path)
        if size != entry["bytes"] or digest != entry["sha256"]:
            raise CheckpointError(
                f"{path} was modified after hpscout wrote it (sha256 {digest[:12]}..., {size} bytes; "
                f"the manifest says {entry['sha256'][:12]}..., {entry['bytes']} bytes); the checkpoint {folder} is refused"
            )
    for path in _files(folder, include_links=True):
        rel = _rel(path, folder)
        if path.is_symlink() and rel not in listed:
            raise CheckpointError(f"{path} is a link hpscout did not write; the checkpoint {folder} is refused")
        if path.suffix.lower() in WEIGHT_SUFFIXES and rel not in listed:
            raise CheckpointError(
                f"{path} holds weights but is not listed in {manifest_path}: hpscout did not write it, "
                f"so the checkpoint {folder} is refused"
            )
    return manifest


def load_checkpoint_state(directory: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """Verify a checkpoint folder, then load its weights as tensors (CPU), never as arbitrary objects.

    ``.safetensors`` load with ``safetensors.torch.load_file``; ``.bin/.pt/.pth`` only with
    ``torch.load(weights_only=True)``, which refuses any pickle that holds more than
    tensors. Other pickle formats are refused outright. Every refusal is a
    :class:`CheckpointError` naming the file.

    Example:
        >>> state = load_checkpoint_state("runs/demo/trials/t1/best_checkpoint")  # doctest: +SKIP
        >>> sorted(state)[:1]  # doctest: +SKIP
        ['base_model.model.bert.encoder.layer.0.attention.self.query.lora_A.weight']
    """
    folder = Path(directory)
    manifest = verify_checkpoint(folder)
    weights = [e["path"] for e in manifest["files"] if PurePosixPath(e["path"]).suffix.lower() in WEIGHT_SUFFIXES]
    if not weights:
        raise CheckpointError(f"the checkpoint {folder} lists no weight file ({', '.join(WEIGHT_SUFFIXES)})")
    state: dict[str, Any] = {}
    for rel in weights:
        part = _load_weights(folder / rel)
        clash = sorted(set(part) & set(state))
        if clash:
            raise CheckpointError(f"{folder / rel} repeats tensors another weight file of {folder} holds: {', '.join(clash[:3])}")
        state.update(part)
    return state


# --------------------------------------------------------------------------- helpers


def _load_weights(path: Path) -> dict[str, Any]:
    suffix = path.suffix.lower()
    torch = try_import("torch", "loading a checkpoint")
    if suffix == ".safetensors":
        safetensors_torch = try_import("safetensors.torch", "loading a checkpoint")
        try:
            state = safetensors_torch.load_file(str(path), device="cpu")
        except Exception as exc:  # noqa: BLE001 - a header or data error: the file is not valid safetensors
            raise CheckpointError(f"{path} is not a readable safetensors file: {exc}") from exc
    elif suffix in _TORCH_SUFFIXES:
        try:
            with warnings.catch_warnings():
                # a raw pickle (not torch.save's zip) draws a protocol warning before the refusal below
                warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
                # weights_only=True: the unpickler accepts tensors and plain containers, nothing that runs code
                state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001 - UnpicklingError and every other load error mean "refused"
            raise CheckpointError(
                f"{path} holds more than tensors and was refused (torch.load with weights_only=True: {_refusal(exc)}); "
                "hpscout never unpickles arbitrary objects"
            ) from exc
    else:
        raise CheckpointError(f"{path} is a {suffix} pickle; hpscout loads only .safetensors and .bin/.pt/.pth tensor files")
    if not isinstance(state, dict) or not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise CheckpointError(f"{path} does not hold a mapping of names to tensors; the checkpoint is refused")
    return state


def _refusal(exc: Exception) -> str:
    """The reason torch gives (the refused global or opcode), without its advice to retry with weights_only=False."""
    text = str(exc).split("Check the documentation of torch.load")[0]
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
    paragraphs = [p for p in text.split("\n\n") if p.strip() and not p.strip().startswith("Weights only load failed")]
    reason = " ".join(" ".join(paragraphs).split())
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__


def _entries(manifest: Any, manifest_path: Path) -> list[dict[str, Any]]:
    """The manifest's file list, each path a plain relative path inside the folder."""
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, list) or manifest.get("format") != MANIFEST_FORMAT:
        raise CheckpointError(f"{manifest_path} is not a checkpoint manifest of format {MANIFEST_FORMAT}")
    for entry in files:
        ok = (
            isinstance(entry, dict)
            and isinstance(entry.get("path"), str)
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("bytes"), int)
        )
        if not ok:
            raise CheckpointError(f"{manifest_path} has a malformed file entry: {str(entry)[:120]}")
        rel = PurePosixPath(entry["path"])
        if rel.is_absolute() or ".." in rel.parts or not rel.parts or "\\" in entry["path"] or "\0" in entry["path"]:
            raise CheckpointError(f"{manifest_path} lists {entry['path']!r}, which is outside the checkpoint folder")
    return files


def _files(folder: Path, *, include_links: bool = False) -> list[Path]:
    """Files under ``folder`` (sorted), the manifest itself left out."""
    out = []
    for path in sorted(folder.rglob("*")):
        if path == folder / CHECKPOINT_MANIFEST:
            continue
        if path.is_symlink():
            if include_links:
                out.append(path)
            continue
        if path.is_file():
            out.append(path)
    return out


def _rel(path: Path, folder: Path) -> str:
    return path.relative_to(folder).as_posix()


def _sha256(path: Path) -> str:
    try:
        return sha256_of_file(path, _CHUNK)
    except OSError as exc:
        raise CheckpointError(f"cannot read {path}: {exc.strerror or exc}") from exc
