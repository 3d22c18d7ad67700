"""The seq2seq starter template, end to end: `hpscout init` then the whole `hpscout run`, then the exports.

A tiny T5 built from config learns the bundled Korean + English dialogue summaries well enough
for ROUGE-L to rank the trials (it scored 0 on Korean before ROUGE kept Hangul).
"""

from __future__ import annotations

import json

import pytest
import yaml

from hpscout.cli import main

transformers = pytest.importorskip("transformers")


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_seq2seq_template_runs_whole_workflow(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["init", "--template", "seq2seq-dialogue-summary", "--out", "s2s.yaml"]) == 0
    assert main(["run", "s2s.yaml", "--set", f"output_dir={tmp_path / 'run'}"]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    for rel in ("report/index.html", "final/llamafactory.yaml", "final/training_args.json", "final/config.yaml",
                "analysis.json", "top/top1.yaml"):
        assert (run / rel).exists(), rel

    assert main(["trials", "s2s.yaml", "--set", f"output_dir={run}", "--json"]) == 0
    trials = json.loads(capsys.readouterr().out)
    values = [t["value"] for t in trials if t.get("value") is not None]
    assert values and max(values) > 0.05  # ROUGE-L of generated summaries, half of them Korean
    assert len(set(values)) > 1  # the trials do not all tie

    # the exports carry the generation settings; --precision fp32 makes the JSON construct on a CPU
    out = tmp_path / "ta.json"
    assert main(["export", str(run), "--format", "hf", "--precision", "fp32", "--out", str(out)]) == 0
    args = transformers.Seq2SeqTrainingArguments(**json.loads(out.read_text()))
    assert args.predict_with_generate and args.generation_max_length == 32 and args.generation_num_beams == 1
    lf = yaml.safe_load((run / "final" / "llamafactory.yaml").read_text(encoding="utf-8"))
    assert lf["max_new_tokens"] == 32 and lf["num_beams"] == 1
