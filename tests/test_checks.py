"""The shared rules of hpscout._checks."""

from __future__ import annotations

import math

import pytest

from hpscout._checks import check_fraction
from hpscout._errors import ConfigError, DataError


@pytest.mark.parametrize("value", [1e-6, 0.05, 0.5, 1, 1.0])
def test_fraction_in_range_comes_back_as_float(value: float) -> None:
    out = check_fraction(value)
    assert isinstance(out, float) and out == float(value)


@pytest.mark.parametrize("value", [0, -0.1, 1.0001, 2, math.nan, math.inf, -math.inf])
def test_fraction_out_of_range_is_refused_with_the_name_and_value(value: float) -> None:
    with pytest.raises(ConfigError, match=r"scout\.fraction must be in \(0, 1\], but got"):
        check_fraction(value, "scout.fraction")


@pytest.mark.parametrize("value", [True, False, "0.5", None, [0.5]])
def test_fraction_that_is_not_a_number_is_refused(value: object) -> None:
    with pytest.raises(ConfigError, match=r"must be a number in \(0, 1\]"):
        check_fraction(value)


def test_fraction_error_type_is_the_callers_layer() -> None:
    with pytest.raises(DataError, match="--fractions entries"):
        check_fraction(0.0, "--fractions entries", error=DataError)
