"""Stage cache: fingerprints, hits/misses, atomic entries and resumption."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.cache import StageCache, fingerprint
from analysis.config import AnalysisConfig


def test_fingerprint_is_content_based():
    a = np.arange(10.0)
    assert fingerprint(a, {"x": 1, "y": 2.0}) == fingerprint(a.copy(), {"y": 2.0, "x": 1})
    assert fingerprint(a) != fingerprint(a.astype(np.float32))
    assert fingerprint(a) != fingerprint(a[::-1])
    assert fingerprint(1) != fingerprint(1.0) != fingerprint("1")
    assert fingerprint(0.1) != fingerprint(0.1 + 1e-16 * 2)
    assert fingerprint(AnalysisConfig()) == fingerprint(AnalysisConfig())
    with pytest.raises(TypeError, match="cannot fingerprint object"):
        fingerprint(object())


def test_get_or_compute_hits_after_first_call(tmp_path):
    cache = StageCache(tmp_path / "cache")
    calls = []

    def compute():
        calls.append(1)
        return {"scores": np.arange(3)}

    key = fingerprint("flow", 1)
    first = cache.get_or_compute("flow", key, compute, describe={"seed": 1})
    again = StageCache(tmp_path / "cache").get_or_compute("flow", key, compute)
    np.testing.assert_array_equal(first["scores"], again["scores"])
    assert len(calls) == 1
    assert (cache.path("flow", key) / "meta.json").is_file()
    assert cache.summary()["flow"]["computed"] == 1


def test_interrupted_stage_leaves_no_entry_and_is_redone(tmp_path):
    cache = StageCache(tmp_path)
    key = fingerprint("x")

    def broken():
        raise KeyboardInterrupt

    def save(value, directory):
        (directory / "part").write_text("half")
        raise KeyboardInterrupt  # interrupted while writing

    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("stage", key, broken)
    with pytest.raises(KeyboardInterrupt):
        cache.get_or_compute("stage", key, lambda: 1, save=save)
    assert not cache.has("stage", key)
    assert list((tmp_path / "stage").iterdir()) == []  # no temporary left behind
    assert cache.get_or_compute("stage", key, lambda: 42) == 42
    assert StageCache(tmp_path).get_or_compute("stage", key, lambda: 0) == 42


def test_corrupt_entry_is_recomputed(tmp_path, caplog):
    cache = StageCache(tmp_path)
    key = fingerprint("y")
    cache.get_or_compute("s", key, lambda: 1)
    (cache.path("s", key) / "value.pkl").write_bytes(b"garbage")
    assert StageCache(tmp_path).get_or_compute("s", key, lambda: 2) == 2
    assert "unreadable" in caplog.text


def test_disabled_cache_always_computes(tmp_path):
    cache = StageCache(tmp_path, enabled=False)
    values = iter([1, 2])
    assert cache.get_or_compute("s", "k", lambda: next(values)) == 1
    assert cache.get_or_compute("s", "k", lambda: next(values)) == 2
    assert not (tmp_path / "s").exists()




def test_fingerprint_of_estimators_is_their_class_and_parameters():
    from ml.classifiers import XGBEnsembleClassifier
    from ml.mass import KDEMassSampler

    assert fingerprint(KDEMassSampler(low=9.0)) == fingerprint(KDEMassSampler(low=9.0))
    assert fingerprint(KDEMassSampler(low=9.0)) != fingerprint(KDEMassSampler(low=9.1))
    assert fingerprint(XGBEnsembleClassifier(n_models=2)) != fingerprint(
        XGBEnsembleClassifier(n_models=3))
