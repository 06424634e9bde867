"""Network view data: loading a network and turning an analysis into table rows (no textual)."""

from __future__ import annotations

from dataclasses import dataclass

from ipuexplore.networks import Network, build, load_onnx

GROUP_OVERRIDES = (0, 1, 2, 4, 8, 16, 32, 64)  # channels per group; 0 = as built
HEAVY = 5  # layers highlighted per chip
SORT_KEYS = ("index", "time_a", "time_b", "ratio", "flops")


@dataclass(frozen=True)
class Source:
    """Which network: a builder name, or an ONNX file path."""

    name: str = "resnext50_32x4d"
    onnx_path: str = ""
    group_size: int = 0

    @property
    def label(self) -> str:
        return self.onnx_path or self.name


def load(source: Source) -> Network:
    """Build or import the network; a bad name or file (or no onnx package) raises ValueError."""
    if source.onnx_path:
        return load_onnx(source.onnx_path)
    return build(source.name, group_size=source.group_size or None)


@dataclass(frozen=True)
class Row:
    index: int
    name: str
    shape: str
    flops: int  # per image, 2 x MACs
    arithmetic_intensity: float  # FLOP per byte
    time_a: float
    time_b: float
    bound_a: str
    bound_b: str
    heavy_a: bool
    heavy_b: bool

    @property
    def ratio(self) -> float:
        """How many times faster chip A runs this layer (B time / A time)."""
        return self.time_b / self.time_a if self.time_a > 0 else float("inf")


def rows(analysis) -> list[Row]:
    a, b = analysis.chips[0], analysis.chips[-1]
    cut_a, cut_b = _heavy_cut(analysis, a), _heavy_cut(analysis, b)
    out = []
    for i, r in enumerate(analysis.rows):
        ta, tb = r.costs[a].time_s, r.costs[b].time_s
        out.append(Row(
            i, r.name, r.shape, r.flops, r.arithmetic_intensity, ta, tb,
            r.costs[a].bound, r.costs[b].bound, ta >= cut_a > 0, tb >= cut_b > 0,
        ))
    return out


def _heavy_cut(analysis, chip: str) -> float:
    """The time of the chip's HEAVY-th slowest layer (0 when there are no layers)."""
    times = sorted((r.costs[chip].time_s for r in analysis.rows), reverse=True)
    return times[min(HEAVY, len(times)) - 1] if times else 0


_SORT = {
    "time_a": lambda r: r.time_a,
    "time_b": lambda r: r.time_b,
    "ratio": lambda r: r.ratio,
    "flops": lambda r: r.flops,
}


def sort_rows(items: list[Row], key: str) -> list[Row]:
    """Network order for "index", else slowest (or largest) first."""
    if key == "index":
        return sorted(items, key=lambda r: r.index)
    return sorted(items, key=_SORT[key], reverse=True)
