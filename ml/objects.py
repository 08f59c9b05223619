"""Streaming loader from the skim's object lists to padded, masked arrays for per-object networks.

A skim written with ``objects: true`` (``run_skim.py --objects``, :mod:`processors.objects`) holds
every muon and jet of an event as list columns (``muon_pt``, ``jet_btagDeepFlavB``, ...). This
module reads them batch by batch with pyarrow (memory: the output array plus one batch) and lays
each event out as a fixed-size set of objects::

    X[event, object, feature]        float32, shape (n_events, n_objects, n_features)

- objects: the first ``max_objects["muon"]`` muons, then the first ``max_objects["jet"]`` jets
  (NanoAOD order, i.e. by decreasing pT); further objects are dropped, missing ones are padding;
- features: ``is_muon``, ``is_jet`` (one-hot type), then :attr:`ObjectLayout.features` in that
  order; a feature the type does not have (``btagDeepFlavB`` of a muon) is 0;
- scaling: per feature a fixed transform (``log1p`` for momenta and masses by default); the
  classifier standardizes the transformed features itself (:class:`ml.pfn.PFNClassifier`);
- mask: padding rows are all zero; every real object has a non-zero type flag, so
  ``mask = (X != 0).any(axis=-1)`` (the convention of :class:`ml.pfn.PFNClassifier`).

Units as in the skim: GeV, cm.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
from tqdm.auto import tqdm

from dimuon_ad.errors import ConfigError, InputError, InputNotFoundError
from processors.objects import OBJECT_COLUMNS, OBJECT_FIELDS

log = logging.getLogger(__name__)

__all__ = ["EVENT_ID_COLUMNS", "ObjectLayout", "iter_object_batches", "load_objects"]

#: the event ids that order the events canonically (as :mod:`analysis.data` does)
EVENT_ID_COLUMNS = ("run", "luminosityBlock", "event")
#: object types in their order inside an event: column prefix of :mod:`processors.objects`
OBJECT_TYPES: tuple[str, ...] = tuple(prefix for prefix, _ in OBJECT_FIELDS.values())
TRANSFORMS = ("identity", "log1p", "abs_log1p")


@dataclass(frozen=True)
class ObjectLayout:
    """How the object lists of one event become rows of a padded array.

    Parameters
    ----------
    max_objects : mapping of str to int
        Objects kept per type (``"muon"``, ``"jet"``), leading ones first; 0 leaves a type out.
    features : sequence of str
        Object fields (column suffixes of :mod:`processors.objects`: ``pt``, ``eta``, ``phi``,
        ``mass``, ``charge``, ``tightId``, ``iso04``, ``ip3d``, ``sip3d``, ``dxy``, ``dz``,
        ``btagDeepFlavB``, ...), in the order of the feature axis after the two type flags.
    transforms : mapping of str to str
        Feature → ``"identity"``, ``"log1p"`` (pT and mass in GeV: ``log(1 + x)``) or
        ``"abs_log1p"`` (``log(1 + |x|)``, e.g. impact parameters in cm); unlisted features stay
        as they are.
    drop : mapping of str to sequence of str
        Features left at 0 for one type, e.g. ``{"muon": ("pt", "eta", "phi", "mass")}``: with
        the muon four-vectors a network can rebuild the dimuon mass, which a classifier between
        mass bins or between signal region and sidebands must not see.
    """

    max_objects: Mapping[str, int] = field(default_factory=lambda: {"muon": 3, "jet": 6})
    features: tuple[str, ...] = (
        "pt", "eta", "phi", "mass", "charge", "tightId", "iso04", "ip3d", "sip3d", "dxy", "dz",
        "btagDeepFlavB",
    )
    transforms: Mapping[str, str] = field(
        default_factory=lambda: {"pt": "log1p", "mass": "log1p", "sip3d": "log1p"}
    )
    drop: Mapping[str, Sequence[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "max_objects", dict(self.max_objects))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "transforms", dict(self.transforms))
        object.__setattr__(self, "drop", {k: tuple(v) for k, v in self.drop.items()})
        for otype, feats in self.drop.items():
            if otype not in OBJECT_TYPES or not set(feats) <= set(self.features):
                raise ConfigError(
                    f"drop={{{otype!r}: {list(feats)}}} names an unknown type or a feature not in "
                    f"features; expected a type of {list(OBJECT_TYPES)} and some of "
                    f"{list(self.features)}"
                )
        unknown = sorted(set(self.max_objects) - set(OBJECT_TYPES))
        if unknown:
            raise ConfigError(
                f"max_objects has unknown object type(s) {unknown}; expected {list(OBJECT_TYPES)}"
            )
        for name, n in self.max_objects.items():
            if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 0:
                raise ConfigError(f"max_objects[{name!r}]={n!r}; expected an int >= 0")
        if self.n_objects == 0:
            raise ConfigError("max_objects keeps no object; give at least one type a count > 0")
        known = {c.split("_", 1)[1] for c in OBJECT_COLUMNS}
        for feat in self.features:
            if feat not in known:
                raise ConfigError(
                    f"unknown object feature {feat!r}; expected some of {sorted(known)}"
                )
        if len(set(self.features)) != len(self.features):
            raise ConfigError(f"features {list(self.features)} repeat a name")
        for feat, how in self.transforms.items():
            if how not in TRANSFORMS:
                raise ConfigError(
                    f"transform {how!r} of feature {feat!r}; expected one of {list(TRANSFORMS)}"
                )

    @property
    def n_objects(self) -> int:
        """Object rows per event (the padded length)."""
        return sum(self.max_objects.get(t, 0) for t in OBJECT_TYPES)

    @property
    def feature_names(self) -> tuple[str, ...]:
        """Names along the feature axis: the type flags, then :attr:`features`."""
        return (*(f"is_{t}" for t in OBJECT_TYPES), *self.features)

    def columns(self) -> list[str]:
        """Skim list columns this layout reads."""
        return [
            f"{t}_{feat}"
            for t in OBJECT_TYPES
            if self.max_objects.get(t, 0) > 0
            for feat in self.features
            if f"{t}_{feat}" in OBJECT_COLUMNS and feat not in self.drop.get(t, ())
        ]


def _dataset(path: str | Path) -> pads.Dataset:
    path = Path(path)
    if (path / "skim").is_dir():  # a run_skim.py --output-dir
        path = path / "skim"
    if not path.exists():
        raise InputNotFoundError(f"skim {path} not found; expected the output of run_skim.py")
    return pads.dataset(
        path, format="parquet", partitioning="hive", exclude_invalid_files=False,
        ignore_prefixes=[".", "_"],
    )


def _check_schema(names: Sequence[str], layout: ObjectLayout, extra: Sequence[str], where):
    have = set(names)
    if not have & set(OBJECT_COLUMNS):
        raise InputError(
            f"skim {where} has no object list columns (muon_pt, jet_pt, ...); re-skim it with "
            "`run_skim.py --objects` (or objects: true in the skim YAML)"
        )
    for col in layout.columns():
        if col not in have:
            raise InputError(
                f"skim {where} lacks object column {col!r}; drop feature "
                f"{col.split('_', 1)[1]!r} from the layout or re-skim with --objects from files "
                "that have it"
            )
    for col in extra:
        if col not in have:
            raise InputError(f"skim {where} lacks column {col!r} asked for in columns=")


def _transform(values: np.ndarray, how: str) -> np.ndarray:
    if how == "log1p":
        return np.log1p(np.maximum(values, 0.0))
    if how == "abs_log1p":
        return np.log1p(np.abs(values))
    return values


def pad_batch(batch: pa.RecordBatch | pa.Table, layout: ObjectLayout) -> np.ndarray:
    """Padded float32 array (n_events, n_objects, n_features) of one batch (layout above)."""
    n = batch.num_rows
    X = np.zeros((n, layout.n_objects, len(layout.feature_names)), dtype=np.float32)
    start = 0
    for t_index, otype in enumerate(OBJECT_TYPES):
        k = layout.max_objects.get(otype, 0)
        if k == 0:
            continue
        lists = batch.column(f"{otype}_pt")  # the lists' structure (every type has pt)
        lists = lists.combine_chunks() if isinstance(lists, pa.ChunkedArray) else lists
        if lists.null_count:
            raise InputError(f"object column {otype}_* holds {lists.null_count} null lists")
        offsets = np.asarray(lists.offsets, dtype=np.int64)
        counts = np.diff(offsets)
        event = np.repeat(np.arange(n), counts)
        slot = np.arange(len(event)) - np.repeat(offsets[:-1] - offsets[0], counts)
        keep = slot < k
        rows, slots = event[keep], start + slot[keep]
        X[rows, slots, t_index] = 1.0
        for f_index, feat in enumerate(layout.features, start=len(OBJECT_TYPES)):
            name = f"{otype}_{feat}"
            if name not in OBJECT_COLUMNS or feat in layout.drop.get(otype, ()):
                continue  # the type has no such field, or it is dropped: stays 0
            col = batch.column(name)
            col = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
            values = np.asarray(col.flatten().to_numpy(zero_copy_only=False), dtype=np.float64)
            if len(values) != len(event):
                raise InputError(
                    f"object column {name} has {len(values)} entries, {otype}_pt has "
                    f"{len(event)}: the skim part is inconsistent; re-skim it"
                )
            how = layout.transforms.get(feat, "identity")
            X[rows, slots, f_index] = _transform(values[keep], how)
        start += k
    return X


def iter_object_batches(
    path: str | Path,
    layout: ObjectLayout | None = None,
    *,
    columns: Sequence[str] = (),
    filter: pc.Expression | None = None,  # noqa: A002 - pyarrow's name
    batch_size: int = 65_536,
) -> Iterator[tuple[np.ndarray, dict[str, np.ndarray]]]:
    """Yield ``(X, flat)`` per batch of a skim: padded objects and the asked flat columns.

    Parameters
    ----------
    path : path-like
        A ``run_skim.py --output-dir``, its ``skim/`` folder, one ``dataset=<name>`` folder or
        one parquet part.
    layout : ObjectLayout, optional
        Objects, features and transforms (default :class:`ObjectLayout`).
    columns : sequence of str
        Flat skim columns returned beside ``X`` (e.g. ``dimu_mass``, ``truth_process``, the
        event ids; ``dataset`` is the hive partition).
    filter : pyarrow.compute.Expression, optional
        Row selection evaluated by pyarrow, e.g.
        ``(pc.field("dimu_mass") > 9) & (pc.field("dimu_mass") < 10.6)``.
    batch_size : int
        Rows per batch read (memory: one batch of list columns at a time).

    Yields
    ------
    X : ndarray of float32, shape (n_batch, layout.n_objects, len(layout.feature_names))
    flat : dict of str to ndarray, shape (n_batch,)
    """
    layout = layout if layout is not None else ObjectLayout()
    if int(batch_size) < 1:
        raise ConfigError(f"batch_size={batch_size}; expected an int >= 1")
    data = _dataset(path)
    _check_schema(data.schema.names, layout, columns, path)
    needed = list(dict.fromkeys([*layout.columns(), *(
        f"{t}_pt" for t in OBJECT_TYPES if layout.max_objects.get(t, 0) > 0), *columns]))
    scanner = data.scanner(columns=needed, filter=filter, batch_size=int(batch_size))
    for batch in scanner.to_batches():
        if batch.num_rows == 0:
            continue
        flat = {c: batch.column(c).to_numpy(zero_copy_only=False) for c in columns}
        yield pad_batch(batch, layout), flat


def load_objects(
    path: str | Path,
    layout: ObjectLayout | None = None,
    *,
    columns: Sequence[str] = (),
    filter: pc.Expression | None = None,  # noqa: A002 - pyarrow's name
    batch_size: int = 65_536,
    sort_by_event: bool = False,
    progress: bool = False,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """All selected events of a skim as one padded array (filled batch by batch).

    Parameters
    ----------
    path, layout, columns, filter, batch_size
        As in :func:`iter_object_batches`.
    sort_by_event : bool
        Order the events by (run, luminosityBlock, event), the canonical order of
        :mod:`analysis.data`, so rows line up with the analysis' high-level features.
    progress : bool
        Progress bar over events (stderr).

    Returns
    -------
    X : ndarray of float32, shape (n_events, layout.n_objects, len(layout.feature_names))
    flat : dict of str to ndarray
        The asked ``columns`` (and the event ids when ``sort_by_event``).
    """
    layout = layout if layout is not None else ObjectLayout()
    data = _dataset(path)
    want = list(columns)
    if sort_by_event:
        missing = [c for c in EVENT_ID_COLUMNS if c not in data.schema.names]
        if missing:
            raise InputError(f"skim {path} lacks event id column(s) {missing}; sort_by_event "
                             "needs run, luminosityBlock and event")
        want = list(dict.fromkeys([*want, *EVENT_ID_COLUMNS]))
    _check_schema(data.schema.names, layout, want, path)
    n = data.count_rows(filter=filter)
    X = np.zeros((n, layout.n_objects, len(layout.feature_names)), dtype=np.float32)
    parts: dict[str, list[np.ndarray]] = {c: [] for c in want}
    start = 0
    with tqdm(total=n, unit="ev", unit_scale=True, desc="objects", file=sys.stderr,
              disable=not progress, leave=False) as bar:
        for xb, flat in iter_object_batches(path, layout, columns=want, filter=filter,
                                            batch_size=batch_size):
            X[start : start + len(xb)] = xb
            for c in want:
                parts[c].append(flat[c])
            start += len(xb)
            bar.update(len(xb))
    if start != n:
        raise InputError(f"skim {path} changed while it was read ({start} of {n} rows); "
                         "read it again once its skim has finished")
    flat = {c: np.concatenate(v) if v else np.zeros(0) for c, v in parts.items()}
    if sort_by_event and n:
        order = np.lexsort([flat[c] for c in reversed(EVENT_ID_COLUMNS)])
        X = X[order]
        flat = {c: v[order] for c, v in flat.items()}
    log.info("loaded %d events x %d objects x %d features from %s", n, layout.n_objects,
             len(layout.feature_names), path)
    return X, flat
