"""Performance models: pure functions (chip, layer, batch, dtype, mode) -> Estimate.

    >>> from ipuexplore.layers import Layer
    >>> from ipuexplore.models import estimate
    >>> e = estimate("v100", Layer.conv(256, 14, 14, 256, 3, pad=1, g=256), batch=32)
    >>> e.bound
    'memory'

One module per family (``ipu``, ``gpu``, ``cpu``) over a shared roofline core
(``roofline``) and a shared decomposition of layers into passes (``work``). Training costs
forward, backward-data and backward-weights each on its own (``Estimate.phases``) and
reports the activation bytes kept for the backward pass. Every estimate carries its
``plan`` (``plan.Plan``). A whole network's step on a chip or a system (memory plan,
recomputation, pipelining, gradient accumulation, weight update, all-reduce, host I/O) is
``netplan.network_step``; the all-reduce is ``collectives``; serialising a layer too big for
an IPU is ``serialise``.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType
from typing import NamedTuple

from ipuexplore.hardware import Chip, load_chip
from ipuexplore.layers import Layer, dtype_bytes

from . import collectives, cpu, gpu, gpu_kernels, ipu, ipu_optimizer, serialise
from .plan import PLAN_KEYS, ConvOptions, Pins, Plan, replicas_for
from .result import BOUNDS, COST_CACHE_SIZE, Estimate, LazyTerms, Phase, Term, bound_of
from .roofline import Roofline, roofline
from .work import PHASES, Work, activation_bytes_kept, passes

__all__ = [
    "BOUNDS",
    "Estimate",
    "PHASES",
    "Phase",
    "PLAN_KEYS",
    "Pins",
    "Plan",
    "Roofline",
    "Term",
    "Work",
    "estimate",
    "roofline",
]


def estimate(
    chip: Chip | str, layer: Layer, *, batch: int = 1, dtype: str = "fp16", train: bool = False,
    pins: Pins | None = None,
) -> Estimate:
    """Time, traffic and bound of ``layer`` on ``chip`` (an id, a path or a Chip).

    On a system (``ipu-c2``, an IPU-POD, a DGX) ``batch`` is the global batch: it is split
    over data-parallel replicas (``pins`` may fix replicas and micro-batch) and training adds
    the all-reduce of the layer's weight gradients. A layer too big for one IPU's memory is
    serialised (batch, then output channels), as poplibs does, before anything is streamed.
    """
    if not isinstance(chip, Chip):
        chip = load_chip(chip)
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be an ipuexplore.layers.Layer, got {type(layer).__name__}")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch must be an int >= 1, got {batch!r}")
    dtype_bytes(dtype)  # validates dtype, naming it
    pins = pins or Pins()
    pins.check(batch, chip.devices, 1, chip.family)
    conv = pins.conv_options()
    if chip.system is None and pins == Pins(partials=pins.partials, available_memory_proportion=pins.available_memory_proportion):
        return device_estimate(chip, layer, batch, dtype, train, conv)
    return _replicated(chip, layer, batch, dtype, train, pins)


def device_estimate(chip: Chip, layer: Layer, batch: int, dtype: str, train: bool,
                    conv: ConvOptions = ConvOptions()) -> Estimate:
    """One chip running the whole ``batch``; on an IPU a layer that does not fit is serialised.
    ``conv``: the IPU's convolution options (partials type, available memory proportion)."""
    c = device_phases(chip, layer, batch, dtype, train, conv)
    return _combine(chip, c.described, batch, dtype, train, c.phases, c.fits, c.working, c.capacity, c.kept,
                    plan=c.plan, extra=c.extra)


class Costed(NamedTuple):
    """A layer's phases on one chip and what an Estimate reports beside them."""

    phases: tuple[Phase, ...]
    fits: bool
    working: float
    capacity: float
    kept: float
    plan: Plan
    described: str
    extra: dict | None = None

    @property
    def time_s(self) -> float:
        return sum(p.time_s for p in self.phases)


