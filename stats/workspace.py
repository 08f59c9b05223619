"""pyhf workspaces: build, validate against ``pyhf.schema``, write atomically, load, and test.

A workspace is the complete statistical model as JSON (HistFactory schema of pyhf,
doi:10.21105/joss.02823): anyone can refit it with pyhf alone::

    import json, pyhf
    ws = pyhf.Workspace(json.load(open("upsilon_nocut.json")))
    model = ws.model(); data = ws.data(model)
    pyhf.infer.hypotest(0.0, data, model, test_stat="q0")

The workspaces written by :mod:`stats.significance` carry the fit's parameter bounds (the
positivity of the background: Bernstein coefficients >= 0 where the fit needed it) and the free
fit's optimum as ``inits`` in ``measurements[0].config.parameters``, so
``pyhf.infer.test_statistics.q0(0, data, model, model.config.suggested_init(),
model.config.suggested_bounds(), model.config.suggested_fixed())`` gives the reported Z
(tests/test_stats_refit.py).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyhf

from dimuon_ad.io import atomic_write_json
from stats.model import numpy_backend

log = logging.getLogger(__name__)

__all__ = [
    "make_workspace",
    "validate_workspace",
    "write_workspace",
    "load_workspace",
    "model_and_data",
    "hypotest",
    "discovery_test",
]

SCHEMA_VERSION = "1.0.0"


def make_workspace(
    channels: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    observations: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]],
    *,
    poi: str = "mu",
    measurement: str = "measurement",
    parameters: Sequence[Mapping[str, Any]] = (),
) -> dict:
    """Assemble and validate a pyhf workspace dictionary.

    Parameters
    ----------
    channels : dict or list
        A pyhf model spec (``{"channels": [...]}``, e.g. ``model.spec``) or its channel list.
    observations : dict or list
        ``{channel: counts}`` or the pyhf list ``[{"name": channel, "data": counts}]``.
    poi : str
        Name of the parameter of interest.
    measurement : str
        Name of the single measurement.
    parameters : list of dict
        Extra measurement parameter settings (bounds, inits) in pyhf format.

    Returns
    -------
    dict
        A workspace that validates against ``workspace.json`` of pyhf schema 1.0.0.
    """
    chans = channels["channels"] if isinstance(channels, Mapping) else channels
    if isinstance(observations, Mapping):
        obs = [{"name": k, "data": [float(x) for x in v]} for k, v in observations.items()]
    else:
        obs = [{"name": o["name"], "data": [float(x) for x in o["data"]]} for o in observations]
    spec = {
        "channels": json.loads(json.dumps(list(chans), default=_to_builtin)),
        "observations": obs,
        "measurements": [
            {"name": measurement, "config": {"poi": poi, "parameters": list(parameters)}}
        ],
        "version": SCHEMA_VERSION,
    }
    validate_workspace(spec)
    return spec


def _to_builtin(obj: Any) -> Any:
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    raise TypeError(f"cannot serialise {type(obj).__name__} into a pyhf workspace")


def validate_workspace(spec: Mapping[str, Any]) -> None:
    """Validate ``spec`` against the pyhf workspace schema and check that observations match bins.

    Raises
    ------
    ValueError
        If the schema validation fails or an observation has the wrong number of bins; the message
        names the offending entry.
    """
    try:
        pyhf.schema.validate(
            dict(spec), "workspace.json", version=spec.get("version", SCHEMA_VERSION)
        )
    except pyhf.exceptions.InvalidSpecification as err:
        raise ValueError(f"workspace does not follow the pyhf schema: {err}") from None
    nbins = {c["name"]: len(c["samples"][0]["data"]) for c in spec["channels"]}
    for o in spec["observations"]:
        if o["name"] not in nbins:
            raise ValueError(
                f"observation for unknown channel {o['name']!r}; channels: {sorted(nbins)}"
            )
        if len(o["data"]) != nbins[o["name"]]:
            raise ValueError(
                f"observation {o['name']!r} has {len(o['data'])} bins, "
                f"the channel has {nbins[o['name']]}"
            )
        if any(not np.isfinite(x) or x < 0 for x in o["data"]):
            raise ValueError(
                f"observation {o['name']!r} has negative or non-finite counts: {o['data']}"
            )


def write_workspace(spec: Mapping[str, Any], path: str | os.PathLike) -> Path:
    """Validate and write a workspace as JSON atomically (:mod:`dimuon_ad.io`)."""
    validate_workspace(spec)
    path = atomic_write_json(path, spec, indent=1, sort_keys=True)
    log.info("wrote workspace %s", path)
    return path


def load_workspace(path: str | os.PathLike) -> dict:
    """Read and validate a workspace JSON file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not valid JSON or not a valid pyhf workspace.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"workspace file {path} not found; write one with stats.workspace.write_workspace"
        )
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"workspace file {path} is not valid JSON: {err}") from None
    validate_workspace(spec)
    return spec


def model_and_data(spec: Mapping[str, Any]) -> tuple[pyhf.pdf.Model, np.ndarray]:
    """pyhf model and data vector (with auxiliary data) of a workspace."""
    with numpy_backend():
        ws = pyhf.Workspace(dict(spec))
        model = ws.model()
        data = np.asarray(ws.data(model), dtype=np.float64)
    return model, data


def hypotest(
    spec: Mapping[str, Any],
    poi_value: float = 1.0,
    *,
    test_stat: str = "qtilde",
    return_expected_set: bool = False,
) -> dict:
    """Asymptotic hypothesis test of a workspace (pyhf ``infer.hypotest``, numpy/scipy backend).

    Parameters
    ----------
    spec : dict
        A workspace (validated here).
    poi_value : float
        Tested value of the parameter of interest.
    test_stat : {"qtilde", "q", "q0"}
        Test statistic (arXiv:1007.1727).
    return_expected_set : bool
        Also return the ±1σ/±2σ expected band.

    Returns
    -------
    dict
        ``{"cls_obs": float, "cls_exp": float (median), "cls_exp_set": list (if asked)}``; for
        ``q0`` the values are discovery p-values.
    """
    validate_workspace(spec)
    model, data = model_and_data(spec)
    with numpy_backend():
        obs, exp_set = pyhf.infer.hypotest(
            poi_value, data, model, test_stat=test_stat, return_expected_set=True
        )
    out = {"cls_obs": float(obs), "cls_exp": float(exp_set[2])}
    if return_expected_set:
        out["cls_exp_set"] = [float(x) for x in exp_set]
    return out


def discovery_test(spec: Mapping[str, Any]) -> dict:
    """Discovery significance of a workspace with pyhf alone: ``q0`` (arXiv:1007.1727 eq. 12).

    Returns
    -------
    dict
        ``{"q0": float, "Z": float (= sqrt(q0)), "p_value": float (hypotest at mu = 0)}``.
    """
    validate_workspace(spec)
    model, data = model_and_data(spec)
    init = model.config.suggested_init()
    bounds = model.config.suggested_bounds()
    with numpy_backend(), np.errstate(all="ignore"):
        q0 = float(
            pyhf.infer.test_statistics.q0(
                0.0, data, model, init, bounds, model.config.suggested_fixed()
            )
        )
        p0 = float(pyhf.infer.hypotest(0.0, data, model, test_stat="q0"))
    return {"q0": q0, "Z": float(np.sqrt(max(q0, 0.0))), "p_value": p0}
