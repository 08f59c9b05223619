"""The method interface: every anomaly-detection method is one registered object.

A method turns the prepared data of one sample (opposite-sign or same-sign events of the window,
their features in GeV/cm and masses in GeV) plus the trained chains' scores into per-event
scores. ``kind = "cut"`` scores are cut at the sideband-measured false-positive rates of
``stats.fprs`` and each cut is bump-hunted with the same pyhf sideband fit; ``kind =
"reweighting"`` scores (classifier outputs in [0, 1]) become likelihood-ratio weights
(:func:`stats.significance.reweighted_significance`). The significance stage, the
look-elsewhere toys and the report tables treat every method alike.

Adding a method is one module with one class and one :func:`register` call::

    from analysis.methods import Method, register

    @register("my_method")
    class MyMethod(Method):
        def scores(self, data):
            return data.sample.columns["dimu_pt"] / data.sample.m, True

and ``methods: [CATHODE, my_method]`` in the analysis YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

__all__ = [
    "CHAINS",
    "DEFAULT_METHODS",
    "METHODS",
    "Method",
    "MethodInput",
    "build_methods",
    "register",
]

#: Trained chains a method may need: their per-event scores reach it as ``data.chain_scores``.
CHAINS = ("CATHODE", "LaCATHODE", "CWoLa")

#: Registered method factories by name (see :func:`register`).
METHODS: dict[str, Callable[[Any], list[Method]]] = {}

#: The methods of an analysis unless the YAML's ``methods`` says otherwise (arXiv:2502.14036:
#: CATHODE cuts, single-feature and random baselines, likelihood reweighting).
DEFAULT_METHODS: tuple[str, ...] = ("CATHODE", "single_feature", "random", "reweighting")


@dataclass(frozen=True)
class MethodInput:
    """What a method sees of one sample.

    Attributes
    ----------
    sample : analysis.data.Sample
        Features ``X`` (GeV, cm), masses ``m`` (GeV), bands, baseline ``columns``.
    name : str
        ``"os"`` or ``"ss"``.
    chain_scores : mapping of str to ndarray
        Per-event scores of the trained chains (``"CATHODE"``, ``"LaCATHODE"``) for this
        sample; the same-sign sample is scored by the opposite-sign models.
    seed : int
        Seed of any random step of the method.
    """

    sample: Any
    name: str
    chain_scores: Mapping[str, np.ndarray] = field(default_factory=dict)
    seed: int = 0


class Method:
    """One anomaly-detection method (subclass it and :func:`register` it).

    Attributes
    ----------
    name : str
        Shown in tables and plots, key of the results.
    kind : {"cut", "reweighting"}
        How the significance stage uses the scores.
    needs : tuple of str
        Chains of :data:`CHAINS` that must be trained for this method.
    """

    kind: ClassVar[str] = "cut"
    needs: ClassVar[tuple[str, ...]] = ()

    def __init__(self, name: str) -> None:
        self.name = name

    def scores(self, data: MethodInput) -> tuple[np.ndarray, bool]:
        """Per-event scores of ``data.sample`` and whether high values are signal-like."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


def register(name: str) -> Callable:
    """Register a method class (or a factory ``config -> list of methods``) under ``name``.

    A class is instantiated once with ``name``; a factory may return several methods (e.g. one
    per feature).
    """

    def deco(obj: Any) -> Any:
        if name in METHODS:
            raise ValueError(f"method {name!r} is registered twice")
        if isinstance(obj, type) and issubclass(obj, Method):
            METHODS[name] = lambda config, _cls=obj: [_cls(name)]
        else:
            METHODS[name] = obj
        return obj

    return deco


def build_methods(config: Any) -> list[Method]:
    """The methods selected by ``config.methods``, in order (names checked by the config)."""
    out: list[Method] = []
    for name in config.methods:
        out.extend(METHODS[name](config))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ValueError(f"methods {names} repeat a name; list each method once")
    return out


@register("CATHODE")
class CathodeCut(Method):
    """Cuts on the CATHODE score (arXiv:2109.00546): out-of-fold classifier of SR data vs the
    flow's background template."""

    needs = ("CATHODE",)

    def scores(self, data: MethodInput) -> tuple[np.ndarray, bool]:
        return data.chain_scores["CATHODE"], True


@register("LaCATHODE")
class LaCathodeCut(Method):
    """Cuts on the LaCATHODE score (arXiv:2210.14924): the classifier in the first flow's
    latent space, where the background template is N(0, 1) at every mass."""

    needs = ("LaCATHODE",)

    def scores(self, data: MethodInput) -> tuple[np.ndarray, bool]:
        return data.chain_scores["LaCATHODE"], True


@register("CWoLa")
class CwolaCut(Method):
    """Cuts on the CWoLa-hunting score (arXiv:1805.02664, arXiv:1902.02634): an out-of-fold
    classifier of SR events against sideband events on the same features (:mod:`ml.cwola`);
    no background density model."""

    needs = ("CWoLa",)

    def scores(self, data: MethodInput) -> tuple[np.ndarray, bool]:
        return data.chain_scores["CWoLa"], True


@register("reweighting")
class Reweighting(Method):
    """Likelihood reweighting with the CATHODE classifier: weights ``s/(1-s)`` scaled by the
    no-cut signal fraction (arXiv:2502.14036, reference §5)."""

    kind = "reweighting"
    needs = ("CATHODE",)

    def __init__(self, name: str) -> None:
        super().__init__("likelihood reweighting" if name == "reweighting" else name)

    def scores(self, data: MethodInput) -> tuple[np.ndarray, bool]:
        return data.chain_scores["CATHODE"], True


class SingleFeature(Method):
    """Cut on one feature, keeping its high or low values (a baseline)."""

    def __init__(self, column: str, side: str) -> None:
        super().__init__(f"{column} ({side})")
        self.column, self.side = column, side

    def scores(self, data: MethodInput) -> tuple[np.ndarray, bool]:
        return data.sample.columns[self.column], self.side == "high"


@register("single_feature")
def single_feature_methods(config: Any) -> list[Method]:
    """One :class:`SingleFeature` per ``features.baseline_cuts()`` entry."""
    return [SingleFeature(col, side) for col, side in config.features.baseline_cuts()]


@register("random")
class RandomCut(Method):
    """Cuts on a uniform random score (seeded): what a method without information gives,
    including the look-elsewhere effect of scanning the FPR grid."""

    def scores(self, data: MethodInput) -> tuple[np.ndarray, bool]:
        return np.random.default_rng(data.seed).random(len(data.sample.m)), True
