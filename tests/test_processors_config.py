"""Settings, presets, YAML/CLI overrides and the fileset loader: validation messages."""

import json
from pathlib import Path

import pytest

from processors.config import PRESETS, SkimConfig, load_config, make_config, parse_assignments
from processors.fileset import load_fileset, parse_fileset, select_datasets

REPO = Path(__file__).resolve().parents[1]


def test_presets_encode_the_published_cuts():
    cfg = PRESETS["upsilon_antiiso"]
    assert (cfg.muon_id, cfg.isolation, cfg.iso_cut) == ("tightId", "antiiso", 0.55)
    assert (cfg.mu0_pt_min, cfg.mu1_pt_min, cfg.abs_eta_max) == (17.0, 8.0, None)
    assert cfg.triggers == ("HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx",)
    inclusive = PRESETS["inclusive"]
    assert (
        inclusive.isolation == "none"
        and inclusive.triggers == ()
        and inclusive.muon_id == "tightId"
    )
    kin = PRESETS["kinematics_only"]
    assert kin.muon_id is None and kin.columns == "kinematics" and not kin.lumi_mask
    assert len({c.digest() for c in PRESETS.values()}) == 3


def test_overrides_are_converted_and_validated():
    cfg = make_config(
        "upsilon_antiiso",
        parse_assignments(
            ["mu0_pt_min=20", "triggers=HLT_A,HLT_B", "abs_eta_max=2.4", "lumi_mask=false"]
        ),
    )
    assert cfg.mu0_pt_min == 20.0 and cfg.triggers == ("HLT_A", "HLT_B")
    assert cfg.abs_eta_max == 2.4 and cfg.lumi_mask is False
    assert make_config("upsilon_antiiso", {"triggers": "null"}).triggers == ()
    assert cfg.digest() != PRESETS["upsilon_antiiso"].digest()


def test_unknown_preset_key_and_trigger():
    with pytest.raises(
        ValueError, match="unknown preset 'upsilon_antiso'.*did you mean 'upsilon_antiiso'"
    ):
        make_config("upsilon_antiso")
    with pytest.raises(
        ValueError, match="unknown setting 'mu0_ptmin' in overrides.*did you mean 'mu0_pt_min'"
    ):
        make_config("inclusive", {"mu0_ptmin": 3})
    with pytest.raises(ValueError, match="unknown trigger 'TrkMu15': expected an HLT branch name"):
        make_config("inclusive", {"triggers": ["TrkMu15"]})
    with pytest.raises(ValueError, match="unknown muon_id 'tight'.*did you mean 'tightId'"):
        make_config("inclusive", {"muon_id": "tight"})
    with pytest.raises(
        ValueError, match=r"mu1_pt_min must be a finite number >= 0, got -1.0 \(set in overrides\)"
    ):
        make_config("inclusive", {"mu1_pt_min": "-1"})
    with pytest.raises(ValueError, match="overrides: mu0_pt_min = 'abc' is not a number"):
        make_config("inclusive", {"mu0_pt_min": "abc"})
    with pytest.raises(ValueError, match="--set expects KEY=VALUE"):
        parse_assignments(["mu0_pt_min"])
    with pytest.raises(ValueError, match="columns='kinematics' reads only muon kinematics"):
        SkimConfig(columns="kinematics")


def test_yaml_config(tmp_path):
    path = tmp_path / "cuts.yaml"
    path.write_text(
        "preset: inclusive\nmu0_pt_min: 12\ntriggers: [HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx]\n"
    )
    cfg = load_config(None, path, {"mu1_pt_min": "4"})
    assert cfg.preset == "inclusive" and cfg.mu0_pt_min == 12.0 and cfg.mu1_pt_min == 4.0
    assert cfg.triggers == ("HLT_TrkMu15_DoubleTrkMu5NoFiltersNoVtx",)
    assert load_config("upsilon_antiiso", path).preset == "upsilon_antiiso"  # CLI preset wins
    path.write_text("mu0_pt_mn: 12\n")
    with pytest.raises(ValueError, match=f"unknown setting 'mu0_pt_mn' in --config {path}"):
        load_config(None, path)
    path.write_text("- a list\n")
    with pytest.raises(ValueError, match="must hold a mapping of settings"):
        load_config(None, path)
    with pytest.raises(FileNotFoundError, match="--config file .*missing.yaml not found"):
        load_config(None, tmp_path / "missing.yaml")
    path.write_text("preset: upsilon\n")
    with pytest.raises(ValueError, match="unknown preset 'upsilon' \\(key 'preset' of --config"):
        load_config(None, path)
    with pytest.raises(ValueError, match=r"unknown preset 'upsilon' \(--preset\)"):
        load_config("upsilon")


