"""A whole training or inference step of a network on a chip or a system, and its plan.

Per IPU, the step must fit the In-Processor Memory: the weights, (training) the gradient
accumulators and the optimizer state, the activations kept for the backward pass of every
micro-batch in flight, the largest layer's temporaries, and the code and exchange buffers.
When it does not fit, the planner does what Graphcore's software does (their published
configs, graphcore/examples applications/tensorflow/cnns/training/configs.yml: replicas,
shards = pipeline stages, micro_batch_size, gradient_accumulation_count,
enable_recomputation) and keeps the fastest plan that fits:

- recomputation: only checkpoints are kept (each stage's input per micro-batch in flight, and
  sqrt(n) checkpoints inside a stage, Chen et al. 2016, "Training deep nets with sublinear
  memory cost"), and the forward pass is run again in the backward pass;
- a smaller micro-batch with gradient accumulation;
- pipelining over several IPUs: contiguous stages balanced by cost, with the pipeline's
  ramp-up and ramp-down bubbles, (micro-batches + stages - 1) x the slowest stage (Huang et
  al. 2019, GPipe), stage s of P keeping 2 (P - s) - 1 micro-batches' activations (Graphcore's
  grouped schedule: a stage holds what is in flight until its backward pass returns);
- layers too big for an IPU are serialised (models.serialise) inside each layer's estimate;
- only then, on IPUs with streaming memory (Mk2/Bow), the optimizer state is offloaded to it
  and read and written once per step.

A step also pays, each a named term: the weight update (the optimizer reads weights,
gradients and state and writes weights and state), the gradient all-reduce across replicas
(models.collectives), the host I/O of the input images (overlapped only where the software
overlaps it), on GPU systems whose runs decode and augment the images on the host's CPU the
wait for that loader (a ceiling of workers x images per second per worker), batch norm's
statistics reductions across tiles, and the inter-IPU copies of a pipeline. GPUs get the same plan keys: data-parallel replicas, the largest micro-batch that
fits device memory, no pipelining and no recomputation.
"""

from __future__ import annotations

import bisect
import itertools
import math
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Mapping, NamedTuple, Sequence

from ipuexplore.hardware import Chip, IpuSpec
from ipuexplore.layers import Layer, LayerKind, dtype_bytes

from . import collectives, device_phases, gpu_kernels, gpu_update_s, ipu, ipu_norm, ipu_optimizer
from .plan import ConvOptions, Pins, Plan, divisors, replicas_for
from .result import BOUNDS, COST_CACHE_SIZE, Phase, Term, bound_of
from .work import activation_bytes_kept, input_gradient_skipped

# Code, vertex state and exchange programs per tile for each pass of each layer (a compute
# set and its exchange). Graphcore publishes no figure; an order of magnitude from poplibs'
# vertex state (tens of bytes per vertex, a few vertices per tile per pass) plus the
# exchange code of the pass. Project assumption, shown as its own memory term.
CODE_BYTES_PER_PASS_PER_TILE = 256
# Optimizer state per weight, in weights: momentum SGD keeps one (Graphcore's CNN configs:
# `optimiser: momentum`); the gradient accumulator is one more.
OPTIMIZER_STATE_PER_WEIGHT = 1
# Bytes per input pixel channel over the host link: Graphcore's configs send 8-bit images
# (`eight_bit_io: True`) and normalise on the IPU.
IMAGE_BYTES_PER_ELEMENT = 1
# GPU (AMP): fp16 weights + fp32 master weights and fp32 gradients, in bytes per parameter
# (Micikevicius et al. 2018, "Mixed precision training"), + 4 per fp32 optimizer state tensor
GPU_BYTES_PER_PARAM = 2 + 4 + 4


@dataclass(frozen=True)
class Step:
    """One step of a network on a chip or system under its plan."""

    chip: str
    plan: Plan
    time_s: float
    terms: Mapping[str, Term]
    layer_time_s: tuple[float, ...]  # each layer's share of the step (all micro-batches)
    layer_bound: tuple[str, ...]
    time_by_bound: Mapping[str, float]
    memory_bytes: Mapping[str, float]  # per chip (the fullest stage), by part
    capacity_bytes: float
    why: str

    def to_dict(self) -> dict:
        return {
            "plan": self.plan.to_dict(),
            "why": self.why,
            "terms": {k: t.to_dict() for k, t in self.terms.items()},
            "memory_bytes": dict(self.memory_bytes),
            "capacity_bytes": self.capacity_bytes,
        }


class _Cost(NamedTuple):
    """What the planner reads of a layer's estimate: its time and the time per bound."""

    time_s: float
    bound: str
    time_by_bound: dict[str, float]


def _cost(costed) -> _Cost:
    by_bound = dict.fromkeys(BOUNDS, 0.0)
    time_s = 0.0
    for p in costed.phases:
        time_s += p.time_s
        for k, v in p.time_by_bound.items():
            by_bound[k] += v
    return _Cost(time_s, bound_of(by_bound), by_bound)


@dataclass(frozen=True)
class Shapes:
    """A network's layers grouped by shape, so that each shape is costed once per
    micro-batch: layer i has shape ``kind[i]``; shape k is first seen at layer ``first[k]``
    and ``count[k]`` layers have it. ``stems``: the layers reading only the images
    (work.input_gradient_skipped), found once here rather than at every plan."""

    first: tuple[int, ...]
    count: tuple[int, ...]
    kind: tuple[int, ...]
    stems: tuple[int, ...]

    @classmethod
    def of(cls, layers: Sequence[Layer], keys: Sequence[tuple] | None = None) -> Shapes:
        """``keys``: the layers' shape keys (default: every field a cost model reads)."""
        keys = keys if keys is not None else [_key(l) for l in layers]
        index: dict[tuple, int] = {}
        first, count, kind = [], [], []
        for i, key in enumerate(keys):
            k = index.setdefault(key, len(index))
            if k == len(first):
                first.append(i)
                count.append(0)
            count[k] += 1
            kind.append(k)
        return cls(tuple(first), tuple(count), tuple(kind), tuple(input_gradient_skipped(layers)))


