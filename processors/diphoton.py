"""The diphoton (H → γγ) skim processor of ATLAS Open Data ``mini`` ntuples (coffea processor).

Inputs are in **MeV** (the release's ``mini`` schema); every output momentum and mass is in
**GeV**. ``process(events)`` takes the record arrays of :func:`processors.inputs.read_events`
(``events.photon.pt``) or flat branch records (``events.photon_pt``), applies the named cuts of a
:class:`~processors.diphoton_config.DiphotonConfig` with ``PackedSelection`` and returns::

    {"hists": {"mgg": Hist(dataset, truth_mode, mgg; Weight), "cutflow_weighted": ...},
     "cutflow": {dataset: {cut: events}}, "skim": {dataset: {column: column_accumulator}}}

The skim columns are :data:`processors.diphoton_columns.DIPHOTON_COLUMNS`. The MC weight is
``mcWeight`` × scale factors × ``XSection`` / ``SumWeights`` × ``lumi_fb`` of the dataset's metadata
(:func:`processors.diphoton_physics.mc_event_weight`); data events weigh 1.

References: arXiv:1802.04146 (ATLAS H → γγ selection).
"""

from __future__ import annotations

import logging

import awkward as ak
import hist
import numpy as np
from coffea.analysis_tools import PackedSelection
from coffea.processor import ProcessorABC

from dimuon_ad.errors import ConfigError, InputError
from processors.dimuon import chunk_output, events_metadata
from processors.diphoton_columns import (
    CHANNEL_MODES,
    DIPHOTON_DTYPES,
    MC_SAMPLES,
    NON_HIGGS,
    TRUTH_MODES,
)
from processors.diphoton_config import PRESETS, DiphotonConfig
from processors.diphoton_physics import (
    MEV_PER_GEV,
    isolation_mask,
    jet_columns,
    leading_pair,
    lepton_columns,
    mc_event_weight,
    pair_mass_gev,
    pair_pt_gev,
    photon_eta_mask,
)
from processors.inputs import MissingBranchError

log = logging.getLogger(__name__)

EVENT_IDS = ("runNumber", "eventNumber", "channelNumber")
PHOTON_KINEMATICS = ("photon_pt", "photon_eta", "photon_phi", "photon_E")
JETS = ("jet_pt", "jet_eta", "jet_phi", "jet_E", "jet_MV2c10")
LEPTONS = ("lep_pt", "lep_eta", "lep_isTightID")
WEIGHTS = ("mcWeight", "XSection", "SumWeights")
TRUTH_BRANCH = "truth_mode"
#: the m_γγ histogram: 1 GeV bins from 105 to 160 GeV
MGG_BINS = (55, 105.0, 160.0)
#: median photon pT (MeV) below which a file is taken to be in GeV: 1 TeV in GeV, 1 GeV in MeV
MEV_MEDIAN_MIN = 1000.0


class UnitError(InputError):
    """A file's momenta are not in MeV (e.g. ``photon_pt`` converted to GeV)."""


def required_diphoton_branches(config: DiphotonConfig) -> list[str]:
    """Branches of the ``mini`` schema that ``config`` needs in every file."""
    names = [*EVENT_IDS, *PHOTON_KINEMATICS]
    if config.trigger:
        names.append("trigP")
    if config.tight_id:
        names.append("photon_isTightID")
    if config.trigger_match:
        names.append("photon_trigMatched")
    if config.isolation != "none":
        names += ["photon_ptcone30", "photon_etcone20"]
    names += [*JETS, *LEPTONS, "met_et", *WEIGHTS]
    names += [f"scaleFactor_{s}" for s in config.scale_factors]
    return names


def missing_diphoton_message(missing, path: str, config: DiphotonConfig) -> str:
    """One line naming the missing branches, the file and the preset."""
    shown = ", ".join(missing[:6]) + (f" (+{len(missing) - 6} more)" if len(missing) > 6 else "")
    return (f"file {path} lacks branch(es) {shown} of the ATLAS mini schema needed by diphoton "
            f"preset '{config.preset}'; is it a 2020 ATLAS Open Data GamGam ntuple (TTree "
            "'mini')? Fix the file or choose a preset that does not need them")


