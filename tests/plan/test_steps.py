import math

import pytest

from hpscout._errors import ConfigError
from hpscout.plan import plan_steps, warmup_steps_from


def test_worked_example_trainer_and_naive_figures():
    p = plan_steps(10_000, 8, grad_accum=4, devices=2, epochs=3, warmup_ratio=0.1)
    assert p.effective_batch_size == 64
    assert p.batches_per_epoch == 625
    assert p.steps_per_epoch == 157  # ceil(625 / 4): the trailing partial window still steps
    assert p.total_steps == 471
    assert p.warmup_steps == 48  # ceil(47.1)
    assert (p.naive_steps_per_epoch, p.naive_total_steps, p.naive_warmup_steps) == (156, 468, 47)
    assert p.differs_from_naive
    d = p.to_dict()
    assert d["total_steps"] == 471 and d["differs_from_naive"] is True


def test_even_division_matches_naive():
    p = plan_steps(6400, 8, grad_accum=4, devices=2, epochs=2, warmup_ratio=0.05)
    assert (p.steps_per_epoch, p.total_steps, p.warmup_steps) == (100, 200, 10)
    assert not p.differs_from_naive


def test_max_steps_wins_over_epochs_and_counts_passes():
    p = plan_steps(100, 8, epochs=5, max_steps=50, warmup_steps=5)
    assert p.total_steps == 50 and p.epochs is None and p.max_steps == 50
    assert p.steps_per_epoch == 13 and p.train_epochs == 4
    assert p.warmup_steps == 5


def test_max_steps_without_samples():
    p = plan_steps(None, 4, max_steps=300, warmup_ratio=0.1)
    assert p.total_steps == 300 and p.warmup_steps == 30 and p.steps_per_epoch is None


def test_fractional_epochs_round_up():
    p = plan_steps(1000, 10, epochs=1.5)
    assert p.steps_per_epoch == 100 and p.total_steps == 150 and p.train_epochs == 2


def test_tiny_dataset_still_makes_one_step():
    p = plan_steps(3, 8, grad_accum=16, epochs=1)
    assert p.batches_per_epoch == 1 and p.steps_per_epoch == 1 and p.total_steps == 1
    assert p.naive_steps_per_epoch == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(samples=0, batch_size=8, epochs=1),
        dict(samples=100, batch_size=0, epochs=1),
        dict(samples=100, batch_size=8),  # neither epochs nor max_steps
        dict(samples=None, batch_size=8, epochs=1),
        dict(samples=100, batch_size=8, epochs=1, warmup_ratio=0.1, warmup_steps=5),
        dict(samples=100, batch_size=8, epochs=0),
        dict(samples=100, batch_size=8, epochs=1, warmup_ratio=1.0),
        dict(samples=100, batch_size=8, epochs=1, warmup_steps=-1),
        dict(samples=100.5, batch_size=8, epochs=1),
    ],
)
def test_bad_inputs_raise_config_error(kwargs):
    with pytest.raises(ConfigError):
        plan_steps(**kwargs)


def test_warmup_steps_from():
    assert warmup_steps_from(471, warmup_ratio=0.1) == 48
    assert warmup_steps_from(471, warmup_steps=20) == 20
    assert warmup_steps_from(471) == 0
    with pytest.raises(ConfigError):
        warmup_steps_from(471, warmup_steps=1, warmup_ratio=0.1)


# --------------------------------------------------------------------------- against transformers itself


@pytest.mark.parametrize("total", [1, 7, 99, 100, 470, 471, 1000, 12_345])
@pytest.mark.parametrize("ratio", [0.0, 0.03, 0.05, 0.06, 0.1, 0.2, 0.333])
def test_warmup_rounding_matches_training_arguments(total, ratio):
    transformers = pytest.importorskip("transformers")
    args = transformers.TrainingArguments(output_dir="/tmp/hpscout-unused", warmup_steps=ratio, report_to=[], use_cpu=True)
    assert warmup_steps_from(total, warmup_ratio=ratio) == args.get_warmup_steps(total)


@pytest.mark.parametrize("samples", [1, 7, 100, 1001, 10_000])
@pytest.mark.parametrize("batch,devices", [(8, 2), (3, 4), (16, 1)])
def test_sharded_dataloader_length_matches_accelerate(samples, batch, devices):
    """Batches per device equal accelerate's BatchSamplerShard length (drop_last False, even batches)."""
    pytest.importorskip("accelerate")
    from accelerate.data_loader import BatchSamplerShard
    from torch.utils.data import BatchSampler, SequentialSampler

    base = BatchSampler(SequentialSampler(range(samples)), batch_size=batch, drop_last=False)
    shard = BatchSamplerShard(base, num_processes=devices, process_index=0, split_batches=False, even_batches=True)
    p = plan_steps(samples, batch, devices=devices, epochs=1)
    assert p.batches_per_epoch == len(shard) == math.ceil(samples / (batch * devices))


def test_real_trainer_global_step_matches_total_steps(tmp_path):
    """Train a tiny random BERT with the real Trainer and compare its step count with plan_steps."""
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")

    samples, batch, accum, epochs = 203, 4, 3, 2
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=100, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, num_labels=2
    )
    model = transformers.BertForSequenceClassification(config)
    rows = [
        {
            "input_ids": torch.randint(1, 100, (8,)),
            "attention_mask": torch.ones(8, dtype=torch.long),
            "labels": torch.tensor(i % 2),
        }
        for i in range(samples)
    ]
    args = transformers.TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=batch,
        gradient_accumulation_steps=accum,
        num_train_epochs=epochs,
        warmup_steps=0.1,  # a float below 1 is a ratio in transformers 5
        learning_rate=1e-3,
        use_cpu=True,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )
    trainer = transformers.Trainer(model=model, args=args, train_dataset=rows)
    trainer.train()

    plan = plan_steps(samples, batch, grad_accum=accum, devices=1, epochs=epochs, warmup_ratio=0.1)
    # 203 rows / 4 = 51 batches; ceil(51 / 3) = 17 steps per epoch; 34 total (naive: floor(203/12) = 16 -> 32)
    assert plan.total_steps == 34 and plan.naive_total_steps == 32
    assert trainer.state.global_step == plan.total_steps
    assert args.get_warmup_steps(trainer.state.max_steps) == plan.warmup_steps