@dataclass(frozen=True)
class _Columns:
    """Per-layer bytes and passes (chip-independent), with prefix sums over layers."""

    weights: list[int]
    kept: list[int]  # per image
    inputs: list[int]  # per image
    outputs: list[int]  # per image
    npasses: list[int]
    weight_sum: list[int]
    kept_sum: list[int]
    passes_sum: list[int]
    in_out: list[int]  # per image

    @classmethod
    def of(cls, layers: Sequence[Layer], shapes: Shapes, dtype: str, train: bool) -> _Columns:
        facts = [_facts(layers[i], dtype, train) for i in shapes.first]
        weights, kept, inputs, outputs, npasses = ([column[k] for k in shapes.kind] for column in zip(*facts))
        if train:  # the layers reading the images have no backward-data pass: no code for it
            for i in shapes.stems:
                if layers[i].kind is not LayerKind.NORM:
                    npasses[i] -= 1
        return cls(weights, kept, inputs, outputs, npasses, list(itertools.accumulate(weights, initial=0)),
                   list(itertools.accumulate(kept, initial=0)), list(itertools.accumulate(npasses, initial=0)),
                   [i + o for i, o in zip(inputs, outputs)])


@dataclass
class _Net:
    """What the planner reads of a network on a chip. ``cache`` holds each shape's costs by
    (batch, mode) and the columns by mode; one network's calls on chips of one device spec
    may share it."""

    chip: Chip
    layers: Sequence[Layer]
    dtype: str
    train: bool
    shapes: Shapes
    cols: _Columns
    cache: dict
    norm_span: int = 1  # replicas sharing batch norm's statistics
    optimizer: str = "momentum"  # the weight update's optimizer (models.ipu_optimizer)
    conv: ConvOptions = ConvOptions()  # an IPU convolution's options (models.ipu)

    def est_shapes(self, batch: int, train: bool) -> list[_Cost]:
        """Each shape's cost at ``batch``, in the order of ``shapes``."""
        key = (batch, train, self.conv)
        out = self.cache.get(key)
        if out is None:
            out = self.cache[key] = [
                _cost(device_phases(self.chip, self.layers[i], batch, self.dtype, train, self.conv)) for i in self.shapes.first]
        return out

    def per_layer(self, per_shape: Sequence) -> list:
        return [per_shape[k] for k in self.shapes.kind]

    def temporaries(self) -> list[float]:
        """Each layer's temporaries per image while it runs: its input and output, and a
        convolution's partial sums where they are wider than its output (float partials of
        fp16 data, poplibs' partialsType): poplin accumulates into a partials tensor, then
        casts it to the output in a compute set of its own (reduceOrCastComputeSets), so both
        are live. Half partials of fp16 data are written as the output itself."""
        extra = ipu.partial_bytes(self.dtype, self.conv.partials) / dtype_bytes(self.dtype) - 1
        key = ("temporaries", self.train, extra)
        out = self.cache.get(key)
        if out is None:
            out = self.cache[key] = [io + (o * extra if l.kind in (LayerKind.CONV, LayerKind.LINEAR) else 0)
                                     for io, o, l in zip(self.cols.in_out, self.cols.outputs, self.layers)]
        return out


@lru_cache(maxsize=COST_CACHE_SIZE)
def _facts(layer: Layer, dtype: str, train: bool) -> tuple[int, int, int, int, int]:
    """weight bytes, bytes kept per image, input and output bytes per image, passes run"""
    if layer.kind in (LayerKind.CONV, LayerKind.LINEAR):
        npasses = 3 if train else 1
    else:
        npasses = (3 if layer.params else 2) if train else 1
    return (layer.weight_bytes(dtype), activation_bytes_kept(layer, 1, dtype), layer.input_bytes(dtype, 1),
            layer.output_bytes(dtype, 1), npasses)


def _key(layer: Layer) -> tuple:
    return (layer.kind, layer.c, layer.h, layer.w, layer.k, layer.r, layer.s, layer.g, layer.stride,
            layer.pad, layer.dilation, layer.bias, layer.op, layer.se_c)


def network_step(
    chip: Chip, layers: Sequence[Layer], batch: int, dtype: str, train: bool, *,
    image_elems: int = 0, pins: Pins | None = None, shapes: Shapes | None = None,
    cache: dict | None = None,
) -> Step:
    """The step of ``layers`` (in execution order) at global ``batch`` on ``chip``.

    ``image_elems`` is one input image's elements (the host I/O term); ``shapes`` the
    layers grouped by shape (``Shapes.of``; each shape is costed once); ``cache`` a dict
    that calls for the same ``layers`` and ``dtype`` on chips of one device spec may share
    (a layer's cost depends on the device, not on the system around it).
    """
    pins = pins or Pins()
    pins.check(batch, chip.devices, len(layers), chip.family)
    shapes = shapes or Shapes.of(layers)
    cache = cache if cache is not None else {}
    cols = cache.get(("columns", train))
    if cols is None:
        cols = cache[("columns", train)] = _Columns.of(layers, shapes, dtype, train)
    net = _Net(chip, layers, dtype, train, shapes, cols, cache, pins.norm_span or 1, pins.optimizer or "momentum",
               pins.conv_options())
    if chip.family == "ipu":
        return _ipu_step(net, batch, image_elems, pins)
    return _data_parallel_step(net, batch, image_elems, pins)


