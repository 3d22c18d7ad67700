"""The shared text formatters of hpscout._format."""

from __future__ import annotations

from hpscout._format import format_duration, text_table


def test_text_table_aligns_columns_and_right_aligns_numbers() -> None:
    text = text_table(["#", "state", "value"], [[3, "COMPLETE", 0.41], [120, "PRUNED", 0.6]], right=[0, 2])
    lines = text.splitlines()
    assert lines == ["  #  state     value", "  3  COMPLETE   0.41", "120  PRUNED      0.6"]


def test_text_table_never_wraps_long_cells() -> None:
    long = "x" * 500
    text = text_table(["a", "b"], [[long, "y"]])
    assert len(text.splitlines()) == 2 and text.splitlines()[1] == long + "  y"


def test_text_table_without_header() -> None:
    assert text_table([], [["a", "b"], ["cc", "d"]]).splitlines() == ["a   b", "cc  d"]


def test_format_duration() -> None:
    assert [format_duration(s) for s in (5, 75, 4000, None, -1)] == ["5s", "1m15s", "1h06m", "?", "?"]


def test_text_table_cells_are_plain_text_not_markup() -> None:
    text = text_table(["[h]"], [["[x]"], ["[bold]y[/bold]"]])
    assert text.splitlines() == ["[h]", "[x]", "[bold]y[/bold]"]
