"""The command-line contract shared by every command: ``dimuon-ad`` and its aliases.

Bad input or configuration (a :class:`dimuon_ad.errors.DimuonADError`) is one line
``<prog>: error: <message>`` on stderr and exit status 2; a bug (any other exception) is not
swallowed but propagates with its traceback.
"""

import subprocess
import sys
from pathlib import Path

import pytest

import run_analysis
import run_skim
from dimuon_ad import cli
from dimuon_ad._version import version, version_string
from dimuon_ad.errors import (
    EXIT_BAD_INPUT,
    ConfigError,
    ConfigKeyError,
    ConfigTypeError,
    DimuonADError,
    FitError,
    InputError,
    InputNotFoundError,
    InputOSError,
    command_failed,
    error_line,
)
from toymc import cli as toymc_cli

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------
# the hierarchy


@pytest.mark.parametrize(
    ("cls", "builtin"),
    [
        (ConfigError, ValueError),
        (ConfigTypeError, TypeError),
        (ConfigKeyError, KeyError),
        (InputError, ValueError),
        (InputNotFoundError, FileNotFoundError),
        (InputOSError, OSError),
        (FitError, ValueError),
    ],
)
def test_each_error_is_also_its_builtin_type(cls, builtin):
    err = cls("what was wrong; how to fix it")
    assert isinstance(err, DimuonADError) and isinstance(err, builtin)
    with pytest.raises(builtin, match="how to fix it"):
        raise err


def test_key_errors_are_not_quoted_and_the_line_is_one_line():
    assert str(ConfigKeyError("unknown key 'x'")) == "unknown key 'x'"
    assert error_line("prog", InputError("a\nb")) == "prog: error: a b"


def test_command_failed_one_line_exit_codes_and_verbose(capsys):
    assert command_failed("prog", InputError("no file x")) == EXIT_BAD_INPUT
    assert capsys.readouterr().err == "prog: error: no file x\n"
    assert command_failed("prog", KeyboardInterrupt(), interrupted="stopped; re-run") == 130
    assert capsys.readouterr().err == "prog: stopped; re-run\n"
    with pytest.raises(InputError, match="no file x"):
        command_failed("prog", InputError("no file x"), verbose=True)


def test_toolkit_errors_derive_from_the_base():
    from analysis.preflight import PreflightError
    from processors.checks import BadFileError, BranchTypeError
    from processors.inputs import MissingBranchError
    from processors.integrity import IncompleteSkimError
    from processors.lock import OutputLockedError
    from stats.binning import CoverageError

    for cls in (PreflightError, BadFileError, BranchTypeError, MissingBranchError,
                IncompleteSkimError, OutputLockedError, CoverageError):
        assert issubclass(cls, InputError), cls


# ------------------------------------------------------------------------------------------
# bad input: one line, exit 2, in every command


def _one_error_line(capsys, prog):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"{prog}: error: "), err
    return err[0]


def test_bad_input_is_one_line_and_exit_2_in_every_command(tmp_path, capsys):
    missing = str(tmp_path / "none.json")
    assert run_skim.main(["--fileset", missing, "--output-dir", str(tmp_path / "o")]) == 2
    assert "none.json not found" in _one_error_line(capsys, "run_skim.py")
    assert run_analysis.main(["--skim", str(tmp_path / "none"), "-q"]) == 2
    assert "skim" in _one_error_line(capsys, "run_analysis.py")
    assert toymc_cli.main(["--output", str(tmp_path / "x.txt"), "-q"]) == 2
    assert "should end in .root" in _one_error_line(capsys, "python -m toymc")
    assert cli.main(["skim", "--fileset", missing, "--output-dir", str(tmp_path / "o")]) == 2
    _one_error_line(capsys, "dimuon-ad skim")
    assert cli.main(["analyze", "--skim", str(tmp_path / "none"), "-q"]) == 2
    _one_error_line(capsys, "dimuon-ad analyse")
    assert cli.main(["generate", "--output", str(tmp_path / "x.txt"), "-q"]) == 2
    _one_error_line(capsys, "dimuon-ad generate")


