"""The numbers behind the charts (no textual): the group-size sweep and roofline lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ipuexplore.models.roofline import attainable_flop_s
from ipuexplore.models.sweep import SweepPoint, group_sweep

from . import backend
from .settings import LayerSettings


def model_sweep(s: LayerSettings) -> tuple[list[SweepPoint], str]:
    """Both chips' estimates at every valid channels-per-group value.

    The keep mode applies as in the layer view (the block widens as the groups shrink).
    Returns the points and an error message ("" when every estimate worked).
    """
    layers = [s.with_channels_per_group(n).layer() for n in s.channels_per_group_choices()]
    chips = [backend.chip(s.chip_a), backend.chip(s.chip_b)]
    points = group_sweep(layers, chips, batch=s.batch, dtype=s.dtype, train=s.train)
    errors = [f"{chip_id} at {p.channels_per_group}/group: {why}"
              for p in points for chip_id, why in p.errors.items()]
    return points, errors[0] if errors else ""


@dataclass(frozen=True)
class Roofline:
    chip_name: str
    peak_flop_s: float
    levels: tuple[tuple[str, float], ...]  # (memory level, bandwidth B/s)

    def line(self, bandwidth: float, intensities) -> np.ndarray:
        """FLOP/s reachable at each arithmetic intensity (FLOP/B) when data streams from a
        memory level at `bandwidth` (B/s): the roof of models/roofline.py."""
        return np.array([attainable_flop_s(float(x), self.peak_flop_s, bandwidth) for x in np.ravel(intensities)])

    def ridge(self, bandwidth: float) -> float:
        return self.peak_flop_s / bandwidth


def roofline(chip_id: str, dtype: str, label: str | None = None) -> Roofline:
    chip = backend.chip(chip_id)
    levels = tuple((name, bw) for name, _capacity, bw in chip.memory_levels())
    return Roofline(label or backend.chip_name(chip_id), chip.peak_flop_s(dtype), levels)


def intensity_axis(points: list[float]) -> np.ndarray:
    """Log-spaced intensities covering the ridges and the layer's point with a margin."""
    lo = max(min(points) / 4, 1e-2)
    hi = max(points) * 4
    return np.logspace(np.log10(lo), np.log10(hi), 60)


def log_ticks(lo: float, hi: float, max_ticks: int = 6) -> list[float]:
    """Round values (1, 2, 5 x 10^k) between lo and hi for a log axis, at most max_ticks."""
    if not (lo > 0 and hi > lo):
        return []
    for steps in ((1, 2, 5), (1, 3), (1,)):
        ticks = [m * 10.0**e for e in range(int(np.floor(np.log10(lo))), int(np.ceil(np.log10(hi))) + 1)
                 for m in steps if lo <= m * 10.0**e <= hi]
        if len(ticks) <= max_ticks:
            return ticks
    return ticks[:: -(-len(ticks) // max_ticks)]
