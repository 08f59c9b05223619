"""dimuon-ad: resonant anomaly detection in CMS Open Data dimuons (shared toolkit helpers).

The analysis packages (``processors``, ``ml``, ``stats``, ``analysis``, ``toymc``) import the
helpers here; this package imports none of them, so every package can use it without cycles.
"""