def test_usage_errors_exit_2_in_every_command(tmp_path, capsys):
    assert run_skim.main(["--workers", "two"]) == EXIT_BAD_INPUT
    assert run_analysis.main(["--window", "atlantis"]) == EXIT_BAD_INPUT
    assert toymc_cli.main(["--output", str(tmp_path / "a.root"), "--seed", "x"]) == EXIT_BAD_INPUT
    assert cli.main(["frobnicate"]) == EXIT_BAD_INPUT
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert cli.main([]) == EXIT_BAD_INPUT


# ------------------------------------------------------------------------------------------
# a bug is not swallowed


def _bug(*args, **kwargs):
    raise RuntimeError("a bug, not bad input")


def test_a_bug_keeps_its_traceback_in_run_skim(monkeypatch, tmp_path):
    import processors.fileset

    monkeypatch.setattr(processors.fileset, "load_fileset", _bug)
    with pytest.raises(RuntimeError, match="a bug"):
        run_skim.main(["--output-dir", str(tmp_path / "o"), "--no-progress"])
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["skim", "--output-dir", str(tmp_path / "o"), "--no-progress"])


def test_a_bug_keeps_its_traceback_in_run_analysis(monkeypatch, tmp_path):
    import analysis.data

    monkeypatch.setattr(analysis.data, "find_skim", _bug)
    with pytest.raises(RuntimeError, match="a bug"):
        run_analysis.main(["--skim", str(tmp_path), "-q"])


def test_a_bug_keeps_its_traceback_in_toymc(monkeypatch, tmp_path):
    monkeypatch.setattr(toymc_cli, "write_nanoaod", _bug)
    with pytest.raises(RuntimeError, match="a bug"):
        toymc_cli.main(["--output", str(tmp_path / "a.root"), "-q"])
    with pytest.raises(RuntimeError, match="a bug"):
        cli.main(["generate", "--output", str(tmp_path / "a.root"), "-q"])


def test_an_unwritable_output_is_bad_input_in_toymc(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert toymc_cli.main(["--output", str(blocker / "a.root"), "-q", "--n-events", "10"]) == 2
    assert "cannot write --output" in _one_error_line(capsys, "python -m toymc")


# ------------------------------------------------------------------------------------------
# dimuon-ad


def test_version_names_the_package_and_the_commit(capsys):
    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out.strip()
    assert out == version_string() and out.startswith(f"dimuon-ad {version()}")
    if (REPO / ".git").exists():
        assert "(git " in out


def test_help_lists_the_commands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in ("generate", "skim", "analyse", "analyze"))
    assert cli.main(["skim", "--help"]) == 0
    assert "usage: dimuon-ad skim" in capsys.readouterr().out


def test_python_dash_m_runs_the_command():
    proc = subprocess.run(
        [sys.executable, "-m", "dimuon_ad", "--version"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0 and proc.stdout.startswith("dimuon-ad "), proc.stderr


def test_unknown_estimator_arguments_are_bad_configuration(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("flow: {params: {n_blockz: 3}}\nclassifier: {params: {max_dept: 2}}\n")
    assert run_analysis.main(["--config", str(bad), "--skim", str(tmp_path), "-q"]) == 2
    line = _one_error_line(capsys, "run_analysis.py")
    assert "unknown ConditionalFlow argument 'n_blockz' in flow.params" in line
    assert "did you mean 'max_depth'" in line


def test_verbose_shows_the_traceback_of_bad_input(tmp_path):
    missing = str(tmp_path / "none.json")
    with pytest.raises(InputNotFoundError, match="none.json not found"):
        run_skim.main(["--fileset", missing, "--output-dir", str(tmp_path / "o"), "-v"])
    with pytest.raises(InputNotFoundError, match="not found"):
        run_analysis.main(["--skim", str(tmp_path / "none"), "-v"])
    with pytest.raises(ConfigError, match="should end in .root"):
        toymc_cli.main(["--output", str(tmp_path / "x.txt"), "-v"])
