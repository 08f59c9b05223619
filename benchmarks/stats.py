"""Speed and calibration of the stats package on a spectrum of the published size.

Spectrum: ≈12.3 k events falling exponentially over 5-16 GeV plus a 150-event Gaussian at 9.8 GeV
(Υ window: 27 + 37 sideband bins of 0.1455 GeV + one SR counting bin, degree-5 polynomial).
Prints, side by side:

* one Z evaluation (cold: building the pyhf model too; warm: median of repeats) — target ≤ 1 s —
  next to pyhf alone refitting the same workspace from its stored starting values, and one
  evaluation with ``degree="spurious"``;
* a 25-point FPR scan (logspace(0, -3, 25)) — target ≤ 30 s — the largest difference of pyhf
  alone on its workspaces, and the same scan with ``degree="spurious"``;
* toys per second and the calibration they give (KS p of the p-values, P(Z > 2) against
  1 - Φ(2), median Z / Asimov Z with an injected signal);
* look-elsewhere toys per second (27-point FPR scan per toy, FPR = 1 excluded) with the pyhf
  model of each FPR point built once vs once per toy (:func:`stats.lee.look_elsewhere`);
* few-event fits (as after tight cuts): 300 steeply falling spectra of 30-80 events, the smallest
  fitted SR background (must stay > 0), the largest Z and P(Z > 2).

    python -m benchmarks.stats [--n-toys 1000] [--n-signal-toys 1000] [--n-lee-toys 20] [--seed 0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from stats.significance import DEFAULT_FPRS, scan_cut, significance
from stats.toys import calibrate
from stats.workspace import discovery_test


def _spectrum(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    m = 5.0 + rng.exponential(3.5, 40000)
    return np.concatenate([m[m < 16.0][:12300], rng.normal(9.8, 0.12, 150)])


def _timed(func, *args, **kwargs):
    t = time.perf_counter()
    out = func(*args, **kwargs)
    return out, time.perf_counter() - t


def main(argv: Sequence[str] | None = None) -> int:
    """Measure and print stats timings and toy calibration; returns 0."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.stats",
        description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n-toys", type=int, default=1000, help="background-only toys")
    parser.add_argument(
        "--n-signal-toys", type=int, default=1000, help="toys with an injected signal"
    )
    parser.add_argument("--signal", type=float, default=120.0, help="injected SR signal, events")
    parser.add_argument("--repeats", type=int, default=20, help="repeats of the warm Z evaluation")
    parser.add_argument("--n-lee-toys", type=int, default=20, help="look-elsewhere toys timed")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    m = _spectrum(args.seed)
    print(f"stats benchmark: {m.size} events, Upsilon window, 64 SB bins + 1 SR bin, degree 5")

    res, cold = _timed(significance, m, window="upsilon")
    warm = [
        _timed(significance, m, window="upsilon", return_workspace=False)[1]
        for _ in range(args.repeats)
    ]
    rule, rule_s = _timed(significance, m, window="upsilon", degree="spurious")
    print(
        f"  degree='spurious': degree {rule.info['degree']}, Z = {rule.Z:.4f}, {rule_s:.3f} s "
        f"per fit (all candidate degrees, templates and the workspace)"
    )
    pure, pyhf_s = _timed(discovery_test, res.workspace)
    print(
        f"  Z = {res.Z:.4f} (pyhf alone on the workspace: {pure['Z']:.4f}), S = {res.s_fit:.1f}, "
        f"B = {res.b_fit:.1f} ± {res.b_fit_unc:.1f}"
    )
    print(
        f"  one Z evaluation: cold {cold:.3f} s, warm median {np.median(warm):.4f} s "
        f"(target <= 1 s: {'OK' if cold <= 1 else 'MISSED'}); pyhf alone q0 + hypotest "
        f"{pyhf_s:.3f} s; ratio pyhf-alone / ours-warm = {pyhf_s / np.median(warm):.1f}"
    )

    scores = np.random.default_rng(args.seed + 1).uniform(size=m.size)
    fprs = tuple(np.logspace(0, -3, 25))
    scan, scan_s = _timed(scan_cut, m, scores, window="upsilon", fprs=fprs, return_workspace=True)
    n_ok = sum(r.converged for r in scan)
    dz = max(abs(discovery_test(r.workspace)["Z"] - r.Z) for r in scan if r.converged)
    print(f"  pyhf alone on the scan's {n_ok} workspaces: max |dZ| = {dz:.1e}")
    scan_r, scan_r_s = _timed(
        scan_cut, m, scores, window="upsilon", fprs=fprs, degree="spurious",
        return_workspace=False,
    )
    print(
        f"  25-point FPR scan with degree='spurious': {scan_r_s:.2f} s "
        f"({scan_r_s / 25:.3f} s per cut), degrees {sorted({r.info.get('degree') for r in scan_r})}"
    )
    print(
        f"  25-point FPR scan: {scan_s:.2f} s "
        f"(target <= 30 s: {'OK' if scan_s <= 30 else 'MISSED'}), "
        f"{n_ok}/25 converged, max Z {max(r.Z for r in scan if r.converged):.2f} (random score)"
    )

    bkg = m[:12300]
    cal, cal_s = _timed(
        calibrate, bkg, window="upsilon", n_toys=args.n_toys, random_state=args.seed
    )
    frac, err = cal.fraction_above(2.0)
    print(
        f"  background-only toys: {args.n_toys / cal_s:.0f} toys/s "
        f"({cal_s:.1f} s for {args.n_toys}), "
        f"{cal.n_failed} failed"
    )
    print(
        f"    KS p of p-values = {cal.ks_pvalue:.3f}; mean/std of signed Z = "
        f"{cal.z_signed.mean():+.3f} / {cal.z_signed.std():.3f}; P(Z > 2) = {frac:.4f} ± {err:.4f} "
        f"vs 1 - Phi(2) = {sps.norm.sf(2.0):.4f}"
    )
    sig, sig_s = _timed(
        calibrate,
        bkg,
        window="upsilon",
        n_toys=args.n_signal_toys,
        signal=args.signal,
        random_state=args.seed + 1,
    )
    print(
        f"  signal toys (S = {args.signal:g}, B = {sig.b_sr:.0f}): median Z {sig.z_median:.3f} "
        f"vs Asimov {sig.z_asimov:.3f}, ratio {sig.z_median / sig.z_asimov:.3f} "
        f"({args.n_signal_toys / sig_s:.0f} toys/s)"
    )
    _lee_speed(bkg, args.seed, args.n_lee_toys)
    _few_events(args.seed)
    return 0


