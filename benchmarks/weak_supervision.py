"""Weak-supervision benchmark: supervised / idealized / CATHODE / LaCATHODE on an LHCO-like toy.

For each seed, S/B and number of noise features: a toy (:mod:`ml.weak_toy`) of ``--n-sr`` SR
background events plus sidebands, with ``S/B`` signal in the SR; an independent SR test set of
``--test-background`` background and ``--test-signal`` signal events. Methods, each trained with
the classifier(s) named by ``--classifiers``:

- ``supervised``: truth signal (``--n-sup-signal``) vs truth SR background (4x as many);
- ``idealized``: SR data vs the true SR background (``--oversampling`` x the SR count), through
  :meth:`ml.cathode.Cathode.fit_with_template`;
- ``cathode`` / ``lacathode``: the full chain with the default flow (sidebands -> template).

Reported per method: max SIC where at least ``--min-background`` test background events pass,
with that number; SIC at eps_S = 0.2 with the background events left; AUC; CPU seconds of the
fit. Then the median and the 68 % band (16th-84th percentile) over seeds.

``--template-only`` measures the background template alone, without the classifier and the test
set: the out-of-fold AUC of the template vs held-out true SR background (:func:`template_auc`,
with its statistical error) and the per-feature KS distances; ``cathode`` is the flow template,
``idealized`` the true SR background of the same size (the noise floor of the estimate).
``--flow-params`` sets flow parameters on top of :func:`ml.cathode.default_flow`. Usage::

    python -m benchmarks.weak_supervision --quick          # minutes: 20k SR, 3 seeds
    python -m benchmarks.weak_supervision --seeds 5 --signal-fractions 0.002 0.006 0.02 \\
        --noise 0 10 --classifiers old new --methods supervised idealized cathode lacathode
    python -m benchmarks.weak_supervision --template-only --n-sr 20000 --signal-fractions 0.02 \\
        --oversampling 4 --methods idealized cathode --flow-params '{"hidden_units": 64}'
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import roc_auc_score

from dimuon_ad.errors import ConfigError, InputError
from dimuon_ad.io import atomic_write_json
from ml.cathode import Cathode, LaCathode, default_flow
from ml.classifiers import XGBEnsembleClassifier
from ml.diagnostics import roc_sic, supervised_scores
from ml.kfold import out_of_fold_scores
from ml.weak_toy import make_weak_toy, sr_background, weak_signal, weak_test_set

log = logging.getLogger(__name__)

__all__ = ["CLASSIFIERS", "METHODS", "auc_error", "evaluate", "main", "make_flow",
           "measure_template", "run_method", "seed_ratios", "summarize",
           "summary_table", "template_auc"]


def _old(n_models):
    """Default before issue 11 (and the published BDT): <= 300 rounds, plain early stopping
    after 10 rounds on the validation log-loss."""
    return XGBEnsembleClassifier(n_models=n_models, n_estimators=300, max_depth=3,
                                 early_stopping_rounds=10, min_rounds=0, smoothing=1)


def _new(n_models):
    """The toolkit's default (``XGBEnsembleClassifier()``: 100 fixed rounds, depth 5)."""
    return XGBEnsembleClassifier(n_models=n_models)


def _es_min(n_models):
    """Early stopping that cannot collapse: >= 100 rounds, patience 30 on a 10-round mean."""
    return XGBEnsembleClassifier(n_models=n_models, n_estimators=300, max_depth=3,
                                 early_stopping_rounds=30, min_rounds=100, smoothing=10)


def _fixed_slow(n_models):
    """Fixed 200 rounds of depth 3 at learning rate 0.05, no early stopping."""
    return XGBEnsembleClassifier(n_models=n_models, n_estimators=200, learning_rate=0.05,
                                 max_depth=3, early_stopping_rounds=None)


def _fixed_d3(n_models):
    """Fixed 100 rounds of depth-3 trees (the first candidate of issue 11)."""
    return XGBEnsembleClassifier(n_models=n_models, max_depth=3)


