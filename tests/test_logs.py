"""dimuon_ad.logs: one log format for every command; repeated warnings collapsed with a count."""

from __future__ import annotations

import logging

from dimuon_ad.logs import LOG_FORMAT, CollapseRepeats, configure_logging


def test_repeated_warnings_are_collapsed_with_a_count(capsys):
    collapse = configure_logging()
    try:
        log = logging.getLogger("dimuon_ad.test")
        for i in range(5):
            log.warning("fit %d failed: too few events", i)
        log.warning("another warning")
        log.info("info is never collapsed")
        log.info("info is never collapsed")
        collapse.flush(log)
        err = capsys.readouterr().err.splitlines()
    finally:
        root = logging.getLogger()
        for h in [h for h in root.handlers if getattr(h, "_dimuon_ad", False)]:
            root.removeHandler(h)
    assert sum("fit 0 failed" in line for line in err) == 1
    assert not any("fit 1 failed" in line for line in err)
    assert sum("info is never collapsed" in line for line in err) == 2
    assert any("repeated 4 more time(s)" in line and "fit %d failed" in line for line in err)
    # one format: "HH:MM:SS LEVEL name: message"
    assert err[0].split(" ", 2)[1:] == ["WARNING", "dimuon_ad.test: fit 0 failed: too few events"]


def test_collapse_filter_counts_by_template():
    f = CollapseRepeats()
    rec = [logging.LogRecord("x", logging.WARNING, "", 0, "m %s", (i,), None) for i in range(3)]
    assert [f.filter(r) for r in rec] == [True, False, False]
    assert f.summary_lines() == ["WARNING x: the message above ('m %s') was repeated 2 more "
                                 "time(s)"]
    assert "%(asctime)s" in LOG_FORMAT
