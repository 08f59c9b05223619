"""Check and convert one configuration value against a dataclass field's type annotation.

The one coercer behind every settings file and flag: the skim settings
(:func:`processors.config.make_config`: ``--set KEY=VALUE``, ``--config cuts.yaml``) and the
analysis configuration (:mod:`analysis.config_yaml`). A value is converted to the field's type
(an integer to ``float``, a list to ``tuple``) or rejected with one line that names where it came
from and the key, in one wording::

    analysis.yaml: flow.n_seeds = 'five' is not an integer
    --set: mu0_pt_min = nan is not a finite number; give a finite value (null where the setting
    allows no cut)

Non-finite floats (nan, inf) are always rejected. With ``text=True`` strings are parsed as a
command line gives them: numbers, ``true``/``false``, ``null`` and comma-separated lists.
"""

from __future__ import annotations

import math
import numbers
import types
import typing
from typing import Any

from dimuon_ad.errors import ConfigError, ConfigTypeError

__all__ = ["coerce"]

_NULL = ("null", "none", "~", "")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def _is_null_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in _NULL


def _not_a(value: Any, what: str, key: str, source: str) -> ConfigTypeError:
    return ConfigTypeError(f"{source}: {key} = {value!r} is not {what}")


def coerce(value: Any, hint: Any, key: str, source: str, *, text: bool = False) -> Any:
    """``value`` checked against the annotation ``hint`` and converted to it.

    Parameters
    ----------
    value : object
        The value as read (YAML scalar or list, or a command-line string).
    hint : type annotation
        ``bool``, ``int``, ``float``, ``str``, ``X | None`` or ``tuple[X, ...]``; other
        annotations pass the value through unchanged.
    key : str
        Name of the setting in messages (``flow.n_seeds``, ``cuts.ranges.dimu_eta[0]``).
    source : str
        Where the value came from, first in messages (a file name, ``--set``).
    text : bool
        Also parse strings: ``"17"`` → 17.0, ``"true"`` → True, ``"null"`` → None (or an empty
        tuple), ``"a,b"`` → ("a", "b").

    Returns
    -------
    object
        The converted value.

    Raises
    ------
    dimuon_ad.errors.ConfigTypeError
        The value is not of the annotated type (also a TypeError and a ValueError).
    dimuon_ad.errors.ConfigError
        A float that is nan or infinite.
    """
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and (value is None or (text and _is_null_text(value))):
            return None
        inner = next(a for a in args if a is not type(None))
        return coerce(value, inner, key, source, text=text)
    if text and isinstance(value, str):
        value = _parse_text(value.strip(), hint, key, source)
    if hint is bool:
        if not isinstance(value, bool):
            raise _not_a(value, "a boolean; use true or false", key, source)
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise _not_a(value, "an integer", key, source)
        return int(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise _not_a(value, "a number", key, source)
        if not math.isfinite(value):
            raise ConfigError(
                f"{source}: {key} = {value!r} is not a finite number; give a finite value (null "
                "where the setting allows no cut)"
            )
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise _not_a(value, "a string", key, source)
        return value
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        if text and value is None:
            return ()
        if not isinstance(value, (list, tuple)):
            raise _not_a(value, "a list", key, source)
        return tuple(
            coerce(v, args[0], f"{key}[{i}]", source, text=text) for i, v in enumerate(value)
        )
    return value


def _parse_text(text: str, hint: Any, key: str, source: str) -> Any:
    """A command-line string as the value of a field annotated ``hint`` (else left as it is)."""
    lowered = text.lower()
    if hint is bool and lowered in _TRUE + _FALSE:
        return lowered in _TRUE
    if hint in (int, float):
        try:
            return hint(text)
        except ValueError:
            what = "an integer" if hint is int else "a number"
            raise _not_a(text, what, key, source) from None
    if typing.get_origin(hint) is tuple:
        return [] if lowered in _NULL else [t.strip() for t in text.split(",") if t.strip()]
    return text
