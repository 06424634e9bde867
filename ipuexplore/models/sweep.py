"""The group-size sweep: one layer at every channels-per-group value, estimated on each chip.

    >>> from ipuexplore.layers import Layer
    >>> points = group_sweep(group_variants(Layer.conv(64, 14, 14, 64, 3, pad=1)), ["v100"])
    >>> [p.channels_per_group for p in points][:4]
    [1, 2, 4, 8]

`ipuexplore sweep` sweeps a layer's group count at fixed channels (`group_variants`); the
explorer's charts pass their own variants (in keep mode the width grows as the groups
shrink). Both estimate them here.

`batch_sweep` is the latency/throughput trade: the same work at each batch size, one step's
time (the latency of every image in it) against images per second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from ipuexplore.hardware import Chip, load_chip
from ipuexplore.layers import Layer, valid_group_counts

from . import estimate
from .result import Estimate


@dataclass(frozen=True)
class SweepPoint:
    layer: Layer
    estimates: Mapping[str, Estimate]  # chip id -> estimate, for the chips whose model took the layer
    errors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))  # chip id -> why not

    @property
    def channels_per_group(self) -> int:
        return self.layer.c // self.layer.g

    @property
    def groups(self) -> int:
        return self.layer.g


def group_variants(layer: Layer) -> list[Layer]:
    """``layer`` at every group count dividing both channel counts, depthwise first."""
    return [layer.with_(g=g) for g in reversed(valid_group_counts(layer.c, layer.k))]


def group_sweep(layers: Iterable[Layer], chips: Sequence[Chip | str], *, batch: int = 1,
                dtype: str = "fp16", train: bool = False) -> list[SweepPoint]:
    """Each layer estimated on each chip. A ValueError (a model that rejects the layer, or a
    bad argument) is kept as that chip's reason in ``errors`` and the sweep goes on."""
    loaded = [c if isinstance(c, Chip) else load_chip(c) for c in chips]
    points = []
    for layer in layers:
        ests, errors = {}, {}
        for chip in loaded:
            try:
                ests[chip.id] = estimate(chip, layer, batch=batch, dtype=dtype, train=train)
            except ValueError as exc:
                errors[chip.id] = str(exc)
        points.append(SweepPoint(layer, MappingProxyType(ests), MappingProxyType(errors)))
    return points


BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


@dataclass(frozen=True)
class BatchCost:
    """One chip at one batch: a step's time, the latency an image sees, images per second."""

    time_s: float
    latency_s: float
    throughput_img_s: float
    bound: str = ""

    def to_dict(self) -> dict:
        return {"time_s": self.time_s, "latency_s": self.latency_s,
                "throughput_img_s": self.throughput_img_s, "bound": self.bound}


@dataclass(frozen=True)
class BatchPoint:
    batch: int
    chips: Mapping[str, BatchCost]
    errors: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


def layer_batch_costs(layer: Layer, chips: Sequence[Chip | str], *, dtype: str = "fp16",
                      train: bool = False, **options) -> Callable[[int], tuple[dict, dict]]:
    """cost(batch) -> ({chip id: BatchCost}, {chip id: why not}) for one layer on each chip
    (options, e.g. pins, go to models.estimate)."""
    loaded = [c if isinstance(c, Chip) else load_chip(c) for c in chips]

    def cost(batch: int) -> tuple[dict, dict]:
        out, errors = {}, {}
        for chip in loaded:
            try:
                e = estimate(chip, layer, batch=batch, dtype=dtype, train=train, **options)
            except ValueError as exc:
                errors[chip.id] = str(exc)
                continue
            out[chip.id] = BatchCost(e.time_s, e.time_s, batch / e.time_s, e.bound)
        return out, errors

    return cost


def batch_sweep(cost: Callable[[int], tuple[dict, dict]], batches: Iterable[int] = BATCHES) -> list[BatchPoint]:
    """cost(batch) at each batch (a layer's from `layer_batch_costs`, or a network's)."""
    points = []
    for batch in batches:
        chips, errors = cost(batch)
        points.append(BatchPoint(batch, MappingProxyType(dict(chips)), MappingProxyType(dict(errors))))
    return points
