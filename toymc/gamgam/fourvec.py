"""Vectorized four-vector helpers of the GamGam generator (numpy, GeV): building, boosting,
isotropic two-body decays, and back to (pT, η, φ)."""

from __future__ import annotations

import numpy as np


def from_pt_y_phi_m(pt, y, phi, m) -> np.ndarray:
    """Four-vectors ``(n, 4)`` = (px, py, pz, E) of particles of mass ``m`` at rapidity ``y``."""
    mt = np.sqrt(pt**2 + m**2)
    return np.stack([pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(y), mt * np.cosh(y)], axis=1)


def from_pt_eta_phi(pt, eta, phi) -> np.ndarray:
    """Four-vectors of massless particles at pseudorapidity ``eta``."""
    return from_pt_y_phi_m(pt, eta, phi, np.zeros_like(pt))


def pt_eta_phi(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, η, φ) of four-vectors ``(n, 4)``."""
    pt = np.hypot(p[:, 0], p[:, 1])
    eta = np.arcsinh(p[:, 2] / np.maximum(pt, 1e-9))
    return pt, eta, np.arctan2(p[:, 1], p[:, 0])


def two_body_decay(parent: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Isotropic decay of each parent into two massless daughters (lab-frame four-vectors)."""
    n = len(parent)
    m = np.sqrt(np.maximum(parent[:, 3] ** 2 - np.sum(parent[:, :3] ** 2, axis=1), 0.0))
    cos = rng.uniform(-1.0, 1.0, n)
    sin = np.sqrt(1.0 - cos**2)
    phi = rng.uniform(-np.pi, np.pi, n)
    half = m / 2
    star = np.stack([half * sin * np.cos(phi), half * sin * np.sin(phi), half * cos, half], axis=1)
    first = boost(star, parent)
    anti = star * np.array([-1.0, -1.0, -1.0, 1.0])
    return first, boost(anti, parent)


def boost(p: np.ndarray, parent: np.ndarray) -> np.ndarray:
    """Boost rest-frame four-vectors ``p`` into the frame where the parent has ``parent``."""
    m = np.sqrt(np.maximum(parent[:, 3] ** 2 - np.sum(parent[:, :3] ** 2, axis=1), 1e-12))
    beta = parent[:, :3] / parent[:, 3:4]
    gamma = parent[:, 3] / m
    bp = np.sum(beta * p[:, :3], axis=1)
    factor = gamma**2 / (gamma + 1.0) * bp + gamma * p[:, 3]
    space = p[:, :3] + beta * factor[:, None]
    energy = gamma * (p[:, 3] + bp)
    return np.column_stack([space, energy])


def invariant_mass(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Invariant mass of pairs of four-vectors."""
    s = a + b
    return np.sqrt(np.maximum(s[:, 3] ** 2 - np.sum(s[:, :3] ** 2, axis=1), 0.0))
