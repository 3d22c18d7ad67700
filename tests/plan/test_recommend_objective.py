"""recommend proposes the objective each task is judged by: ROUGE-L for seq2seq, not the loss."""

import json

import pytest

from hpscout.cli import main
from hpscout.config import config_from_dict
from hpscout.plan import recommend


@pytest.mark.parametrize("task,metric,direction", [("seq2seq", "eval_rougeL", "maximize"),
                                                    ("causal-lm", "eval_loss", "minimize"),
                                                    ("sequence-classification", "eval_accuracy", "maximize")])
def test_objective_per_task(task, metric, direction):
    rec = recommend(task, 5000, "250M", "lora")
    assert (rec.search["metric"], rec.search["direction"]) == (metric, direction)


def test_seq2seq_recommendation_runs_as_a_rouge_search(capsys):
    assert main(["recommend", "--task", "seq2seq", "--samples", "800", "--model-size", "250M", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["search"]["metric"] == "eval_rougeL" and data["search"]["direction"] == "maximize"
    from hpscout.runner._tasks import check_metric, generates_for_eval

    cfg = config_from_dict({"name": "rec", "task": "seq2seq", "data": {"train": "d.jsonl", "target_column": "summary"},
                            "search": {k: data["search"][k] for k in ("metric", "direction")}})
    check_metric(cfg.task, cfg.search.metric)  # a metric the seq2seq runner reports
    assert generates_for_eval(cfg)  # and evaluation generates the text ROUGE scores
