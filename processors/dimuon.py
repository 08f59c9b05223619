"""The dimuon skim processor (coffea ``ProcessorABC``).

``process(events)`` takes NanoAOD-like events — coffea NanoEvents from
``coffea.processor.Runner`` or the record arrays of :func:`processors.inputs.read_events` — applies
the named cuts of a :class:`~processors.config.SkimConfig` with ``PackedSelection``, and returns an
accumulatable dict::

    {"hists": {name: hist.Hist}, "cutflow": {dataset: {cut: n_events}},
     "skim": {dataset: {column: column_accumulator}}}

References: arXiv:2502.14036 (the anti-isolated Υ selection).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import awkward as ak
import numpy as np
from coffea.analysis_tools import PackedSelection
from coffea.nanoevents import NanoAODSchema
from coffea.processor import ProcessorABC, column_accumulator

from processors.columns import flat_field, skim_columns
from processors.config import PRESETS, SkimConfig
from processors.histograms import fill_histograms, make_histograms
from processors.inputs import MissingBranchError, missing_branch_message, required_branches
from processors.lumimask import LumiMask
from processors.objects import object_columns
from processors.selection import (
    abs_eta_mask,
    charge_category,
    has_pair,
    isolation_category,
    isolation_mask,
    leading_pair_indices,
    pt_mask,
    take_pair,
    trigger_mask,
)

# Our inputs hold no cross-referenced collections beyond what we read; silence coffea's warning.
NanoAODSchema.warn_missing_crossrefs = False

log = logging.getLogger(__name__)


def _has_branch(events, branch: str) -> bool:
    fields = ak.fields(events)
    if branch in fields:
        return True
    prefix, _, rest = branch.partition("_")
    return bool(rest) and prefix in fields and rest in ak.fields(events[prefix])


def chunk_output(hists: dict, dataset: str, counts: dict, columns: Mapping) -> dict:
    """One chunk's processor output: ``{"hists", "cutflow": {dataset: counts}, "skim":
    {dataset: {column: column_accumulator}}}`` (the layout the runner merges and writes)."""
    return {
        "hists": hists,
        "cutflow": {dataset: counts},
        "skim": {dataset: {k: column_accumulator(v) for k, v in columns.items()}},
    }


def events_metadata(events) -> dict:
    """The ``metadata`` parameter of an events array (dataset, filename, is_data, ...)."""
    meta = events.layout.purelist_parameter("metadata")
    return dict(meta) if isinstance(meta, Mapping) else {}


class DimuonProcessor(ProcessorABC):
    """Select the leading muon pair, compute observables, fill histograms and skim columns.

    Parameters
    ----------
    config : SkimConfig
        Physics settings (default: the ``upsilon_antiiso`` preset).
    lumi_masks : mapping of str to LumiMask, optional
        Certified-lumi mask per dataset name, applied to data (``metadata["is_data"]``) when
        ``config.lumi_mask`` is true.
    """

    def __init__(
        self, config: SkimConfig | None = None, lumi_masks: Mapping[str, LumiMask] | None = None
    ):
        self.config = config if config is not None else PRESETS["upsilon_antiiso"]
        self.lumi_masks = dict(lumi_masks or {})

    def check_events(self, events, filename: str) -> None:
        """Raise :class:`MissingBranchError` naming every branch the config needs but lacks."""
        missing = [b for b in required_branches(self.config) if not _has_branch(events, b)]
        if missing:
            raise MissingBranchError(missing_branch_message(missing, filename, self.config, []))

    def select(self, events, dataset: str, is_data: bool):
        """Named cuts; returns ``(PackedSelection, cut names, idx0, idx1, iso0, iso1)``."""
        cfg = self.config
        muons = events.Muon
        counts = ak.to_numpy(ak.num(muons, axis=1))
        passes = None if cfg.muon_id is None else flat_field(muons, cfg.muon_id)
        idx0, idx1 = leading_pair_indices(counts, passes)
        selection = PackedSelection()
        names = [f"two_{cfg.muon_id}_muons" if cfg.muon_id else "two_muons"]
        selection.add(names[0], has_pair(idx1))
        mask = self.lumi_masks.get(dataset)
        if is_data and cfg.lumi_mask and mask is not None:
            names.append("lumi_mask")
            selection.add(
                "lumi_mask", mask(ak.to_numpy(events.run), ak.to_numpy(events.luminosityBlock))
            )
        if cfg.triggers:
            names.append("trigger")
            selection.add("trigger", trigger_mask(events.HLT, cfg.triggers))
        if cfg.mu0_pt_min > 0 or cfg.mu1_pt_min > 0:
            pt0, pt1 = take_pair(flat_field(muons, "pt"), idx0, idx1)
            names.append("muon_pt")
            selection.add("muon_pt", pt_mask(pt0, pt1, cfg.mu0_pt_min, cfg.mu1_pt_min))
        iso0 = iso1 = None
        if "pfRelIso04_all" in ak.fields(muons):
            iso0, iso1 = take_pair(flat_field(muons, "pfRelIso04_all"), idx0, idx1)
        if cfg.isolation != "none":
            names.append("isolation")
            selection.add("isolation", isolation_mask(iso0, iso1, cfg.isolation, cfg.iso_cut))
        if cfg.abs_eta_max is not None:
            eta0, eta1 = take_pair(flat_field(muons, "eta"), idx0, idx1)
            names.append("abs_eta")
            selection.add("abs_eta", abs_eta_mask(eta0, eta1, cfg.abs_eta_max))
        return selection, names, idx0, idx1, iso0, iso1

    def process(self, events):
        """Run the skim on one chunk of events (see the module docstring for the output)."""
        meta = events_metadata(events)
        dataset = str(meta.get("dataset", "unknown"))
        self.check_events(events, str(meta.get("filename", "<events>")))
        selection, names, idx0, idx1, iso0, iso1 = self.select(
            events, dataset, bool(meta.get("is_data", False))
        )
        cutflow = selection.cutflow(*names).result()
        counts = {"all": len(events)}
        counts.update({n: int(c) for n, c in zip(names, cutflow.nevcutflow[1:], strict=True)})
        rows = np.flatnonzero(selection.all(*names))
        columns = skim_columns(events, idx0, idx1, rows, columns=self.config.columns)
        if self.config.objects:
            columns.update(object_columns(events, rows))
        q_index = charge_category(columns["mu0_charge"], columns["mu1_charge"])
        if iso0 is None:
            iso_index = np.full(len(rows), 3, dtype=np.int8)
        else:
            iso_index = isolation_category(
                iso0[rows],
                iso1[rows],
                iso_cut=self.config.iso_category_cut,
                antiiso_cut=self.config.iso_cut,
            )
        hists = make_histograms(columns)
        fill_histograms(hists, dataset, columns, q_index, iso_index)
        return chunk_output(hists, dataset, counts, columns)

    def postprocess(self, accumulator):
        """Nothing to do: the merged accumulator is final."""
        return accumulator