def check_mev(photon_pt, path: str) -> None:
    """Raise :class:`UnitError` when photon pT (flattened) looks like GeV, not MeV."""
    flat = np.asarray(ak.flatten(photon_pt, axis=None), dtype=np.float64)
    if len(flat) == 0:
        return
    median = float(np.median(flat))
    if median < MEV_MEDIAN_MIN:
        raise UnitError(
            f"file {path}: photon_pt has a median of {median:.4g}, which looks like GeV; the "
            f"ATLAS mini schema stores MeV (medians of tens of thousands): convert the file's "
            "energies and momenta to MeV (x1000) or regenerate it"
        )


def _expected_kind(name: str) -> tuple[str, str]:
    if name in (*EVENT_IDS, TRUTH_BRANCH):
        return "iu", "an integer type"
    if name in ("trigP", "photon_isTightID", "photon_trigMatched", "lep_isTightID"):
        return "biu", "a boolean flag"
    return "f", "a floating-point type (MeV for energies and momenta)"


def inspect_diphoton_tree(tree, path: str, config: DiphotonConfig) -> tuple[str, ...]:
    """Pre-flight of one ``mini`` tree: every needed branch present with its type and photon pT in
    MeV (from the first 2000 entries). Returns the branches to read (the needed ones, plus
    ``truth_mode`` when present).

    Raises
    ------
    MissingBranchError, BranchTypeError, UnitError
        One line naming the file and what is wrong.
    """
    from processors.checks import BranchTypeError, _branch_dtype

    keys = set(tree.keys())
    needed = required_diphoton_branches(config)
    missing = [b for b in needed if b not in keys]
    if missing:
        raise MissingBranchError(missing_diphoton_message(missing, path, config))
    branches = tuple(needed + ([TRUTH_BRANCH] if TRUTH_BRANCH in keys else []))
    for name in branches:
        kinds, expected = _expected_kind(name)
        dtype = _branch_dtype(tree[name])
        if dtype is None or dtype.kind not in kinds:
            raise BranchTypeError(f"branch {name} of file {path} has type {tree[name].typename}; "
                                  f"the diphoton skim expects {expected}; fix the file or remove "
                                  "it from the fileset")
    check_mev(tree["photon_pt"].array(entry_stop=min(2000, tree.num_entries)), path)
    return branches


def branch(events, name: str):
    """Branch ``name`` of events read flat (``events.photon_pt``) or grouped by prefix
    (``events.photon.pt``, :func:`processors.inputs.read_events`)."""
    fields = ak.fields(events)
    if name in fields:
        return events[name]
    prefix, _, rest = name.partition("_")
    if rest and prefix in fields and rest in ak.fields(events[prefix]):
        return events[prefix][rest]
    raise KeyError(name)


def has_branch(events, name: str) -> bool:
    """True when :func:`branch` finds ``name``."""
    try:
        branch(events, name)
    except KeyError:
        return False
    return True


def make_mgg_histograms(cuts: list[str]) -> dict[str, hist.Hist]:
    """Empty histograms: weighted m_γγ by dataset and truth mode (1 GeV bins, 105–160 GeV), and
    the weighted cutflow by dataset and cut (``cuts`` in order)."""
    modes = hist.axis.IntCategory([NON_HIGGS, *TRUTH_MODES.values()], name="truth_mode",
                                  label="truth mode")
    return {
        "mgg": hist.Hist(hist.axis.StrCategory([], growth=True, name="dataset", label="dataset"),
                         modes,
                         hist.axis.Regular(*MGG_BINS, name="mgg",
                                           label=r"$m_{\gamma\gamma}$ [GeV]"),
                         storage=hist.storage.Weight()),
        "cutflow_weighted": hist.Hist(
            hist.axis.StrCategory([], growth=True, name="dataset", label="dataset"),
            hist.axis.StrCategory(list(cuts), name="cut", label="cut"),
            storage=hist.storage.Weight()),
    }


