"""The code-shape rules of issue 18 hold for the whole package (scripts/code_metrics.py measures them)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("code_metrics", REPO / "scripts" / "code_metrics.py")
assert _spec is not None and _spec.loader is not None
code_metrics = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(code_metrics)

FIGURES = code_metrics.measure(REPO / "src" / "hpscout")


def test_no_function_over_80_lines():
    assert FIGURES["functions_over_80"] == 0, FIGURES["longest_functions"][:3]


def test_no_module_over_500_lines():
    assert FIGURES["modules_over_500"] == 0, FIGURES["largest_modules"][:3]


def test_packages_meet_only_through_their_facades():
    assert FIGURES["private_cross_package_imports"] == []


def test_no_import_cycle_even_counting_imports_inside_functions():
    assert FIGURES["import_cycles"] == [] and FIGURES["import_cycles_counting_function_imports"] == []


def test_optuna_internals_live_in_one_module():
    places = {line.split(":")[0] for line in FIGURES["optuna_internals"]}
    assert places <= {"src/hpscout/search/_optuna_compat.py"}, places


def test_the_metrics_see_a_violation(tmp_path):
    # the measure is not vacuous: a long function, a cycle and a private reach are all seen
    pkg = tmp_path / "hpscout"
    (pkg / "a").mkdir(parents=True)
    (pkg / "b").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a" / "__init__.py").write_text("")
    (pkg / "b" / "__init__.py").write_text("")
    (pkg / "a" / "_x.py").write_text("from hpscout.b._y import thing\n\ndef long():\n" + "    x = 1\n" * 90)
    (pkg / "b" / "_y.py").write_text("def thing():\n    from hpscout.a._x import long\n    return long\n")
    out = code_metrics.measure(pkg)
    assert out["functions_over_80"] == 1
    assert out["private_cross_package_imports"] and out["import_cycles_counting_function_imports"]
