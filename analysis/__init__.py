"""The analysis behind ``run_analysis.py``: skim → CATHODE → significances → report.

Submodules (imported on demand, so ``import analysis`` stays cheap):

- :mod:`analysis.presets` -- named mass windows (GeV) and run profiles (fast/default/published).
- :mod:`analysis.config` -- frozen configuration dataclasses; :mod:`analysis.config_yaml` builds
  them from a profile and a YAML file with one-line validation errors.
- :mod:`analysis.data` -- reading the parquet skim, analysis cuts, OS/SS and band split.
- :mod:`analysis.stages` -- the compute steps (preprocessing, flows, closure, template, folds,
  truth references) as functions of arrays.
- :mod:`analysis.cache` -- the content-addressed stage cache.
- :mod:`analysis.parallel` -- running flow seeds and folds locally or on Dask.
- :mod:`analysis.significance` -- Z of every method via :mod:`stats`, fit curves for plots.
- :mod:`analysis.pipeline` -- the chain with caching (:func:`analysis.pipeline.run_pipeline`).
- :mod:`analysis.plots`, :mod:`analysis.report` -- figures (mplhep) and report.html/.md/.json.

References
----------
CMS Open Data dimuon anomaly search, arXiv:2502.14036; CATHODE, arXiv:2109.00546.
"""

__all__ = [
    "cache", "config", "config_yaml", "data", "parallel", "pipeline", "plots", "presets",
    "report", "significance", "stages",
]
