"""Named mass windows and run profiles of the analysis.

The window edges are those of :data:`stats.binning.WINDOWS` (the published dimuon anomaly search,
arXiv:2502.14036, reference §3, plus a J/ψ and a Z window chosen with the same logic); this module
adds what only the analysis needs: the resonances drawn on the plots and the truth processes
counted as signal. Masses in GeV.
"""

from __future__ import annotations

from dataclasses import dataclass

from dimuon_ad.errors import ConfigError
from stats.binning import WINDOWS
from toymc.truth import PDG_MASS_GEV, Process

__all__ = ["MassWindow", "WINDOW_PRESETS", "PROFILES", "PDG_MASSES"]

#: PDG masses in GeV (reference §3): the light mesons, then the simulated resonances of
#: :data:`toymc.truth.PDG_MASS_GEV`.
PDG_MASSES: dict[str, float] = {
    "eta": 0.5479,
    "rho": 0.7753,
    "omega": 0.7827,
    "phi": 1.0195,
    "J/psi": PDG_MASS_GEV[Process.JPSI],
    "psi(2S)": PDG_MASS_GEV[Process.PSI2S],
    "Upsilon(1S)": PDG_MASS_GEV[Process.UPSILON_1S],
    "Upsilon(2S)": PDG_MASS_GEV[Process.UPSILON_2S],
    "Upsilon(3S)": PDG_MASS_GEV[Process.UPSILON_3S],
    "Z": PDG_MASS_GEV[Process.Z],
}


@dataclass(frozen=True)
class MassWindow:
    """A resonance search window: two sidebands around a signal region (SR), in GeV.

    Parameters
    ----------
    name : str
        Label used in the report.
    sb_left, sr_left, sr_right, sb_right : float
        Window edges in GeV, strictly increasing: the left sideband is [sb_left, sr_left), the SR
        [sr_left, sr_right), the right sideband [sr_right, sb_right).
    resonances : tuple of str
        Keys of :data:`PDG_MASSES` drawn as vertical lines on the mass plots.
    signal_processes : tuple of str
        Names of ``toymc.truth.Process`` members counted as signal when truth exists (ROC/SIC,
        ``--remove-signal``).
    """

    name: str
    sb_left: float
    sr_left: float
    sr_right: float
    sb_right: float
    resonances: tuple[str, ...] = ()
    signal_processes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        edges = (self.sb_left, self.sr_left, self.sr_right, self.sb_right)
        if not all(a < b for a, b in zip(edges, edges[1:], strict=False)) or self.sb_left < 0:
            raise ConfigError(
                f"window {self.name!r} has edges {edges} GeV; expected 0 <= sb_left < sr_left "
                "< sr_right < sb_right"
            )
        unknown = [r for r in self.resonances if r not in PDG_MASSES]
        if unknown:
            raise ConfigError(
                f"window {self.name!r} names unknown resonance(s) {unknown}; "
                f"expected some of {sorted(PDG_MASSES)}"
            )

    @property
    def edges(self) -> tuple[float, float, float, float]:
        """(sb_left, sr_left, sr_right, sb_right) in GeV."""
        return (self.sb_left, self.sr_left, self.sr_right, self.sb_right)


_SIGNAL_UPSILON = ("UPSILON_1S", "UPSILON_2S", "UPSILON_3S", "INJECTED")

#: Analysis-only fields of each window preset: (resonances drawn, truth processes counted as
#: signal). The edges come from :data:`stats.binning.WINDOWS`.
_WINDOW_EXTRAS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "upsilon": (("Upsilon(1S)", "Upsilon(2S)", "Upsilon(3S)"), _SIGNAL_UPSILON),
    "jpsi": (("J/psi",), ("JPSI", "INJECTED")),
    "psi2s": (("psi(2S)",), ("PSI2S", "INJECTED")),
    "eta": (("eta",), ("INJECTED",)),
    "phi": (("phi",), ("INJECTED",)),
    "rho_omega": (("rho", "omega"), ("INJECTED",)),
    "control": ((), ("INJECTED",)),
    "z": (("Z",), ("Z", "INJECTED")),
}

