"""benchmarks.profile_fit runs a profile's CATHODE fit on a skim and compares stacked flows."""

from __future__ import annotations

import yaml
from conftest import tiny_analysis, write_toy_skim

from benchmarks.profile_fit import main


def test_profile_fit_times_stacked_and_one_by_one(tmp_path, capsys):
    skim = write_toy_skim(tmp_path, 6000, 0)
    cfg = tmp_path / "an.yaml"
    cfg.write_text(yaml.safe_dump(tiny_analysis(n_seeds=2, max_epochs=2)))
    assert main(["--skim", str(skim / "skim"), "--profile", "fast", "--config", str(cfg),
                 "--compare"]) == 0
    out = capsys.readouterr().out
    assert "2 flow seeds x <= 2 epochs" in out
    assert "flows one after the other" in out and "flows stacked" in out
    assert "speed-up (CPU)" in out and "total (flows stacked)" in out
