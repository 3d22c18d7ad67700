"""Checkpoint manifests: only folders hpscout wrote load back, and only as tensors (planted pickles refused)."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from hpscout import CheckpointError, HpscoutError
from hpscout.store import (
    CHECKPOINT_MANIFEST,
    load_checkpoint_state,
    verify_checkpoint,
    write_checkpoint_manifest,
)

torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")


class _Shell:
    """A pickle payload: unpickling it runs ``command`` in a shell (what a malicious checkpoint does)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


class _Exec:
    """A payload that needs no shell: unpickling it runs Python code that writes a marker file."""

    def __init__(self, marker: Path) -> None:
        self.code = f"open({str(marker)!r}, 'w').write('pwned')"

    def __reduce__(self):
        return (exec, (self.code,))


def _state() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return {
        "base_model.model.encoder.query.lora_A.weight": torch.randn(4, 8, generator=g),
        "base_model.model.encoder.query.lora_B.weight": torch.randn(8, 4, generator=g),
    }


def _checkpoint(folder: Path, state: dict[str, torch.Tensor] | None = None) -> Path:
    """A folder laid out like PEFT's save_pretrained, with hpscout's manifest."""
    folder.mkdir(parents=True)
    safetensors_torch.save_file(state or _state(), str(folder / "adapter_model.safetensors"))
    (folder / "adapter_config.json").write_text(json.dumps({"r": 4, "peft_type": "LORA"}))
    (folder / "sub").mkdir()
    (folder / "sub" / "tokenizer.json").write_text("{}")
    write_checkpoint_manifest(folder, config_name="demo", step=4)
    return folder


def test_manifest_round_trip(tmp_path):
    state = _state()
    folder = _checkpoint(tmp_path / "ckpt", state)
    manifest = json.loads((folder / CHECKPOINT_MANIFEST).read_text())
    assert [f["path"] for f in manifest["files"]] == ["adapter_config.json", "adapter_model.safetensors", "sub/tokenizer.json"]
    weights = next(f for f in manifest["files"] if f["path"] == "adapter_model.safetensors")
    assert weights["bytes"] == (folder / "adapter_model.safetensors").stat().st_size and len(weights["sha256"]) == 64
    assert manifest["provenance"] == {"config_name": "demo", "step": 4}
    assert manifest["format"] == 1 and manifest["hpscout_version"] and manifest["created"]
    assert verify_checkpoint(folder) == manifest
    loaded = load_checkpoint_state(folder)
    assert set(loaded) == set(state) and all(torch.equal(loaded[k], state[k]) for k in state)
    assert not list(folder.glob(".*.tmp"))  # written atomically: no temp file left


