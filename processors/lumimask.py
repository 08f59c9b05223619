"""Certified-luminosity ("golden JSON") mask for collision data.

The golden JSON maps a run number to inclusive ranges of certified luminosity sections,
``{"281613": [[1, 89], [91, 200]], ...}`` (e.g.
``Cert_271036-284044_13TeV_Legacy2016_Collisions16_JSON.txt``,
CERN Open Data record 14220). The mask is a pure numpy lookup (sorted ranges + searchsorted), so it
pickles cheaply to Dask workers; ``coffea.lumi_tools.LumiMask`` does the same with numba.
"""

from __future__ import annotations

import hashlib
import json
import logging
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from dimuon_ad.errors import InputError, InputNotFoundError, InputOSError

log = logging.getLogger(__name__)


class LumiMask:
    """Boolean mask of (run, luminosityBlock) pairs certified in a golden JSON.

    Parameters
    ----------
    ranges : dict
        ``{run: [[first_lumi, last_lumi], ...]}`` with inclusive ranges (keys may be str or int).
    source : str
        Where the ranges came from (path or URL), for messages.

    Raises
    ------
    ValueError
        The ranges are not a mapping of run numbers to ``[first, last]`` pairs.
    """

    def __init__(self, ranges: dict, source: str = "<dict>") -> None:
        self.source = source
        if not isinstance(ranges, dict):
            raise InputError(
                f"golden JSON {source} must map run numbers to [[first, last], ...] lumi ranges, "
                f"got {type(ranges).__name__}"
            )
        lows, highs = [], []
        for run, pairs in ranges.items():
            try:
                run_number = int(run)
                for first, last in pairs:
                    lows.append((run_number << 32) | int(first))
                    highs.append((run_number << 32) | int(last))
            except (TypeError, ValueError):
                raise InputError(
                    f"golden JSON {source}: run {run!r} has {pairs!r}; "
                    "expected [[first, last], ...] "
                    "lumi section ranges"
                ) from None
        order = np.argsort(np.asarray(lows, dtype=np.int64), kind="stable")
        self._low = np.asarray(lows, dtype=np.int64)[order]
        self._high = np.asarray(highs, dtype=np.int64)[order]
        canonical = json.dumps(
            sorted(zip(self._low.tolist(), self._high.tolist(), strict=True)), separators=(",", ":")
        )
        self.digest = hashlib.sha1(canonical.encode()).hexdigest()[:12]

    @classmethod
    def from_source(cls, source: str | Path) -> LumiMask:
        """Load a golden JSON from a local path or an http(s) URL.

        Raises
        ------
        FileNotFoundError
            The local file does not exist.
        OSError
            The URL cannot be fetched (the message suggests downloading it and passing the path).
        ValueError
            The content is not valid golden-JSON.
        """
        text_source = str(source)
        if text_source.startswith(("http://", "https://")):
            from processors.remote import remote_timeout

            try:
                with urllib.request.urlopen(text_source, timeout=remote_timeout()) as response:
                    text = response.read().decode()
            except OSError as exc:
                if isinstance(exc, urllib.error.HTTPError):
                    exc.close()  # the error response holds the connection
                raise InputOSError(
                    f"cannot fetch golden JSON {text_source} ({exc}); download it and pass the "
                    "local path with --lumi-mask PATH"
                ) from None
        else:
            path = Path(text_source)
            if not path.is_file():
                raise InputNotFoundError(
                    f"golden JSON {path} not found; expected a certified-lumi JSON file "
                    "(path or http(s) URL)"
                )
            text = path.read_text()
        try:
            ranges = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"golden JSON {text_source} is not valid JSON: {exc}") from None
        return cls(ranges, source=text_source)

    def __call__(self, run, lumi) -> np.ndarray:
        """True for events whose (run, luminosityBlock) is certified.

        Parameters
        ----------
        run, lumi : array_like of int
            Run numbers and luminosity-section numbers, one per event.

        Returns
        -------
        numpy.ndarray of bool
        """
        key = (np.asarray(run, dtype=np.int64) << 32) | np.asarray(lumi, dtype=np.int64)
        if len(self._low) == 0:
            return np.zeros(key.shape, dtype=bool)
        pos = np.searchsorted(self._low, key, side="right") - 1
        inside = pos >= 0
        pos = np.maximum(pos, 0)
        return inside & (key <= self._high[pos])

    def __repr__(self) -> str:
        return f"LumiMask(source={self.source!r}, n_ranges={len(self._low)})"
