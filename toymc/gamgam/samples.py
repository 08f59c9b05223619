"""Facts of the ATLAS Open Data 13 TeV (2020 release) GamGam samples the synthetic ntuples copy.

Cross sections are the LHC Higgs WG (YR4, m_H = 125 GeV, 13 TeV) production cross sections times
BR(H→γγ) = 2.27e-3, in pb, as the ``XSection`` branch of the ``mini`` ntuples stores them
(σ × BR). The WH sample of the release is W⁺H only (``WpH125J_Wincl``). The luminosities of the
2016 periods A–D are those the release's notebooks use (0.5, 1.9, 2.9, 4.7 fb⁻¹; 10 fb⁻¹ in all);
the seed notebook used 10.6 fb⁻¹.
"""

from __future__ import annotations

from dataclasses import dataclass

from processors.diphoton_columns import TRUTH_MODES

BR_GAMGAM = 2.27e-3
#: production cross sections at 13 TeV, m_H = 125 GeV (LHC HXSWG YR4), pb
SIGMA_PB = {"ggF": 48.58, "VBF": 3.782, "WH": 0.840, "ZH": 0.8839, "ttH": 0.5071}
#: integrated luminosity of the 2016 periods in the 2020 release, fb⁻¹
PERIOD_LUMI_FB = {"A": 0.5, "B": 1.9, "C": 2.9, "D": 4.7}
#: run-number ranges of the 2016 periods (first, last)
PERIOD_RUNS = {"A": (297730, 300279), "B": (300345, 300908), "C": (301912, 302393),
               "D": (302737, 303560)}
#: runNumber of the mc16a simulation
MC_RUN_NUMBER = 284500
#: real files of the release
URL_BASE = "https://atlas-opendata.web.cern.ch/atlas-opendata/samples/2020/GamGam"


@dataclass(frozen=True)
class MCSample:
    """One Higgs MC sample: label, dataset id, mode, file stem, negative-weight fraction."""

    label: str
    dsid: int
    mode: str
    stem: str
    negative_fraction: float

    @property
    def xsection_pb(self) -> float:
        """σ × BR(H→γγ) in pb (the ``XSection`` branch)."""
        return SIGMA_PB[self.mode] * BR_GAMGAM

    @property
    def truth_mode(self) -> int:
        """Code of :data:`processors.diphoton_columns.TRUTH_MODES`."""
        return TRUTH_MODES[self.mode]

    @property
    def filename(self) -> str:
        """File name of the release (``mc_<dsid>.<stem>.GamGam.root``)."""
        return f"mc_{self.dsid}.{self.stem}.GamGam.root"


#: the five MC samples; negative-weight fractions: Powheg (few) vs MadGraph5_aMC@NLO ttH (many)
MC: dict[str, MCSample] = {
    "ggH": MCSample("ggH", 343981, "ggF", "ggH125_gamgam", 0.02),
    "VBF": MCSample("VBF", 345041, "VBF", "VBFH125_gamgam", 0.01),
    "WH": MCSample("WH", 345318, "WH", "WpH125J_Wincl_gamgam", 0.05),
    "ZH": MCSample("ZH", 345319, "ZH", "ZH125J_Zincl_gamgam", 0.05),
    "ttH": MCSample("ttH", 341081, "ttH", "ttH125_gamgam", 0.25),
}


def data_filename(period: str) -> str:
    """File name of a data period of the release (``data_A.GamGam.root``)."""
    return f"data_{period}.GamGam.root"


#: The seed's data histogram (A–D summed, ``np.linspace(105, 160, 55)`` edges, i.e. 54 bins of
#: 55/54 GeV) with its raw-MeV isolation cut; the synthetic continuum follows its shape per GeV.
SEED_DATA_HIST = (
    393, 379, 361, 342, 324, 326, 301, 298, 300, 272, 272, 259, 266, 260, 220, 274, 198, 220,
    228, 215, 196, 196, 176, 187, 185, 170, 173, 176, 160, 142, 176, 136, 115, 126, 157, 129,
    128, 115, 118, 111, 87, 106, 106, 114, 101, 86, 85, 80, 85, 81, 65, 76, 66, 67,
)
