"""Truth codes of the synthetic sample: which process made each event (branch ``Truth_process``).

The integer values are a shared data contract (``Truth_process`` in the synthetic NanoAOD, column
``truth_process`` in the parquet skim); never renumber them.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np

__all__ = ["Process", "PDG_MASS_GEV"]


class Process(IntEnum):
    """Source process of a synthetic event.

    Continuum: ``DRELL_YAN`` (isolated, prompt), ``HEAVY_FLAVOUR`` (muons inside b/c jets:
    anti-isolated, displaced, OS and SS), ``DECAY_IN_FLIGHT`` (π/K decays in flight, OS ≈ SS).
    Resonances (opposite sign only, prompt): ``JPSI``, ``PSI2S``, ``UPSILON_1S``, ``UPSILON_2S``,
    ``UPSILON_3S``, ``Z``; Υ produced inside jets (anti-isolated, harder dimuon pT) share the
    ``UPSILON_*`` codes. ``INJECTED`` is the configurable extra resonance of
    :class:`toymc.InjectedSignal`.
    """

    DRELL_YAN = 0
    HEAVY_FLAVOUR = 1
    DECAY_IN_FLIGHT = 2
    JPSI = 10
    PSI2S = 11
    UPSILON_1S = 12
    UPSILON_2S = 13
    UPSILON_3S = 14
    Z = 15
    INJECTED = 20

    @staticmethod
    def is_resonance(code: int | np.ndarray) -> bool | np.ndarray:
        """True for the dimuon resonances (codes ≥ 10, the injected signal included).

        Parameters
        ----------
        code : int or ndarray of int
            Truth code(s), e.g. the ``Truth_process`` branch.
        """
        return np.asarray(code) >= 10 if isinstance(code, np.ndarray) else int(code) >= 10

    @staticmethod
    def is_upsilon(code: int | np.ndarray) -> bool | np.ndarray:
        """True for Υ(1S), Υ(2S) and Υ(3S)."""
        arr = np.asarray(code)
        out = (arr >= Process.UPSILON_1S) & (arr <= Process.UPSILON_3S)
        return out if isinstance(code, np.ndarray) else bool(out)

    @staticmethod
    def is_continuum(code: int | np.ndarray) -> bool | np.ndarray:
        """True for the non-resonant processes (Drell-Yan, heavy flavour, decays in flight)."""
        arr = np.asarray(code)
        out = arr < 10
        return out if isinstance(code, np.ndarray) else bool(out)


#: PDG masses in GeV of the simulated resonances (PDG 2024).
PDG_MASS_GEV: dict[Process, float] = {
    Process.JPSI: 3.0969,
    Process.PSI2S: 3.6861,
    Process.UPSILON_1S: 9.4603,
    Process.UPSILON_2S: 10.0233,
    Process.UPSILON_3S: 10.3552,
    Process.Z: 91.1876,
}

#: Natural widths in GeV (only the Z's matters next to the detector resolution).
PDG_WIDTH_GEV: dict[Process, float] = {
    Process.JPSI: 9.26e-5,
    Process.PSI2S: 2.94e-4,
    Process.UPSILON_1S: 5.4e-5,
    Process.UPSILON_2S: 3.2e-5,
    Process.UPSILON_3S: 2.0e-5,
    Process.Z: 2.4952,
}
