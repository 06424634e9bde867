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

from functools import lru_cache
from types import MappingProxyType

from ipuexplore.hardware import Chip, load_chip
from ipuexplore.layers import Layer, dtype_bytes

from . import cpu, gpu, ipu
from .result import BOUNDS, COST_CACHE_SIZE, Estimate, LazyTerms, Phase, Term, bound_of
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
    works, kept, working, described = _layer_work(layer, batch, dtype, train)

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
    return _combine(chip, described, batch, dtype, train, phases, fits, working, capacity, kept)


@lru_cache(maxsize=COST_CACHE_SIZE)
def _layer_work(layer: Layer, batch: int, dtype: str, train: bool) -> tuple[tuple[Work, ...], int, int, str]:
    """The chip-independent part of an estimate (memoised: a network is costed on several
    chips, and a Layer is frozen): its passes, the activation bytes kept, the working set."""
    works = tuple(passes(layer, batch, dtype, train))
    kept = activation_bytes_kept(layer, batch, dtype) if train else 0
    # Working set: this layer's tensors (+ gradients of the weights and the kept
    # activations when training) must be resident together.
    working = layer.min_bytes(dtype, batch) + (layer.weight_bytes(dtype) + kept if train else 0)
    return works, kept, working, layer.describe()


_BOUND_WHY = {k: f"time of the passes' {k}-bound parts, summed over phases" for k in BOUNDS}
_WORKING_WHY = "inputs + weights + outputs (+ weight grads and kept activations when training)"
_CAPACITY_WHY = "usable on-chip SRAM (IPU) or device memory (GPU, CPU)"


def _combine(chip, described, batch, dtype, train, phases: list[Phase] | tuple[Phase, ...], fits, working, capacity, kept) -> Estimate:
    time_s = flops = vector_ops = nbytes = 0.0
    levels: dict[str, float] = {}
    by_bound = {b: 0.0 for b in BOUNDS}
    main = phases[0]
    for p in phases:
        time_s += p.time_s
        flops += p.flops
        vector_ops += p.vector_ops
        nbytes += p.bytes
        for k, v in p.bytes_by_level.items():
            levels[k] = levels.get(k, 0.0) + v
        for k, v in p.time_by_bound.items():
            by_bound[k] += v
        if p.time_s > main.time_s:  # the first of the slowest, as max() picks
            main = p
    work = flops if flops else vector_ops
    peak = chip.peak_flop_s(dtype)
    achieved = flops / time_s if time_s > 0 else 0.0

    def t() -> dict[str, Term]:  # built when first read (LazyTerms)
        out = {f"{k}_time_s": Term(v, "s", _BOUND_WHY[k]) for k, v in by_bound.items()}
        out["working_set_bytes"] = Term(float(working), "B", _WORKING_WHY)
        out["capacity_bytes"] = Term(float(capacity), "B", _CAPACITY_WHY)
        out["peak_flop_s"] = Term(peak, "FLOP/s", f"best unit's peak in {dtype}")
        return out

    return Estimate(
        chip=chip.id,
        layer=described,
        batch=batch,
        dtype=dtype,
        train=train,
        time_s=time_s,
        flops=float(flops),
        vector_ops=float(vector_ops),
        bytes=float(nbytes),
        bytes_by_level=MappingProxyType(levels),
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
        terms=LazyTerms(t),
        phases=tuple(phases),
    )