def _lee_speed(m: np.ndarray, seed: int, n_toys: int) -> None:
    """Toys per second of the look-elsewhere scan, with and without model reuse."""
    from stats.lee import look_elsewhere

    fprs = [f for f in DEFAULT_FPRS if f < 1.0]
    kw = {"window": "upsilon", "fprs": fprs, "n_toys": n_toys, "min_sideband_events": 20}
    fast, t_fast = _timed(look_elsewhere, m, random_state=seed, **kw)
    slow, t_slow = _timed(look_elsewhere, m, random_state=seed, reuse_models=False, **kw)
    print(
        f"  look-elsewhere ({len(fprs)} FPRs/toy): {n_toys / t_fast:.2f} toys/s with reused "
        f"models, {n_toys / t_slow:.2f} toys/s rebuilding them (ratio {t_slow / t_fast:.1f}); "
        f"max |dZ| {np.nanmax(np.abs(fast.max_z - slow.max_z)):.1e}; median max Z "
        f"{np.nanmedian(fast.max_z):.2f}"
    )


def _few_events(seed: int, n_spectra: int = 300) -> None:
    """Fits of tiny steep spectra: the SR background must stay positive and Z sane."""
    t = time.perf_counter()
    b_fit, z, failed = [], [], 0
    for i in range(n_spectra):
        rng = np.random.default_rng([seed, i])
        n = int(rng.integers(30, 80))
        m = 5.0 + rng.exponential(2.0, 8 * n)
        r = significance(m[m < 16.0][:n], window="upsilon", return_workspace=False)
        if not r.converged:
            failed += 1
            continue
        b_fit.append(r.b_fit)
        z.append(r.Z)
    z_arr = np.asarray(z)
    print(
        f"  few-event fits ({n_spectra} spectra of 30-80 events, "
        f"{time.perf_counter() - t:.1f} s): {failed} failed, min SR background "
        f"{min(b_fit):.3g}, {int(np.sum(np.asarray(b_fit) <= 0))} with B <= 0, max Z "
        f"{z_arr.max():.2f}, P(Z > 2) = {np.mean(z_arr > 2):.3f}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
