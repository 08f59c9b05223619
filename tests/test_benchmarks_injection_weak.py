"""The signal-count crossing of the injection study (benchmarks.injection_weak)."""

import numpy as np
import pytest

from benchmarks.injection_weak import crossing


def test_crossing_interpolates_and_extrapolates():
    n = np.array([0, 20, 40, 60])
    z = np.array([0.0, 1.0, 2.0, 4.0])
    assert crossing(n, z, 3.0) == (50.0, False)
    assert crossing(n, z, 0.0) == (0.0, False)
    n5, extrapolated = crossing(n, z, 5.0)  # least squares through 20, 40, 60: z = 0.075 n - 0.67
    assert extrapolated and n5 == pytest.approx((5.0 + 2 / 3) / 0.075)
    assert crossing(n, np.array([0.0, 1.0, 0.5, 0.2]), 3.0) == (float("inf"), True)