#: Classifier variants by name: factory(n_models) -> unfitted estimator.
CLASSIFIERS = {"old": _old, "new": _new, "es-min": _es_min, "fixed-slow": _fixed_slow,
               "fixed-d3": _fixed_d3}
METHODS = ("supervised", "idealized", "cathode", "lacathode")


def auc_error(auc, n_pos, n_neg) -> float:
    """Statistical standard error of an AUC from ``n_pos`` and ``n_neg`` events (Hanley & McNeil,
    Radiology 143 (1982) 29; at AUC 0.5 it is sqrt((n_pos + n_neg + 1) / (12 n_pos n_neg)))."""
    a = float(auc)
    q1, q2 = a / (2 - a), 2 * a * a / (1 + a)
    var = (a * (1 - a) + (n_pos - 1) * (q1 - a * a) + (n_neg - 1) * (q2 - a * a)) / (
        n_pos * n_neg)
    return float(np.sqrt(var))


def template_auc(template, n_noise, *, seed, n_max=50_000, return_details=False):
    """Out-of-fold AUC of a physical-space SR template vs held-out true SR background (0.5:
    the classifier cannot tell them apart).

    With ``return_details``: a dict with ``template_auc``, its statistical error
    ``template_auc_err`` (:func:`auc_error`) and the per-feature two-sample KS distances ``ks``.
    """
    T = np.asarray(template)[:n_max]
    B = sr_background(len(T), n_noise=n_noise, random_state=[seed, 11])[0]
    y = np.r_[np.ones(len(B), int), np.zeros(len(T), int)]
    res = out_of_fold_scores(np.vstack([B, T]), y, classifier=XGBEnsembleClassifier(),
                             random_state=seed)
    auc = float(roc_auc_score(y, res.scores))
    if not return_details:
        return auc
    ks = [float(stats.ks_2samp(B[:, j], T[:, j]).statistic) for j in range(B.shape[1])]
    return {"template_auc": auc, "template_auc_err": auc_error(auc, len(B), len(T)), "ks": ks}


def make_flow(max_epochs=0, flow_params=None):
    """:func:`ml.cathode.default_flow` with ``max_epochs`` (0: its own) and ``flow_params`` (a
    dict of ``ConditionalFlow`` arguments) set on top."""
    flow = default_flow()
    if max_epochs:
        flow.set_params(max_epochs=int(max_epochs))
    if flow_params:
        unknown = sorted(set(flow_params) - set(flow.get_params()))
        if unknown:
            raise ConfigError(f"--flow-params: unknown ConditionalFlow argument(s) {unknown}; "
                              f"valid: {sorted(flow.get_params())}")
        flow.set_params(**flow_params)
    return flow


def measure_template(method, toy, *, seed, oversampling=2.0, max_epochs=0, n_noise=0,
                     n_flows=1, flow_params=None):
    """The background template alone (no classifier): ``cathode`` trains the flows on the
    sidebands and draws ``oversampling`` x the SR count; ``idealized`` draws as many true SR
    background events (the noise floor of :func:`template_auc`).

    Returns
    -------
    (dict of :func:`template_auc` details, CPU seconds of the template)
    """
    cpu = time.process_time()
    sr = toy.sr_mask
    n_template = int(round(oversampling * int(sr.sum())))
    if method == "idealized":
        T = sr_background(n_template, n_noise=n_noise, random_state=[seed, 12])[0]
    elif method == "cathode":
        est = Cathode(flow=make_flow(max_epochs, flow_params), oversampling=oversampling,
                      n_jobs=1, n_flows=n_flows, random_state=seed)
        est.fit_preprocessing(toy.X[~sr], toy.m[~sr])
        est.set_flows(est.train_flows(
            [est.flow_task(toy.X[~sr], toy.m[~sr], i) for i in range(n_flows)]))
        T = est.fit_template(toy.m[sr])[0]
    else:
        raise ValueError(f"--template-only measures 'idealized' and 'cathode'; got {method!r}")
    cpu = time.process_time() - cpu
    return template_auc(T, n_noise, seed=seed, return_details=True), cpu