class DiphotonProcessor(ProcessorABC):
    """Select the leading photon pair, compute the skim columns, weights and histograms.

    Parameters
    ----------
    config : DiphotonConfig
        Selection (default: the ``hgg`` preset).
    """

    def __init__(self, config: DiphotonConfig | None = None):
        self.config = config if config is not None else PRESETS["hgg"]

    def check_events(self, events, filename: str) -> None:
        """Raise one line for a missing branch or momenta not in MeV."""
        missing = [b for b in required_diphoton_branches(self.config)
                   if not has_branch(events, b)]
        if missing:
            raise MissingBranchError(missing_diphoton_message(missing, filename, self.config))
        check_mev(branch(events, "photon_pt"), filename)

    def select(self, events):
        """Named cuts on the two leading photons; returns ``(PackedSelection, names, photons)``
        with ``photons`` the leading-pair arrays (MeV) by field."""
        cfg = self.config
        fields = ["eta", "phi", "E"]
        fields += ["isTightID"] if cfg.tight_id else []
        fields += ["trigMatched"] if cfg.trigger_match else []
        fields += ["ptcone30", "etcone20"] if cfg.isolation != "none" else []
        pairs = leading_pair(branch(events, "photon_pt"),
                             *(branch(events, f"photon_{f}") for f in fields))
        ph = dict(zip(["pt", *fields], pairs, strict=True))
        (pt0, pt1) = ph["pt"]
        sel = PackedSelection()
        names = []

        def add(name, mask):
            names.append(name)
            sel.add(name, np.asarray(mask, dtype=bool))

        if cfg.trigger:
            add("trigger", ak.to_numpy(branch(events, "trigP")).astype(bool))
        add("two_photons", ~np.isnan(pt1))
        if cfg.tight_id:
            add("tight_id", ph["isTightID"][0] & ph["isTightID"][1])
        if cfg.trigger_match:
            add("trigger_match", ph["trigMatched"][0] & ph["trigMatched"][1])
        add("eta", photon_eta_mask(ph["eta"][0], cfg.abs_eta_max, cfg.crack)
            & photon_eta_mask(ph["eta"][1], cfg.abs_eta_max, cfg.crack))
        if cfg.isolation != "none":
            iso = [isolation_mask(ph["pt"][k], ph["ptcone30"][k], ph["etcone20"][k],
                                  cfg.isolation, cfg.ptcone_max, cfg.etcone_max) for k in (0, 1)]
            add("isolation", iso[0] & iso[1])
        add("pt", (pt0 > cfg.pt0_min * MEV_PER_GEV) & (pt1 > cfg.pt1_min * MEV_PER_GEV))
        mgg = pair_mass_gev(pt0, ph["eta"][0], ph["phi"][0], ph["E"][0],
                            pt1, ph["eta"][1], ph["phi"][1], ph["E"][1])
        with np.errstate(divide="ignore", invalid="ignore"):
            add("pt_over_mgg", (pt0 / MEV_PER_GEV > cfg.pt0_over_m_min * mgg)
                & (pt1 / MEV_PER_GEV > cfg.pt1_over_m_min * mgg))
        add("mass_window", (mgg >= cfg.mass_min) & (mgg <= cfg.mass_max))
        ph["mgg"] = mgg
        return sel, names, ph

    def weights(self, events, meta: dict, is_data: bool) -> np.ndarray:
        """Per-event weight (float64): 1 for data, the MC weight otherwise."""
        n = len(events)
        if is_data:
            return np.ones(n)
        lumi = meta.get("lumi_fb")
        if lumi is None:
            raise ConfigError(
                f"simulated dataset '{meta.get('dataset')}' has no \"lumi_fb\" in its fileset "
                "metadata; the MC weight needs the luminosity to normalise to (e.g. 10.0)"
            )
        sfs = [ak.to_numpy(branch(events, f"scaleFactor_{s}")) for s in self.config.scale_factors]
        return mc_event_weight(ak.to_numpy(branch(events, "mcWeight")), sfs,
                               ak.to_numpy(branch(events, "XSection")),
                               ak.to_numpy(branch(events, "SumWeights")), float(lumi))

    def columns(self, events, ph: dict, rows: np.ndarray, weight: np.ndarray, meta: dict,
                is_data: bool) -> dict[str, np.ndarray]:
        """The skim columns of the selected ``rows`` (GeV), in the contract's order and dtypes."""
        cfg = self.config
        ev = events[rows]
        out: dict[str, np.ndarray] = {"mgg": ph["mgg"][rows]}
        for k in (0, 1):
            out[f"photon{k}_pt"] = ph["pt"][k][rows] / MEV_PER_GEV
            out[f"photon{k}_eta"] = ph["eta"][k][rows]
            out[f"photon{k}_phi"] = ph["phi"][k][rows]
        out["ptgg"] = pair_pt_gev(ph["pt"][0][rows], ph["phi"][0][rows], ph["pt"][1][rows],
                                  ph["phi"][1][rows])
        out.update(jet_columns(*(branch(ev, b) for b in JETS), pt_min=cfg.jet_pt_min,
                               abs_eta_max=cfg.jet_abs_eta_max, btag_min=cfg.btag_min))
        out.update(lepton_columns(*(branch(ev, b) for b in LEPTONS)))
        out["met_et"] = ak.to_numpy(branch(ev, "met_et")) / MEV_PER_GEV
        out["weight"] = weight[rows]
        sign = np.sign(ak.to_numpy(branch(ev, "mcWeight"))) if not is_data else np.ones(len(rows))
        out["mc_weight_sign"] = np.where(sign < 0, -1, 1)
        channel = ak.to_numpy(branch(ev, "channelNumber")).astype(np.int64)
        sample = meta.get("sample") or (MC_SAMPLES.get(int(channel[0])) if len(channel) and
                                        not is_data else None) or str(meta.get("dataset"))
        out["sample"] = np.full(len(rows), sample)  # fixed-width unicode: fast to arrow
        out["truth_mode"] = truth_modes(ev, channel, is_data)
        for name in EVENT_IDS:
            out[name] = ak.to_numpy(branch(ev, name))
        out["is_data"] = np.full(len(rows), is_data)
        return {name: np.asarray(out[name]).astype(dtype) for name, dtype in
                DIPHOTON_DTYPES.items()}

    def process(self, events):
        """Run the skim on one chunk of events (see the module docstring for the output)."""
        meta = events_metadata(events)
        dataset = str(meta.get("dataset", "unknown"))
        is_data = bool(meta.get("is_data", False))
        self.check_events(events, str(meta.get("filename", "<events>")))
        sel, names, ph = self.select(events)
        weight = self.weights(events, meta, is_data)
        counts = {"all": len(events)}
        sums = [(weight.sum(), np.square(weight).sum())]
        for k, name in enumerate(names):
            passed = sel.all(*names[: k + 1])
            counts[name] = int(passed.sum())
            sums.append((weight[passed].sum(), np.square(weight[passed]).sum()))
        hists = make_mgg_histograms(list(counts))
        _set_cutflow(hists["cutflow_weighted"], dataset, sums)
        rows = np.flatnonzero(sel.all(*names))
        columns = self.columns(events, ph, rows, weight, meta, is_data)
        hists["mgg"].fill(dataset=dataset, truth_mode=columns["truth_mode"],
                          mgg=columns["mgg"], weight=columns["weight"])
        return chunk_output(hists, dataset, counts, columns)

    def postprocess(self, accumulator):
        """Nothing to do: the merged accumulator is final."""
        return accumulator


def _set_cutflow(h: hist.Hist, dataset: str, sums: list[tuple[float, float]]) -> None:
    """Set the weighted cutflow of ``dataset``: (Σw, Σw²) per cut, in the cut axis' order."""
    h.fill(dataset=[dataset], cut=[h.axes["cut"][0]], weight=[0.0])  # adds the dataset bin
    view = h.view()
    index = h.axes["dataset"].index(dataset)
    view.value[index, : len(sums)] = [s[0] for s in sums]
    view.variance[index, : len(sums)] = [s[1] for s in sums]


def truth_modes(events, channel: np.ndarray, is_data: bool) -> np.ndarray:
    """``truth_mode`` per event: the synthetic files' branch when present, else the mode of the
    MC sample's channel number, else -1 (data)."""
    if has_branch(events, TRUTH_BRANCH):
        return ak.to_numpy(branch(events, TRUTH_BRANCH)).astype(np.int32)
    if is_data:
        return np.full(len(channel), NON_HIGGS, np.int32)
    return np.array([CHANNEL_MODES.get(int(c), NON_HIGGS) for c in channel], np.int32)
