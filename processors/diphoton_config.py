"""Physics settings of the diphoton (H → γγ) skim of ATLAS Open Data ``mini`` ntuples.

Cut values are in GeV (the files store MeV; :mod:`processors.diphoton` converts). Presets:

- ``hgg``: the ATLAS H → γγ selection (arXiv:1802.04146 as the seed notebook uses it): diphoton
  trigger (``trigP``); the two leading photons tight and trigger-matched, |η| < 2.37 outside the
  1.37–1.52 crack, relative isolation ptcone30/pT < 0.065 and etcone20/pT < 0.065, pT > 35 / 25
  GeV, pT/m_γγ > 0.35 / 0.25, 105 ≤ m_γγ ≤ 160 GeV;
- ``seed_raw_mev``: the same with the seed's isolation bug — ptcone30 < 0.065 and etcone20 <
  0.065 on the raw MeV values — to compare with the seed;
- ``loose``: no identification, isolation or trigger requirements (kinematics and window only).

The MC event weight is ``mcWeight`` × the scale factors in ``scale_factors`` × ``XSection`` /
``SumWeights`` × luminosity. The default uses PILEUP, PHOTON and PhotonTRIGGER: the selection uses
photons and the diphoton trigger only, so the lepton, tau, b-tagging and lepton-trigger factors
(which correct efficiencies of objects the selection does not require) are left out; the seed
multiplied all eight.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from dimuon_ad.coerce import coerce
from dimuon_ad.errors import ConfigError

#: scale-factor branches of the ``mini`` schema (``scaleFactor_<name>``)
SCALE_FACTOR_NAMES = ("PILEUP", "ELE", "MUON", "PHOTON", "TAU", "BTAG", "LepTRIGGER",
                      "PhotonTRIGGER")
ISOLATION_MODES = ("relative", "raw_mev", "none")
#: bump when the diphoton skim columns or histograms change (invalidates finished chunks)
DIPHOTON_FORMAT_VERSION = 1


@dataclass(frozen=True)
class DiphotonConfig:
    """Selection of the diphoton skim (momenta and masses in GeV).

    Parameters
    ----------
    preset : str
        Name of the preset these settings started from (recorded in the outputs).
    trigger : bool
        Require the diphoton trigger bit ``trigP``.
    tight_id, trigger_match : bool
        Require both leading photons to be tight / trigger-matched.
    abs_eta_max : float
        Maximum photon |η|.
    crack : tuple of float
        |η| range excluded (barrel–endcap transition), ``()`` for none.
    isolation : {"relative", "raw_mev", "none"}
        ``"relative"``: ptcone30/pT < ``ptcone_max`` and etcone20/pT < ``etcone_max``;
        ``"raw_mev"``: the seed's ptcone30 < ``ptcone_max`` MeV (and etcone20 likewise).
    ptcone_max, etcone_max : float
        Isolation thresholds (dimensionless, or MeV with ``raw_mev``).
    pt0_min, pt1_min : float
        Leading / subleading photon pT, GeV.
    pt0_over_m_min, pt1_over_m_min : float
        Leading / subleading pT / m_γγ.
    mass_min, mass_max : float
        m_γγ window, GeV (both edges kept, as the seed).
    jet_pt_min, jet_abs_eta_max : float
        Jets counted in the skim columns, GeV and |η|.
    btag_min : float
        MV2c10 threshold of a b-tagged jet (0.83: the 77 % efficiency working point).
    scale_factors : tuple of str
        Scale factors in the MC weight (names of :data:`SCALE_FACTOR_NAMES`).
    """

    preset: str = "hgg"
    trigger: bool = True
    tight_id: bool = True
    trigger_match: bool = True
    abs_eta_max: float = 2.37
    crack: tuple[float, ...] = (1.37, 1.52)
    isolation: str = "relative"
    ptcone_max: float = 0.065
    etcone_max: float = 0.065
    pt0_min: float = 35.0
    pt1_min: float = 25.0
    pt0_over_m_min: float = 0.35
    pt1_over_m_min: float = 0.25
    mass_min: float = 105.0
    mass_max: float = 160.0
    jet_pt_min: float = 25.0
    jet_abs_eta_max: float = 4.5
    btag_min: float = 0.83
    scale_factors: tuple[str, ...] = ("PILEUP", "PHOTON", "PhotonTRIGGER")

    #: which analysis these settings belong to (the skim machinery dispatches on it)
    analysis: ClassVar[str] = "diphoton"
    #: no certified-luminosity mask: the release's data are already good-run-list filtered
    lumi_mask: ClassVar[bool] = False

    def __post_init__(self) -> None:
        if self.isolation not in ISOLATION_MODES:
            raise ConfigError(f"unknown isolation '{self.isolation}'; expected one of "
                              f"{', '.join(ISOLATION_MODES)}")
        if len(self.crack) not in (0, 2):
            raise ConfigError(f"crack must be two |eta| values or empty, got {self.crack!r}")
        for name in self.scale_factors:
            if name not in SCALE_FACTOR_NAMES:
                raise ConfigError(f"unknown scale factor '{name}' in scale_factors; expected "
                                  f"some of {', '.join(SCALE_FACTOR_NAMES)}")
        if not self.mass_min < self.mass_max:
            raise ConfigError(f"mass_min {self.mass_min} must be below mass_max {self.mass_max}")

    def to_dict(self) -> dict[str, Any]:
        """Settings as a JSON-friendly dict (tuples become lists), with the analysis name."""
        out = {k: list(v) if isinstance(v, tuple) else v
               for k, v in dataclasses.asdict(self).items()}
        return {"analysis": self.analysis, **out}

    def digest(self) -> str:
        """Short stable hash of the settings and :data:`DIPHOTON_FORMAT_VERSION` (part of the
        chunk ids: a resumed skim never reuses chunks of another format)."""
        text = json.dumps({**self.to_dict(), "format": DIPHOTON_FORMAT_VERSION}, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


PRESETS: dict[str, DiphotonConfig] = {
    "hgg": DiphotonConfig(),
    "seed_raw_mev": DiphotonConfig(preset="seed_raw_mev", isolation="raw_mev"),
    "loose": DiphotonConfig(preset="loose", trigger=False, tight_id=False, trigger_match=False,
                            isolation="none"),
}


def make_diphoton_config(preset: str = "hgg", overrides: Mapping[str, Any] | None = None,
                         *, source: str = "--set") -> DiphotonConfig:
    """A validated :class:`DiphotonConfig` from a preset name and ``KEY=VALUE`` overrides.

    Raises
    ------
    dimuon_ad.errors.ConfigError
        Unknown preset or setting, or an invalid value (the message names it).
    """
    if preset not in PRESETS:
        raise ConfigError(f"unknown diphoton preset '{preset}'; expected one of "
                          f"{', '.join(PRESETS)}")
    base = PRESETS[preset]
    hints = typing.get_type_hints(DiphotonConfig)
    known = [f.name for f in dataclasses.fields(DiphotonConfig) if f.name != "preset"]
    updates = {}
    for key, value in (overrides or {}).items():
        if key not in known:
            raise ConfigError(f"unknown diphoton setting '{key}' in {source}; known settings: "
                              f"{', '.join(known)}")
        updates[key] = coerce(value, hints[key], key, source, text=True)
    return dataclasses.replace(base, **updates)


def load_diphoton_config(preset: str | None = None, yaml_path=None,
                         overrides: Mapping[str, Any] | None = None) -> DiphotonConfig:
    """Settings from a preset (default ``hgg``), then a YAML mapping (optionally with
    ``preset:``), then ``--set`` overrides (later ones win).

    Raises
    ------
    dimuon_ad.errors.InputNotFoundError, dimuon_ad.errors.ConfigError
        Missing or invalid YAML file, unknown preset or setting, invalid value.
    """
    merged: dict[str, Any] = {}
    if yaml_path is not None:
        from pathlib import Path

        import yaml

        from dimuon_ad.errors import InputNotFoundError

        path = Path(yaml_path)
        if not path.is_file():
            raise InputNotFoundError(f"--config file {path} not found; expected a YAML mapping "
                                     "of diphoton settings")
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"--config file {path} is not valid YAML: "
                              f"{str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"--config file {path} must hold a mapping of settings")
        data = dict(data)
        yaml_preset = data.pop("preset", None)
        preset = preset or yaml_preset
        make_diphoton_config(preset or "hgg", data, source=f"--config {path}")
        merged.update(data)
    merged.update(overrides or {})
    return make_diphoton_config(preset or "hgg", merged, source="--set")


def check_diphoton_datasets(datasets) -> None:
    """Raise one line when a simulated dataset lacks ``lumi_fb`` (its weights need it)."""
    for ds in datasets:
        if not ds.is_data and "lumi_fb" not in ds.metadata:
            raise ConfigError(
                f"simulated dataset '{ds.name}' has no \"lumi_fb\" in its fileset metadata; the "
                "diphoton MC weight (XSection / SumWeights x luminosity) needs the luminosity to "
                "normalise to, e.g. \"lumi_fb\": 10.0"
            )
