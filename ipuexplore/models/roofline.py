"""The roofline at the core of every model (after LLM-Viewer's ``roofline_analyze``).

    time = max(work / peak, bytes / bandwidth)

The ridge point ``peak / bandwidth`` (FLOP per byte) separates memory-bound layers (below)
from compute-bound ones (above). The family models refine which peak applies (the compute
unit the layer's shape can use) and which bandwidth (the memory level its data lives in).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Roofline:
    arithmetic_intensity: float  # FLOP per byte
    ridge_flop_per_b: float
    attainable_flop_s: float
    time_s: float  # max(compute_s, memory_s): compute and traffic overlap
    bound: str  # "compute" | "memory"
    compute_s: float = 0.0  # work / peak
    memory_s: float = 0.0  # bytes / bandwidth


def attainable_flop_s(intensity: float, peak_flop_s: float, bw_b_s: float) -> float:
    """The roof at ``intensity`` FLOP per byte: the bandwidth's slope up to the peak."""
    return min(peak_flop_s, intensity * bw_b_s)


def roofline(work: float, bytes_: float, peak_flop_s: float, bw_b_s: float) -> Roofline:
    """Attainable rate and time of ``work`` operations moving ``bytes_`` bytes."""
    if peak_flop_s <= 0 or bw_b_s <= 0:
        raise ValueError(f"peak ({peak_flop_s}) and bandwidth ({bw_b_s}) must be > 0")
    ai = work / bytes_ if bytes_ > 0 else float("inf")
    compute_s, memory_s = work / peak_flop_s, bytes_ / bw_b_s
    bound = "compute" if compute_s >= memory_s else "memory"
    return Roofline(ai, peak_flop_s / bw_b_s, attainable_flop_s(ai, peak_flop_s, bw_b_s),
                    max(compute_s, memory_s), bound, compute_s, memory_s)


def round_up(x: int, multiple: int) -> int:
    return -(-x // multiple) * multiple


def fill(used: int, granule: int) -> float:
    """Fraction of a unit of width ``granule`` that ``used`` items occupy after padding."""
    return used / round_up(used, granule)


@dataclass(frozen=True)
class LayerPoint:
    """One layer of a network on one chip, as a roofline point."""

    name: str
    kind: str  # conv, linear, norm, act, add, pool ...
    intensity: float  # FLOP per byte (the layer's, as the network analysis counts it)
    achieved_flop_s: float  # FLOPs of the batch / the layer's modelled time on the chip


def layer_points(rows, chip_id: str, batch: int) -> list[LayerPoint]:
    """Every layer with work and time of a network analysis' rows (networks.analyse(...).rows)
    on `chip_id` at `batch`; layers without FLOPs (a reshape) have no place on a log roofline."""
    points = []
    for row in rows:
        time_s = row.costs[chip_id].time_s
        if row.flops > 0 and time_s > 0 and row.arithmetic_intensity > 0:
            kind = str(getattr(row.kind, "value", row.kind))
            if kind == "conv" and getattr(row, "groups", 1) > 1:
                kind = "grouped conv"  # the layers this project is about, in a colour of their own
            points.append(LayerPoint(row.name, kind, row.arithmetic_intensity, batch * row.flops / time_s))
    return points
