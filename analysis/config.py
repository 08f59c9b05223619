"""Analysis configuration: frozen dataclasses (units in GeV and cm) and their YAML form.

One :class:`AnalysisConfig` holds everything a run depends on: the mass window (GeV), analysis
cuts, the feature set, the flow and classifier settings, binning and fit degree, the FPR grid and
the report labels. It is built from a profile (``fast``, ``default``, ``published``), then a YAML
file, then command-line overrides; every key and value is validated where it enters, with one-line
errors naming the file and the key (:mod:`analysis.config_yaml`, re-exported here).

Example YAML::

    profile: fast
    window: upsilon            # a preset name, or {name, sb_left, sr_left, sr_right, sb_right}
    cuts: {mu0_pt_min: 17, mu1_pt_min: 8, iso04_min: 0.55, ranges: {dimu_eta: [-2.4, 2.4]}}
    features: {columns: [dimu_pt, mu0_ip3d, mu1_ip3d], single_feature_cuts: {dimu_pt: high}}
    flow: {preset: published, n_seeds: 5, max_epochs: 400, params: {hidden_units: 32}}
    classifier: {kind: xgboost, n_models: 100, params: {max_depth: 3}}
    stats: {degree: 5, n_sr_edges: 12, fprs: [0.25, 0.1, 0.01]}
    methods: [CATHODE, CWoLa, single_feature, random, reweighting]
    massbin_scan: {low: 5, high: 16, width: 1.0}   # the mass-bin classifier test (opt-in)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from analysis.methods import DEFAULT_METHODS
from analysis.presets import WINDOW_PRESETS, MassWindow
from dimuon_ad.io import to_jsonable
from processors.columns import SKIM_COLUMNS as _SKIM_COLUMNS
from processors.config import PRESETS as _SKIM_PRESETS
from stats.significance import DEFAULT_FPRS

__all__ = [
    "AnalysisConfig",
    "ClassifierSettings",
    "ClusterScanSettings",
    "Cuts",
    "Features",
    "FlowSettings",
    "MassBinSettings",
    "ReportSettings",
    "StatsSettings",
    "DEFAULT_CUT_DIRECTIONS",
    "DEFAULT_FPRS",
    "SKIM_COLUMNS",
]

#: Columns of the parquet skim (the contract of :data:`processors.columns.SKIM_COLUMNS`); features
#: and cuts must name one of these.
SKIM_COLUMNS: frozenset[str] = frozenset(_SKIM_COLUMNS)

#: the published anti-isolated selection of the skim, whose cut values the analysis defaults repeat
_PUBLISHED_SKIM = _SKIM_PRESETS["upsilon_antiiso"]


@dataclass(frozen=True)
class Cuts:
    """Analysis cuts applied to the skim before the OS/SS split (GeV).

    ``None`` disables a cut. The defaults are the published selection (reference §2), the values
    of the skim preset ``processors.config.PRESETS["upsilon_antiiso"]``: on a skim made with it
    they remove nothing.

    Attributes
    ----------
    mu0_pt_min, mu1_pt_min : float or None
        Leading / subleading muon pT thresholds in GeV.
    iso04_min : float or None
        Anti-isolation: both muons need ``iso04 >= iso04_min``.
    iso04_max : float or None
        Isolation: both muons need ``iso04 < iso04_max``.
    max_abs_eta : float or None
        Both muons need ``|eta| < max_abs_eta``.
    ranges : tuple of (column, low, high)
        Extra ``low <= column < high`` cuts (either bound may be None);
        YAML: ``{column: [lo, hi]}``.
    """

    mu0_pt_min: float | None = _PUBLISHED_SKIM.mu0_pt_min
    mu1_pt_min: float | None = _PUBLISHED_SKIM.mu1_pt_min
    iso04_min: float | None = _PUBLISHED_SKIM.iso_cut
    iso04_max: float | None = None
    max_abs_eta: float | None = None
    ranges: tuple[tuple[str, float | None, float | None], ...] = ()

    def columns(self) -> set[str]:
        """Skim columns these cuts read."""
        cols: set[str] = set()
        if self.mu0_pt_min is not None:
            cols.add("mu0_pt")
        if self.mu1_pt_min is not None:
            cols.add("mu1_pt")
        if self.iso04_min is not None or self.iso04_max is not None:
            cols |= {"mu0_iso04", "mu1_iso04"}
        if self.max_abs_eta is not None:
            cols |= {"mu0_eta", "mu1_eta"}
        cols |= {c for c, _, _ in self.ranges}
        return cols


#: Direction of the single-feature baseline cut of a feature when the configuration gives none:
#: "high" keeps large values, "low" small ones (prompt, i.e. small impact parameters, for the
#: displaced heavy-flavour background of arXiv:2502.14036). Features not listed cut "high".
DEFAULT_CUT_DIRECTIONS: dict[str, str] = {
    "dimu_pt": "high",
    **{f"mu{i}_{v}": "low" for i in (0, 1) for v in ("ip3d", "sip3d", "dxy", "dz")},
    "mumu_deltaR": "low",
}


@dataclass(frozen=True)
class Features:
    """Classifier features and the conditioning variable.

    Attributes
    ----------
    columns : tuple of str
        Skim columns the flow models and the classifier sees (default: dimu_pt in GeV and the two
        muons' ip3d in cm, as in arXiv:2502.14036).
    condition : str
        The resonance variable the flow is conditioned on (GeV).
    single_feature_cuts : tuple of (column, "high" | "low") or None
        Baselines: cut on one feature, keeping its high or low values. ``None`` (the default)
        means one baseline per feature of ``columns``, in the direction of
        :data:`DEFAULT_CUT_DIRECTIONS` ("high" for features not listed there); see
        :meth:`baseline_cuts`.
    """

    columns: tuple[str, ...] = ("dimu_pt", "mu0_ip3d", "mu1_ip3d")
    condition: str = "dimu_mass"
    single_feature_cuts: tuple[tuple[str, str], ...] | None = None

    def baseline_cuts(self) -> tuple[tuple[str, str], ...]:
        """The single-feature baselines actually run: ``(column, "high" | "low")`` pairs."""
        if self.single_feature_cuts is not None:
            return tuple(self.single_feature_cuts)
        return tuple((c, DEFAULT_CUT_DIRECTIONS.get(c, "high")) for c in self.columns)


@dataclass(frozen=True)
class FlowSettings:
    """Background-density flow: ``ml.flows.ConditionalFlow.from_preset(preset, **params)``.

    Attributes
    ----------
    preset : str
        ``published`` (6 blocks × 20, tanh) or ``sk_cathode``.
    n_seeds : int
        Independent flows trained with different seeds; their templates are concatenated. They
        train as one batched model (one task, several times faster on a CPU than one after the
        other); ``params: {stacked: false}`` trains them one per task instead (in parallel on
        Dask). The two agree up to floating-point rounding.
    max_epochs : int
        Training epochs (best epoch chosen on the validation loss).
    early_stopping : int or None
        Patience in epochs, or None to train all epochs.
    validation_fraction : float
        Fraction of sideband events held out for validation (0.2 in the reference).
    params : tuple of (name, value)
        Further ``ConditionalFlow`` keyword arguments. The ``fast`` and ``default`` profiles set
        spline transforms, learning rate 2e-3 and a cosine schedule here; ``params`` given in a
        YAML file are merged over the profile's (``transform_type: affine`` restores the affine MAF;
        the former name ``transform`` is accepted).
    """

    preset: str = "published"
    n_seeds: int = 3
    max_epochs: int = 150
    early_stopping: int | None = 30
    validation_fraction: float = 0.2
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ClassifierSettings:
    """Out-of-fold classifier of SR data against the background template.

    Attributes
    ----------
    kind : str
        ``xgboost`` (``ml.classifiers.XGBEnsembleClassifier``) or ``mlp``.
    n_models : int
        Models per fold whose scores are averaged (100 in the reference).
    params : tuple of (name, value)
        Further classifier keyword arguments.
    """

    kind: str = "xgboost"
    n_models: int = 20
    params: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True)
class ClusterScanSettings:
    """Cluster scanning of the whole mass range (:func:`ml.cluster_scan.cluster_scan`;
    arXiv:2402.17714).

    Off unless the YAML has a ``cluster_scan:`` section (or ``enabled: true``). It runs on the
    opposite-sign sample's classifier features, independent of the CATHODE chain.

    Attributes
    ----------
    enabled : bool
        Run the stage.
    mass_range : (float, float) or None
        Scanned range in GeV, inside the window; None: the whole window (sb_left to sb_right).
    window_width, step : float
        Sliding-window width and step in GeV; 0.3 GeV is about ±1.5σ of the Υ(1S) peak
        (mass resolution 1-2 %, reference §3).
    k, n_clusterings : int
        MiniBatchKMeans clusters and ensemble size.
    n_bootstrap : int
        Null resamplings (mass permutations with the clusterings fixed).
    threshold : float
        "maxdev" pull above which a cluster is anomaly-rich.
    block_width : float or None
        GeV; permute masses only within blocks of this width (None: the whole range).
    """

    enabled: bool = False
    mass_range: tuple[float, ...] | None = None
    window_width: float = 0.3
    step: float = 0.15
    k: int = 50
    n_clusterings: int = 10
    n_bootstrap: int = 200
    threshold: float = 3.0
    block_width: float | None = None


@dataclass(frozen=True)
class StatsSettings:
    """Binning, background fit and cut grid (reference §5).

    Attributes
    ----------
    degree : int, "spurious" or "auto"
        Polynomial degree of the sideband background fit, or the rule that picks it for each
        spectrum (each cut, each toy). ``"spurious"`` (the default of the ``fast`` and
        ``default`` profiles): at least the F-test degree, the most flexible degree whose SR
        background uncertainty stays <= 1.5 √B, raised while the spurious signal it fits to a
        smooth background-only template of the sidebands exceeds 0.2 √(B + σ_B²) (as ATLAS
        H→γγ does; :mod:`stats.degree`). It keeps degree 5 on the wide published Υ window and
        takes a lower one on narrow windows, where degree 5 absorbs a peak (8–12 GeV around the
        Υ on real data: degree 5 gave Z 8.4, degree 3 20.7). ``5`` is the published choice (the
        ``published`` profile). ``"auto"``: the F-test alone (as the dijet searches,
        arXiv:1611.03568) — biased upwards on background-only toys.
    degree_candidates : tuple of int
        Degrees tried by ``degree: auto``, lowest first.
    f_test_alpha : float
        F-test p-value below which ``degree: auto`` takes the next degree.
    n_sr_edges : int
        Bin edges across the SR (12 → 11 bins); sideband bins have the same width.
    fprs : tuple of float
        Target false-positive rates of the score cuts, measured on sideband data.
    spectrum_fprs : tuple of float
        Cut levels whose mass spectra are plotted (besides no cut).
    min_sideband_events : int
        Cuts keeping fewer sideband events are reported but not used (no best-cut, no plot
        point): the asymptotic Z of a 6-parameter fit to a handful of events is meaningless.
    n_toys : int
        Background-only pseudo-experiments for the global (look-elsewhere) significance of each
        method's best cut over ``fprs`` (:func:`stats.toys.look_elsewhere`); 0 skips them.
        Set by the profile (fast 100, default 300, published 1000).
    """

    degree: int | str = "spurious"
    degree_candidates: tuple[int, ...] = (1, 2, 3, 4, 5)
    f_test_alpha: float = 0.05
    n_sr_edges: int = 12
    fprs: tuple[float, ...] = DEFAULT_FPRS
    spectrum_fprs: tuple[float, ...] = (0.25, 0.05, 0.01)
    min_sideband_events: int = 20
    n_toys: int = 300


@dataclass(frozen=True)
class MassBinSettings:
    """The mass-bin classifier test (:func:`ml.massbin.massbin_scan`) on the opposite-sign
    events of the window: a small BDT per pair of adjacent mass bins, held-out AUC, exact
    Mann-Whitney null, Sidak look-elsewhere correction over the pairs.

    Giving the YAML section ``massbin_scan:`` turns it on (``enabled: false`` turns it off).

    Attributes
    ----------
    enabled : bool
        Run the scan (off by default).
    low, high : float
        Scan range in GeV; inside the window's [sb_left, sb_right].
    width : float
        Bin width in GeV.
    step : float or None
        Shift between pairs in GeV; None: fixed bins (step = width).
    n_null : int
        Label permutations per pair (null band of the plot, permutation p-value check).
    test_fraction : float
        Held-out share of each pair's events.
    decorrelate : int or None
        Degree of the mass decorrelation of the features (:class:`ml.decorrelation.
        MassDecorrelator`), or None for the raw features.
    min_events : int
        Pairs with fewer events in a bin are not tested.
    """

    enabled: bool = False
    low: float = 5.0
    high: float = 16.0
    width: float = 1.0
    step: float | None = None
    n_null: int = 300
    test_fraction: float = 0.5
    decorrelate: int | None = None
    min_events: int = 50


@dataclass(frozen=True)
class ReportSettings:
    """Labels of the plots and the report. ``None`` takes the value from the skim's metadata
    (``fileset.json`` → ``summary.json`` of the skim); what neither gives is shown as unknown
    (:mod:`analysis.labels`).

    Attributes
    ----------
    experiment : str or None
        "CMS", "ATLAS", ... (the bold label of the plots).
    label : str or None
        Text after the experiment, e.g. "Open Data".
    lumi_fb : float or None
        Integrated luminosity in fb⁻¹ (Run2016H: 8.740).
    com_tev : float or None
        Centre-of-mass energy in TeV.
    year : int or None
        Data-taking year.
    """

    experiment: str | None = None
    label: str | None = None
    lumi_fb: float | None = None
    com_tev: float | None = None
    year: int | None = None


@dataclass(frozen=True)
class AnalysisConfig:
    """Everything one analysis run depends on.

    Attributes
    ----------
    window : MassWindow
        Sidebands and SR in GeV.
    cuts, features, flow, classifier, stats, report, cluster_scan, massbin_scan
        The sections above.
    n_folds : int
        k of the out-of-fold scoring (every event scored once by models that never saw it).
    oversampling : float
        Background-template events per SR data event, summed over the flow seeds.
    kde_bandwidth : float
        Bandwidth of the KDE on logit(m) that draws the template masses.
    random_state : int
        Master seed; every random step derives its seed from it.
    references : bool
        With truth in the skim, also train the idealized and supervised reference classifiers.
    exclude_processes : tuple of str
        ``toymc.truth.Process`` names whose events are dropped (e.g. the Υ, to test that no
        method finds anything without the signal).
    methods : tuple of str
        Registered methods to evaluate (:mod:`analysis.methods`): ``CATHODE``, ``LaCATHODE``,
        ``single_feature`` (one cut per feature), ``random``, ``reweighting``, ``CWoLa``
        (CWoLa hunting, :mod:`ml.cwola`; opt-in), or any method a module registers.
    profile : str
        Name of the profile the settings started from.
    """

    window: MassWindow = WINDOW_PRESETS["upsilon"]
    cuts: Cuts = field(default_factory=Cuts)
    features: Features = field(default_factory=Features)
    flow: FlowSettings = field(default_factory=FlowSettings)
    classifier: ClassifierSettings = field(default_factory=ClassifierSettings)
    stats: StatsSettings = field(default_factory=StatsSettings)
    report: ReportSettings = field(default_factory=ReportSettings)
    cluster_scan: ClusterScanSettings = field(default_factory=ClusterScanSettings)
    massbin_scan: MassBinSettings = field(default_factory=MassBinSettings)
    n_folds: int = 5
    oversampling: float = 4.0
    kde_bandwidth: float = 0.01
    random_state: int = 0
    references: bool = True
    exclude_processes: tuple[str, ...] = ()
    methods: tuple[str, ...] = DEFAULT_METHODS
    profile: str = "default"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON view (tuples as lists), used for cache keys and results.json."""
        return to_jsonable(dataclasses.asdict(self))


_YAML_API = ("config_from_mapping", "load_config", "validate")


def __getattr__(name: str) -> Any:
    """YAML loading and validation live in :mod:`analysis.config_yaml` (which imports this
    module); they are re-exported here lazily, so neither module needs the other first."""
    if name in _YAML_API:
        from analysis import config_yaml

        return getattr(config_yaml, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
