"""Physics settings of the dimuon skim: a frozen dataclass, named presets, YAML/CLI overrides.

Momenta and masses are in GeV. The published Υ selection (arXiv:2502.14036) is the
``upsilon_antiiso`` preset; ``inclusive`` keeps every event with a tight muon pair; and
``kinematics_only`` runs on reduced NanoAOD files that carry only ``Muon_pt/eta/phi/mass/charge``
(e.g. the 2012 DoubleMuParked files of CERN Open Data record 12341): it takes the first two muons,
applies no ID, isolation, trigger or lumi mask, and writes only kinematic skim columns.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import logging
import math
import re
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dimuon_ad.coerce import coerce
from dimuon_ad.errors import ConfigError, ConfigTypeError, InputNotFoundError

log = logging.getLogger(__name__)

#: Muon identification flags a preset may require (NanoAOD ``Muon_<flag>`` branches).
MUON_IDS = ("tightId", "mediumId", "looseId", "softId")
#: Isolation modes: keep both muons anti-isolated, both isolated, or ignore isolation.
ISOLATION_MODES = ("antiiso", "iso", "none")
#: Skim column sets: every observable, or the muon kinematics only.
COLUMN_SETS = ("full", "kinematics")
_TRIGGER_RE = re.compile(r"^HLT_[A-Za-z0-9_]+$")


@dataclass(frozen=True)
class SkimConfig:
    """Selection settings of the dimuon skim (momenta in GeV).

    Parameters
    ----------
    preset : str
        Name of the preset these settings started from (recorded in the outputs).
    muon_id : str or None
        NanoAOD muon ID flag the two leading muons must pass (``"tightId"``); ``None`` takes the
        first two muons of the event, whatever their ID.
    isolation : {"antiiso", "iso", "none"}
        ``"antiiso"``: both muons ``pfRelIso04_all >= iso_cut``; ``"iso"``: both ``< iso_cut``;
        ``"none"``: no isolation requirement.
    iso_cut : float
        Relative-isolation threshold (ΔR < 0.4 PF isolation, dimensionless).
    mu0_pt_min, mu1_pt_min : float
        Minimum transverse momentum of the leading / subleading muon of the pair, GeV.
    abs_eta_max : float or None
        Optional maximum |η| of both muons; ``None`` applies no cut (the published analysis).
    triggers : tuple of str
        HLT paths (``HLT_...`` branch names), OR-ed; empty applies no trigger requirement.
    lumi_mask : bool
        Apply the certified-luminosity (golden JSON) mask to data when one is known.
    columns : {"full", "kinematics"}
        Skim column set: every observable of the data contract, or only muon kinematics.
    objects : bool
        Also write every muon and jet of each selected event as list columns (``muon_pt``, ...,
        ``jet_btagDeepFlavB``; :mod:`processors.objects`) for per-object classifiers. With
        ``columns="full"`` every object branch is required; with ``"kinematics"`` those present
        are written.
    """

    preset: str = "upsilon_antiiso"
    muon_id: str | None = "tightId"
    isolation: str = "antiiso"
    iso_cut: float = 0.55
    mu0_pt_min: float = 17.0
    mu1_pt_min: float = 8.0
    abs_eta_max: float | None = None
    triggers: tuple[str, ...] = ("HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx",)
    lumi_mask: bool = True
    columns: str = "full"
    objects: bool = False
    #: isolation threshold below which a muon counts as isolated in the histogram categories
    iso_category_cut: float = field(default=0.15)

    def __post_init__(self) -> None:
        _validate(self)

    def to_dict(self) -> dict[str, Any]:
        """Settings as a JSON-friendly dict (tuples become lists)."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    def digest(self) -> str:
        """Short stable hash of the settings (part of the chunk ids, see ``processors.chunks``).

        ``objects=False`` is left out of it, so skims without object lists keep the chunk ids
        (and parquet part names) they had before the option existed."""
        settings = self.to_dict()
        if not self.objects:
            del settings["objects"]
        text = json.dumps(settings, sort_keys=True)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def _suggest(name: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def _validate(cfg: SkimConfig) -> None:
    if cfg.muon_id is not None and cfg.muon_id not in MUON_IDS:
        raise ConfigError(
            f"unknown muon_id '{cfg.muon_id}'; expected one of {', '.join(MUON_IDS)} or null"
            + _suggest(cfg.muon_id, MUON_IDS)
        )
    if cfg.isolation not in ISOLATION_MODES:
        raise ConfigError(
            f"unknown isolation '{cfg.isolation}'; expected one of {', '.join(ISOLATION_MODES)}"
        )
    if cfg.columns not in COLUMN_SETS:
        raise ConfigError(
            f"unknown columns '{cfg.columns}'; expected one of {', '.join(COLUMN_SETS)}"
        )
    if cfg.columns == "kinematics" and (cfg.muon_id or cfg.isolation != "none" or cfg.lumi_mask):
        raise ConfigError(
            "columns='kinematics' reads only muon kinematics: set muon_id=null, isolation=none "
            "and lumi_mask=false (as the kinematics_only preset does)"
        )
    if not isinstance(cfg.objects, bool):
        raise ConfigTypeError(f"objects must be true or false, got {cfg.objects!r}")
    for name in ("iso_cut", "mu0_pt_min", "mu1_pt_min", "iso_category_cut"):
        value = getattr(cfg, name)
        if (
            not isinstance(value, (int, float))
            or isinstance(value, bool)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigError(f"{name} must be a finite number >= 0, got {value!r}")
    if cfg.abs_eta_max is not None and (
        not isinstance(cfg.abs_eta_max, (int, float))
        or isinstance(cfg.abs_eta_max, bool)
        or not math.isfinite(cfg.abs_eta_max)
        or cfg.abs_eta_max <= 0
    ):
        raise ConfigError(f"abs_eta_max must be a positive number or null, got {cfg.abs_eta_max!r}")
    if not isinstance(cfg.triggers, tuple):
        raise ConfigTypeError(f"triggers must be a tuple of HLT path names, got {cfg.triggers!r}")
    for trig in cfg.triggers:
        if not isinstance(trig, str) or not _TRIGGER_RE.match(trig):
            raise ConfigError(
                f"unknown trigger '{trig}': expected an HLT branch name such as "
                "'HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx'"
            )


PRESETS: dict[str, SkimConfig] = {
    "upsilon_antiiso": SkimConfig(),
    "inclusive": SkimConfig(
        preset="inclusive", isolation="none", mu0_pt_min=0.0, mu1_pt_min=0.0, triggers=()
    ),
    "kinematics_only": SkimConfig(
        preset="kinematics_only",
        muon_id=None,
        isolation="none",
        mu0_pt_min=0.0,
        mu1_pt_min=0.0,
        triggers=(),
        lumi_mask=False,
        columns="kinematics",
    ),
}


def make_config(
    preset: str = "upsilon_antiiso",
    overrides: Mapping[str, Any] | None = None,
    *,
    source: str = "overrides",
) -> SkimConfig:
    """Build a validated :class:`SkimConfig` from a preset name and overrides.

    Parameters
    ----------
    preset : str
        One of :data:`PRESETS`.
    overrides : mapping, optional
        Field name → value, checked against the field's type (:func:`dimuon_ad.coerce.coerce`;
        strings are converted: ``"17"`` → 17.0, ``"HLT_A,HLT_B"`` → tuple, ``"null"`` → None).
    source : str
        Where the overrides came from, quoted in error messages (e.g. the YAML file name).

    Returns
    -------
    SkimConfig

    Raises
    ------
    ValueError
        Unknown preset, unknown setting or invalid value; the message names it.
    """
    if preset not in PRESETS:
        raise ConfigError(
            f"unknown preset '{preset}'; expected one of {', '.join(PRESETS)}"
            + _suggest(preset, list(PRESETS))
        )
    base = PRESETS[preset]
    fields = {f.name: getattr(base, f.name) for f in dataclasses.fields(SkimConfig)}
    hints = typing.get_type_hints(SkimConfig)
    updates = {}
    for key, value in (overrides or {}).items():
        if key not in fields or key == "preset":
            known = [k for k in fields if k != "preset"]
            raise ConfigError(
                f"unknown setting '{key}' in {source}; known settings: {', '.join(known)}"
                + _suggest(key, known)
            )
        updates[key] = coerce(value, hints[key], key, source, text=True)
    try:
        return dataclasses.replace(base, **updates)
    except (TypeError, ValueError) as exc:
        if not updates:
            raise
        raise ConfigError(f"{exc} (set in {source})") from None


def parse_assignments(items: Sequence[str]) -> dict[str, str]:
    """Parse CLI ``KEY=VALUE`` strings into a dict (values stay strings)."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (e.g. mu0_pt_min=20), got '{item}'")
        out[key.strip()] = value
    return out


def load_config(
    preset: str | None = None,
    yaml_path: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> SkimConfig:
    """Settings from a preset, then a YAML file, then CLI overrides (later ones win).

    The YAML file is a mapping of setting names, optionally with ``preset: <name>``::

        preset: upsilon_antiiso
        mu0_pt_min: 20
        triggers: [HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx]

    Raises
    ------
    FileNotFoundError
        The YAML file does not exist.
    ValueError
        Unknown preset, unknown setting or an invalid value (the message names it and the file).
    """
    merged: dict[str, Any] = {}
    preset_source = "--preset"
    if yaml_path is not None:
        import yaml

        path = Path(yaml_path)
        if not path.is_file():
            raise InputNotFoundError(
                f"--config file {path} not found; expected a YAML mapping of settings"
            )
        try:
            data = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ConfigError(f"--config file {path} is not valid YAML: {first}") from None
        if not isinstance(data, dict):
            raise ConfigError(
                f"--config file {path} must hold a mapping of settings, got {type(data).__name__}"
            )
        data = dict(data)
        yaml_preset = data.pop("preset", None)
        if preset is None and yaml_preset is not None:
            preset, preset_source = yaml_preset, f"key 'preset' of --config {path}"
        _check_preset(preset, preset_source)
        make_config(preset or "upsilon_antiiso", data, source=f"--config {path}")
        merged.update(data)
    _check_preset(preset, preset_source)
    merged.update(overrides or {})
    return make_config(preset or "upsilon_antiiso", merged, source="--set")


def _check_preset(preset: Any, source: str) -> None:
    if preset is not None and (not isinstance(preset, str) or preset not in PRESETS):
        raise ConfigError(
            f"unknown preset '{preset}' ({source}); expected one of {', '.join(PRESETS)}"
            + _suggest(str(preset), list(PRESETS))
        )