def test_torch_bin_of_plain_tensors_loads(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    state = _state()
    torch.save(state, folder / "adapter_model.bin")
    write_checkpoint_manifest(folder)
    loaded = load_checkpoint_state(folder)
    assert all(torch.equal(loaded[k], state[k]) for k in state)


def test_missing_folder_and_missing_manifest(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        verify_checkpoint(tmp_path / "nope")
    folder = _checkpoint(tmp_path / "ckpt")
    (folder / CHECKPOINT_MANIFEST).unlink()
    with pytest.raises(CheckpointError, match="not a checkpoint hpscout wrote") as info:
        load_checkpoint_state(folder)
    assert str(folder) in str(info.value)
    assert isinstance(info.value, HpscoutError) and info.value.exit_code == 2


def test_tampered_file_is_refused(tmp_path):
    folder = _checkpoint(tmp_path / "ckpt")
    other = _state()
    other["base_model.model.encoder.query.lora_A.weight"] += 1.0
    safetensors_torch.save_file(other, str(folder / "adapter_model.safetensors"))
    with pytest.raises(CheckpointError, match="was modified after hpscout wrote it") as info:
        load_checkpoint_state(folder)
    assert str(folder / "adapter_model.safetensors") in str(info.value)
    # a changed non-weight file counts too
    folder2 = _checkpoint(tmp_path / "ckpt2")
    (folder2 / "sub" / "tokenizer.json").write_text('{"x": 1}')
    with pytest.raises(CheckpointError, match=r"sub/tokenizer\.json was modified"):
        verify_checkpoint(folder2)


def test_listed_file_missing_is_refused(tmp_path):
    folder = _checkpoint(tmp_path / "ckpt")
    (folder / "adapter_config.json").unlink()
    with pytest.raises(CheckpointError, match="adapter_config.json is listed .* but is missing"):
        verify_checkpoint(folder)


@pytest.mark.parametrize("name", ["adapter_model.bin", "sub/extra.pt", "optimizer.PKL", "x.ckpt", "more.safetensors"])
def test_unlisted_weight_file_is_refused(tmp_path, name):
    folder = _checkpoint(tmp_path / "ckpt")
    torch.save(_state(), folder / name)
    with pytest.raises(CheckpointError, match="is not listed in") as info:
        verify_checkpoint(folder)
    assert name in str(info.value) and str(folder) in str(info.value)


def test_unlisted_other_file_is_allowed(tmp_path):
    folder = _checkpoint(tmp_path / "ckpt")
    (folder / "notes.txt").write_text("a user's note")
    verify_checkpoint(folder)


def test_manifest_paths_stay_inside_and_links_are_refused(tmp_path):
    outside = tmp_path / "outside.safetensors"
    safetensors_torch.save_file(_state(), str(outside))
    folder = _checkpoint(tmp_path / "ckpt")
    manifest = json.loads((folder / CHECKPOINT_MANIFEST).read_text())
    manifest["files"].append({"path": "../outside.safetensors", "bytes": outside.stat().st_size, "sha256": "0" * 64})
    (folder / CHECKPOINT_MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(CheckpointError, match="outside the checkpoint folder"):
        load_checkpoint_state(folder)

    folder2 = _checkpoint(tmp_path / "ckpt2")
    (folder2 / "linked.safetensors").symlink_to(outside)
    with pytest.raises(CheckpointError, match="is a link"):
        verify_checkpoint(folder2)
    with pytest.raises(CheckpointError, match="is a link"):
        write_checkpoint_manifest(folder2)


def test_garbled_manifest_is_refused(tmp_path):
    folder = _checkpoint(tmp_path / "ckpt")
    (folder / CHECKPOINT_MANIFEST).write_text("{not json")
    with pytest.raises(CheckpointError, match="not a readable checkpoint manifest"):
        verify_checkpoint(folder)
    (folder / CHECKPOINT_MANIFEST).write_text(json.dumps({"format": 1, "files": [{"path": "a"}]}))
    with pytest.raises(CheckpointError, match="malformed file entry"):
        verify_checkpoint(folder)


# --------------------------------------------------------------------------- the planted pickle


def _plant(folder: Path, payload: object, *, name: str = "adapter_model.bin", fmt: str = "pickle2") -> Path:
    """The worst case: an attacker replaced the weights AND rewrote the manifest so every hash matches."""
    path = folder / name
    if fmt == "torch-zip":
        torch.save({"lora_A": payload}, path)  # the zip format torch.save writes, payload inside
    else:
        # protocol 2 is what torch's legacy format uses; protocol 5 is pickle's default
        path.write_bytes(pickle.dumps(payload, protocol=2 if fmt == "pickle2" else 5))
    write_checkpoint_manifest(folder, config_name="demo")  # doctored: hashes match the planted file
    verify_checkpoint(folder)  # integrity alone cannot catch this
    return path


@pytest.mark.parametrize("fmt", ["pickle2", "pickle5", "torch-zip"])
def test_planted_os_system_pickle_is_refused(tmp_path, fmt):
    marker = tmp_path / "pwned"
    folder = _checkpoint(tmp_path / "ckpt")
    _plant(folder, _Shell(f"touch {marker}"), fmt=fmt)
    with pytest.raises(CheckpointError, match="holds more than tensors and was refused") as info:
        load_checkpoint_state(folder)
    message = str(info.value)
    assert str(folder / "adapter_model.bin") in message
    assert "weights_only` set to `False`" not in message  # torch's advice to retry unsafely is not passed on
    if fmt != "pickle5":
        assert "system" in message  # the refused global is named (posix.system / os.system)
    assert not marker.exists()
    # the payload is live: plain unpickling would have run it
    if fmt != "torch-zip":
        pickle.loads((folder / "adapter_model.bin").read_bytes())
        assert marker.exists()


def test_planted_exec_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned-exec"
    folder = _checkpoint(tmp_path / "ckpt")
    _plant(folder, _Exec(marker), name="pytorch_model.pth")
    with pytest.raises(CheckpointError, match="pytorch_model.pth holds more than tensors"):
        load_checkpoint_state(folder)
    assert not marker.exists()


@pytest.mark.parametrize("name", ["adapter.pkl", "adapter.pickle", "model.ckpt"])
def test_other_pickle_formats_are_never_loaded(tmp_path, name):
    marker = tmp_path / "pwned"
    folder = _checkpoint(tmp_path / "ckpt")
    _plant(folder, _Shell(f"touch {marker}"), name=name)
    with pytest.raises(CheckpointError, match="hpscout loads only .safetensors and .bin/.pt/.pth"):
        load_checkpoint_state(folder)
    assert not marker.exists()


def test_non_tensor_values_are_refused(tmp_path):
    folder = tmp_path / "ckpt"
    folder.mkdir()
    torch.save({"a": [1, 2, 3]}, folder / "adapter_model.bin")  # allowed by weights_only, but not tensors
    write_checkpoint_manifest(folder)
    with pytest.raises(CheckpointError, match="does not hold a mapping of names to tensors"):
        load_checkpoint_state(folder)


def test_store_import_stays_light():
    code = "import sys, hpscout.store; print('torch' in sys.modules, 'safetensors' in sys.modules)"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["False", "False"]