def run_method(method, toy, test, classifier, *, seed, n_sup_signal=10_000, oversampling=2.0,
               max_epochs=0, n_noise=0, info=None, cache=None, n_flows=1, flow_params=None):
    """Fit one method and score the test set.

    ``info`` (a dict), when given, receives ``template_auc`` for CATHODE: the flow template vs
    held-out true SR background (:func:`template_auc`). ``cache`` (a dict), when given, keeps
    the fitted CATHODE/LaCATHODE chain of this toy, so that other classifiers reuse its flows and
    template (their CPU time is then the classifier's only).

    Returns
    -------
    (scores of ``test`` events, CPU seconds of the fit)
    """
    cpu = time.process_time()
    rng = np.random.default_rng([seed, 7])
    sr = toy.sr_mask
    n_sr = int(sr.sum())
    if method == "supervised":
        X_s = weak_signal(n_sup_signal, rng)[0]
        if n_noise:
            X_s = np.column_stack([X_s, rng.standard_normal((len(X_s), n_noise))])
        X_b = sr_background(4 * n_sup_signal, n_noise=n_noise, random_state=rng)[0]
        oof = supervised_scores(X_s, X_b, classifier=classifier, random_state=seed)
        return oof.score(test.X), time.process_time() - cpu
    if method == "idealized":
        T, Tm = sr_background(int(round(oversampling * n_sr)), n_noise=n_noise,
                              random_state=rng)
        est = Cathode(classifier=classifier, random_state=seed)
        est.fit_with_template(toy.X[sr], toy.m[sr], T, Tm)
    elif method in ("cathode", "lacathode"):
        flow = make_flow(max_epochs, flow_params)
        cls = Cathode if method == "cathode" else LaCathode
        est = cls(flow=flow, classifier=classifier, oversampling=oversampling, n_jobs=1,
                  n_flows=n_flows if method == "cathode" else 1, random_state=seed)
        done = None if cache is None else cache.get(method)
        if done is None:
            est.fit(toy.X, toy.m, sr)
        else:  # the same flows and template, another classifier (CPU: the classifier only)
            est.preprocessor_, est.mass_scaler_ = done.preprocessor_, done.mass_scaler_
            est.set_flows(done.flows_)
            est.set_template(done.template_, done.template_m_, done.template_weight_)
            est.fit_classifier(toy.X, toy.m, sr)
        if cache is not None:
            cache[method] = est
        cpu = time.process_time() - cpu
        if info is not None and method == "cathode" and done is None:
            d = template_auc(est.template_, n_noise, seed=seed, return_details=True)
            info.update(template_auc=d["template_auc"], template_auc_err=d["template_auc_err"])
        return est.score(test.X, test.m), cpu
    else:
        raise ValueError(f"method {method!r}; expected one of {METHODS}")
    return est.score(test.X, test.m), time.process_time() - cpu


def evaluate(scores, is_signal, *, min_background=50) -> dict:
    """Max SIC (>= ``min_background`` background events) with its background count, SIC at
    eps_S = 0.2 with its background count, and AUC."""
    r = roc_sic(scores, is_signal, min_background=min_background)
    sic02, nb02 = r.sic_at(0.2, return_n_background=True)
    return {"max_sic": r.max_sic, "nb_max": r.n_background_at_max, "sic02": float(sic02),
            "nb02": nb02, "auc": r.auc}


def summarize(values) -> tuple[float, float, float]:
    """(median, 16th, 84th percentile) of finite values (NaN when there are none)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return (np.nan, np.nan, np.nan)
    return tuple(float(x) for x in np.percentile(v, [50, 16, 84]))


#: Run settings that make rows of --json files comparable (taken from each file's args).
_SETUP = ("n_sr", "oversampling", "test_background", "test_signal")


def _setup(row) -> str:
    """Short label of a row's run settings (:data:`_SETUP`); '-' when the row has none."""
    n_sr, over, n_tb, n_ts = (row.get(k) for k in _SETUP)
    return "-" if n_sr is None else f"{n_sr} SR x{over:g}, test {n_tb}+{n_ts}"