@pytest.mark.parametrize(
    ("text", "yaml_text"),
    [("nan", ".nan"), ("NaN", ".NaN"), ("inf", ".inf"), ("-inf", "-.inf"), ("1e999", "1e999")],
)
def test_non_finite_values_are_rejected_naming_the_key(tmp_path, text, yaml_text):
    with pytest.raises(ValueError, match="--set: mu0_pt_min = .* is not a finite number"):
        load_config("inclusive", None, {"mu0_pt_min": text})
    with pytest.raises(ValueError, match="--set: abs_eta_max = .* is not a finite number"):
        load_config("inclusive", None, {"abs_eta_max": text})
    path = tmp_path / "cuts.yaml"
    path.write_text(f"iso_cut: {yaml_text}\n")
    with pytest.raises(ValueError, match=f"--config {path}: iso_cut = .* is not a finite"):
        load_config(None, path)
    with pytest.raises(ValueError, match="mu0_pt_min must be a finite number >= 0, got nan"):
        SkimConfig(mu0_pt_min=float("nan"))


def test_repository_fileset():
    fileset = load_fileset(REPO / "fileset.json")
    synthetic = fileset["DoubleMuon_synthetic"]
    assert list(synthetic.files) == [str(REPO / "output/synthetic/DoubleMuon_synthetic.root")]
    assert synthetic.metadata == {**synthetic.metadata, "is_data": False, "synthetic": True}
    real = fileset["DoubleMuon_Run2016H"]
    assert len(real.files) == 28 and set(real.files.values()) == {"Events"}
    assert all(
        f.startswith("root://eospublic.cern.ch//eos/opendata/cms/Run2016H/DoubleMuon/")
        for f in real.files
    )
    assert real.is_data and real.metadata["lumi_fb"] == 8.740 and real.metadata["record"] == 30555
    assert real.metadata["golden_json"].endswith(
        "Cert_271036-284044_13TeV_Legacy2016_Collisions16_JSON.txt"
    )


def test_fileset_errors(tmp_path):
    path = tmp_path / "fs.json"
    path.write_text(json.dumps({"A": {"file": {"a.root": "Events"}}}))
    with pytest.raises(
        ValueError, match=f"unknown key 'file' in dataset 'A' of {path}.*did you mean 'files'"
    ):
        load_fileset(path)
    path.write_text(json.dumps({"A": {"metadata": {}}}))
    with pytest.raises(ValueError, match="dataset 'A' in .* has no \"files\""):
        load_fileset(path)
    path.write_text(
        json.dumps({"A": {"files": {"a.root": "Events"}, "metadata": {"is_dat": True}}})
    )
    with pytest.raises(ValueError, match="unknown metadata key 'is_dat'.*did you mean 'is_data'"):
        load_fileset(path)
    path.write_text(
        json.dumps({"A": {"files": {"a.root": "Events"}, "metadata": {"is_data": "yes"}}})
    )
    with pytest.raises(ValueError, match="metadata 'is_data' of dataset 'A'.*expected bool"):
        load_fileset(path)
    path.write_text("{not json")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load_fileset(path)
    with pytest.raises(FileNotFoundError, match="--fileset .*nope.json not found"):
        load_fileset(tmp_path / "nope.json")
    fileset = parse_fileset({"A": {"files": ["x.root"]}}, base=tmp_path)
    assert fileset["A"].files == {str(tmp_path / "x.root"): "Events"}
    with pytest.raises(ValueError, match=r"unknown dataset 'B' \(--dataset\) in the fileset"):
        select_datasets(fileset, ["B"])
