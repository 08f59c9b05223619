"""Analysis configuration: presets, profiles, YAML overrides and their one-line errors."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.config import DEFAULT_FPRS, AnalysisConfig, config_from_mapping, load_config
from analysis.presets import PROFILES, WINDOW_PRESETS


def write(tmp_path, text):
    path = tmp_path / "analysis.yaml"
    path.write_text(text)
    return path


def test_default_fpr_grid_contains_reference_points():
    grid = np.array(DEFAULT_FPRS)
    assert np.all(np.diff(grid) < 0)
    for f in (1.0, 0.25, 0.1, 0.05, 0.01, 0.005, 0.001):
        assert np.isclose(grid, f).any()
    assert len(grid) == 25 + 3  # 0.25, 0.05, 0.005 are not on logspace(0, -3, 25)


def test_facts_come_from_their_one_source():
    import importlib

    from analysis.config import SKIM_COLUMNS
    from processors.columns import SKIM_COLUMNS as skim_contract

    # importlib: ``stats.significance`` is also the name of a function re-exported by ``stats``
    assert DEFAULT_FPRS is importlib.import_module("stats.significance").DEFAULT_FPRS
    assert SKIM_COLUMNS == frozenset(skim_contract)


def test_window_presets_are_the_reference_edges():
    assert WINDOW_PRESETS["upsilon"].edges == (5.0, 9.0, 10.6, 16.0)
    assert WINDOW_PRESETS["control"].edges == (11.0, 12.0, 13.6, 17.0)
    assert WINDOW_PRESETS["psi2s"].edges == (3.17, 3.51, 3.85, 5.0)
    assert WINDOW_PRESETS["eta"].edges == (0.30, 0.525, 0.569, 0.72)
    for name in ("jpsi", "phi", "rho_omega", "z"):
        assert name in WINDOW_PRESETS


def test_window_presets_agree_with_stats():
    binning = pytest.importorskip("stats.binning")
    for name, window in binning.WINDOWS.items():
        assert WINDOW_PRESETS[name].edges == window.as_tuple()


def test_profiles_set_method_sizes():
    pub = load_config(profile="published")
    assert (pub.flow.n_seeds, pub.flow.max_epochs, pub.classifier.n_models) == (5, 400, 100)
    assert pub.flow.early_stopping is None
    fast = load_config(profile="fast")
    assert fast.flow.n_seeds == PROFILES["fast"].n_seeds < pub.flow.n_seeds
    assert load_config().profile == "default"
    # the published flow is the affine MAF at a constant rate; the short profiles use splines
    assert pub.flow.params == ()
    for cfg in (fast, load_config()):
        assert dict(cfg.flow.params) == {"transform_type": "spline", "learning_rate": 2e-3,
                                         "lr_schedule": "cosine"}


def test_yaml_overrides_sections_and_profile(tmp_path):
    path = write(
        tmp_path,
        "profile: fast\nwindow: control\nflow: {n_seeds: 3, params: {hidden_units: 8}}\n"
        "stats: {fprs: [0.5, 0.1], degree: 3}\n"
        "cuts: {iso04_min: null, ranges: {dimu_eta: [-2.4, 2.4]}}\n"
        "exclude_processes: [UPSILON_1S]\n",
    )
    cfg = load_config(path)
    assert cfg.profile == "fast" and cfg.window.name == "control"
    assert cfg.flow.n_seeds == 3 and dict(cfg.flow.params) == {
        **dict(PROFILES["fast"].flow_params), "hidden_units": 8}  # merged over the profile's
    assert cfg.flow.max_epochs == PROFILES["fast"].max_epochs  # profile value kept
    assert cfg.stats.fprs == (0.5, 0.1) and cfg.stats.degree == 3
    assert cfg.cuts.iso04_min is None and cfg.cuts.ranges == (("dimu_eta", -2.4, 2.4),)
    assert cfg.exclude_processes == ("UPSILON_1S",)
    # the command line wins over the file
    assert load_config(path, profile="published", window="upsilon").window.name == "upsilon"


def test_published_profile_keeps_the_published_bdt(tmp_path):
    from analysis.stages import build_classifier

    pub = load_config(profile="published")
    clf = build_classifier(pub.classifier, seed=0)
    assert (clf.n_estimators, clf.max_depth, clf.early_stopping_rounds) == (300, 3, 10)
    # so do the others (better than the toolkit's default on the demo's small SR sample)
    for profile in ("fast", "default"):
        clf = build_classifier(load_config(profile=profile).classifier, seed=0)
        assert (clf.n_estimators, clf.max_depth, clf.early_stopping_rounds) == (300, 3, 10)
    # a YAML file can ask for the toolkit's default
    cfg = load_config(write(tmp_path, "classifier: {params: {n_estimators: 100, max_depth: 5, "
                                      "early_stopping_rounds: null}}\n"))
    clf = build_classifier(cfg.classifier, seed=0)
    assert (clf.n_estimators, clf.max_depth, clf.early_stopping_rounds) == (100, 5, None)
    # YAML classifier params merge over the profile's; another kind drops them
    cfg = load_config(write(tmp_path, "classifier: {params: {max_depth: 4}}\n"),
                      profile="published")
    assert dict(cfg.classifier.params) == {**dict(pub.classifier.params), "max_depth": 4}
    cfg = load_config(write(tmp_path, "classifier: {kind: mlp}\n"), profile="published")
    assert cfg.classifier.kind == "mlp" and cfg.classifier.params == ()


def test_yaml_flow_params_accept_the_former_name_transform(tmp_path):
    cfg = load_config(write(tmp_path, "profile: fast\nflow: {params: {transform: affine}}\n"))
    assert dict(cfg.flow.params)["transform_type"] == "affine"  # overrides the profile's spline
    assert "transform" not in dict(cfg.flow.params)
    both = "flow: {params: {transform: affine, transform_type: spline}}\n"
    with pytest.raises(TypeError, match=r"flow.params: .*former name of 'transform_type'"):
        load_config(write(tmp_path, both))


def test_yaml_flow_param_values_are_checked_before_any_data(tmp_path):
    # one line naming the section and the value, from the checks ConditionalFlow.fit runs first
    from dimuon_ad.errors import ConfigError

    with pytest.raises(ConfigError, match=r"flow: stacked must be True or False, got 'no'"):
        load_config(write(tmp_path, "flow: {params: {stacked: 'no'}}\n"))
    with pytest.raises(ConfigError, match=r"flow: grad_clip must be None or > 0, got -1"):
        load_config(write(tmp_path, "flow: {params: {grad_clip: -1}}\n"))
    cfg = load_config(write(tmp_path, "flow: {n_seeds: 5, params: {stacked: false}}\n"))
    assert dict(cfg.flow.params)["stacked"] is False


def test_stats_degree_auto_from_yaml(tmp_path):
    cfg = load_config(
        write(tmp_path, "stats: {degree: auto, degree_candidates: [1, 2, 3], f_test_alpha: 0.01}\n")
    )
    assert cfg.stats.degree == "auto"
    assert cfg.stats.degree_candidates == (1, 2, 3) and cfg.stats.f_test_alpha == 0.01
    assert load_config(profile="published").stats.degree == 5  # the published fixed degree
    assert load_config(write(tmp_path, "stats: {degree: 3}\n")).stats.degree == 3


def test_custom_window_and_preset_edit():
    cfg = config_from_mapping(
        {"window": {"name": "bump", "sb_left": 20, "sr_left": 25, "sr_right": 27, "sb_right": 35}}
    )
    assert cfg.window.edges == (20.0, 25.0, 27.0, 35.0) and cfg.window.name == "bump"
    edited = config_from_mapping({"window": {"preset": "upsilon", "sr_right": 10.4}})
    assert edited.window.edges == (5.0, 9.0, 10.4, 16.0)


@pytest.mark.parametrize(
    ("text", "exc", "match"),
    [
        ("flw: {n_seeds: 2}\n", KeyError,
         r"analysis\.yaml: unknown key 'flw'.*did you mean 'flow'"),
        ("flow: {n_seed: 2}\n", KeyError, r"unknown key 'n_seed' in section 'flow'"),
        ("window: upsilno\n", KeyError, r"analysis\.yaml: unknown window 'upsilno'.*'upsilon'"),
        ("profile: turbo\n", KeyError, r"unknown profile 'turbo'.*fast"),
        ("features: {columns: [dimu_pt, mu0_ip3dd]}\n", KeyError,
         r"analysis\.yaml: unknown skim column 'mu0_ip3dd' in features.*'mu0_ip3d'"),
        ("features: {single_feature_cuts: {dimu_pt: up}}\n", ValueError, r"'high' or 'low'"),
        ("flow: {n_seeds: five}\n", TypeError, r"flow\.n_seeds = 'five' is not an integer"),
        ("flow: {n_seeds: 0}\n", ValueError, r"flow\.n_seeds = 0; expected an integer >= 1"),
        ("stats: {fprs: [0.1, 2.0]}\n", ValueError, r"stats\.fprs .*rates in \(0, 1\]"),
        ("window: {sb_left: 5, sr_left: 9}\n", ValueError, r"custom window lacks"),
        ("window: {sb_left: 5, sr_left: 11, sr_right: 10, sb_right: 16}\n", ValueError,
         r"strictly|expected 0 <= sb_left"),
        ("cuts: {ranges: {dimu_eta: 2.4}}\n", ValueError, r"cuts\.ranges\.dimu_eta.*\[low, high\]"),
        ("exclude_processes: [UPSILON]\n", KeyError, r"unknown truth process 'UPSILON'"),
        ("n_folds: 2\n", ValueError, r"n_folds = 2; expected >= 3"),
        ("classifier: {kind: svm}\n", ValueError, r"classifier\.kind = 'svm'"),
        ("references: yes please\n", TypeError, r"references = 'yes please' is not a boolean"),
        ("- a\n- b\n", TypeError, r"top level is list; expected a mapping"),
        ("flow: [1, 2\n", ValueError, r"not valid YAML at line"),
        ("stats: {degree: best}\n", TypeError,
         r"stats\.degree = 'best'; expected an integer degree .* or 'auto'"),
        ("stats: {degree: 11}\n", ValueError,
         r"stats\.degree = 11; expected an integer in 0\.\.10"),
        ("stats: {degree: auto, degree_candidates: []}\n", ValueError,
         r"stats\.degree_candidates = \[\]; expected a non-empty list"),
        ("stats: {f_test_alpha: 0}\n", ValueError,
         r"stats\.f_test_alpha = 0\.0; expected a p-value"),
    ],
)
def test_yaml_errors_name_file_and_key(tmp_path, text, exc, match):
    with pytest.raises(exc, match=match):
        load_config(write(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"config file .*nope\.yaml not found"):
        load_config(tmp_path / "nope.yaml")


def test_to_dict_is_json_and_frozen():
    import dataclasses
    import json

    cfg = AnalysisConfig()
    text = json.dumps(cfg.to_dict())
    assert '"sb_left": 5.0' in text
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.n_folds = 3  # type: ignore[misc]
