"""Building an :class:`analysis.config.AnalysisConfig` from a profile and YAML, with validation.

Every key and value is checked where it enters; errors are one line naming the file (``source``),
the key and what was expected, e.g. ``analysis.yaml: unknown key 'flw' in the top level (did you
mean 'flow'?); expected one of ...``.
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from analysis.config import (
    SKIM_COLUMNS,
    AnalysisConfig,
    ClassifierSettings,
    ClusterScanSettings,
    Cuts,
    Features,
    FlowSettings,
    MassBinSettings,
    ReportSettings,
    StatsSettings,
)
from analysis.presets import PROFILES, WINDOW_PRESETS, MassWindow
from dimuon_ad.coerce import coerce
from dimuon_ad.errors import ConfigError, ConfigKeyError, ConfigTypeError, InputNotFoundError

#: Per-spectrum degree choices of ``stats.degree`` (:mod:`stats.degree`).
DEGREE_RULES = ("auto", "spurious")

__all__ = ["config_from_mapping", "load_config", "validate"]

_SECTIONS: dict[str, type] = {
    "cuts": Cuts,
    "features": Features,
    "flow": FlowSettings,
    "classifier": ClassifierSettings,
    "stats": StatsSettings,
    "report": ReportSettings,
    "cluster_scan": ClusterScanSettings,
    "massbin_scan": MassBinSettings,
}
_PAIR_FIELDS = {"params", "single_feature_cuts"}


def _unknown(
    key: str, allowed: typing.Iterable[str], where: str, source: str, kind: str = "key"
) -> ConfigKeyError:
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigKeyError(
        f"{source}: unknown {kind} {key!r} in {where}{hint}; expected one of {', '.join(allowed)}"
    )


def _pairs(value: Any, name: str, source: str) -> tuple[tuple[str, Any], ...]:
    if not isinstance(value, Mapping):
        raise ConfigTypeError(
            f"{source}: {name} = {value!r} is not a mapping; expected {{key: value}}"
        )
    return tuple((str(k), v) for k, v in value.items())


def _ranges(value: Any, source: str) -> tuple[tuple[str, float | None, float | None], ...]:
    out = []
    for col, bounds in _pairs(value, "cuts.ranges", source):
        if not (isinstance(bounds, (list, tuple)) and len(bounds) == 2):
            raise ConfigError(
                f"{source}: cuts.ranges.{col} = {bounds!r}; expected [low, high] (null = open)"
            )
        lo, hi = (coerce(b, float | None, f"cuts.ranges.{col}", source) for b in bounds)
        out.append((col, lo, hi))
    return tuple(out)


def _section(cls: type, base: Any, data: Any, where: str, source: str) -> Any:
    if not isinstance(data, Mapping):
        raise ConfigTypeError(f"{source}: section {where!r} = {data!r} is not a mapping")
    hints = typing.get_type_hints(cls)
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key not in hints:
            raise _unknown(str(key), hints, f"section {where!r}", source)
        name = f"{where}.{key}"
        if key == "ranges":
            changes[key] = _ranges(value, source)
        elif cls is StatsSettings and key == "degree":
            if value not in DEGREE_RULES and (
                    isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigTypeError(
                    f"{source}: {name} = {value!r}; expected an integer degree (published: 5), "
                    "'spurious' (F-test and spurious-signal rule, the default) or 'auto' "
                    "(F-test only)"
                )
            changes[key] = value
        elif key == "params" and cls is FlowSettings:
            # merged over the profile's flow settings (e.g. its transform_type and learning rate),
            # former argument names (ml.flows.RENAMED_PARAMS, e.g. transform) mapped to current ones
            from ml.flows import rename_params

            try:
                given = rename_params(dict(_pairs(value, name, source)))
            except TypeError as err:
                raise ConfigTypeError(f"{source}: {name}: {err}") from None
            changes[key] = tuple({**dict(base.params), **given}.items())
        elif key == "params" and cls is ClassifierSettings and data.get("kind", base.kind) == (
                base.kind):
            # merged over the profile's classifier settings (the published BDT's rounds)
            changes[key] = tuple({**dict(base.params), **dict(_pairs(value, name, source))}.items())
        elif key in _PAIR_FIELDS:
            changes[key] = None if value is None and key == "single_feature_cuts" else _pairs(
                value, name, source)
        else:
            changes[key] = coerce(value, hints[key], name, source)
    if cls is ClassifierSettings and changes.get("kind", base.kind) != base.kind:
        # another kind of classifier: the profile's arguments were for the old kind
        changes.setdefault("params", ())
    return replace(base, **changes)


def _window(value: Any, source: str) -> MassWindow:
    if isinstance(value, str):
        if value not in WINDOW_PRESETS:
            raise _unknown(value, WINDOW_PRESETS, "window presets", source, kind="window")
        return WINDOW_PRESETS[value]
    if isinstance(value, Mapping):
        base = WINDOW_PRESETS.get(str(value.get("preset", "")), None)
        data = {k: v for k, v in value.items() if k != "preset"}
        if base is None:
            if "preset" in value:
                raise _unknown(
                    str(value["preset"]), WINDOW_PRESETS, "window presets", source, kind="window"
                )
            missing = {"sb_left", "sr_left", "sr_right", "sb_right"} - set(data)
            if missing:
                raise ConfigError(
                    f"{source}: custom window lacks {sorted(missing)}; give all four edges in "
                    "GeV or a preset name"
                )
            base = MassWindow(str(data.get("name", "custom")), 0.0, 1.0, 2.0, 3.0)
            data.setdefault("name", "custom")
        hints = typing.get_type_hints(MassWindow)
        for key in data:
            if key not in hints:
                raise _unknown(str(key), [*hints, "preset"], "section 'window'", source)
        fields = {
            k: coerce(v, hints[k], f"window.{k}", source) for k, v in data.items()
        }
        try:
            return replace(base, **fields)
        except ValueError as err:
            raise ConfigError(f"{source}: {err}") from None
    raise ConfigTypeError(
        f"{source}: window = {value!r}; expected a preset name or a mapping of edges"
    )


def _profile(name: str, source: str) -> AnalysisConfig:
    if name not in PROFILES:
        raise _unknown(name, PROFILES, "profiles", source, kind="profile")
    p = PROFILES[name]
    base = AnalysisConfig()
    return replace(
        base,
        profile=name,
        flow=replace(
            base.flow, n_seeds=p.n_seeds, max_epochs=p.max_epochs,
            early_stopping=p.early_stopping, params=p.flow_params,
        ),
        classifier=replace(base.classifier, n_models=p.n_models, params=p.classifier_params),
        stats=replace(base.stats, n_toys=p.n_toys, degree=p.degree),
    )


def validate(config: AnalysisConfig, source: str = "config") -> AnalysisConfig:
    """Check cross-field consistency; returns ``config`` or raises one-line errors.

    Every check runs; several failures are reported together in one line (a ValueError), a
    single one keeps its own type (KeyError for unknown names, ValueError for values).
    """
    errors: list[Exception] = []
    feats = config.features
    for col in (*feats.columns, feats.condition):
        if col not in SKIM_COLUMNS:
            errors.append(_unknown(col, SKIM_COLUMNS, "features", source, kind="skim column"))
    if len(set(feats.columns)) != len(feats.columns) or feats.condition in feats.columns:
        errors.append(ValueError(
            f"{source}: features.columns {list(feats.columns)} repeat a column or contain the "
            f"condition {feats.condition!r}"
        ))
    for col, side in feats.single_feature_cuts or ():  # the derived ones follow the columns
        if col not in SKIM_COLUMNS:
            errors.append(_unknown(
                col, SKIM_COLUMNS, "features.single_feature_cuts", source, kind="skim column"
            ))
        if side not in ("high", "low"):
            errors.append(ValueError(
                f"{source}: features.single_feature_cuts.{col} = {side!r}; expected 'high' or 'low'"
            ))
    for col in config.cuts.columns():
        if col not in SKIM_COLUMNS:
            errors.append(_unknown(col, SKIM_COLUMNS, "cuts", source, kind="skim column"))
    checks = [
        (config.flow.n_seeds >= 1, "flow.n_seeds", config.flow.n_seeds, "an integer >= 1"),
        (config.flow.max_epochs >= 1, "flow.max_epochs", config.flow.max_epochs, ">= 1"),
        (0 < config.flow.validation_fraction < 1, "flow.validation_fraction",
         config.flow.validation_fraction, "in (0, 1)"),
        (config.flow.preset in ("published", "sk_cathode"), "flow.preset", config.flow.preset,
         "'published' or 'sk_cathode'"),
        (config.classifier.kind in ("xgboost", "mlp"), "classifier.kind", config.classifier.kind,
         "'xgboost' or 'mlp'"),
        (config.classifier.n_models >= 1, "classifier.n_models", config.classifier.n_models,
         ">= 1"),
        (0 <= config.random_state < 2**31, "random_state", config.random_state,
         "an integer in 0..2^31-1"),
        (config.n_folds >= 3, "n_folds", config.n_folds, ">= 3 (train, validation, test)"),
        (config.oversampling > 0, "oversampling", config.oversampling, "> 0"),
        (config.kde_bandwidth > 0, "kde_bandwidth", config.kde_bandwidth, "> 0"),
        (config.stats.degree in DEGREE_RULES or 0 <= config.stats.degree <= 10, "stats.degree",
         config.stats.degree, "an integer in 0..10, 'spurious' or 'auto'"),
        (len(config.stats.degree_candidates) > 0
         and all(0 <= d <= 10 for d in config.stats.degree_candidates),
         "stats.degree_candidates", list(config.stats.degree_candidates),
         "a non-empty list of integers in 0..10"),
        (0 < config.stats.f_test_alpha < 1, "stats.f_test_alpha", config.stats.f_test_alpha,
         "a p-value in (0, 1)"),
        (config.stats.n_sr_edges >= 2, "stats.n_sr_edges", config.stats.n_sr_edges, ">= 2"),
        (config.stats.min_sideband_events >= 0, "stats.min_sideband_events",
         config.stats.min_sideband_events, ">= 0"),
        (config.stats.n_toys >= 0, "stats.n_toys", config.stats.n_toys,
         ">= 0 (0 skips the look-elsewhere toys)"),
        (len(config.stats.fprs) > 0 and all(0 < f <= 1 for f in config.stats.fprs),
         "stats.fprs", list(config.stats.fprs), "a non-empty list of rates in (0, 1]"),
        (all(0 < f <= 1 for f in config.stats.spectrum_fprs), "stats.spectrum_fprs",
         list(config.stats.spectrum_fprs), "rates in (0, 1]"),
        *_massbin_checks(config),
        (config.report.lumi_fb is None or config.report.lumi_fb > 0, "report.lumi_fb",
         config.report.lumi_fb, "> 0 fb^-1"),
        (config.report.com_tev is None or config.report.com_tev > 0, "report.com_tev",
         config.report.com_tev, "> 0 TeV"),
    ]
    checks += _cluster_scan_checks(config)
    for ok, key, value, expected in checks:
        if not ok:
            errors.append(ConfigError(f"{source}: {key} = {value!r}; expected {expected}"))
    from analysis.methods import METHODS

    for name in config.methods:
        if name not in METHODS:
            errors.append(_unknown(str(name), METHODS, "methods", source, kind="method"))
    if not config.methods:
        errors.append(ConfigError(f"{source}: methods = []; expected at least one of "
                                  f"{', '.join(METHODS)}"))
    errors += _estimator_param_errors(config, source)
    from analysis._truth import process_code

    for name in (*config.exclude_processes, *config.window.signal_processes):
        try:
            process_code(name, source)
        except (KeyError, ValueError) as err:
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        text = "; ".join(f"({i}) {_message(e).removeprefix(source + ': ')}"
                         for i, e in enumerate(errors, 1))
        raise ConfigError(f"{source}: {len(errors)} problems: {text}")
    return config


def _cluster_scan_checks(config: AnalysisConfig) -> list[tuple[bool, str, Any, str]]:
    """(ok, key, value, expected) of the ``cluster_scan`` section (GeV)."""
    cs, w = config.cluster_scan, config.window
    rng = cs.mass_range
    in_window = rng is None or (len(rng) == 2 and w.sb_left <= rng[0] < rng[1] <= w.sb_right)
    width = (w.sb_right - w.sb_left) if rng is None or not in_window else rng[1] - rng[0]
    return [
        (in_window, "cluster_scan.mass_range", None if rng is None else list(rng),
         f"[low, high] in GeV inside the window {w.sb_left:g}-{w.sb_right:g} (or null)"),
        (0 < cs.window_width <= width, "cluster_scan.window_width", cs.window_width,
         f"> 0 and at most the scanned range ({width:g} GeV)"),
        (cs.step > 0, "cluster_scan.step", cs.step, "> 0 GeV"),
        (cs.k >= 2, "cluster_scan.k", cs.k, "an integer >= 2 (the paper: 50)"),
        (cs.n_clusterings >= 1, "cluster_scan.n_clusterings", cs.n_clusterings, ">= 1"),
        (cs.n_bootstrap >= 1, "cluster_scan.n_bootstrap", cs.n_bootstrap, ">= 1"),
        (cs.block_width is None or cs.block_width > 0, "cluster_scan.block_width",
         cs.block_width, "null or > 0 GeV"),
    ]


def _massbin_checks(config: AnalysisConfig) -> list[tuple[bool, str, Any, str]]:
    """(ok, key, value, expected) of the ``massbin_scan`` settings (only when enabled)."""
    mb, w = config.massbin_scan, config.window
    if not mb.enabled:
        return []
    step = mb.width if mb.step is None else mb.step
    return [
        (mb.width > 0 and step > 0, "massbin_scan.width/step", [mb.width, mb.step],
         "> 0 GeV"),
        (w.sb_left <= mb.low and mb.high <= w.sb_right, "massbin_scan.[low, high]",
         [mb.low, mb.high], f"inside the window's [{w.sb_left:g}, {w.sb_right:g}] GeV (only "
         "its events are read); widen the window or narrow the scan"),
        (mb.high - mb.low >= 2 * mb.width, "massbin_scan.[low, high]", [mb.low, mb.high],
         f"at least two bins of width {mb.width:g} GeV"),
        (mb.n_null >= 0, "massbin_scan.n_null", mb.n_null, ">= 0"),
        (0 < mb.test_fraction < 1, "massbin_scan.test_fraction", mb.test_fraction,
         "in (0, 1)"),
        (mb.decorrelate is None or 0 <= mb.decorrelate <= 5, "massbin_scan.decorrelate",
         mb.decorrelate, "null or a polynomial degree in 0..5"),
        (mb.min_events >= 10, "massbin_scan.min_events", mb.min_events, ">= 10"),
    ]


def _estimator_param_errors(config: AnalysisConfig, source: str) -> list[Exception]:
    """Unknown keyword arguments in ``flow.params`` / ``classifier.params``, found here rather
    than when the estimators are built after the data are read."""
    from ml.classifiers import MLPClassifier, XGBEnsembleClassifier
    from ml.flows import ConditionalFlow, rename_params

    classifier = XGBEnsembleClassifier if config.classifier.kind == "xgboost" else MLPClassifier
    errors: list[Exception] = []
    for section, cls, given, own in (
        ("flow.params", ConditionalFlow, rename_params(dict(config.flow.params)), ()),
        # set by classifier.n_models and the run's seed
        ("classifier.params", classifier, dict(config.classifier.params),
         ("n_models", "random_state")),
    ):
        valid = [k for k in cls().get_params() if k not in own]
        unknown = [k for k in given if k not in valid]
        errors += [_unknown(str(k), valid, section, source, kind=f"{cls.__name__} argument")
                   for k in unknown]
        if cls is ConditionalFlow and not unknown:
            # their values too (the checks fit() runs first), before any data are read; the
            # preset and the epochs have their own checks above
            from ml.flows import PRESETS

            preset = config.flow.preset if config.flow.preset in PRESETS else "published"
            try:
                ConditionalFlow.from_preset(preset, **given)._check_params()
            except (TypeError, ValueError) as exc:
                errors.append(ConfigError(f"{source}: flow: {exc}"))
    return errors


def _message(err: Exception) -> str:
    return err.args[0] if isinstance(err, KeyError) and err.args else str(err)


_TOP_KEYS = {"profile", "window", *_SECTIONS, "n_folds", "oversampling", "kde_bandwidth",
             "random_state", "references", "exclude_processes", "methods"}


def config_from_mapping(
    data: Mapping[str, Any] | None,
    *,
    profile: str | None = None,
    source: str = "config",
) -> AnalysisConfig:
    """Build and validate a configuration from a parsed YAML mapping.

    Parameters
    ----------
    data : mapping or None
        Parsed YAML (see the module docstring); ``None`` means no overrides.
    profile : str, optional
        Profile to start from; overrides the mapping's ``profile`` key. Default ``default``.
    source : str
        Name of the file the mapping came from, used in error messages.

    Returns
    -------
    AnalysisConfig

    Raises
    ------
    KeyError
        Unknown key, preset, profile or column (the message names ``source`` and the key).
    TypeError, ValueError
        A value of the wrong type or out of range.
    """
    data = dict(data or {})
    for key in data:
        if key not in _TOP_KEYS:
            raise _unknown(str(key), _TOP_KEYS, "the top level", source)
    name = profile or data.pop("profile", None) or "default"
    data.pop("profile", None)
    config = _profile(coerce(name, str, "profile", source), source)
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key == "window":
            changes[key] = _window(value, source)
        elif key == "cluster_scan":  # a section given means: run it (unless enabled: false)
            given = {"enabled": True, **value} if isinstance(value, Mapping) else value
            changes[key] = _section(ClusterScanSettings, config.cluster_scan, given, key, source)
        elif key == "massbin_scan":
            # giving the section turns the scan on, unless it says enabled: false
            on = {"enabled": True, **value} if isinstance(value, Mapping) else value
            changes[key] = _section(MassBinSettings, config.massbin_scan, on, key, source)
        elif key in _SECTIONS:
            changes[key] = _section(_SECTIONS[key], getattr(config, key), value, key, source)
        elif key == "exclude_processes":
            changes[key] = coerce(value, tuple[str, ...], key, source)
        else:
            hint = typing.get_type_hints(AnalysisConfig)[key]
            changes[key] = coerce(value, hint, key, source)
    return validate(replace(config, **changes), source)


def load_config(
    path: str | Path | None = None,
    *,
    profile: str | None = None,
    window: str | None = None,
) -> AnalysisConfig:
    """Read a YAML configuration file (optional) on top of a profile.

    Parameters
    ----------
    path : str or Path, optional
        YAML file with overrides; ``None`` uses the profile's defaults.
    profile : str, optional
        ``fast``, ``default`` or ``published``; wins over the file's ``profile`` key.
    window : str, optional
        Window preset name; wins over the file's ``window`` key.

    Returns
    -------
    AnalysisConfig
    """
    import yaml

    data: dict[str, Any] = {}
    source = "command line"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise InputNotFoundError(f"config file {path} not found; pass an existing YAML file")
        try:
            loaded = yaml.safe_load(path.read_text())
        except yaml.YAMLError as err:
            line = getattr(getattr(err, "problem_mark", None), "line", None)
            where = f" at line {line + 1}" if line is not None else ""
            raise ConfigError(f"{path}: not valid YAML{where}; fix the syntax") from None
        if loaded is not None and not isinstance(loaded, Mapping):
            raise ConfigTypeError(
                f"{path}: top level is {type(loaded).__name__}; expected a mapping"
            )
        data = dict(loaded or {})
    if window is not None:
        data["window"] = window
    return config_from_mapping(data, profile=profile, source=source)