def device_phases(chip: Chip, layer: Layer, batch: int, dtype: str, train: bool,
                  conv: ConvOptions = ConvOptions()) -> Costed:
    """``device_estimate``'s phases without the Estimate around them (a network's planner
    sums thousands of them and reads only their times)."""
    works, kept, working, described = _layer_work(layer, batch, dtype, train)
    if chip.family == "ipu":
        capacity = ipu.capacity_bytes(chip)
        fits = working <= capacity
        if not fits:
            serial = serialise.split(layer, batch, dtype, train, capacity)
            if serial is not None:
                return _serialised(chip, layer, batch, dtype, train, serial, capacity, conv)
        phases = tuple(ipu.cost(chip, w, dtype, in_sram=fits, conv=conv) for w in works)
    elif chip.family == "gpu":
        capacity = gpu.capacity_bytes(chip)
        fits = working <= capacity
        l2_resident = working <= gpu.l2_bytes(chip)
        phases = tuple(gpu.cost(chip, w, dtype, l2_resident=l2_resident) for w in works)
    else:
        capacity = cpu.capacity_bytes(chip)
        fits = working <= capacity
        phases = tuple(cpu.cost(chip, w, dtype) for w in works)
    return Costed(phases, fits, working, capacity, kept, Plan(1, 1, 1, batch, 1, False, fits), described)


def _serialised(chip, layer, batch, dtype, train, serial: "serialise.Serial", capacity, conv) -> Costed:
    """The layer run as ``serial.pieces`` pieces one after another (poplibs serialises a
    convolution's batch or output channels when its temporaries exceed the memory given to it)."""
    parts = [(device_phases(chip, piece, m, dtype, train, conv), n) for piece, m, n in serial.parts]
    first = parts[0][0]
    phases = tuple(
        _scaled(first_phase, [(c.phases[i], n) for c, n in parts])
        for i, first_phase in enumerate(first.phases)
    )
    kept = sum(c.kept * n for c, n in parts)
    plan = Plan(1, 1, 1, serial.micro_batch, serial.pieces, False, first.fits)
    extra = {"serialised_pieces": Term(float(serial.pieces), "pieces", serial.why)}
    return Costed(phases, first.fits, first.working, capacity, kept, plan, layer.describe(), extra)


def _replicated(chip, layer, batch, dtype, train, pins: Pins) -> Estimate:
    """A layer on a system: the global batch over replicas, micro-batches one after another,
    and (training) the step's terms a network's step has (``_step_terms``)."""
    replicas = pins.replicas or replicas_for(batch, chip.devices, pins.micro_batch)
    per_replica = batch // replicas
    micro = pins.micro_batch or per_replica
    steps = per_replica // micro
    one = device_estimate(chip, layer, micro, dtype, train, pins.conv_options())
    phases = [_scaled(p, [(p, steps)], replicas) for p in one.phases]
    micro_plan = one.plan
    plan = Plan(replicas, replicas, 1, micro_plan.micro_batch, steps * micro_plan.gradient_accumulation,
                False, one.fits)
    extra = dict(_extra_terms(one))
    # a system's training step; one chip's layer stays its passes (with or without pins), as it
    # always was, so pinning a micro-batch does not make an update term appear
    if train and chip.system is not None:
        for name, term, bound, level in _step_terms(chip, layer, dtype, steps, replicas, pins.optimizer or "momentum"):
            extra[name + "_s"] = term
            if term.value:
                phases.append(_step_phase(name, term.value, bound, level))
    return _combine(chip, layer.describe(), batch, dtype, train, phases, one.fits, one.working_set_bytes,
                    one.capacity_bytes, one.activation_bytes_kept * steps, plan=plan, extra=extra)


def _step_terms(chip: Chip, layer: Layer, dtype: str, steps: int, replicas: int, optimizer: str):
    """A layer's share of a training step beyond its passes, as a network's step has them
    (models.netplan): gradients accumulated over the micro-batches (IPU), the weight update of
    its tensors, their all-reduce across replicas. Yields (name, Term, bound, memory level)."""
    tensors = ipu_optimizer.tensors(layer) if chip.family == "ipu" else ()
    if chip.family == "ipu":
        u = ipu_optimizer.layer_update(chip.spec, layer, optimizer, dtype, steps > 1)
        yield "gradient_accumulation", Term(steps * u.accumulate_s, "s", (
            f"{steps} micro-batches x {_n(len(tensors), 'weight gradient')} added into its accumulator, one compute set per tensor (models.ipu_optimizer)"
            if steps > 1 else "one micro-batch a step: nothing accumulated")), "overhead", "sram"
        yield "weight_update", Term(u.step_s, "s", (
            f"{optimizer} on {_n(len(tensors), 'weight tensor')}, each step a compute set of its own (models.ipu_optimizer): {u.compute_sets} compute sets"
            if tensors else "no weights: nothing to update")), "overhead", "sram"
    elif chip.family == "gpu":
        n = gpu_kernels.parameter_tensors(layer)
        yield "weight_update", Term(gpu_update_s(chip.spec, layer.params, n, optimizer), "s", (
            f"{optimizer} step of {layer.params:,} parameters in {_n(n, 'tensor')}: fp32 master weights, gradients and state through HBM"
            " and the per-tensor optimizer kernels (gpu_kernels.update_bytes_per_param, optimizer_launch_s)"
            if n else "no weights: nothing to update")), "memory", "hbm"
    grads = float(layer.weight_bytes(dtype))
    why = (f"ring all-reduce of {grads:,.0f} B of weight gradients over {replicas} replicas (models.collectives)"
           if replicas > 1 else "one replica: no gradients to all-reduce")
    yield "allreduce", Term(collectives.allreduce_s(grads, replicas, chip.system), "s", why), "exchange", "links"


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def gpu_update_s(s, params: float, tensors: int, optimizer: str) -> float:
    """A GPU optimizer step: fp32 master weights, gradients and state read and written at HBM
    bandwidth, plus its per-tensor kernels (or the host issuing them, the slower)."""
    return (params * gpu_kernels.update_bytes_per_param(optimizer) / (s.hbm_bw_gb_s * 1e9 * s.hbm_efficiency)
            + gpu_kernels.optimizer_launch_s(s, tensors, optimizer))


