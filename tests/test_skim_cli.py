"""Every run_skim.py error is one line that names its flag or setting, found before slow work."""

import re

import pytest
from conftest import toy_fileset

from run_skim import main

toymc = pytest.importorskip("toymc")


@pytest.fixture(scope="module")
def fileset(tmp_path_factory):
    return toy_fileset(tmp_path_factory.mktemp("cli"), n_events=500, seed=2,
                       metadata={"is_data": True})


def _fails(capsys, argv, pattern, code=2):
    assert main([*argv, "--no-progress"]) == code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("run_skim.py: error: ") and re.search(pattern, lines[0]), lines[0]


def test_each_flag_is_named_in_its_error(fileset, tmp_path, capsys):
    out = ["--output-dir", str(tmp_path / "out")]
    base = ["--fileset", str(fileset), "--dataset", "toy", *out]
    for flag in ("--workers", "--chunk-size", "--max-files", "--max-chunks"):
        _fails(capsys, [*base, flag, "0"], rf"{flag} must be >= 1, got 0")
        _fails(capsys, [*base, flag, "two"], rf"argument {flag}: invalid int value: 'two'", 2)
    _fails(capsys, [*base, "--set", "mu0_pt_min"], r"--set expects KEY=VALUE")
    _fails(capsys, [*base, "--set", "mu0_pt=3"], r"unknown setting 'mu0_pt' in --set")
    _fails(capsys, [*base, "--set", "mu0_pt_min=abc"], r"--set: mu0_pt_min = 'abc' is not a number")
    _fails(capsys, [*base, "--set", "mu0_pt_min=-1"], r"mu0_pt_min must be .* \(set in --set\)")
    for value in ("nan", "inf", "-inf"):
        _fails(
            capsys,
            [*base, "--set", f"mu0_pt_min={value}"],
            r"--set: mu0_pt_min = .* is not a finite number",
        )
    cuts = tmp_path / "cuts.yaml"
    cuts.write_text("mu1_pt_min: .nan\n")
    _fails(
        capsys,
        [*base, "--config", str(cuts)],
        rf"--config {re.escape(str(cuts))}: mu1_pt_min = nan is not a finite number",
    )
    cuts.write_text("mu1_pt_min: [\n")
    _fails(capsys, [*base, "--config", str(cuts)], r"--config file .* is not valid YAML")
    _fails(capsys, [*base, "--config", str(tmp_path / "no.yaml")], r"--config file .* not found")
    _fails(capsys, [*base, "--preset", "upsilon"], r"unknown preset 'upsilon' \(--preset\)")
    _fails(
        capsys,
        ["--fileset", str(tmp_path / "no.json"), *out],
        r"--fileset .*no.json not found",
    )
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{")
    _fails(capsys, ["--fileset", str(bad_json), *out], r"--fileset .*bad.json is not valid JSON")
    _fails(
        capsys,
        ["--fileset", str(fileset), "--dataset", "toyy", *out],
        r"unknown dataset 'toyy' \(--dataset\)",
    )
    _fails(
        capsys,
        [*base, "--lumi-mask", str(tmp_path / "golden.json")],
        r"--lumi-mask .*golden.json not found",
    )
    golden = tmp_path / "golden.json"
    golden.write_text("{not json")
    _fails(capsys, [*base, "--lumi-mask", str(golden)], r"--lumi-mask: golden JSON .* not")
    _fails(capsys, [*base, "--executor", "spark"], r"argument --executor: invalid choice", 2)


def test_output_dir_that_is_a_file_fails_before_any_slow_work(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("a file")
    absent = tmp_path / "fs.json"  # the fileset does not even exist: --output-dir is checked first
    cases = ((taken, "is a file"), (taken / "sub", f"lies under {taken}, which is a file"))
    for out, what in cases:
        _fails(
            capsys,
            ["--fileset", str(absent), "--output-dir", str(out)],
            rf"--output-dir {re.escape(str(out))} {re.escape(what)}, not a directory; choose "
            r"another --output-dir",
        )
    assert taken.read_text() == "a file"
