"""One pyhf workspace file per fit of the analysis, with its bin edges in a sidecar.

``<out>/workspaces/<sample>_<method>_fpr<x>.json`` (``os_no_cut.json``,
``os_reweighting.json``, ``os_cathode_fpr0.05.json``, …) is the pure HistFactory workspace
(pyhf's schema allows no extra keys), refittable with pyhf alone; ``<name>.meta.json`` beside
it says what it is: sample, method, cut (nominal and sideband-measured FPR, score threshold),
window and bin edges in GeV per channel, and the reported Z, p-value and fitted yields.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from dimuon_ad.io import atomic_write_text, to_jsonable

__all__ = ["fit_binning", "workspace_name", "write_workspaces"]

SCHEMA = "dimuon-ad/workspace-meta/1"


def workspace_name(sample: str, method: str, fpr: float | None = None) -> str:
    """File stem of a fit: ``os_no_cut``, ``ss_cathode_fpr0.0237``, ``os_mu0_ip3d_low_fpr0.2``."""
    slug = re.sub(r"[^a-z0-9]+", "_", method.lower()).strip("_")
    return f"{sample}_{slug}" + ("" if fpr is None else f"_fpr{fpr:.3g}")


def fit_binning(config: Any) -> dict[str, Any]:
    """Window and bin edges (GeV) of the analysis fits: every bin (``edges``), the sideband
    channel's bins and the one signal-region bin, in the workspace's channel order."""
    from analysis.significance import stats_window
    from stats.binning import make_bins

    b = make_bins(stats_window(config.window), config.stats.n_sr_edges)
    edges = np.asarray(b.edges, dtype=float)
    lo, hi = edges[:-1], edges[1:]
    w = config.window
    return {
        "window": {"name": w.name, "sb_left": w.sb_left, "sr_left": w.sr_left,
                   "sr_right": w.sr_right, "sb_right": w.sb_right, "unit": "GeV"},
        "edges": edges.tolist(),
        "bin_width": float(b.bin_width),
        "channels": {
            "sidebands": np.column_stack([lo[b.sb_mask], hi[b.sb_mask]]).tolist(),
            "signal_region": [[float(lo[b.sr_mask][0]), float(hi[b.sr_mask][-1])]],
        },
    }


def _fits(sig: dict[str, Any]) -> list[tuple[str, float | None, dict[str, Any]]]:
    out = [("no cut", None, sig.get("no_cut") or {}),
           ("reweighting", None, sig.get("reweighting") or {})]
    for method, scan in sig.get("scans", {}).items():
        out += [(method, r.get("fpr"), r) for r in scan]
    return out


def write_workspaces(result: Any, directory: str | Path) -> list[Path]:
    """Write every fit's workspace of ``result`` (an ``AnalysisResult``) and its sidecar into
    ``directory``, removing the ``.json`` files of earlier runs that this one did not write;
    returns the workspace paths (fits without a workspace are skipped)."""
    directory = Path(directory)
    binning = fit_binning(result.config)
    paths = []
    for sample in ("os", "ss"):
        sig = result.significance.get(sample) or {}
        for method, fpr, entry in _fits(sig):
            ws = entry.get("workspace")
            if not ws:
                continue
            name = workspace_name(sample, method, fpr)
            meta = {
                "schema": SCHEMA, "workspace": f"{name}.json", "sample": sample.upper(),
                "method": method, "fpr": fpr, "fpr_sideband": entry.get("fpr_sideband"),
                "threshold": entry.get("threshold"), "observable": result.config.features.condition,
                **binning,
                "result": {k: entry.get(k) for k in ("Z", "p_value", "s_fit", "b_fit",
                                                     "b_fit_unc", "converged", "usable",
                                                     "bad_fit", "n_sr", "n_sb")},
            }
            path = atomic_write_text(directory / f"{name}.json", json.dumps(to_jsonable(ws)))
            atomic_write_text(directory / f"{name}.meta.json",
                              json.dumps(to_jsonable(meta), indent=1))
            paths.append(path)
    # a re-run with another FPR grid leaves no stale workspace of the previous one
    keep = {q.name for q in paths} | {f"{q.stem}.meta.json" for q in paths}
    for old in directory.glob("*.json"):
        if old.name not in keep:
            old.unlink()
    return paths
