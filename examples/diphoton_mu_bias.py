"""Bias and coverage of the Higgs μ of :func:`analysis.diphoton.fit_higgs_peak`.

Pseudo-data = the background fitted to the skim's data + the MC expectation (μ = 1): once as
Asimov data with 100× the statistics (μ̂ / 100 is the bias), then Poisson toys through the full
procedure (degree rule, DSCB template, pyhf μ and interval).  Run from the repository root::

    PYTHONPATH=$PWD OMP_NUM_THREADS=1 python examples/diphoton_mu_bias.py SEED N_TOYS [SKIM]
"""
import sys
import time

import numpy as np

from analysis.diphoton import fit_higgs_peak, split_data_mc
from analysis.diphoton_run import load_diphoton_skim

f = load_diphoton_skim(sys.argv[3] if len(sys.argv) > 3 else "output/gamgam_skim")
d, mc = split_data_mc(f)
peak = fit_higgs_peak(d.mgg, mc.mgg, mc.weight, mc.truth_mode)
bkg, _ = peak.background()
sig = sum(peak.mc_counts.values())
edges = peak.binning.edges
centres = 0.5 * (edges[1:] + edges[:-1])
def refit(counts):
    m = np.repeat(centres, counts.astype(int))
    return fit_higgs_peak(m, mc.mgg, mc.weight, mc.truth_mode)
lam = bkg + sig
# Asimov: scale x100 so rounding to integers is negligible, then compare mu
p = refit(np.round(100 * lam))
print("Asimov x100: mu_hat/100 =", round(p.mu / 100, 4), "degree", p.fit.info["degree"])
rng = np.random.default_rng(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
mus, errs, zs = [], [], []
t = time.time()
for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 20):
    p = refit(rng.poisson(lam))
    mus.append(p.mu)
    errs.append(0.5 * (p.mu_err_low + p.mu_err_high))
    zs.append(p.z)
mus, errs = np.array(mus), np.array(errs)
print(f"toys {len(mus)}: mean mu {mus.mean():.4f} +- {mus.std(ddof=1) / np.sqrt(len(mus)):.4f}, "
      f"std {mus.std(ddof=1):.4f}, mean error {errs.mean():.4f}, fraction |mu - 1| < error "
      f"{np.mean(np.abs(mus - 1) < errs):.3f}, median Z {np.median(zs):.2f}, "
      f"{time.time() - t:.0f} s")
