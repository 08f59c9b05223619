"""Machine-learning estimators for resonant anomaly detection (CATHODE-style chain).

Submodules are imported on demand (``from ml.flows import ConditionalFlow``); this package
imports none of them eagerly, so importing :mod:`ml` stays cheap and free of torch/pyro start-up.

- :mod:`ml.preprocessing` -- logit and mass scalers, and a pipeline that tracks log-Jacobians.
- :mod:`ml.flows` -- conditional masked autoregressive flow on Pyro (``ConditionalFlow``).
- :mod:`ml.mass` -- samplers of the dimuon mass for the signal-region background template.
- :mod:`ml.classifiers` -- XGBoost ensembles and a torch MLP classifier.
- :mod:`ml.kfold` -- k-fold out-of-fold scoring.
- :mod:`ml.cathode` -- the CATHODE and LaCATHODE chains.
- :mod:`ml.diagnostics` -- sideband closure, ROC and SIC curves.
- :mod:`ml.cluster_scan` -- cluster scanning (k-means ensembles, sliding-window scan, null).

References
----------
A. Hallin et al., "Classifying anomalies through outer density estimation", arXiv:2109.00546.
"""

__all__ = [
    "preprocessing", "flows", "mass", "classifiers", "kfold", "cathode", "diagnostics",
    "cluster_scan",
]
