"""Performance models: pure functions (chip, layer, batch, dtype, mode) -> Estimate.

    >>> from ipuexplore.layers import Layer
    >>> from ipuexplore.models import estimate
    >>> e = estimate("v100", Layer.conv(256, 14, 14, 256, 3, pad=1, g=256), batch=32)
    >>> e.bound
    'memory'

One module per family (``ipu``, ``gpu``, ``cpu``) over a shared roofline core
(``roofline``) and a shared decomposition of layers into passes (``work``). Training costs
forward, backward-data and backward-weights each on its own (``Estimate.phases``) and
reports the activation bytes kept for the backward pass.
"""

from __future__ import annotations

from types import MappingProxyType

from ipuexplore.hardware import Chip, load_chip
from ipuexplore.layers import Layer, dtype_bytes

from . import cpu, gpu, ipu
from .result import BOUNDS, Estimate, Phase, Term, bound_of
from .roofline import Roofline, roofline
from .work import PHASES, Work, activation_bytes_kept, passes

__all__ = [
    "BOUNDS",
    "Estimate",
    "PHASES",
    "Phase",
    "Roofline",
    "Term",
    "Work",
    "estimate",
    "roofline",
]


def estimate(chip: Chip | str, layer: Layer, *, batch: int = 1, dtype: str = "fp16", train: bool = False) -> Estimate:
    """Time, traffic and bound of ``layer`` on ``chip`` (an id, a path or a Chip)."""
    if not isinstance(chip, Chip):
        chip = load_chip(chip)
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be an ipuexplore.layers.Layer, got {type(layer).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    dtype_bytes(dtype)  # validates dtype, naming it
    works = passes(layer, batch, dtype, train)
    kept = activation_bytes_kept(layer, batch, dtype) if train else 0
    # Working set: this layer's tensors (+ gradients of the weights and the kept
    # activations when training) must be resident together.
    working = layer.min_bytes(dtype, batch) + (layer.weight_bytes(dtype) + kept if train else 0)

    if chip.family == "ipu":
        capacity = ipu.capacity_bytes(chip)
        fits = working <= capacity
        phases = [ipu.cost(chip, w, dtype, in_sram=fits) for w in works]
    elif chip.family == "gpu":
        capacity = gpu.capacity_bytes(chip)
        fits = working <= capacity
        l2_resident = working <= gpu.l2_bytes(chip)
        phases = [gpu.cost(chip, w, dtype, l2_resident=l2_resident) for w in works]
    else:
        capacity = cpu.capacity_bytes(chip)
        fits = working <= capacity
        phases = [cpu.cost(chip, w, dtype) for w in works]
    return _combine(chip, layer, batch, dtype, train, phases, fits, working, capacity, kept)


def _combine(chip, layer, batch, dtype, train, phases: list[Phase], fits, working, capacity, kept) -> Estimate:
    time_s = sum(p.time_s for p in phases)
    flops = sum(p.flops for p in phases)
    vector_ops = sum(p.vector_ops for p in phases)
    nbytes = sum(p.bytes for p in phases)
    by_level: dict[str, float] = {}
    by_bound = {b: 0.0 for b in BOUNDS}
    for p in phases:
        for k, v in p.bytes_by_level.items():
            by_level[k] = by_level.get(k, 0.0) + v
        for k, v in p.time_by_bound.items():
            by_bound[k] += v
    work = flops if flops else vector_ops
    peak = chip.peak_flop_s(dtype)
    achieved = flops / time_s if time_s > 0 else 0.0
    main = max(phases, key=lambda p: p.time_s)
    t = {f"{k}_time_s": Term(v, "s", f"time of the passes' {k}-bound parts, summed over phases") for k, v in by_bound.items()}
    t["working_set_bytes"] = Term(float(working), "B", "inputs + weights + outputs (+ weight grads and kept activations when training)")
    t["capacity_bytes"] = Term(float(capacity), "B", "usable on-chip SRAM (IPU) or device memory (GPU, CPU)")
    t["peak_flop_s"] = Term(peak, "FLOP/s", f"best unit's peak in {dtype}")
    return Estimate(
        chip=chip.id,
        layer=layer.describe(),
        batch=batch,
        dtype=dtype,
        train=train,
        time_s=time_s,
        flops=float(flops),
        vector_ops=float(vector_ops),
        bytes=float(nbytes),
        bytes_by_level=MappingProxyType(by_level),
        arithmetic_intensity=work / nbytes if nbytes else float("inf"),
        achieved_flop_s=achieved,
        bandwidth_b_s=nbytes / time_s if time_s > 0 else 0.0,
        utilisation=achieved / peak if peak else 0.0,
        bound=bound_of(by_bound),
        unit=main.unit,
        memory_level=main.memory_level,
        fits=fits,
        working_set_bytes=float(working),
        capacity_bytes=float(capacity),
        activation_bytes_kept=float(kept),
        terms=MappingProxyType(t),
        phases=tuple(phases),
    )
