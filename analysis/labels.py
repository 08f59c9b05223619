"""Experiment, √s, luminosity and year of the plots and the report, from metadata or the config.

The labels are facts about the input, so they come from the skim's metadata (``fileset.json`` →
the skim's ``summary.json``) unless the configuration's ``report`` section sets them. Nothing is
assumed: a synthetic sample says so, and an input whose √s or luminosity nobody stated shows
"unknown" rather than the numbers of some other dataset.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["SampleLabels", "resolve_labels"]


@dataclass(frozen=True)
class SampleLabels:
    """What the plots and the report say about the input.

    Attributes
    ----------
    experiment : str
        "CMS", "ATLAS", ... ; empty when unknown or synthetic.
    text : str
        Text after the experiment ("Open Data", "Synthetic sample", ...).
    lumi_fb : float or None
        Integrated luminosity in fb⁻¹.
    com_tev : float or None
        Centre-of-mass energy in TeV.
    year : int or None
        Data-taking year.
    synthetic : bool
        The input is the toolkit's synthetic sample (or another generated one).
    sources : dict
        Field → where its value came from: "config", "skim metadata" or "unknown".
    """

    experiment: str = ""
    text: str = ""
    lumi_fb: float | None = None
    com_tev: float | None = None
    year: int | None = None
    synthetic: bool = False
    sources: dict[str, str] = field(default_factory=dict)

    def right_label(self) -> str:
        """The right-hand plot label, e.g. ``"2016, 8.74 fb⁻¹ (13 TeV)"``."""
        parts = []
        if self.year is not None:
            parts.append(f"{self.year}")
        if self.lumi_fb is not None:
            parts.append(f"{self.lumi_fb:.2f} fb$^{{-1}}$")
        text = ", ".join(parts)
        if self.com_tev is not None:
            text = f"{text} ({self.com_tev:g} TeV)".strip()
        if text:
            return text
        return "synthetic, no luminosity" if self.synthetic else "√s and luminosity unknown"

    def describe(self) -> str:
        """One line for the report and the console, e.g. ``"CMS Open Data, 2016, √s = 13 TeV,
        8.74 fb⁻¹"`` or ``"Synthetic sample, no luminosity"``."""
        head = " ".join(x for x in (self.experiment, self.text) if x)
        parts = [head] + ([f"{self.year}"] if self.year is not None else [])
        if self.com_tev is not None:
            parts.append(f"√s = {self.com_tev:g} TeV")
        elif not self.synthetic:
            parts.append("√s unknown")
        if self.lumi_fb is not None:
            parts.append(f"{self.lumi_fb:g} fb⁻¹")
        else:
            parts.append("no luminosity" if self.synthetic else "luminosity unknown")
        unknown = [k for k, v in self.sources.items() if v == "unknown"]
        note = f" (not stated by the skim metadata or config: {', '.join(unknown)})" if (
            unknown and not self.synthetic) else ""
        return ", ".join(parts) + note

    def to_dict(self) -> dict[str, Any]:
        """JSON-able view (results.json)."""
        return {"experiment": self.experiment, "text": self.text, "lumi_fb": self.lumi_fb,
                "com_tev": self.com_tev, "year": self.year, "synthetic": self.synthetic,
                "sources": dict(self.sources), "description": self.describe()}


def resolve_labels(
    report: Any, metadata: Mapping[str, Any] | None, *, has_truth: bool = False
) -> SampleLabels:
    """Labels of one input: the config's ``report`` values win over the skim metadata.

    Parameters
    ----------
    report : analysis.config.ReportSettings
        ``experiment``, ``label``, ``lumi_fb`` (fb⁻¹), ``com_tev`` (TeV), ``year``; None = take
        the metadata's.
    metadata : mapping or None
        The dataset's metadata from the skim (``is_data``, ``synthetic``, ``experiment``,
        ``lumi_fb``, ``com_tev``, ``year``); None when the skim has no summary.
    has_truth : bool
        The skim has a ``truth_process`` column (a generated sample) — treated as synthetic when
        the metadata does not say otherwise.
    """
    md = dict(metadata or {})
    synthetic = bool(md.get("synthetic", has_truth and not md.get("is_data", False)))
    sources: dict[str, str] = {}

    def pick(name: str, meta_key: str | None = None) -> Any:
        value = getattr(report, name)
        if value is not None:
            sources[name] = "config"
            return value
        value = md.get(meta_key or name)
        sources[name] = "skim metadata" if value is not None else "unknown"
        return value

    experiment = pick("experiment") or ""
    lumi = pick("lumi_fb")
    com = pick("com_tev")
    year = pick("year")
    text = report.label
    if text is not None:
        sources["label"] = "config"
    else:
        sources["label"] = "derived"
        if synthetic:
            text = "Synthetic sample"
        elif md.get("is_data"):
            text = "Open Data" if experiment else "data"
        elif md.get("is_data") is False:
            text = "Simulation"
        else:
            text = "sample of unknown origin"
    return SampleLabels(
        experiment=str(experiment), text=str(text),
        lumi_fb=None if lumi is None else float(lumi),
        com_tev=None if com is None else float(com),
        year=None if year is None else int(year), synthetic=synthetic, sources=sources,
    )