def _key(row) -> tuple:
    return (row["method"], row["classifier"], _setup(row), row["sb"], row["noise"])


def summary_table(rows) -> str:
    """Markdown table of rows from one or more ``--json`` files: per method x classifier x run
    settings x S/B x noise the median [16 %, 84 %] over seeds of max SIC, SIC(eps_S = 0.2), AUC
    and CPU s, with the median numbers of test background events left (and CATHODE's template
    AUC)."""
    def cell(sel, col, fmt):
        med, lo, hi = summarize([r.get(col, np.nan) for r in sel])
        return "-" if not np.isfinite(med) else f"{med:{fmt}} [{lo:{fmt}}, {hi:{fmt}}]"

    lines = ["| method | classifier | setup | S/B | noise | seeds | max SIC | n_B at max | "
             "SIC(0.2) | n_B at 0.2 | AUC | CPU s | template AUC |", "|" + "---|" * 13]
    for key in sorted({_key(r) for r in rows}):
        sel = [r for r in rows if _key(r) == key]
        cells = [cell(sel, "max_sic", ".3g"), f"{summarize([r['nb_max'] for r in sel])[0]:.0f}",
                 cell(sel, "sic02", ".3g"), f"{summarize([r['nb02'] for r in sel])[0]:.0f}",
                 cell(sel, "auc", ".3f"), cell(sel, "cpu_s", ".3g"),
                 cell(sel, "template_auc", ".4f")]
        lines.append(f"| {key[0]} | {key[1]} | {key[2]} | {key[3]:.3%} | {key[4]} | {len(sel)} | "
                     + " | ".join(cells) + " |")
    return "\n".join(lines)


def seed_ratios(rows) -> list[str]:
    """Max-SIC ratios on the same toy and test set (same classifier, run settings, S/B, seed),
    per seed and their median: idealized / supervised, (La)CATHODE / idealized, LaCATHODE /
    CATHODE (same noise), and each method with noise features / without."""
    sic = {(*_key(r), r["seed"]): r["max_sic"] for r in rows}
    out = []

    def emit(label, num, den):
        seeds = sorted(k[5] for k in sic if k[:5] == num and (*den, k[5]) in sic)
        if seeds:
            v = [sic[(*num, s)] / sic[(*den, s)] for s in seeds]
            per_seed = ", ".join(f"s{s} {x:.3f}" for s, x in zip(seeds, v, strict=True))
            out.append(f"{label}: {per_seed}; median {np.median(v):.3f}")

    for clf, setup, sb, noise in sorted({k[1:5] for k in sic}):
        tag = f"{clf} S/B {sb:.3%} noise {noise}" + ("" if setup == "-" else f" ({setup})")
        for num, den in (("idealized", "supervised"), ("cathode", "idealized"),
                         ("lacathode", "idealized"), ("lacathode", "cathode")):
            emit(f"{num}/{den} {tag}", (num, clf, setup, sb, noise),
                 (den, clf, setup, sb, noise))
        if noise:
            for method in METHODS:
                emit(f"{method} noise {noise}/0 {clf} S/B {sb:.3%}"
                     + ("" if setup == "-" else f" ({setup})"),
                     (method, clf, setup, sb, noise), (method, clf, setup, sb, 0))
    return out


