"""Precision and device: resolve_precision on fake devices, the CPU path, a real-CUDA check."""

from __future__ import annotations

import pytest

from hpscout._errors import RunnerError
from hpscout.runner import DeviceInfo, resolve_precision

CPU = DeviceInfo(cuda=False)
AMPERE = DeviceInfo(cuda=True, bf16_supported=True, name="cuda:0 A100")
VOLTA = DeviceInfo(cuda=True, bf16_supported=False, name="cuda:0 V100")


def test_auto():
    assert resolve_precision("auto", CPU).name == "fp32"
    p = resolve_precision("auto", AMPERE)
    assert (p.name, p.loss_scaling, p.note) == ("bf16", False, None)
    p = resolve_precision("auto", VOLTA)
    assert (p.name, p.loss_scaling, p.note) == ("fp16", True, None)


def test_explicit():
    assert resolve_precision("fp32", AMPERE).name == "fp32" and not resolve_precision("fp32", AMPERE).autocast
    assert resolve_precision("fp16", AMPERE).loss_scaling
    p = resolve_precision("bf16", VOLTA)
    assert p.name == "fp16" and p.loss_scaling and "does not support bf16" in p.note
    p = resolve_precision("fp16", CPU)
    assert p.name == "fp32" and "needs a CUDA GPU" in p.note
    p = resolve_precision("bf16", CPU)
    assert p.name == "bf16" and "CPU autocast" in p.note
    with pytest.raises(RunnerError, match="auto, fp32, fp16, bf16"):
        resolve_precision("fp8", AMPERE)


def test_cpu_trainer_arguments(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    if torch.cuda.is_available():
        pytest.skip("checks the CPU path")
    from _fixtures import classification_config

    from hpscout.runner._hf_trainer import build_training_args

    device = DeviceInfo.detect()
    assert device == DeviceInfo(cuda=False, bf16_supported=False, name="cpu")
    precision = resolve_precision("auto", device)
    args = build_training_args(
        classification_config(tmp_path), output_dir=tmp_path, precision=precision, device=device,
        optim="adamw_torch", checkpointing=False, report_to=[],
    )
    assert precision.name == "fp32" and not args.fp16 and not args.bf16 and args.use_cpu
    assert args.dataloader_num_workers == 0 and args.disable_tqdm and args.save_strategy == "no"
    assert args.seed == args.data_seed == 7


@pytest.mark.gpu
def test_real_cuda_auto():
    import torch

    device = DeviceInfo.detect()
    assert device.cuda and device.bf16_supported == torch.cuda.is_bf16_supported()
    expected = "bf16" if device.bf16_supported else "fp16"
    assert resolve_precision("auto", device).name == expected


@pytest.mark.gpu
def test_real_cuda_trial_bf16_or_fp16(tmp_path):
    from _fixtures import classification_config

    from hpscout.runner import TrialStatus, run_trial

    r = run_trial(classification_config(tmp_path, max_steps=3, method="lora"), out_dir=tmp_path / "t")
    assert r.status is TrialStatus.COMPLETE, r.message
    assert r.versions["device"].startswith("cuda")
