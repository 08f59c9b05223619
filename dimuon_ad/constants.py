"""Physical constants shared by the generator (``toymc``) and the skim (``processors``).

Units: GeV.
"""

from __future__ import annotations

__all__ = ["MUON_MASS_GEV"]

#: Muon mass in GeV (PDG 2024). Every four-vector of the synthetic sample and of the skim uses it,
#: whatever mass a file stores, as the reference analysis does (arXiv:2502.14036).
MUON_MASS_GEV = 0.1056583755