#: Window presets by name (GeV), one per :data:`stats.binning.WINDOWS` entry. ``upsilon`` is the
#: published analysis.
WINDOW_PRESETS: dict[str, MassWindow] = {
    name: MassWindow(name, *WINDOWS[name].as_tuple(), *extras)
    for name, extras in _WINDOW_EXTRAS.items()
}


@dataclass(frozen=True)
class _Profile:
    """Method settings of one run profile (see :data:`PROFILES`)."""

    n_seeds: int
    max_epochs: int
    early_stopping: int | None
    n_models: int
    n_toys: int = 300
    flow_params: tuple[tuple[str, object], ...] = ()
    classifier_params: tuple[tuple[str, object], ...] = ()
    notes: str = ""
    degree: int | str = "spurious"


#: Flow training of the shorter profiles: rational-quadratic splines at learning rate 2e-3,
#: annealed to 0 on a cosine. On the control window of the synthetic sample (fast profile) the
#: published affine flow at a constant 7.5e-4 leaves a sideband-closure AUC of 0.538 and a
#: CATHODE excess of 2.88σ local; with these settings closure is 0.489-0.498 and CATHODE 0.57σ.
_SHORT_SCHEDULE = (
    ("transform_type", "spline"), ("learning_rate", 2e-3), ("lr_schedule", "cosine")
)


#: The published BDT (arXiv:2502.14036): depth 3, up to 300 rounds, plain early stopping after
#: 10. Every profile keeps it, although the toolkit's default (``XGBEnsembleClassifier()``: 100
#: fixed rounds of depth 5) is better on large low-S/B samples (``python -m
#: benchmarks.weak_supervision``: idealized max SIC 13.1 vs 9.6 at 10^5 SR events, S/B 0.6 %):
#: on the demo's ~1.7k SR events the default gave CATHODE best Z 6.75 (SS 1.22) against 7.66
#: (SS 0.70) with this one (fast profile, seed 0).
_PUBLISHED_BDT = (
    ("n_estimators", 300), ("max_depth", 3), ("early_stopping_rounds", 10), ("min_rounds", 0),
    ("smoothing", 1),
)


#: Run profiles. ``published`` is the configuration of arXiv:2502.14036 (5 flow seeds × 400
#: epochs, 100 BDTs per fold); ``fast`` keeps the demo (generation + skim + analysis) within
#: about 10 minutes on 2 cores; ``default`` sits between.
PROFILES: dict[str, _Profile] = {
    "fast": _Profile(
        n_seeds=2, max_epochs=100, early_stopping=20, n_models=8, n_toys=100,
        flow_params=_SHORT_SCHEDULE, classifier_params=_PUBLISHED_BDT,
        notes="demo profile: 2 spline flow seeds x <=100 epochs (cosine learning rate), "
              "8 BDTs per fold, 100 look-elsewhere toys",
    ),
    "default": _Profile(
        n_seeds=3, max_epochs=150, early_stopping=30, n_models=20, n_toys=300,
        flow_params=_SHORT_SCHEDULE, classifier_params=_PUBLISHED_BDT,
        notes="3 spline flow seeds x <=150 epochs (cosine learning rate), 20 BDTs per fold, "
              "300 look-elsewhere toys",
    ),
    "published": _Profile(
        n_seeds=5, max_epochs=400, early_stopping=None, n_models=100, n_toys=1000,
        classifier_params=_PUBLISHED_BDT,
        notes="arXiv:2502.14036: 5 flow seeds x 400 epochs, 100 BDTs per fold (300 rounds, "
              "early stopping after 10), a degree-5 background; 1000 look-elsewhere toys",
        degree=5,
    ),
}
