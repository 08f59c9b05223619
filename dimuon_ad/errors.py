"""The toolkit's exception hierarchy and the command-line exit codes.

Every error that means "the user gave us something wrong" derives from :class:`DimuonADError`,
so the command-line tools (``dimuon-ad``, ``run_skim.py``, ``run_analysis.py``, ``python -m
toymc``) catch exactly these, print one line ``<prog>: error: <message>`` and exit with
:data:`EXIT_BAD_INPUT`; any other exception is a bug and keeps its traceback. Each class also
derives from the built-in type that the code raised before (``ValueError``, ``TypeError``,
``KeyError``, ``FileNotFoundError``, ``OSError``), so ``except ValueError``
and ``pytest.raises(ValueError)`` keep working::

    DimuonADError
    ├── ConfigError (ValueError)               a setting, preset, YAML file or flag value
    │   ├── ConfigTypeError (TypeError)        a setting of the wrong type
    │   └── ConfigKeyError (KeyError)          an unknown key, preset, column or name
    ├── InputError (ValueError)                input files, filesets, skims, output directories
    │   ├── InputNotFoundError (FileNotFoundError)
    │   └── InputOSError (OSError)             a path that cannot be read, written or locked
    └── FitError (ValueError)                  a fit that cannot be done on the data given

Packages add their own subclasses next to the code that raises them:
``processors.checks.BadFileError`` (``InputError``, ``OSError``),
``processors.inputs.MissingBranchError`` (``InputError``, ``KeyError``),
``processors.integrity.IncompleteSkimError``, ``processors.lock.OutputLockedError`` and
``analysis.preflight.PreflightError``, ``stats.binning.CoverageError`` (all ``InputError``).

This module imports nothing from the toolkit, so every package can import it without cycles.
"""

from __future__ import annotations

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_INTERRUPTED",
    "ConfigError",
    "ConfigKeyError",
    "ConfigTypeError",
    "DimuonADError",
    "FitError",
    "InputError",
    "InputNotFoundError",
    "InputOSError",
    "error_line",
]

#: exit status of every command for bad input or configuration (as argparse uses for bad usage)
EXIT_BAD_INPUT = 2
#: exit status after Ctrl-C or SIGTERM (128 + SIGINT)
EXIT_INTERRUPTED = 130


class DimuonADError(Exception):
    """Base of the toolkit's errors: bad input or configuration, reported in one line.

    The message says what was wrong, the value, what was expected and how to fix it.
    """

    def __str__(self) -> str:
        # one argument is the message, also for KeyError subclasses (whose str() quotes it)
        if len(self.args) == 1:
            return str(self.args[0])
        return super().__str__()


class ConfigError(DimuonADError, ValueError):
    """A bad setting: an unknown key or preset, a value out of range, an invalid YAML file or
    command-line value."""


class ConfigTypeError(ConfigError, TypeError):
    """A setting of the wrong type (a string where a number is expected, ...)."""


class ConfigKeyError(ConfigError, KeyError):
    """An unknown setting, preset, column or name (the message lists the known ones)."""


class InputError(DimuonADError, ValueError):
    """Bad input data: a fileset, a ROOT file, a skim, an output directory."""


class InputNotFoundError(InputError, FileNotFoundError):
    """An input file or directory that does not exist."""


class InputOSError(InputError, OSError):
    """An input or output path that cannot be read, fetched, written or locked."""


class FitError(DimuonADError, ValueError):
    """A fit that cannot be done on the data given (empty or too sparse sidebands, no
    convergence); a ValueError like the data problems that cause it."""


def error_line(prog: str, err: BaseException) -> str:
    """The one line a command prints for ``err``: ``<prog>: error: <message>``."""
    message = " ".join(str(err).split("\n")).strip() or type(err).__name__
    return f"{prog}: error: {message}"


def command_failed(prog: str, err: BaseException, *, verbose: bool = False,
                   interrupted: str = "interrupted; re-run the command") -> int:
    """A command's exit for an error it caught: Ctrl-C prints ``<prog>: <interrupted>`` and gives
    :data:`EXIT_INTERRUPTED`; a :class:`DimuonADError` prints :func:`error_line` and gives
    :data:`EXIT_BAD_INPUT`, or is raised again with its traceback when ``verbose``."""
    import sys

    if isinstance(err, KeyboardInterrupt):
        sys.stderr.write(f"{prog}: {interrupted}\n")
        return EXIT_INTERRUPTED
    if verbose:
        raise err
    sys.stderr.write(error_line(prog, err) + "\n")
    return EXIT_BAD_INPUT
