"""Synthetic ATLAS Open Data 13 TeV GamGam ntuples (TTree ``mini``, MeV) with truth labels.

``python -m toymc.gamgam --output-dir DIR`` (or ``dimuon-ad generate-gamgam``) writes the five
Higgs MC samples (ggF 343981, VBF 345041, WH 345318, ZH 345319, ttH 341081) with production-mode
kinematics and weights, and the data-like periods A–D (γγ continuum + γ-jet fakes with the seed's
m_γγ spectrum, plus the expected Higgs signal), named like the release's files, and
``truth.json``. Every event carries ``truth_mode`` (0 ggF … 4 ttH, -1 continuum).
"""

from toymc.gamgam.production import generate_samples
from toymc.gamgam.samples import MC, PERIOD_LUMI_FB
from toymc.gamgam.schema import BRANCHES

__all__ = ["BRANCHES", "MC", "PERIOD_LUMI_FB", "generate_samples"]
