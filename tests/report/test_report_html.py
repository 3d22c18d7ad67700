"""build_report: one static, self-contained HTML page."""

from __future__ import annotations

import dataclasses
import re
from html.parser import HTMLParser

import pytest
from _fake_run import make_fake_run

from hpscout.report import PLOT_KEYS, build_report, render_html, report_data, trial_table_text
from hpscout.report._format import table_cells


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    run = make_fake_run(tmp_path_factory.mktemp("html"))
    path = build_report(run.run_dir, storage=run.storage)
    return run, path, path.read_text(encoding="utf-8")


class _Cells(HTMLParser):
    """Collect the text of every <td> of the trial table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_table = self._in_td = False

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("class", "trials") in attrs:
            self._in_table = True
        elif self._in_table and tag == "tr":
            self.rows.append([])
        elif self._in_table and tag == "td":
            self._in_td = True
            self.rows[-1].append("")

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_table = False
        if tag == "td":
            self._in_td = False

    def handle_data(self, data):
        if self._in_td:
            self.rows[-1][-1] += data


def test_written_under_report(built):
    run, path, _ = built
    assert path == run.run_dir / "report" / "index.html"
    assert [p.name for p in path.parent.iterdir()] == ["index.html"]  # atomic: no temp file left behind


def test_self_contained_plotly_once(built):
    _, _, page = built
    assert page.count("plotly.js v") == 1  # the bundle's banner: the library is inlined once
    assert page.count("Plotly.newPlot") == len(PLOT_KEYS)  # every plot has data in the full fake run
    # no network: no external scripts, stylesheets or CDN
    assert not re.search(r"<script[^>]+src=", page)
    assert not re.search(r"<link[^>]+href=\"https?:", page)
    assert 'src="http' not in page
    # exactly one copy of the library: its size dominates the page
    assert 3_000_000 < len(page) < 7_000_000


def test_every_plot_is_a_div_or_a_note(built):
    _, _, page = built
    for key in PLOT_KEYS:
        assert f'data-plot="{key}"' in page
        assert f'id="plot-{key}"' in page or "no data:" in page.split(f'data-plot="{key}"', 1)[1][:2000]


def test_sections_and_summary(built):
    run, _, page = built
    for anchor in ("summary", "trials", "search", "failed", "ablation", "transfer", "final", "cost"):
        assert f'<section id="{anchor}">' in page
    assert "fake-run" in page and "eval_accuracy" in page and "0.8882" in page
    assert "top/top1.yaml" in page and "hpscout export" in page
    assert "matters" in page and "no detectable effect" in page  # ablation verdicts
    assert "held" in page and "Spearman" in page  # transfer verdict
    assert "13m32s" in page  # cost
    assert "β = <b>0.277</b>" in page  # LR law
    assert "loss 41.2 exceeded" in page and "CUDA out of memory" in page  # failures with reasons


def test_html_table_is_the_terminal_table(built):
    run, _, page = built
    data = report_data(run.run_dir, storage=run.storage)
    parser = _Cells()
    parser.feed(page)
    rows = [r for r in parser.rows if r]
    assert rows == [table_cells(r) for r in data.rows]
    text = trial_table_text(data)
    for cells in rows:
        assert all(c in text for c in cells)


def test_not_run_sections(tmp_path):
    run = make_fake_run(tmp_path, with_analysis=False)
    page = build_report(run.run_dir, storage=run.storage).read_text(encoding="utf-8")
    assert page.count("not run: analysis.json has no") >= 4
    for key in ("importance", "ablation", "transfer", "lr_law"):
        block = page.split(f'data-plot="{key}"', 1)[1][:1500]
        assert "no data:" in block and f'id="plot-{key}"' not in block


def test_text_is_escaped(tmp_path):
    run = make_fake_run(tmp_path, n_trials=5)
    import optuna

    study = optuna.load_study(study_name=run.study_name, storage=run.storage)
    study.add_trial(optuna.trial.create_trial(
        state=optuna.trial.TrialState.FAIL, user_attrs={"status": "failed", "message": "<script>alert(1)</script>"}))
    page = build_report(run.run_dir, storage=run.storage).read_text(encoding="utf-8")
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page



def test_trial_param_is_escaped(built):
    """A searched value (and name) that looks like markup reaches the page as text: the templates autoescape."""
    run, _, _ = built
    data = report_data(run.run_dir, storage=run.storage)
    evil = "<script>alert(2)</script>"
    shown = dataclasses.replace(data, best_config={"train.lr_scheduler": evil, f"train.{evil}": 1}, plots={})
    page = render_html(shown)
    assert evil not in page
    assert "<th>train.lr_scheduler</th><td>&lt;script&gt;alert(2)&lt;/script&gt;</td>" in page
    assert "<th>train.&lt;script&gt;alert(2)&lt;/script&gt;</th>" in page
