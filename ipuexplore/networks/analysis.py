"""A network through the performance models: per-layer rows and per-chip totals.

Each chip (or system) runs the step its planner chose (``models.netplan``: replicas, pipeline
stages, micro-batch, gradient accumulation, recomputation); layers run one after another
within a micro-batch, and the step adds its own costs (weight update, all-reduce, host I/O,
pipeline bubbles). Per-image counts (params, MACs, FLOPs = 2 x MACs) describe the network;
times, bytes and arithmetic intensity are for one step at the global batch ``batch``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from ..layers import Layer, dtype_bytes
from .graph import Network


@dataclass(frozen=True)
class LayerCost:
    """One layer on one chip in the analysed mode (inference, or forward + backward when training)."""

    time_s: float
    bound: str


@dataclass(frozen=True)
class LayerRow:
    name: str
    kind: str
    shape: str  # Layer.describe()
    groups: int
    flops: int  # per image, 2 x MACs
    params: int
    activation_bytes: int  # the layer's output at batch B and dtype
    arithmetic_intensity: float  # FLOPs per compulsory byte at batch B (Layer.arithmetic_intensity)
    costs: dict[str, LayerCost]  # chip id -> cost; shared (read-only) by rows of the same shape

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "kind": self.kind, "shape": self.shape, "groups": self.groups,
            "flops_per_image": self.flops, "params": self.params, "activation_bytes": self.activation_bytes,
            "arithmetic_intensity": self.arithmetic_intensity,
            "chips": {chip: {"time_s": c.time_s, "bound": c.bound} for chip, c in self.costs.items()},
        }


@dataclass(frozen=True)
class ChipTotals:
    chip: str
    time_s: float  # one step at batch B in the analysed mode (training step when train=True)
    latency_s: float  # inference of one batch of B images
    throughput_img_s: float  # batch / time_s, in the analysed mode
    train_time_s: float
    train_throughput_img_s: float
    throughput_ratio: float  # throughput_img_s / the baseline chip's, in the analysed mode
    inference_throughput_ratio: float
    train_throughput_ratio: float
    time_by_bound: dict[str, float]  # seconds of time_s per bound ("compute", "memory", ...)
    step: Any = None  # models.netplan.Step of the analysed mode: plan, terms, memory

    @property
    def plan(self):
        return self.step.plan

    def to_dict(self) -> dict[str, Any]:
        out = {
            "time_s": self.time_s, "latency_s": self.latency_s, "throughput_img_s": self.throughput_img_s,
            "train_time_s": self.train_time_s, "train_throughput_img_s": self.train_throughput_img_s,
            "throughput_ratio": self.throughput_ratio, "inference_throughput_ratio": self.inference_throughput_ratio,
            "train_throughput_ratio": self.train_throughput_ratio,
            "time_by_bound_s": dict(self.time_by_bound),
        }
        if self.step is not None:
            out.update(self.step.to_dict())
        return out


@dataclass(frozen=True)
class NetworkAnalysis:
    network: Network
    chips: tuple[str, ...]
    batch: int
    dtype: str
    train: bool
    rows: tuple[LayerRow, ...]
    totals: dict[str, ChipTotals]
    baseline: str  # the chip ratios are taken against: the last one listed
    unsupported: tuple[tuple[str, int], ...] = field(default=())

    @property
    def params(self) -> int:
        return self.network.params

    @property
    def macs(self) -> int:
        return self.network.macs

    @property
    def flops(self) -> int:
        return self.network.flops

    @property
    def peak_activation_bytes(self) -> int:
        return self.network.peak_activation_bytes(self.dtype, self.batch)

    @property
    def stored_activation_bytes(self) -> int:
        return self.network.stored_activation_bytes(self.dtype, self.batch)

    def to_dict(self, *, layers: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "network": self.network.name, "res": self.network.res, "batch": self.batch, "dtype": self.dtype,
            "mode": "train" if self.train else "inference", "train": self.train,
            "params": self.params, "macs": self.macs, "flops": self.flops,
            "counts_note": "params, macs and flops are per image; flops = 2 x macs",
            "peak_activation_bytes": self.peak_activation_bytes,
            "stored_activation_bytes": self.stored_activation_bytes,
            "baseline": self.baseline,
            "chips": {chip: totals.to_dict() for chip, totals in self.totals.items()},
            "unsupported_ops": dict(self.unsupported),
        }
        if layers:
            out["layers"] = [row.to_dict() for row in self.rows]
        return out


# Every Layer field but its name and wiring: what a cost model can see of it.
_SHAPE_FIELDS = tuple(f.name for f in fields(Layer) if f.name not in ("name", "inputs"))


def _shape_key(layer: Layer) -> tuple:
    return tuple(getattr(layer, name) for name in _SHAPE_FIELDS)


def analyse(network: Network, chips, *, batch: int = 1, dtype: str = "fp16", train: bool = False,
            pins=None) -> NetworkAnalysis:
    """Model ``network`` on each chip or system (ids, spec paths or loaded `Chip`s) at ``batch``.

    Both modes are planned and costed on every chip (the totals report inference and
    training); the per-layer rows and the plan show the mode asked for. ``pins``
    (``models.Pins``) fixes replicas, micro-batch or pipeline stages. Layers of the same
    shape are costed once per micro-batch.
    """
    from .. import hardware  # lazy: the models are only needed here
    from ..models.netplan import Shapes, network_step

    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    dtype_bytes(dtype)  # validates dtype, naming it
    chips = list(chips) if not isinstance(chips, str) else [chips]
    if not chips:
        raise ValueError("chips must name at least one chip")
    loaded = [hardware.load_chip(chip) for chip in chips]
    ids = tuple(chip.id for chip in loaded)
    if len(set(ids)) != len(ids):
        raise ValueError(f"chips must not repeat, got {', '.join(ids)}")

    keys = [_shape_key(layer) for layer in network.layers]
    shapes = Shapes.of(network.layers, keys)
    image_elems = network.input_shape[0] * network.input_shape[1] * network.input_shape[2]
    steps: dict[str, tuple] = {}
    caches: dict = {}
    for chip_id, chip in zip(ids, loaded):
        # layer estimates shared by both modes' plans and by every target built of one
        # device (a Bow IPU and the Bow Pods cost a layer alike)
        cache = caches.setdefault((chip.family, chip.spec), {})
        pair = tuple(network_step(chip, network.layers, batch, dtype, mode, image_elems=image_elems,
                                  pins=pins, shapes=shapes, cache=cache) for mode in (False, True))
        steps[chip_id] = pair
    mode = 1 if train else 0

    unique: dict[tuple, Layer] = {}
    for key, layer in zip(keys, network.layers):
        unique.setdefault(key, layer)
    described = {key: (layer.describe(), layer.arithmetic_intensity(dtype, batch)) for key, layer in unique.items()}
    # one LayerCost per distinct (time, bound) on a chip: layers of one shape share it
    # (a frozen dataclass costs a microsecond to build; a network has 539 layers x 23 chips)
    per_chip = []
    for chip_id in ids:
        step, made = steps[chip_id][mode], {}
        per_chip.append([made.get(tb) or made.setdefault(tb, LayerCost(*tb))
                         for tb in zip(step.layer_time_s, step.layer_bound)])
    rows = tuple(
        LayerRow(layer.name, layer.kind.value, described[key][0], layer.g, layer.flops, layer.params,
                 layer.activation_bytes(dtype, batch), described[key][1],
                 dict(zip(ids, (costs[i] for costs in per_chip))))
        for i, (key, layer) in enumerate(zip(keys, network.layers))
    )

    baseline = ids[-1]
    base_inference, base_train = (s.time_s for s in steps[baseline])
    chip_totals = {}
    for chip_id in ids:
        inference, training = steps[chip_id]
        shown = training if train else inference
        chip_totals[chip_id] = ChipTotals(
            chip=chip_id, time_s=shown.time_s, latency_s=inference.time_s,
            throughput_img_s=_rate(batch, shown.time_s), train_time_s=training.time_s,
            train_throughput_img_s=_rate(batch, training.time_s),
            throughput_ratio=_ratio(base_train if train else base_inference, shown.time_s),
            inference_throughput_ratio=_ratio(base_inference, inference.time_s),
            train_throughput_ratio=_ratio(base_train, training.time_s),
            time_by_bound=dict(shown.time_by_bound), step=shown,
        )
    return NetworkAnalysis(network, ids, batch, dtype, train, rows, chip_totals, baseline, network.unsupported)


def _rate(batch: int, seconds: float) -> float:
    return batch / seconds if seconds > 0 else float("inf")


def _ratio(base_s: float, seconds: float) -> float:
    """Throughput ratio (this chip / baseline) = baseline time / this chip's time."""
    return base_s / seconds if seconds > 0 else float("inf")