# ---- IPUs ----------------------------------------------------------------------------------
def _ipu_step(net: _Net, batch: int, image_elems: int, pins: Pins) -> Step:
    chip, n = net.chip, len(net.layers)
    devices = chip.devices
    stage_options = [pins.pipeline_stages] if pins.pipeline_stages else [
        p for p in (1, 2, 4, 8, 16) if p * (pins.replicas or 1) <= devices and p <= n and devices % p == 0]
    # stages for the memory search are balanced by each layer's cost at micro-batch 1
    proxy = net.per_layer([e.time_s for e in net.est_shapes(1, net.train)]) if max(stage_options) > 1 else []
    candidates = []
    for stages in stage_options:
        replicas = pins.replicas or replicas_for(batch, devices // stages, pins.micro_batch)
        per_replica = batch // replicas
        bounds = _partition(proxy, stages, n)
        micro_options = [pins.micro_batch] if pins.micro_batch else divisors(per_replica)
        recompute_options = (False, True) if net.train else (False,)
        if pins.recompute is not None:
            recompute_options = (pins.recompute and net.train,)
        largest = 0  # the largest micro-batch that fits without recomputation
        for recompute in recompute_options:
            for offload in (False, True) if chip.spec.streaming_memory else (False,):
                fitting = [m for m in micro_options if _fits(net, bounds, m, recompute, offload)]
                chosen = fitting[:1]
                if stages > 1:  # enough micro-batches to keep the pipeline full
                    full = [m for m in fitting if -(-per_replica // m) >= 2 * stages]
                    chosen += full[:1]
                for m in dict.fromkeys(chosen):
                    # recomputing at a micro-batch that fits without it only adds a forward pass
                    if not (recompute and m <= largest):
                        candidates.append((stages, replicas, m, recompute, offload, True))
                if fitting:
                    if not recompute and not offload:
                        largest = fitting[0]
                    break  # offload only when nothing fits without it
    if not candidates:  # nothing fits: the smallest plan, marked as not fitting
        stages = max(stage_options)
        replicas = pins.replicas or replicas_for(batch, devices // stages, pins.micro_batch)
        m = pins.micro_batch or 1
        recompute = net.train if pins.recompute is None else pins.recompute and net.train
        candidates.append((stages, replicas, m, recompute, bool(chip.spec.streaming_memory), False))
    steps = [_ipu_cost(net, batch, image_elems, *c) for c in candidates]
    return min(steps, key=lambda s: (not s.plan.fits, s.time_s))


def _partition(cost: Sequence[float], stages: int, n: int | None = None) -> list[tuple[int, int]]:
    """Contiguous [start, end) stages of ``n`` layers minimising the slowest stage's cost
    (binary search on it)."""
    n = len(cost) if n is None else n
    if stages <= 1:
        return [(0, n)]
    prefix = list(itertools.accumulate(cost, initial=0.0))
    # the slowest stage costs at least the costliest layer and an even share; greedy
    # filling to an even share plus the costliest layer never needs more than ``stages``
    biggest = max(cost)
    lo = max(biggest, prefix[-1] / stages)
    hi = min(prefix[-1], lo + biggest)
    if _stages_needed(prefix, hi, stages) > stages:  # rounding at the bound
        hi = prefix[-1]
    # to a billionth of the stage cost: stage sums closer than that cut alike in practice
    while hi - lo > 1e-9 * hi:
        mid = (lo + hi) / 2
        if _stages_needed(prefix, mid, stages) <= stages:
            hi = mid
        else:
            lo = mid
    cuts = _greedy(prefix, hi, n)
    while len(cuts) < stages:  # split the longest stage to use every IPU
        i = max(range(len(cuts)), key=lambda j: cuts[j][1] - cuts[j][0])
        a, b = cuts[i]
        if b - a < 2:
            break
        mid = (a + b) // 2
        cuts[i:i + 1] = [(a, mid), (mid, b)]
    return cuts


def _stages_needed(prefix: list[float], limit: float, most: int) -> int:
    """How many stages filling up to ``limit`` each takes (counting stops past ``most``)."""
    n, start, stages = len(prefix) - 1, 0, 0
    bisect_right = bisect.bisect_right
    while start < n and stages <= most:
        stages += 1
        # a layer costlier than the limit still gets a stage
        start = max(bisect_right(prefix, prefix[start] + limit, start + 1) - 1, start + 1)
    return stages


def _greedy(prefix: list[float], limit: float, most: int) -> list[tuple[int, int]]:
    """Stages filled up to ``limit`` each, left to right (stops after ``most`` stages)."""
    n = len(prefix) - 1
    out, start = [], 0
    while start < n and len(out) < most:
        end = bisect.bisect_right(prefix, prefix[start] + limit) - 1
        end = max(end, start + 1)  # a layer costlier than the limit still gets a stage
        out.append((start, min(end, n)))
        start = min(end, n)
    if start < n:
        out.append((start, n))
    return out


def _stage_memory(net: _Net, a: int, b: int, stage: int, stages: int, m: int, recompute: bool, offload: bool) -> dict[str, float]:
    s: IpuSpec = net.chip.spec
    w = net.cols.weight_sum[b] - net.cols.weight_sum[a]
    mem = {"weights": float(w)}
    if net.train:
        mem["gradients"] = float(w)
        mem["optimizer_state"] = 0.0 if offload else float(w * OPTIMIZER_STATE_PER_WEIGHT)
        depth = 2 * (stages - stage) - 1
        if recompute:
            n = b - a
            step = -(-n // max(1, math.isqrt(n)))
            starts = range(a, b, step)
            ckpt = sum(net.cols.inputs[i] for i in starts)
            kept = net.cols.kept_sum
            longest = max(kept[min(i + step, b)] - kept[i] for i in starts)
            mem["activations"] = float((depth * net.cols.inputs[a] + ckpt + longest) * m)
        else:
            mem["activations"] = float(depth * (net.cols.kept_sum[b] - net.cols.kept_sum[a]) * m)
    # the running layer's input, output and wider partial sums (its weights are counted
    # above), capped where poplibs serialises the layer instead
    mem["temporaries"] = float(min(max(net.temporaries()[a:b]) * m, ipu.capacity_bytes(net.chip)))
    # recomputation calls the forward pass's code again (Poplar outlines repeated programs)
    mem["code"] = float((net.cols.passes_sum[b] - net.cols.passes_sum[a]) * CODE_BYTES_PER_PASS_PER_TILE * s.tiles)
    return mem


def _fits(net: _Net, bounds, m: int, recompute: bool, offload: bool) -> bool:
    cap = net.chip.spec.sram_total_bytes
    return all(sum(_stage_memory(net, a, b, i, len(bounds), m, recompute, offload).values()) <= cap
               for i, (a, b) in enumerate(bounds))


def _ipu_cost(net: _Net, batch, image_elems, stages, replicas, m, recompute, offload, fits) -> Step:
    chip, s = net.chip, net.chip.spec
    clock = s.clock_ghz * 1e9
    sync_s = s.sync_cycles / clock
    micro = batch // replicas // m  # micro-batches per replica per step
    # each distinct layer shape once (u: per shape), then spread over the layers
    train_u = list(net.est_shapes(m, net.train))
    fwd_u = [e.time_s for e in net.est_shapes(m, False)] if recompute else [0.0] * len(train_u)
    # a norm layer in training runs poplibs' program of element-wise compute sets and
    # statistics reductions (models.ipu_norm) instead of one pass: its passes replace the
    # layer's estimate, its reductions are norm_reduction_s, and recomputation repeats the
    # forward's passes (the statistics are cached)
    norm_u = [0.0] * len(train_u)
    # with statistics shared by ``span`` replicas (Graphcore's distributed batch norm, BN_span),
    # the forward's statistics and the backward's statistics gradients are also all-reduced
    # across those IPUs over IPU-Links (poplin Norms.cpp's reduceCallback)
    span = min(net.norm_span, replicas)
    shared = 0.0
    if net.train:
        for k, i in enumerate(net.shapes.first):
            l = net.layers[i]
            if l.kind is LayerKind.NORM:
                prog = ipu_norm.training_program(s, l.c * l.h * l.w * m, l.c, net.dtype)
                by_bound = {**dict.fromkeys(BOUNDS, 0.0), "compute": prog.passes_s - prog.passes_sync_s, "overhead": prog.passes_sync_s}
                train_u[k] = _Cost(prog.passes_s, bound_of(by_bound), by_bound)
                if recompute:
                    fwd_u[k] = prog.recompute_s
                if span > 1 and chip.system is not None:
                    shared = collectives.ring_allreduce_s(2 * l.c * 4, span, chip.system.intra_node_link_gb_s,
                                                          chip.system.collective_step_latency_us * 1e-6)
                norm_u[k] = prog.reductions_s + 2 * shared
    # the weight update, per weight tensor (models.ipu_optimizer): with gradient accumulation
    # every micro-batch adds each gradient into its accumulator; the optimizer runs once a step
    update_u = [ipu_optimizer.layer_update(s, net.layers[i], net.optimizer, net.dtype, micro > 1) if net.train else None
                for i in net.shapes.first]
    acc_u = [u.accumulate_s if u else 0.0 for u in update_u]
    per_u = [e.time_s + f + r + a for e, f, r, a in zip(train_u, fwd_u, norm_u, acc_u)]
    per_layer = net.per_layer(per_u)
    # no gradient for the images: the layers reading them skip their backward-data pass
    skipped = _skipped_backward_data(net, m) if net.train else []
    for i, p in skipped:
        per_layer[i] -= p.time_s
    bounds = _partition(per_layer, stages)
    # inter-IPU copies of a pipeline: the boundary activation forward, its gradient backward
    link = chip.system.intra_node_link_gb_s * 1e9 if chip.system is not None else s.streaming_bw_gb_s * 1e9
    copy_t = [0.0] * len(bounds)
    for j, (a, b) in enumerate(bounds[:-1]):
        copy_t[j] = (2 if net.train else 1) * net.cols.outputs[b - 1] * m / link + sync_s
    stage_t = [sum(per_layer[a:b]) + copy_t[j] for j, (a, b) in enumerate(bounds)]
    slowest = max(stage_t)
    compute_s = micro * slowest if stages > 1 else micro * stage_t[0]
    bubble_s = (stages - 1) * slowest
    layers_s = micro * (sum(e.time_s * c for e, c in zip(train_u, net.shapes.count)) - sum(p.time_s for _, p in skipped))
    recompute_s = micro * sum(f * c for f, c in zip(fwd_u, net.shapes.count))
    norm_s = micro * sum(r * c for r, c in zip(norm_u, net.shapes.count))
    accumulate_s = micro * sum(a * c for a, c in zip(acc_u, net.shapes.count))
    # the slowest stage's copy is on the step's path; what the slowest stage holds beyond an even
    # share of the work is imbalance (where it holds less, part of its copy hides behind it)
    copies_s = micro * copy_t[stage_t.index(slowest)]
    imbalance_s = compute_s - (layers_s + recompute_s + norm_s + accumulate_s) / stages - copies_s if stages > 1 else 0.0
    if imbalance_s < 0:
        copies_s, imbalance_s = copies_s + imbalance_s, 0.0
    # weight update on the fullest stage: read weights, gradients and state, write weights
    # and state, at SRAM bandwidth (offloaded state crosses the streaming link both ways)
    w = max(net.cols.weight_sum[b] - net.cols.weight_sum[a] for a, b in bounds)
    update_s = 0.0
    if net.train:
        # each stage updates its own tensors, all stages at once: the slowest counts
        step_l = net.per_layer([u.step_s for u in update_u])
        update_s = max(sum(step_l[a:b]) for a, b in bounds)
        if offload:
            update_s += 2 * w * OPTIMIZER_STATE_PER_WEIGHT / (s.streaming_bw_gb_s * 1e9)
        update_sets = sum(u.compute_sets * c for u, c in zip(update_u, net.shapes.count))
    allreduce = collectives.allreduce_s(float(w), replicas, chip.system, stages) if net.train else 0.0
    # a single IPU's host link is its card's PCIe, the streaming link's figure; I/O tiles
    # (overlapped transfers) came with the SDK that brought streaming memory
    card = (s.streaming_bw_gb_s * 1e9, bool(s.streaming_memory), "I/O tiles")
    busy = compute_s + bubble_s + update_s + allreduce
    host_io = _host_io(chip, batch, image_elems, busy, card)
    time_s = busy + host_io.value
    plan = Plan(stages * replicas, replicas, stages, m, micro, recompute, fits)
    # the fullest IPU's memory (stage s keeps 2 (P - s) - 1 micro-batches in flight)
    mem = max((_stage_memory(net, a, b, j, stages, m, recompute, offload) for j, (a, b) in enumerate(bounds)),
              key=lambda parts: sum(parts.values()))
    choice = _why_ipu(plan, offload, net.train, ipu.partial_bytes(net.dtype, net.conv.partials), net.conv.available_memory_proportion,
                     net.dtype)
    piped = stages > 1
    terms = {
        "layers_s": Term(layers_s, "s", f"{_count(micro, 'micro-batch')} x every layer's passes at micro-batch {m} (models.estimate, summed)"
                         + (f"; with recompute_s and norm_reduction_s, over all {stages} stages, which run at the same time:"
                            " the step counts their sum / stages, plus imbalance, copies and bubble" if piped else "")
                         + ("; less the backward-data pass of " + ", ".join(net.layers[i].name for i, _ in skipped)
                            + ": no gradient for the images (TensorFlow/PopART differentiate only towards the weights;"
                            " work.input_gradient_skipped)" if skipped else "")),
        "recompute_s": Term(recompute_s, "s", "the forward pass run again from checkpoints in the backward pass" if recompute else "no recomputation"),
        "norm_reduction_s": Term(norm_s, "s", (f"norm statistics and their gradients reduced across tiles (models.ipu_norm, after poplin Norms.cpp): per norm layer and micro-batch 3 reductions"
                                 f" of {ipu_norm.REDUCTION_COMPUTE_SETS} compute sets each (on-tile partials; c fp32 partials exchanged and added), beside"
                                 f" {ipu_norm.FORWARD_PASSES} + {ipu_norm.BACKWARD_PASSES} element-wise passes counted in layers_s"
                                 + (f" + 2 all-reduces of c x 8 B across the {span} replicas sharing statistics" if span > 1 else ""))
                                 if net.train else "inference: batch norm applies its stored statistics, nothing is reduced"),
        "pipeline_copy_s": Term(copies_s, "s", f"inter-IPU copies of the slowest stage: activations forward{', gradients backward' if net.train else ''}, over {link / 1e9:g} GB/s"
                                if piped else "one stage: no inter-IPU copies"),
        "pipeline_imbalance_s": Term(imbalance_s, "s", f"{_count(micro, 'micro-batch')} x the slowest stage minus an even split of the work over {stages} stages"
                                     if piped else "one stage: nothing to balance"),
        "pipeline_bubble_s": Term(bubble_s, "s", f"ramp-up and ramp-down: ({stages} - 1) x the slowest stage ({slowest * 1e3:.3g} ms)"
                                  if piped else "one stage: no ramp-up or ramp-down"),
        "gradient_accumulation_s": Term(accumulate_s, "s", (f"{_count(micro, 'micro-batch')} x each weight gradient added into its accumulator, one compute set per tensor (models.ipu_optimizer)"
                                        + (f", over all {stages} stages (inside the stages' time)" if piped else "")
                                        if micro > 1 else "one micro-batch a step: nothing accumulated") if net.train else "inference: no gradients"),
        "weight_update_s": Term(update_s, "s", (f"{net.optimizer} per weight tensor, each step a compute set of its own (models.ipu_optimizer): {update_sets} compute sets"
                                                f"{' (all stages; the slowest stage counts)' if piped else ''}"
                                                + (", state offloaded to streaming memory" if offload else ""))
                                if net.train else "inference: no weight update"),
        "allreduce_s": Term(allreduce, "s", _allreduce_why(net.train, replicas, f"gradients ({w:,.0f} B per stage)")),
        "host_io_s": host_io,
        "sync_s": Term(sync_s, "s", f"one superstep's sync, {s.sync_cycles:g} cycles: already inside every layer's passes, not added again"),
    }
    layer_share = [micro * t for t in per_layer]
    # the layers' bounds, scaled to the time the (pipelined) micro-batches take
    bound_time = {k: 0.0 for k in BOUNDS}
    for e, f, c in zip(train_u, fwd_u, net.shapes.count):
        scale = c * (1 + (f / e.time_s if e.time_s else 0.0))
        for k, v in e.time_by_bound.items():
            bound_time[k] += scale * v
    for _, p in skipped:
        for k, v in p.time_by_bound.items():
            bound_time[k] -= v
    layer_sum = sum(bound_time.values())
    useful = compute_s - copies_s - (norm_s + accumulate_s) / stages - imbalance_s
    for k in bound_time:
        bound_time[k] *= useful / layer_sum if layer_sum else 0.0
    bound_time["overhead"] += (norm_s + accumulate_s) / stages + bubble_s + imbalance_s + update_s
    bound_time["exchange"] += copies_s + allreduce + host_io.value
    return Step(chip.id, plan, time_s, MappingProxyType(terms), tuple(layer_share),
                tuple(net.per_layer([e.bound for e in train_u])), MappingProxyType(bound_time), MappingProxyType(mem),
                float(s.sram_total_bytes), choice)


def _host_io(chip: Chip, batch: int, image_elems: int, busy_s: float, single: tuple | None) -> Term:
    """The input images' time over the host links (8-bit, per node) beyond what overlaps the
    ``busy_s`` of the step. ``single``: (link B/s, overlapped, how) for one chip without a
    system spec; None where that chip's spec has no host link (a GPU: its data loaders prefetch)."""
    image_b = batch * image_elems * IMAGE_BYTES_PER_ELEMENT
    if chip.system is not None:
        bw, overlap = chip.system.host_link_gb_s * 1e9 * chip.system.nodes, bool(chip.system.io_overlap)
        how = "I/O tiles" if chip.family == "ipu" else "prefetching data loaders"
    elif single is not None:
        bw, overlap, how = single
    else:
        return Term(0.0, "s", "input pipeline overlapped with compute (prefetching data loaders); the spec has no host link")
    io_s = image_b / bw
    added = max(0.0, io_s - busy_s) if overlap else io_s
    return Term(added, "s", f"{image_b:,.0f} B of 8-bit images at {bw / 1e9:g} GB/s = {io_s * 1e3:.3g} ms, "
                + (f"overlapped with compute ({how}): only the excess counts" if overlap else "a phase of its own (not overlapped)"))


def _input_pipeline(chip: Chip, batch: int, busy_s: float, train: bool) -> Term:
    """The host CPU's loader workers decoding and augmenting a training batch (PyTorch's
    DataLoader: one image at a time per worker process) while the devices run the ``busy_s``
    before it: a ceiling of (workers running at once) x (a worker's images per second), where
    a worker makes at most what it makes on a core of its own (spec field
    loader_img_s_per_core) and at most one worker runs per hardware thread. Prefetching hides
    it up to ``busy_s``. The spec's loader is the training pipeline (random crops, flips,
    augmentation); inference timings such as NVIDIA's exclude the wait for data."""
    s = chip.system
    if s is None or not s.loader_workers_per_device:
        return Term(0.0, "s", "no CPU data loader in the spec (DALI, synthetic data, or a device without its host): "
                    "the images are assumed ready when the step needs them")
    if not train:
        return Term(0.0, "s", "inference: the spec's loader is its training pipeline, and inference is timed without "
                    "the wait for data")
    workers = s.loader_workers_per_device * chip.devices
    running = min(workers, s.host_threads) if s.host_threads else workers
    rate = running * s.loader_img_s_per_core
    load_s = batch / rate
    limit = f", capped by the host's {s.host_threads} hardware threads" if running < workers else ""
    return Term(max(0.0, load_s - busy_s), "s",
                f"host input pipeline: {running} loader workers ({s.loader_workers_per_device} per device{limit}) x "
                f"{s.loader_img_s_per_core:g} img/s per core = {rate:,.0f} img/s, {batch:,} images in {load_s * 1e3:.3g} ms; "
                "prefetched while the devices compute: only the excess counts")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "es" if noun.endswith("h") else "s")


def _allreduce_why(train: bool, replicas: int, what: str) -> str:
    if not train:
        return "inference: no gradients to all-reduce"
    if replicas == 1:
        return "one replica: no gradients to all-reduce"
    return f"{what} all-reduced over {replicas} replicas (models.collectives)"


def _why_ipu(plan: Plan, offload: bool, train: bool, partial_bytes: int, amp: float, dtype: str) -> str:
    parts = []
    if plan.pipeline_stages > 1:
        parts.append(f"pipelined over {plan.pipeline_stages} IPUs")
    if plan.recompute:
        parts.append("recomputation")
    if plan.gradient_accumulation > 1:
        parts.append(f"micro-batch {plan.micro_batch} x {plan.gradient_accumulation}" + (" (gradient accumulation)" if train else " (serial)"))
    if offload:
        parts.append("optimizer state offloaded to streaming memory")
    if not plan.fits:
        parts.append("does not fit In-Processor Memory even so")
    head = f"{plan.replicas} replica{'s' if plan.replicas > 1 else ''}"
    partials = (f"; {'half' if partial_bytes == 2 else 'float'} conv partial sums (poplibs' partialsType, Graphcore's configs: half"
                + ("; float ones of fp16 data are held beside the output until cast, in temporaries" if partial_bytes == 4 and dtype == "fp16" else "") + "),"
                f" conv temporaries within {amp:g} of tile memory (availableMemoryProportion)")
    return head + (": " + ", ".join(parts) if parts else ": everything resident, one micro-batch") + partials


# ---- GPUs and the host ---------------------------------------------------------------------
def _data_parallel_step(net: _Net, batch: int, image_elems: int, pins: Pins) -> Step:
    chip = net.chip
    replicas = pins.replicas or replicas_for(batch, chip.devices, pins.micro_batch)
    per_replica = batch // replicas
    params = sum(net.cols.weights) / dtype_bytes(net.dtype)
    if chip.family == "gpu":
        capacity = chip.spec.hbm_gb * 1e9
        state = 4 * gpu_kernels.OPTIMIZER_STATE_TENSORS.get(net.optimizer, 1)
        resident = params * (GPU_BYTES_PER_PARAM + state if net.train else dtype_bytes(net.dtype))
        kept = sum(net.cols.kept) if net.train else max(i + o for i, o in zip(net.cols.inputs, net.cols.outputs))
    else:
        capacity, resident, kept = float("inf"), 0.0, 0
    options = [pins.micro_batch] if pins.micro_batch else divisors(per_replica)
    fitting = [m for m in options if resident + kept * m <= capacity]
    m = fitting[0] if fitting else options[-1]
    fits = bool(fitting)
    micro = -(-per_replica // m)
    est = net.est_shapes(m, net.train)  # per distinct shape
    layers_s = micro * sum(e.time_s * c for e, c in zip(est, net.shapes.count))
    update_s = host_s = amp_s = sums_s = image_s = 0.0
    stem = None  # the first layer reading the images (their own kernels are in its share)
    sums = (0, 0)
    skipped = []  # (layer index, its backward-data phase, which autograd never runs)
    absorbed = []  # (layer index, its forward phase, run inside the next convolution's main loop)
    casts_l = [0.0] * len(est)  # inference: each layer's autocast cast of its own weights
    cast_s = 0.0
    if chip.family == "gpu":
        s = chip.spec
        ops, tensors, casts, cast_params = _gpu_counts(net)
        if net.train:
            update_s = gpu_update_s(s, params, tensors, net.optimizer)
            sums = gpu_kernels.gradient_sums(net.layers, net.dtype, m, bool(s.grad_accumulate_in_place))
            sums_s = micro * gpu_kernels.gradient_sum_s(s, *sums)
            # mixed precision: autocast's casts both ways, GradScaler's unscale (a multi-tensor
            # mixed-precision update does both inside its own kernels)
            if net.dtype == "fp16" and not s.multi_tensor_update:
                amp_s = micro * gpu_kernels.amp_cast_s(s, casts, cast_params) + gpu_kernels.amp_unscale_s(s, tensors, params)
            # no gradient for the images: the layers reading them skip their backward-data pass
            skipped = _skipped_backward_data(net, m)
            layers_s -= micro * sum(p.time_s for _, p in skipped)
        elif net.dtype == "fp16":  # inference: a layer's call casts its weights (part of its share)
            casts_l = [gpu_kernels.amp_cast_s(s, *gpu_kernels.cast_tensors(net.layers[i]), train=False) for i in net.shapes.first]
            cast_s = micro * sum(c * n for c, n in zip(casts_l, net.shapes.count))
            layers_s += cast_s
        if s.bn_apply_in_conv:  # norms applied in the next convolution's main loop: no forward kernel
            absorbed = _absorbed_norm_forwards(net, m)
            layers_s -= micro * sum(p.time_s for _, p in absorbed)
        # the images' own kernels (float conversion, normalisation, autocast's cast), in the share
        # of the first layer reading them
        stem = next(iter(net.shapes.stems), None)
        if stem is not None:
            image_s = micro * gpu_kernels.input_s(s, net.dtype, net.layers[stem].input_bytes(net.dtype, m) // dtype_bytes(net.dtype))
            layers_s += image_s
        # the host issues every micro-batch's forward ops (autocast's casts among them); the GPU
        # waits for what its own work has not hidden
        host_s = max(0.0, micro * gpu_kernels.host_dispatch_s(s, ops, net.dtype) - layers_s)
    allreduce = collectives.allreduce_s(float(sum(net.cols.weights)), replicas, chip.system) if net.train else 0.0
    busy = layers_s + sums_s + host_s + update_s + amp_s + allreduce
    host_io = _host_io(chip, batch, image_elems, busy, None)
    loader = _input_pipeline(chip, batch, busy + host_io.value, net.train)
    time_s = busy + host_io.value + loader.value
    plan = Plan(replicas, replicas, 1, m, micro, False, fits)
    terms = {
        "layers_s": Term(layers_s, "s", f"{_count(micro, 'micro-batch')} x every layer's passes at micro-batch {m} (models.estimate, summed)"
                         + ("; each with autocast's cast of its weights to fp16 (gpu_kernels.amp_cast_s)" if cast_s else "")
                         + (f"; with the images' own kernels before {net.layers[stem].name} (gpu_kernels.input_kernels)" if image_s else "")
                         + ("; less the backward-data pass of " + ", ".join(net.layers[i].name for i, _ in skipped)
                            + ": autograd computes no gradient for the images (work.input_gradient_skipped)" if skipped else "")
                         + (f"; less the forward of {len(absorbed)} batch norms applied inside the next convolution's main loop "
                            "(spec field bn_apply_in_conv; gpu_kernels.norms_applied_in_next_conv)" if absorbed else "")),
        "weight_update_s": Term(update_s, "s", _update_why(chip, net) if net.train else "inference: no weight update"),
        "allreduce_s": Term(allreduce, "s", _allreduce_why(net.train, replicas, "gradients")),
        "host_io_s": host_io,
    }
    if chip.family == "gpu":
        terms["input_pipeline_s"] = loader
        terms["host_dispatch_s"] = Term(host_s, "s", _host_why(chip, net, micro))
        terms["gradient_sum_s"] = Term(sums_s, "s", _sums_why(chip, sums, micro) if net.train else "inference: no gradients")
        terms["amp_s"] = Term(amp_s, "s", _amp_why(net, micro) if amp_s else "no step-level mixed-precision work: inference (a "
                               "layer's weight cast is in its share, none where the spec keeps fp16 weights: fp16_weights), fp32, "
                               "or a multi-tensor update that unscales the gradients and writes the fp16 weights itself (multi_tensor_update)")
    bound_time = {k: 0.0 for k in BOUNDS}
    for e, c in zip(est, net.shapes.count):
        for k, v in e.time_by_bound.items():
            bound_time[k] += micro * c * v
    for _, p in skipped + absorbed:
        for k, v in p.time_by_bound.items():
            bound_time[k] -= micro * v
    bound_time["memory"] += update_s + amp_s + sums_s + cast_s + image_s
    bound_time["overhead"] += host_s + loader.value
    bound_time["exchange"] += allreduce + host_io.value
    why = f"{replicas} replica{'s' if replicas > 1 else ''}, micro-batch {m} x {micro}" + ("" if fits else ", does not fit device memory")
    mem = {"weights_and_state": float(resident), "activations": float(kept * m)}
    shares = net.per_layer([micro * (e.time_s + c) for e, c in zip(est, casts_l)])
    for i, p in skipped + absorbed:
        shares[i] -= micro * p.time_s
    if image_s:
        shares[stem] += image_s
    return Step(chip.id, plan, time_s, MappingProxyType(terms), tuple(shares),
                tuple(net.per_layer([e.bound for e in est])), MappingProxyType(bound_time), MappingProxyType(mem), capacity, why)


def _skipped_backward_data(net: _Net, m: int) -> list[tuple[int, Phase]]:
    """(layer index, its backward-data phase at micro-batch ``m``) of the layers reading only
    the images, whose input gradient no framework computes (work.input_gradient_skipped). A
    norm layer's IPU training cost is its own program (models.ipu_norm), not these phases."""
    out = []
    for i in net.shapes.stems:
        layer = net.layers[i]
        if net.chip.family == "ipu" and layer.kind is LayerKind.NORM:
            continue
        phases = device_phases(net.chip, layer, m, net.dtype, True, net.conv).phases
        out += [(i, p) for p in phases if p.name == "backward_data"]
    return out


def _absorbed_norm_forwards(net: _Net, m: int) -> list[tuple[int, Phase]]:
    """(layer index, its forward phase at micro-batch ``m``) of the batch norms a main-loop
    fused convolution applies as it loads them (gpu_kernels.norms_applied_in_next_conv)."""
    return [(i, p) for i in gpu_kernels.norms_applied_in_next_conv(net.layers)
            for p in device_phases(net.chip, net.layers[i], m, net.dtype, net.train, net.conv).phases if p.name == "forward"]


def _gpu_counts(net: _Net) -> tuple[int, int, int, int]:
    """(forward-pass ops the framework issues, parameter tensors, tensors autocast casts to
    fp16 and their parameters) of one micro-batch."""
    counts = net.cache.get("gpu_counts")
    if counts is None:
        firsts = [net.layers[i] for i in net.shapes.first]
        ops = sum(gpu_kernels.framework_ops(l, net.dtype) * c for l, c in zip(firsts, net.shapes.count))
        tensors = sum(gpu_kernels.parameter_tensors(l) * c for l, c in zip(firsts, net.shapes.count))
        casts = [gpu_kernels.cast_tensors(l) for l in firsts]
        cast_n = sum(t * c for (t, _), c in zip(casts, net.shapes.count))
        cast_p = sum(p * c for (_, p), c in zip(casts, net.shapes.count))
        counts = net.cache["gpu_counts"] = (ops, tensors, cast_n, cast_p)
    return counts


def _update_why(chip: Chip, net: _Net) -> str:
    head = (f"{net.optimizer} step: fp32 master weights, gradients and "
            f"{_count(gpu_kernels.OPTIMIZER_STATE_TENSORS[net.optimizer], 'state tensor')} read, weights and state written, at HBM bandwidth, ")
    n = getattr(chip.spec, "multi_tensor_update", 0)
    if n:
        return head + f"in one kernel launch per {n} parameter tensors (a multi-tensor update: spec field multi_tensor_update)"
    return head + ("in {} kernel launches per parameter tensor (PyTorch's per-tensor optimizer, zero_grad, gradient accumulation) "
                   "or {} host-issued ops at host_op_us, the slower".format(*gpu_kernels.optimizer_kernels(net.optimizer)))


def _sums_why(chip: Chip, sums: tuple[int, int], micro: int) -> str:
    if chip.spec.grad_accumulate_in_place:
        return (f"the kernels producing a tensor's further gradients add them in place, reading the partial sums: {micro} x "
                f"{sums[0] / 1e6:.3g} MB, no add kernels (spec field grad_accumulate_in_place; gpu_kernels.gradient_sums)")
    return (f"autograd adds the gradients of tensors read by several layers: {micro} x "
            f"{sums[1]} add kernels moving {sums[0] / 1e6:.3g} MB (gpu_kernels.gradient_sums)")


def _amp_why(net: _Net, micro: int) -> str:
    _, tensors, casts, cast_params = _gpu_counts(net)
    return (f"mixed precision (torch.cuda.amp): {micro} x {casts} weight tensors ({cast_params:,} parameters) cast to fp16 "
            "in every forward (autocast caches a cast for one forward only) and their gradients back to fp32, a kernel "
            f"each way; GradScaler's unscale and inf check of {tensors} gradients in multi-tensor launches "
            "(gpu_kernels.amp_cast_s, amp_unscale_s)")


def _host_why(chip: Chip, net: _Net, micro: int) -> str:
    ops = _gpu_counts(net)[0]
    us = gpu_kernels.host_us_per_op(chip.spec, net.dtype)
    if chip.spec.cuda_graphs:
        return "the step replays CUDA graphs captured once (spec field cuda_graphs): no host issues its ops one by one"
    if not us:
        return "no host figure for this GPU's machine: the host is assumed to keep ahead of the GPU"
    return (f"the host issues {micro} x {ops} forward ops at {us:g} us each ({micro * ops * us / 1e3:.3g} ms; "
            f"spec field {'host_dispatch_fp32_us' if us != chip.spec.host_dispatch_us else 'host_dispatch_us'}): "
            "the GPU waits for what its own work does not hide")