def _extra_terms(e: Estimate) -> dict[str, Term]:
    return {k: t for k, t in e.terms.items() if k == "serialised_pieces"}


def _scaled(template: Phase, parts: list[tuple[Phase, int]], copies: int = 1) -> Phase:
    """``template``'s phase summed over parts run one after another (count each), on
    ``copies`` chips at once (their work adds, their time does not)."""
    def total(attr):
        return sum(getattr(p, attr) * n for p, n in parts) * (1 if attr == "time_s" else copies)
    levels: dict[str, float] = {}
    bounds: dict[str, float] = {}
    for p, n in parts:
        for k, v in p.bytes_by_level.items():  # bytes, like FLOPs, add over the chips
            levels[k] = levels.get(k, 0.0) + v * n * copies
        for k, v in p.time_by_bound.items():
            bounds[k] = bounds.get(k, 0.0) + v * n
    return Phase(
        name=template.name, time_s=total("time_s"), flops=total("flops"), vector_ops=total("vector_ops"),
        bytes=total("bytes"), bytes_by_level=MappingProxyType(levels), time_by_bound=MappingProxyType(bounds),
        bound=bound_of(bounds), unit=template.unit, memory_level=template.memory_level, terms=template.terms,
    )


def _step_phase(name: str, time_s: float, bound: str, level: str) -> Phase:
    by_bound = {b: (time_s if b == bound else 0.0) for b in BOUNDS}
    return Phase(name=name, time_s=time_s, flops=0.0, vector_ops=0.0, bytes=0.0,
                 bytes_by_level=MappingProxyType({}), time_by_bound=MappingProxyType(by_bound),
                 bound=bound, unit=name, memory_level=level)


@lru_cache(maxsize=COST_CACHE_SIZE)
def _layer_work(layer: Layer, batch: int, dtype: str, train: bool) -> tuple[tuple[Work, ...], int, int, str]:
    """The chip-independent part of an estimate (memoised: a network is costed on several
    chips, and a Layer is frozen): its passes, the activation bytes kept, the working set."""
    works = tuple(passes(layer, batch, dtype, train))
    kept = activation_bytes_kept(layer, batch, dtype) if train else 0
    working = serialise.working_bytes(layer, batch, dtype, train)
    return works, kept, working, layer.describe()


_BOUND_WHY = {k: f"time of the passes' {k}-bound parts, summed over phases" for k in BOUNDS}
_WORKING_WHY = "inputs + weights + outputs (+ weight grads and kept activations when training)"
_CAPACITY_WHY = "usable on-chip SRAM (IPU) or device memory (GPU, CPU)"


def _combine(chip, described, batch, dtype, train, phases: list[Phase] | tuple[Phase, ...], fits, working, capacity, kept,
             plan: Plan | None = None, extra: dict[str, Term] | None = None) -> Estimate:
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
    peak = chip.peak_flop_s(dtype) * chip.devices
    achieved = flops / time_s if time_s > 0 else 0.0

    def t() -> dict[str, Term]:  # built when first read (LazyTerms)
        out = {f"{k}_time_s": Term(v, "s", _BOUND_WHY[k]) for k, v in by_bound.items()}
        out["working_set_bytes"] = Term(float(working), "B", _WORKING_WHY)
        out["capacity_bytes"] = Term(float(capacity), "B", _CAPACITY_WHY)
        out["peak_flop_s"] = Term(peak, "FLOP/s", f"best unit's peak in {dtype}")
        out.update(extra or {})
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
        plan=plan,
    )