def _summarize_files(paths) -> int:
    """``--summarize``: print :func:`summary_table` and :func:`seed_ratios` of JSON files (each
    row tagged with its file's run settings, :data:`_SETUP`)."""
    rows = []
    for path in paths:
        try:
            with open(path) as fh:
                data = json.load(fh)
            if data.get("args", {}).get("template_only"):
                raise ValueError("it holds a --template-only run (template AUCs, no classifier "
                                 "or test set); give the files of full runs")
            rows += [{**{k: data["args"].get(k) for k in _SETUP}, **r} for r in data["rows"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"--summarize {path}: expected a JSON file written by --json "
                             f"(with 'args' and 'rows'); {exc}") from exc
    print(summary_table(rows))
    print("\nmax SIC ratios, same toy and test set")
    print("\n".join(seed_ratios(rows)))
    return 0


def _json_dict(text):
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise argparse.ArgumentTypeError(
            f"not valid JSON ({err}); e.g. '{{\"n_blocks\": 8}}'") from err
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, got {text!r}")
    return value


def _args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.weak_supervision", description=__doc__.splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--quick", action="store_true",
                        help="20k SR, 50k test background, 3 seeds, supervised + idealized")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--n-sr", type=int, default=100_000, help="SR background events")
    parser.add_argument("--signal-fractions", type=float, nargs="+", default=[0.006],
                        help="S/B in the SR")
    parser.add_argument("--noise", type=int, nargs="+", default=[0],
                        help="numbers of extra Gaussian noise features")
    parser.add_argument("--methods", nargs="+", default=None, choices=METHODS,
                        help="default: supervised idealized (--template-only: idealized cathode)")
    parser.add_argument("--classifiers", nargs="+", default=["new"], choices=sorted(CLASSIFIERS))
    parser.add_argument("--n-models", type=int, default=10, help="ensemble members per fold")
    parser.add_argument("--oversampling", type=float, default=2.0,
                        help="template size / SR count (idealized, CATHODE)")
    parser.add_argument("--max-epochs", type=int, default=0, help="flow epochs (0: default)")
    parser.add_argument("--n-flows", type=int, default=1, help="CATHODE flow seeds (ensemble)")
    parser.add_argument("--flow-params", type=_json_dict, default=None,
                        help="JSON dict of ConditionalFlow arguments set on top of "
                             "ml.cathode.default_flow(), e.g. '{\"hidden_units\": 64}'")
    parser.add_argument("--template-only", action="store_true",
                        help="measure only the template AUC vs held-out true SR background "
                             "(methods idealized: true background = noise floor; cathode: flow)")
    parser.add_argument("--n-sup-signal", type=int, default=10_000)
    parser.add_argument("--test-background", type=int, default=200_000)
    parser.add_argument("--test-signal", type=int, default=20_000)
    parser.add_argument("--min-background", type=int, default=50)
    parser.add_argument("--json", default=None, help="write all rows to this JSON file")
    parser.add_argument("--summarize", nargs="+", default=None, metavar="JSON",
                        help="only print the table and max-SIC ratios of these --json files")
    args = parser.parse_args(argv)
    if args.quick:
        args.n_sr, args.test_background, args.seeds = 20_000, 50_000, 3
        args.test_signal, args.n_sup_signal = 10_000, 5_000
    if args.methods is None:
        args.methods = ["idealized", "cathode"] if args.template_only else ["supervised",
                                                                             "idealized"]
    if args.template_only and set(args.methods) - {"idealized", "cathode"}:
        parser.error("--template-only measures --methods idealized and/or cathode; got "
                     f"{args.methods}")
    if args.flow_params:
        make_flow(args.max_epochs, args.flow_params)  # unknown keys fail before slow work
    return args


def _toys(args):
    """``(S/B, noise features, seed, toy)`` for every point of the run, in order."""
    for frac in args.signal_fractions:
        for n_noise in args.noise:
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                yield frac, n_noise, seed, make_weak_toy(args.n_sr, frac, n_noise=n_noise,
                                                         random_state=seed)


