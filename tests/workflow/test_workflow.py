"""End to end: `hpscout run` on a tiny random-init BERT leaves the report, the exports and analysis.json,
and a second run resumes (skips finished stages)."""

import json
import random

import pytest
import yaml

from hpscout.cli import main
from hpscout.config import load_config
from hpscout.workflow import STAGES, select_stages

TINY_BERT = {"model_type": "bert", "vocab_size": 30522, "hidden_size": 32, "num_hidden_layers": 1,
             "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128}


def write_config(tmp_path):
    rng = random.Random(0)
    pos, neg = ["good", "great", "fine", "lovely"], ["bad", "awful", "poor", "dull"]
    lines = ["sentence\tlabel"]
    for _ in range(600):
        y = rng.randint(0, 1)
        words = [rng.choice(pos if y else neg)] + [rng.choice(["the", "film", "plot", "was"]) for _ in range(4)]
        rng.shuffle(words)
        lines.append(" ".join(words) + f"\t{y}")
    (tmp_path / "train.tsv").write_text("\n".join(lines) + "\n")
    cfg = {
        "name": "wf-tiny", "seed": 1, "task": "sequence-classification",
        "model": {"name_or_path": "minilm", "from_config": TINY_BERT},
        "data": {"train": "train.tsv", "text_column": "sentence", "label_column": "label", "max_length": 16,
                 "eval_split": 0.2, "stratify": ["label"]},
        # 480 training rows at batch 4: the 0.1 rung gives 12 optimizer steps (under the floor), 0.2 gives 24
        "scout": {"fraction": 0.2, "fidelities": [0.1, 0.2], "min_steps": 20},
        "train": {"learning_rate": 3e-3, "batch_size": 4, "epochs": 1, "method": "full", "logging_steps": 2},
        "search": {"sampler": "tpe", "pruner": "none", "trials": 3, "metric": "eval_accuracy", "direction": "maximize",
                   "space": {"train.learning_rate": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}}},
        "transfer": {"k": 2, "fraction": 0.4},
        "ablation": {"seeds": 2, "factors": {"train.learning_rate": ["x0.5"]}},
        "output_dir": str(tmp_path / "run"),
    }
    p = tmp_path / "hpscout.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def test_select_stages():
    assert select_stages() == list(STAGES)
    assert select_stages(until="search") == ["subsets", "search"]
    assert select_stages(only=["report", "subsets"]) == ["subsets", "report"]
    from hpscout import ConfigError

    with pytest.raises(ConfigError, match="the stages are"):
        select_stages(until="nope")


@pytest.mark.slow
def test_run_whole_workflow_and_resume(tmp_path, capsys):
    cfg_path = write_config(tmp_path)
    assert main(["run", str(cfg_path)]) == 0
    first = capsys.readouterr()
    out = first.out
    run = tmp_path / "run"
    for rel in ("report/index.html", "final/llamafactory.yaml", "final/training_args.json", "final/config.yaml",
                "analysis.json", "subsets/subsets.json", "top/top1.yaml", "state.json"):
        assert (run / rel).exists(), rel
    assert "report/index.html" in out and "llamafactory.yaml" in out
    analysis = json.loads((run / "analysis.json").read_text())
    assert {"ablation", "transfer", "cost", "ladder", "preflight"} <= set(analysis)
    # the ladder in force: the 12-step rung was dropped; the acceptance keys are there
    assert analysis["ladder"] == [{"fraction": 0.2, "rows": 96, "steps": 24}]
    assert analysis["preflight"]["ladder"]["dropped"] == [{"fraction": 0.1, "rows": 48, "steps": 12}]
    transfer = analysis["transfer"]
    assert transfer["final_fraction"] == transfer["rungs"][-1]["fraction"] or transfer["stop_reason"] == "failed"
    for rung in transfer["rungs"]:
        assert {"fraction", "steps", "spearman", "top1_agree", "decision"} <= set(rung)
    assert transfer["rungs"][0]["fraction"] == 0.4 and transfer["rungs"][0]["steps"] == 48
    # final/config.yaml is the best at the final fraction (the pick), and its header says why
    final = load_config(run / "final" / "config.yaml")
    pick = transfer["pick"]
    header = (run / "final" / "config.yaml").read_text().splitlines()[0]
    if "ablation verdicts applied" not in header:
        assert final.train.learning_rate == pytest.approx(pick["params"]["train.learning_rate"])
    assert analysis["ablation"]["baseline"]["trial"] == pick["trial"]  # ablated around the pick
    assert f"trial {pick['trial']}" in header
    assert ("UNTRUSTED" in header) == (not transfer["trusted"])
    assert out.strip().splitlines()[-1].startswith("final config:")
    # the exports lower the LR for the full run's horizon (from the climb's last rung), and the console says so
    corr = json.loads((run / "final" / "final.json").read_text())["provenance"]["lr_correction"]
    assert corr["mode"] == "horizon" and corr["applied"] and corr["corrected_lr"] < corr["scouted_lr"]
    if transfer["stop_reason"] != "failed":
        assert corr["x_scout"] == transfer["rungs"][-1]["steps"]
    assert corr["scouted_lr"] == pytest.approx(final.train.learning_rate)
    assert yaml.safe_load((run / "final" / "llamafactory.yaml").read_text())["learning_rate"] == pytest.approx(
        corr["corrected_lr"], rel=1e-5)
    assert f"exports: learning_rate {corr['scouted_lr']:.3g} -> {corr['corrected_lr']:.3g}" in first.err
    state = json.loads((run / "state.json").read_text())
    assert all(state["stages"][s]["status"] == "done" for s in STAGES)
    load_config(run / "final" / "config.yaml")  # the final config is a valid hpscout config
    # resume: everything but the report is skipped; no new search trials
    assert main(["run", str(cfg_path)]) == 0
    err = capsys.readouterr().err
    assert "search: done earlier, skipped" in err and "ablation: done earlier, skipped" in err
    assert main(["trials", str(cfg_path), "--json"]) == 0
    trials = json.loads(capsys.readouterr().out)
    assert len(trials) == 3
