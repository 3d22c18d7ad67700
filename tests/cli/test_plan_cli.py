import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from hpscout.cli import main
from hpscout.config import config_from_dict

# --------------------------------------------------------------------------- schedule


def test_schedule_cosine_at_steps(capsys):
    rc = main(["schedule", "--type", "cosine", "--lr", "5e-5", "--total-steps", "1000", "--warmup-steps", "0", "--at", "250,500,750"])
    assert rc == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines == ["250  4.2678e-05", "500  2.5000e-05", "750  7.3223e-06"]


def test_schedule_polynomial_lets_lr_end_zero_through(capsys):
    argv = ["schedule", "--type", "polynomial", "--power", "2", "--lr-end", "0", "--lr", "5e-5", "--total-steps", "1000",
            "--at", "250,500,750", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["steps"] == [250, 500, 750]
    assert out["lr"] == pytest.approx([2.8125e-5, 1.25e-5, 3.125e-6])


def test_schedule_linear_and_json_every_step(capsys):
    assert main(["schedule", "--type", "linear", "--lr", "5e-5", "--total-steps", "1000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # the curve, and what makes it: the schedule's name and every parameter in effect
    assert set(out) == {"schedule", "peak_lr", "total_steps", "warmup_steps", "warmup_ratio", "params", "notes", "steps", "lr"}
    assert out["schedule"] == "linear" and out["peak_lr"] == 5e-5 and out["total_steps"] == 1000
    assert out["steps"] == list(range(1001)) and out["lr"][250] == pytest.approx(3.75e-5)


def test_schedule_warmup_ratio(capsys):
    assert main(["schedule", "--type", "linear", "--lr", "1e-3", "--total-steps", "471", "--warmup-ratio", "0.1", "--at", "0,48"]) == 0
    assert capsys.readouterr().out.splitlines() == ["0  0.0000e+00", "48  1.0000e-03"]


def test_schedule_default_table(capsys):
    assert main(["schedule", "--type", "cosine", "--lr", "5e-5", "--total-steps", "1000", "--warmup-ratio", "0.05"]) == 0
    steps = [int(line.split()[0]) for line in capsys.readouterr().out.splitlines()]
    assert steps[0] == 0 and 50 in steps and steps[-1] == 1000


@pytest.mark.parametrize("suffix", ["png", "svg"])
def test_schedule_compare_writes_plot(tmp_path, capsys, suffix):
    pytest.importorskip("matplotlib")
    out = tmp_path / f"out.{suffix}"
    argv = ["schedule", "--compare", "linear,cosine,polynomial", "--lr", "5e-5", "--total-steps", "1000", "--plot", str(out)]
    assert main(argv) == 0
    assert out.stat().st_size > 1000
    captured = capsys.readouterr()
    header = captured.out.splitlines()[0]
    assert "linear" in header and "cosine" in header and "polynomial" in header
    assert "wrote" in captured.err


def test_schedule_compare_warmup(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out = tmp_path / "w.png"
    argv = ["schedule", "--type", "cosine", "--compare-warmup", "0,0.05,0.1", "--lr", "2e-3", "--total-steps", "600",
            "--plot", str(out), "--json"]
    assert main(argv) == 0
    data = json.loads(capsys.readouterr().out)
    assert len(data["lr"]) == 3 and out.exists()


def test_schedule_compare_skips_metric_driven_and_filters_options(capsys):
    argv = ["schedule", "--compare", "cosine,polynomial,reduce_lr_on_plateau", "--power", "2", "--lr-end", "0",
            "--lr", "5e-5", "--total-steps", "1000", "--at", "750"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "reduce_lr_on_plateau skipped" in captured.err
    assert captured.out.splitlines()[1].split() == ["750", "7.3223e-06", "3.1250e-06"]


def test_schedule_every_type_accepted(capsys):
    extra = {"cosine_with_min_lr": ["--min-lr-rate", "0.1"], "cosine_warmup_with_min_lr": ["--min-lr", "1e-6"],
             "warmup_stable_decay": ["--decay-ratio", "0.2"], "cosine_with_restarts": ["--num-cycles", "2"]}
    from hpscout.plan import SCHEDULE_NAMES

    for name in SCHEDULE_NAMES:
        argv = ["schedule", "--type", name, "--lr", "1e-4", "--total-steps", "100", "--warmup-ratio", "0.1", "--at", "50"]
        assert main(argv + extra.get(name, [])) == 0, name
    capsys.readouterr()


@pytest.mark.parametrize("name", ["reduce_lr_on_plateau", "greedy"])
def test_schedule_metric_driven_explains_and_exits_0(capsys, name):
    assert main(["schedule", "--type", name, "--lr", "1e-4", "--total-steps", "100"]) == 0
    assert "no fixed curve" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["--type", "cosinus", "--lr", "1e-4", "--total-steps", "100"], "--type"),
        (["--type", "cosine", "--lr", "0", "--total-steps", "100"], "--lr"),
        (["--type", "cosine", "--lr", "-1e-4", "--total-steps", "100"], "--lr"),
        (["--type", "cosine", "--lr", "1e-4", "--total-steps", "0"], "--total-steps"),
        (["--type", "cosine", "--lr", "1e-4", "--total-steps", "100", "--warmup-steps", "5", "--warmup-ratio", "0.1"], "--warmup"),
        (["--type", "cosine", "--lr", "1e-4"], "--total-steps"),
        (["--lr", "1e-4", "--total-steps", "100"], "--type"),
        (["--type", "linear", "--power", "2", "--lr", "1e-4", "--total-steps", "100"], "--power"),
        (["--type", "cosine", "--lr", "1e-4", "--total-steps", "100", "--at", "101"], "--at"),
        (["--type", "cosine", "--lr", "1e-4", "--total-steps", "100", "--plot", "x.gif"], "--plot"),
        (["--compare", "cosine,nope", "--lr", "1e-4", "--total-steps", "100"], "--compare"),
    ],
)
def test_schedule_bad_flags_exit_2_naming_the_flag(capsys, argv, flag):
    assert main(["schedule", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and flag in err and len(err.strip().splitlines()) == 1


def test_schedule_unknown_type_lists_allowed(capsys):
    assert main(["schedule", "--type", "nope", "--lr", "1e-4", "--total-steps", "10"]) == 2
    err = capsys.readouterr().err
    assert "cosine_with_restarts" in err and "one_cycle" in err


# --------------------------------------------------------------------------- plan


def test_plan_json_worked_example(capsys):
    argv = ["plan", "--samples", "10000", "--batch-size", "8", "--grad-accum", "4", "--devices", "2", "--epochs", "3",
            "--warmup-ratio", "0.1", "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["effective_batch_size"], out["steps_per_epoch"], out["total_steps"], out["warmup_steps"]) == (64, 157, 471, 48)
    assert (out["naive_steps_per_epoch"], out["naive_total_steps"], out["naive_warmup_steps"]) == (156, 468, 47)


def test_plan_text_shows_naive_when_different(capsys):
    argv = ["plan", "--samples", "10000", "--batch-size", "8", "--grad-accum", "4", "--devices", "2", "--epochs", "3",
            "--warmup-ratio", "0.1"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "471" in out and "157" in out and "48" in out and "naive" in out and "468" in out


def test_plan_max_steps_and_warmup_steps(capsys):
    assert main(["plan", "--batch-size", "8", "--max-steps", "500", "--warmup-steps", "30", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["total_steps"] == 500 and out["warmup_steps"] == 30


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["--samples", "100", "--batch-size", "8", "--epochs", "1", "--warmup-ratio", "0.1", "--warmup-steps", "3"], "--warmup"),
        (["--samples", "100", "--batch-size", "8"], "--epochs"),
        (["--samples", "0", "--batch-size", "8", "--epochs", "1"], "--samples"),
        (["--samples", "100", "--epochs", "1"], "--batch-size"),
        (["--batch-size", "8", "--epochs", "1"], "--samples"),
        (["--samples", "100", "--batch-size", "8", "--epochs", "1", "--warmup-ratio", "1.5"], "--warmup-ratio"),
    ],
)
def test_plan_bad_flags_exit_2(capsys, argv, flag):
    assert main(["plan", *argv]) == 2
    assert flag in capsys.readouterr().err


# --------------------------------------------------------------------------- lint

LLAMAFACTORY = """\
model_name_or_path: meta-llama/Meta-Llama-3-8B-Instruct
stage: sft
finetuning_type: lora
dataset: alpaca_en_demo
template: llama3
output_dir: saves/llama3-8b/lora/sft
per_device_train_batch_size: 1
gradient_accumulation_steps: 8
learning_rate: 1.0e-4
lr_scheduler_type: cosine
warmup_steps: 500
max_steps: 600
bf16: true
"""


def test_lint_llamafactory_warmup_exit_1(tmp_path, capsys):
    p = tmp_path / "sft.yaml"
    p.write_text(LLAMAFACTORY)
    assert main(["lint", str(p)]) == 1
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert first.startswith("error  warmup_steps  Warmup (500 steps) is 83% of 600 total steps, so") and "fix:" in first


def test_lint_json(tmp_path, capsys):
    p = tmp_path / "sft.yaml"
    p.write_text(LLAMAFACTORY)
    assert main(["lint", str(p), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)
    assert findings[0]["severity"] == "error" and findings[0]["key"] == "warmup_steps"
    assert {"severity", "key", "message", "rule", "fix"} <= set(findings[0])


def test_lint_clean_exit_0(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("name: x\ndata: {train: a.csv}\ntrain: {learning_rate: 2e-3, warmup_ratio: 0.06, method: lora}\n")
    assert main(["lint", str(p), "--samples", "5000"]) == 0
    assert capsys.readouterr().out == ""


def test_lint_warnings_only_exit_0_and_model_size_flag(tmp_path, capsys):
    # full fine-tuning of a causal LM at 1e-4: fine for a small one, above the usual range for 7B
    p = tmp_path / "c.yaml"
    p.write_text(
        "model_name_or_path: ./my-model\nstage: sft\nfinetuning_type: full\ndataset: d\ntemplate: t\noutput_dir: o\n"
        "learning_rate: 1.0e-4\nwarmup_ratio: 0.06\nmax_steps: 1000\ngradient_checkpointing: true\n"
    )
    assert main(["lint", str(p)]) == 0
    assert main(["lint", str(p), "--model-size", "7B"]) == 0
    assert "lr-range" not in capsys.readouterr().out  # text output names keys, not rules
    assert main(["lint", str(p), "--model-size", "7B", "--json"]) == 0
    assert [f["rule"] for f in json.loads(capsys.readouterr().out)] == ["lr-range"]


def test_lint_misspelled_key_exit_1_with_did_you_mean(tmp_path, capsys):
    p = tmp_path / "args.yaml"
    p.write_text("learnin_rate: 1e-2\nper_device_train_batch_size: 8\n")
    assert main(["lint", str(p)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("error  learnin_rate  learnin_rate is not a key of") and "fix: did you mean learning_rate?" in out


def test_lint_unreadable_exit_2(tmp_path, capsys):
    p = tmp_path / "c.yaml"
    p.write_text("just: text\n")
    assert main(["lint", str(p)]) == 2
    assert main(["lint", str(tmp_path / "missing.yaml")]) == 2
    assert main(["lint", str(p), "--model-size", "huge"]) == 2
    assert main(["lint"]) == 2


# --------------------------------------------------------------------------- recommend


def test_recommend_prints_valid_yaml(capsys):
    argv = ["recommend", "--task", "sequence-classification", "--samples", "5000", "--model-size", "22M", "--method", "lora",
            "--budget", "medium"]
    assert main(argv) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert set(data) >= {"train", "search"}
    cfg = config_from_dict({"name": "x", "data": {"train": "a.csv"}, "train": data["train"], "search": data["search"]})
    assert 1e-3 <= cfg.train.learning_rate <= 5e-3
    assert set(cfg.search.space) >= {"train.learning_rate"}


def test_recommend_out_file_and_params_flag(tmp_path, capsys):
    out = tmp_path / "rec.yaml"
    argv = ["recommend", "--task", "causal-lm", "--samples", "50000", "--params", "7000000000", "--method", "qlora",
            "--budget", "small", "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr().out == ""
    data = yaml.safe_load(out.read_text())
    assert data["train"]["method"] == "qlora" and list(data["search"]["space"]) == ["train.learning_rate"]


def test_recommend_use_case_prints_the_guides_values_and_where_hpscout_disagrees(capsys):
    assert main(["recommend", "--use-case", "chatbot", "--model-size", "7B", "--gpu", "A100"]) == 0
    text = capsys.readouterr().out
    data = yaml.safe_load(text)
    assert data["task"] == "causal-lm"
    t = data["train"]
    assert (t["learning_rate"], t["lr_scheduler"]) == (5e-5, "cosine")
    assert t["batch_size"] * t["grad_accum"] == 32  # the guides' 4 x 8, re-split for an A100 and a 7B model
    assert "use case chatbot" in text and "# note: the guides' chatbot case starts at LR 5e-05, below" in text
    assert "# note: assumed 5,000 rows" in text


def test_recommend_preset_is_the_guides_hyperparameter_set(capsys):
    argv = ["recommend", "--task", "seq2seq", "--samples", "8000", "--model-size", "124M", "--method", "full", "--preset", "best"]
    assert main(argv) == 0
    t = yaml.safe_load(capsys.readouterr().out)["train"]
    assert (t["learning_rate"], t["batch_size"], t["grad_accum"], t["epochs"]) == (2e-5, 8, 4, 30.0)
    assert (t["warmup_ratio"], t["lr_scheduler"], t["early_stopping"]["patience"]) == (0.15, "cosine_with_restarts", 5)


def test_recommend_json(capsys):
    assert main(["recommend", "--task", "seq2seq", "--samples", "800", "--model-size", "250M", "--method", "full", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["train"]["method"] == "full" and data["task"] == "seq2seq"


@pytest.mark.parametrize(
    "argv,flag",
    [
        (["--task", "ner", "--samples", "10", "--model-size", "7B"], "--task"),
        (["--task", "causal-lm", "--samples", "10"], "--model-size"),
        (["--task", "causal-lm", "--samples", "10", "--model-size", "7B", "--params", "7"], "--params"),
        (["--task", "causal-lm", "--samples", "10", "--model-size", "7B", "--method", "dora"], "--method"),
        (["--task", "causal-lm", "--samples", "10", "--model-size", "7B", "--preset", "max"], "--preset"),
        (["--task", "causal-lm", "--samples", "10", "--model-size", "7B", "--preset", "large"], "--budget small|medium|large"),
        (["--task", "causal-lm", "--samples", "10", "--model-size", "7B", "--budget", "balanced"], "--budget"),
        (["--use-case", "poetry", "--model-size", "7B"], "chatbot, summarization, prototype, code, creative"),
        (["--use-case", "chatbot", "--preset", "quick", "--model-size", "7B"], "not both"),
        (["--use-case", "chatbot", "--model-size", "7B", "--gpu", "B200"], "A100"),
        (["--use-case", "chatbot", "--model-size", "7B", "--gpu-mem", "0"], "--gpu-mem"),
        (["--task", "causal-lm", "--samples", "0", "--model-size", "7B"], "--samples"),
        (["--samples", "10", "--model-size", "7B"], "--task"),
    ],
)
def test_recommend_bad_flags_exit_2(capsys, argv, flag):
    assert main(["recommend", *argv]) == 2
    assert flag in capsys.readouterr().err


# --------------------------------------------------------------------------- lazy imports


def test_help_and_import_plan_do_not_import_heavy_libraries():
    code = textwrap.dedent(
        """
        import sys
        import hpscout.plan
        import hpscout.cli
        rc = hpscout.cli.main(["--help"])
        for cmd in ("schedule", "plan", "lint", "recommend"):
            hpscout.cli.main([cmd, "--help"])
        heavy = [m for m in ("torch", "transformers", "matplotlib") if m in sys.modules]
        print("HEAVY=" + ",".join(heavy))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "HEAVY=\n" in r.stdout or r.stdout.rstrip().endswith("HEAVY=")
    assert "schedule" in r.stdout and "recommend" in r.stdout


def test_plan_lint_recommend_do_not_import_torch(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_text(LLAMAFACTORY)
    code = textwrap.dedent(
        f"""
        import sys
        from hpscout.cli import main
        main(["plan", "--samples", "100", "--batch-size", "8", "--epochs", "1"])
        main(["lint", {str(p)!r}])
        main(["recommend", "--task", "causal-lm", "--samples", "100", "--model-size", "7B"])
        print("TORCH=" + str("torch" in sys.modules))
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "TORCH=False" in r.stdout, r.stderr
