"""The toolkit's version: the installed distribution's, plus the git commit in a checkout."""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path

__all__ = ["git_commit", "version", "version_string"]

DISTRIBUTION = "dimuon-ad"
_ROOT = Path(__file__).resolve().parent.parent


def version() -> str:
    """The installed version of ``dimuon-ad`` (``0+unknown`` when it is not installed)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "0+unknown"


def git_commit(root: Path = _ROOT) -> str | None:
    """The short commit of the checkout holding this package (``+dirty`` with local changes);
    None outside a git checkout (an installed wheel) or without git."""
    if not (root / ".git").exists():
        return None
    try:
        run = dict(cwd=root, capture_output=True, text=True, timeout=5, check=True)
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], **run).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], **run)
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty.stdout.strip() else "") if commit else None


def version_string() -> str:
    """``dimuon-ad 0.1.0`` or, from a checkout, ``dimuon-ad 0.1.0 (git 945b0c9)``."""
    commit = git_commit()
    return f"{DISTRIBUTION} {version()}" + (f" (git {commit})" if commit else "")
