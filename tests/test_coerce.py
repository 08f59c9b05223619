"""dimuon_ad.coerce: one value against a field annotation, one-line errors naming source and key."""

from __future__ import annotations

import numpy as np
import pytest

from dimuon_ad.coerce import coerce
from dimuon_ad.errors import ConfigError, ConfigTypeError


@pytest.mark.parametrize(
    ("value", "hint", "expected"),
    [
        (3, float, 3.0),
        (np.float32(0.5), float, 0.5),
        (np.int64(4), int, 4),
        (True, bool, True),
        ("spline", str, "spline"),
        (None, float | None, None),
        ([1, 2], tuple[float, ...], (1.0, 2.0)),
        ({"a": 1}, dict, {"a": 1}),  # other annotations pass through
    ],
)
def test_typed_values_are_converted(value, hint, expected):
    out = coerce(value, hint, "k", "src")
    assert out == expected and type(out) is type(expected)


@pytest.mark.parametrize(
    ("text", "hint", "expected"),
    [
        (" 17 ", float, 17.0),
        ("3", int, 3),
        ("off", bool, False),
        ("YES", bool, True),
        ("null", float | None, None),
        ("~", str | None, None),
        ("HLT_A, HLT_B", tuple[str, ...], ("HLT_A", "HLT_B")),
        ("none", tuple[str, ...], ()),
        (None, tuple[str, ...], ()),
    ],
)
def test_command_line_text_is_parsed(text, hint, expected):
    assert coerce(text, hint, "k", "--set", text=True) == expected


@pytest.mark.parametrize(
    ("value", "hint", "match"),
    [
        ("five", int, r"^a\.yaml: flow\.n_seeds = 'five' is not an integer$"),
        (True, int, "is not an integer"),
        (True, float, "is not a number"),
        ("1", float, r"= '1' is not a number"),  # YAML strings are not parsed without text=True
        ("yes please", bool, "is not a boolean; use true or false"),
        (3, str, "= 3 is not a string"),
        (2.4, tuple[float, ...], "= 2.4 is not a list"),
        (["a"], tuple[float, ...], r"flow\.n_seeds\[0\] = 'a' is not a number"),
    ],
)
def test_wrong_types_name_source_and_key(value, hint, match):
    with pytest.raises(ConfigTypeError, match=match):
        coerce(value, hint, "flow.n_seeds", "a.yaml")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -np.inf, "nan", "1e999"])
def test_non_finite_floats_are_rejected(value):
    with pytest.raises(ConfigError, match=r"^--set: cut = .* is not a finite number; give a"):
        coerce(value, float | None, "cut", "--set", text=True)


def test_unparsable_text_names_the_key():
    with pytest.raises(ConfigTypeError, match=r"^--set: mu0_pt_min = 'abc' is not a number$"):
        coerce("abc", float, "mu0_pt_min", "--set", text=True)
    with pytest.raises(ConfigTypeError, match="is not a boolean"):
        coerce("maybe", bool, "lumi_mask", "--set", text=True)
