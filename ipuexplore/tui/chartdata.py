"""The numbers behind the charts (no textual): a group-size sweep and roofline lines."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import backend
from .settings import LayerSettings


@dataclass(frozen=True)
class SweepPoint:
    cpg: int
    flop_s: dict  # chip id -> achieved FLOP/s of the model (missing: no estimate)


def model_sweep(s: LayerSettings) -> tuple[list[SweepPoint], str]:
    """Achieved FLOP/s of both chips at every valid channels-per-group value.

    The keep mode applies as in the layer view (the block widens as the groups shrink).
    Returns the points and an error message ("" when every estimate worked).
    """
    points, error = [], ""
    for cpg in s.cpg_choices():
        t = s.with_cpg(cpg)
        flop_s = {}
        for chip_id in (s.chip_a, s.chip_b):
            try:
                est = backend.estimate(chip_id, t.layer(), batch=t.batch, dtype=t.dtype, train=t.train)
            except Exception as exc:  # noqa: BLE001 - shown under the chart, never a crash
                error = error or f"{chip_id} at {cpg}/group: {exc}"
                continue
            flop_s[chip_id] = est.achieved_flop_s
        points.append(SweepPoint(cpg, flop_s))
    return points, error


@dataclass(frozen=True)
class Roofline:
    chip_name: str
    peak_flop_s: float
    levels: tuple[tuple[str, float], ...]  # (memory level, bandwidth B/s)

    def line(self, bandwidth: float, ai: np.ndarray) -> np.ndarray:
        """FLOP/s reachable at intensity `ai` when data streams from a level at `bandwidth`."""
        return np.minimum(self.peak_flop_s, np.asarray(ai, dtype=float) * bandwidth)

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