def _main_template(args) -> int:
    """``--template-only``: one row per template, then mean +- error of the mean over seeds."""
    rows = []
    print(f"{'method':10s} {'S/B':>6s} {'noise':>5s} {'seed':>4s} {'tplAUC':>7s} {'stat':>6s} "
          f"{'cpu_s':>7s}  KS per feature")
    for frac, n_noise, seed, toy in _toys(args):
        for method in args.methods:
            d, cpu = measure_template(method, toy, seed=seed,
                                      oversampling=args.oversampling,
                                      max_epochs=args.max_epochs, n_noise=n_noise,
                                      n_flows=args.n_flows, flow_params=args.flow_params)
            rows.append({"method": method, "sb": frac, "noise": n_noise, "seed": seed,
                         "cpu_s": cpu, **d})
            print(f"{method:10s} {frac:6.3%} {n_noise:5d} {seed:4d} "
                  f"{d['template_auc']:7.4f} {d['template_auc_err']:6.4f} {cpu:7.1f}  "
                  + " ".join(f"{k:.4f}" for k in d["ks"]), flush=True)
    print("\nmean +- error of the mean (sample std / sqrt(n)) over seeds")
    for key in sorted({(r["method"], r["sb"], r["noise"]) for r in rows}):
        sel = [r for r in rows if (r["method"], r["sb"], r["noise"]) == key]
        a = np.array([r["template_auc"] for r in sel])
        err = float(np.std(a, ddof=1) / np.sqrt(len(a))) if len(a) > 1 else float("nan")
        stat = float(np.sqrt(np.sum([r["template_auc_err"] ** 2 for r in sel])) / len(sel))
        print(f"{key[0]:10s} S/B {key[1]:.3%} noise {key[2]:2d} ({len(sel)} seeds): template "
              f"AUC {a.mean():.4f} +- {err:.4f} (spread), +- {stat:.4f} (stat.); per seed "
              + " ".join(f"{x:.4f}" for x in a)
              + f"; cpu_s {np.mean([r['cpu_s'] for r in sel]):.0f}")
    if args.json:
        atomic_write_json(args.json, {"args": vars(args), "rows": rows})
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark, print one row per fit and the medians; returns 0."""
    args = _args(argv)
    if args.summarize:
        return _summarize_files(args.summarize)
    if args.template_only:
        return _main_template(args)
    rows = []
    print(f"{'method':10s} {'clf':10s} {'S/B':>6s} {'noise':>5s} {'seed':>4s} {'maxSIC':>7s} "
          f"{'nB':>5s} {'SIC.2':>6s} {'nB.2':>6s} {'AUC':>6s} {'cpu_s':>7s}")
    for frac, n_noise, seed, toy in _toys(args):
        test = weak_test_set(args.test_signal, args.test_background, n_noise=n_noise,
                             random_state=10_000 + seed)
        cache = {}
        for method in args.methods:
            for name in args.classifiers:
                clf = CLASSIFIERS[name](args.n_models)
                info = {}
                s, cpu = run_method(method, toy, test, clf, seed=seed,
                                    n_sup_signal=args.n_sup_signal,
                                    oversampling=args.oversampling,
                                    max_epochs=args.max_epochs, n_noise=n_noise,
                                    info=info, cache=cache, n_flows=args.n_flows,
                                    flow_params=args.flow_params)
                r = {"method": method, "classifier": name, "sb": frac,
                     "noise": n_noise, "seed": seed, "cpu_s": cpu, **info,
                     **evaluate(s, test.is_signal, min_background=args.min_background)}
                rows.append(r)
                extra = "".join(f" {k} {v:.4f}" for k, v in info.items())
                print(f"{method:10s} {name:10s} {frac:6.3%} {n_noise:5d} {seed:4d} "
                      f"{r['max_sic']:7.2f} {r['nb_max']:5d} {r['sic02']:6.2f} "
                      f"{r['nb02']:6d} {r['auc']:6.3f} {cpu:7.1f}{extra}", flush=True)
    print("\nmedian [16 %, 84 %] over seeds")
    keys = sorted({(r["method"], r["classifier"], r["sb"], r["noise"]) for r in rows})
    for key in keys:
        sel = [r for r in rows if (r["method"], r["classifier"], r["sb"], r["noise"]) == key]
        cells = []
        cols = ["max_sic", "nb_max", "sic02", "nb02", "auc", "cpu_s"]
        for col in cols + [c for c in ("template_auc", "template_auc_err") if c in sel[0]]:
            med, lo, hi = summarize([r[col] for r in sel])
            cells.append(f"{col} {med:.3g} [{lo:.3g}, {hi:.3g}]")
        print(f"{key[0]:10s} {key[1]:10s} S/B {key[2]:.3%} noise {key[3]:2d} "
              f"({len(sel)} seeds): " + "; ".join(cells))
    if args.json:
        atomic_write_json(args.json, {"args": vars(args), "rows": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
