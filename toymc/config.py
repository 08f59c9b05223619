"""Configuration of the synthetic sample: process mixture, shapes and an optional injected signal.

Two frozen dataclasses: :class:`InjectedSignal` (the extra resonance later stages use to test
sensitivity at a chosen S/B) and :class:`ToyConfig` (the process mixture and the few shape
parameters that set the yields; the defaults are tuned so that the published anti-isolated Υ
selection of arXiv:2502.14036 gives roughly the published final sample, see ``toymc.validation``).
Units: GeV and cm.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from dimuon_ad.errors import ConfigError
from toymc.kinematics import MUON_MASS_GEV
from toymc.truth import Process

__all__ = ["InjectedSignal", "ToyConfig", "DEFAULT_FRACTIONS"]

_ISOLATIONS = ("antiiso", "iso")
_DISPLACEMENTS = ("prompt", "displaced")

#: Default share of each process among the generated events (normalised on use).
DEFAULT_FRACTIONS: Mapping[Process, float] = MappingProxyType(
    {
        Process.DRELL_YAN: 0.175,
        Process.HEAVY_FLAVOUR: 0.52,
        Process.DECAY_IN_FLIGHT: 0.145,
        Process.JPSI: 0.06,
        Process.PSI2S: 0.01,
        Process.UPSILON_1S: 0.049,
        Process.UPSILON_2S: 0.013,
        Process.UPSILON_3S: 0.008,
        Process.Z: 0.02,
    }
)


@dataclass(frozen=True)
class InjectedSignal:
    """An extra narrow dimuon resonance injected into the synthetic sample (``Truth_process`` 20).

    The signal events replace background events at random positions, so the file keeps the
    requested number of events. Signal muons are opposite sign.

    Parameters
    ----------
    mass : float
        Resonance mass in GeV (> 2 m_μ).
    width : float
        Natural width in GeV (Breit-Wigner); the detector resolution (≈1–2 %) comes on top.
    n_events : int, optional
        Number of generated signal events in the sample (before any selection).
    fraction : float, optional
        Alternatively, the fraction of the generated events that are signal, in (0, 1).
        Exactly one of ``n_events`` and ``fraction`` must be given.
    isolation : {"antiiso", "iso"}
        "antiiso": produced inside a jet, like the unisolated Υ; "iso": isolated, like Drell-Yan.
    displacement : {"prompt", "displaced"}
        "prompt": impact parameters from the resolution only; "displaced": from a decay length
        ``lifetime_cm`` (cτ in cm) like heavy-flavour muons.
    lifetime_cm : float
        cτ in cm used when ``displacement="displaced"`` (default 0.045, a B hadron's).
    pt_scale : float
        Multiplies the scale of the dimuon pT spectrum (> 1 harder, < 1 softer).
    """

    mass: float
    width: float = 0.0
    n_events: int | None = None
    fraction: float | None = None
    isolation: str = "antiiso"
    displacement: str = "prompt"
    lifetime_cm: float = 0.045
    pt_scale: float = 1.0

    def __post_init__(self) -> None:
        if not self.mass > 2.0 * MUON_MASS_GEV:
            raise ConfigError(
                f"InjectedSignal mass={self.mass!r} GeV is below the dimuon threshold "
                f"{2 * MUON_MASS_GEV:.4f} GeV; give a mass in GeV, e.g. mass=7.0"
            )
        if not self.width >= 0.0:
            raise ConfigError(f"InjectedSignal width={self.width!r} GeV must be >= 0")
        if (self.n_events is None) == (self.fraction is None):
            raise ConfigError(
                "InjectedSignal needs exactly one of n_events (e.g. n_events=500) or fraction "
                f"(e.g. fraction=0.001); got n_events={self.n_events!r}, "
                f"fraction={self.fraction!r}"
            )
        if self.n_events is not None and (int(self.n_events) != self.n_events or self.n_events < 0):
            raise ConfigError(
                f"InjectedSignal n_events={self.n_events!r} must be a non-negative integer"
            )
        if self.fraction is not None and not 0.0 < self.fraction < 1.0:
            raise ConfigError(f"InjectedSignal fraction={self.fraction!r} must be in (0, 1)")
        if self.isolation not in _ISOLATIONS:
            raise ConfigError(
                f"InjectedSignal isolation={self.isolation!r}; expected one of {_ISOLATIONS}"
            )
        if self.displacement not in _DISPLACEMENTS:
            raise ConfigError(
                f"InjectedSignal displacement={self.displacement!r}; expected one of "
                f"{_DISPLACEMENTS}"
            )
        if not self.lifetime_cm > 0.0:
            raise ConfigError(f"InjectedSignal lifetime_cm={self.lifetime_cm!r} must be > 0")
        if not self.pt_scale > 0.0:
            raise ConfigError(f"InjectedSignal pt_scale={self.pt_scale!r} must be > 0")

    def count(self, n_total: int) -> int:
        """Number of signal events in a sample of ``n_total`` events (at most ``n_total``)."""
        if self.n_events is not None:
            if self.n_events > n_total:
                raise ConfigError(
                    f"InjectedSignal n_events={self.n_events} exceeds the sample size "
                    f"{n_total}; lower n_events or generate more events"
                )
            return int(self.n_events)
        return int(round(float(self.fraction) * n_total))


@dataclass(frozen=True)
class ToyConfig:
    """Process mixture and shape parameters of the synthetic sample.

    Parameters
    ----------
    fractions : mapping of Process to float
        Relative share of each generated process (normalised; INJECTED is set by the signal).
    upsilon_in_jet_fraction : float
        Fraction of the Υ(nS) produced inside a jet (anti-isolated, harder dimuon pT).
    hf_same_sign_fraction : float
        Fraction of heavy-flavour pairs with same-sign muons (B mixing, b → c → μ cascades).
    dif_same_sign_fraction : float
        Same for decays in flight (≈ 0.5: uncorrelated charges).
    extra_muon_fraction : float
        Fraction of events with a third, soft non-prompt muon.
    pileup_mean : float
        Mean number of good primary vertices (2016H ≈ 25).
    isr_jets_mean : float
        Mean number of extra (ISR/underlying) jets with pT > 15 GeV.
    """

    fractions: Mapping[Process, float] = field(default_factory=lambda: dict(DEFAULT_FRACTIONS))
    upsilon_in_jet_fraction: float = 0.0033
    hf_same_sign_fraction: float = 0.35
    dif_same_sign_fraction: float = 0.5
    extra_muon_fraction: float = 0.06
    pileup_mean: float = 25.0
    isr_jets_mean: float = 1.0

    def __post_init__(self) -> None:
        known = {p for p in Process if p != Process.INJECTED}
        for key, value in self.fractions.items():
            try:
                proc = Process(key) if not isinstance(key, str) else Process[key.upper()]
            except (ValueError, KeyError):
                raise ConfigError(
                    f"ToyConfig fractions has unknown process {key!r}; expected one of "
                    f"{sorted(p.name for p in known)}"
                ) from None
            if proc not in known:
                raise ConfigError("ToyConfig fractions cannot contain INJECTED; use InjectedSignal")
            if not value >= 0.0:
                raise ConfigError(f"ToyConfig fraction of {proc.name} is {value!r}; must be >= 0")
        if sum(self.fractions.values()) <= 0.0:
            raise ConfigError("ToyConfig fractions sum to 0; give at least one positive fraction")
        for name in (
            "upsilon_in_jet_fraction",
            "hf_same_sign_fraction",
            "dif_same_sign_fraction",
            "extra_muon_fraction",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"ToyConfig {name}={value!r} must be in [0, 1]")
        if not self.pileup_mean > 0.0 or not self.isr_jets_mean >= 0.0:
            raise ConfigError(
                f"ToyConfig pileup_mean={self.pileup_mean!r} must be > 0 and "
                f"isr_jets_mean={self.isr_jets_mean!r} >= 0"
            )

    def process_probabilities(self) -> tuple[tuple[Process, ...], tuple[float, ...]]:
        """Processes and their normalised probabilities, in truth-code order."""
        items = {}
        for key, value in self.fractions.items():
            proc = Process[key.upper()] if isinstance(key, str) else Process(key)
            items[proc] = float(value)
        procs = tuple(sorted(items))
        total = sum(items.values())
        return procs, tuple(items[p] / total for p in procs)
