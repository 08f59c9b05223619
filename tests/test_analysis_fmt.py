"""analysis.fmt: numbers by magnitude, p-values in scientific notation, FPRs in %, never 'nan'."""

from __future__ import annotations

import pytest

from analysis.fmt import fmt_count, fmt_fpr, fmt_num, fmt_p, fmt_z


@pytest.mark.parametrize(("p", "text"), [(1.8e-3, "1.8 × 10⁻³"), (0.887, "0.89"),
                                         (0.0495, "0.05"), (2.3e-7, "2.3 × 10⁻⁷"), (0.0, "0"),
                                         (float("nan"), "—"), (None, "—")])
def test_p_values(p, text):
    assert fmt_p(p) == text


@pytest.mark.parametrize(("f", "text"), [(1.0, "100 %"), (0.75, "75 %"), (0.0178, "1.8 %"),
                                         (0.00237, "0.24 %"), (None, "—")])
def test_fprs_in_per_cent(f, text):
    assert fmt_fpr(f) == text


def test_numbers_by_magnitude_and_no_nan():
    assert [fmt_num(v) for v in (1538.46, 44.12, 2.906, 0.1234, 3.4e-4, 74355)] == [
        "1,538", "44.1", "2.91", "0.123", "3.4 × 10⁻⁴", "74,355"]
    assert fmt_count(1_000_000) == "1,000,000" and fmt_count(float("nan")) == "—"
    assert fmt_z(float("nan"), missing="failed") == "failed" and fmt_z(2.906, unit="σ") == "2.91σ"
    assert "nan" not in "".join(f(float("nan")) for f in (fmt_num, fmt_p, fmt_fpr, fmt_z))
