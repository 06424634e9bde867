"""HostSession's plan of a network: which layers each engine step computes (convolutions
absorbing batch norm, residual additions, activations and squeeze-excite's pooling; depthwise
and pointwise convolutions paired) and where every activation lives (buffer slots reused as a
framework's memory planner reuses them, checked against the memory limit before anything is
allocated)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import errors
from ..layers import Layer, LayerKind
from . import epilogue
from .graph import INPUT, Network

# Activations a convolution's epilogue applies; others run as their own step.
EPILOGUE_ACTS = frozenset(epilogue.ACTIVATIONS)


@dataclass
class _Step:
    """One engine call (or numpy op) of the planned run."""

    kind: str  # "conv", "pool", "se", "act", "add", "norm"
    layer: Layer  # the first layer it computes
    inputs: tuple[str, ...]  # tensor names read
    output: str  # tensor name written (the last absorbed layer's name)
    out_shape: tuple[int, int, int]
    fused: list[str] = field(default_factory=list)  # names of layers folded into this step
    weight: np.ndarray | None = None  # conv: float64 until the step is built
    bias: np.ndarray | None = None
    act: str | None = None  # conv epilogue activation
    residual: str | None = None  # conv epilogue: tensor added before the activation
    sums: bool = False  # conv epilogue: also each channel's sum (for the squeeze-excite reading it)
    inplace: bool = False  # writes over its input (squeeze-excite's channel scale)
    scale_from: str | None = None  # conv: the squeeze-excite whose channel scale its exchange applies
    first: "_Step | None" = None  # pair: the depthwise step whose rows stay in tile memory
    expand: "_Step | None" = None  # pair: the 1x1 expand before it, its rows in tile memory too (a block)
    params: dict[str, Any] = field(default_factory=dict)


# ---- planning: fusion ---------------------------------------------------------------------
def fold_batch_norm(weight: np.ndarray, bias: np.ndarray | None, norm: dict) -> tuple[np.ndarray, np.ndarray]:
    """Weights and bias of conv followed by inference batch norm, in float64:
    bn(conv(x) + b) = conv_{w * s}(x) + (b - mean) * s + shift with s = scale / sqrt(var + eps)."""
    s = np.asarray(norm["scale"], np.float64) / np.sqrt(np.asarray(norm["var"], np.float64) + norm["epsilon"])
    b = np.zeros(weight.shape[0]) if bias is None else np.asarray(bias, np.float64)
    folded_w = np.asarray(weight, np.float64) * s.reshape(-1, *([1] * (weight.ndim - 1)))
    folded_b = (b - np.asarray(norm["mean"], np.float64)) * s + np.asarray(norm["shift"], np.float64)
    return folded_w, folded_b


def _plan(network: Network, params: dict, fuse_pairs: bool = True) -> list[_Step]:
    """The network as steps: each convolution absorbs a following batch norm, residual add and
    activation when it is their only producer-side reader (the unfused tensor is never read);
    squeeze-excite pools in its producer's write phase and scales in its consumer's exchange;
    a depthwise convolution and the pointwise one that alone reads it become one "pair" step."""
    readers: dict[str, list[int]] = {}
    for index, layer in enumerate(network.layers):
        for name in layer.inputs:
            readers.setdefault(name, []).append(index)
    output = network.layers[-1].name
    produced_by: dict[str, int] = {INPUT: -1}  # tensor -> index of the step computing it
    alias: dict[str, str] = {}  # an absorbed layer's name -> the step output holding its value
    absorbed: set[int] = set()
    steps: list[_Step] = []

    def resolve(name: str) -> str:
        return alias.get(name, name)

    for index, layer in enumerate(network.layers):
        if index in absorbed:
            continue
        inputs = tuple(resolve(name) for name in layer.inputs)
        p = params.get(layer.name, {})
        step = _Step(layer.kind.value, layer, inputs, layer.name, layer.out_shape, params=p)
        if layer.kind in (LayerKind.CONV, LayerKind.LINEAR):
            step.kind = "conv"
            weight = np.asarray(p["weight"], np.float64)
            if layer.kind is LayerKind.LINEAR:
                c, h, w = _linear_input_shape(network, layer)
                weight = weight.reshape(layer.k, c, h, w)  # the classifier as a convolution over its map
            step.weight, step.bias = weight, None if p.get("bias") is None else np.asarray(p["bias"], np.float64)
            current = layer.name
            while current != output and len(readers.get(current, ())) == 1:
                nxt_index = readers[current][0]
                nxt = network.layers[nxt_index]
                np_ = params.get(nxt.name, {})
                if nxt.kind is LayerKind.NORM and nxt.op == "batch" and "scale" in np_ and not (step.act or step.residual):
                    step.weight, step.bias = fold_batch_norm(step.weight, step.bias, np_)
                elif nxt.kind is LayerKind.ADD and not (step.act or step.residual) and nxt.inputs.count(current) == 1:
                    other = resolve(next(name for name in nxt.inputs if name != current))
                    if produced_by.get(other) is None:  # computed after this convolution
                        break
                    step.residual = other
                elif nxt.kind is LayerKind.ACT and not step.act and _epilogue_act(nxt, np_):
                    step.act = _epilogue_act(nxt, np_)
                else:
                    break
                absorbed.add(nxt_index)
                step.fused.append(nxt.name)
                alias[current] = nxt.name
                current = nxt.name
            step.output = current
            for name in step.fused:
                alias[name] = current
            alias[layer.name] = current
        produced_by[step.output] = len(steps)
        steps.append(step)
    for step in steps:  # squeeze-excite: the pool in its producer's epilogue, the scale in place
        if step.kind == "se":
            source = steps[produced_by[step.inputs[0]]] if step.inputs[0] != INPUT else None
            only_reader = len(readers.get(step.layer.inputs[0], ())) == 1
            if source is not None and source.kind == "conv" and only_reader:
                source.sums = True
            step.inplace = only_reader and step.inputs[0] != INPUT
            consumers = [s for s in steps if step.output in s.inputs or s.residual == step.output]
            if step.inplace and len(consumers) == 1 and consumers[0].kind == "conv" \
                    and consumers[0].layer.kind is LayerKind.CONV and consumers[0].inputs == (step.output,):
                consumers[0].scale_from = step.output
    return _pair_steps(steps) if fuse_pairs else steps


def _pair_steps(steps: list[_Step]) -> list[_Step]:
    """Each depthwise convolution whose output only a pointwise convolution (1x1, stride 1, no
    padding, one group, >= 8 channels in and out: the channel kernel) reads, merged with it into
    a "pair" step at the pointwise one's place; with the pointwise convolution before it (the
    expand of an inverted-residual block) when the depthwise one alone reads its output."""
    readers: dict[str, list[_Step]] = {}
    for s in steps:
        for name in {*s.inputs, *([s.residual] if s.residual else [])}:
            readers.setdefault(name, []).append(s)
    producer = {s.output: s for s in steps}
    merged: dict[int, _Step] = {}  # id of the pointwise step -> the pair
    dropped: set[int] = set()
    for first in steps:
        a = first.layer
        if not (first.kind == "conv" and a.kind is LayerKind.CONV and a.g == a.c == a.k and a.g > 1
                and first.residual is None and not first.sums and first.scale_from is None):
            continue
        (second, *more) = readers.get(first.output, [None])
        if more or second is None or not _is_pointwise(second) or second.inputs != (first.output,) \
                or second.scale_from:
            continue
        b = second.layer
        pair = _Step("pair", b, first.inputs, second.output, second.out_shape,
                     fused=[a.name, *first.fused, b.name, *second.fused], weight=second.weight, bias=second.bias,
                     act=second.act, residual=second.residual, sums=second.sums, first=first)
        expand = producer.get(first.inputs[0])
        if expand is not None and readers.get(expand.output) == [first] and _is_pointwise(expand) \
                and expand.residual is None and not expand.sums and expand.scale_from is None:
            pair.expand, pair.inputs = expand, expand.inputs
            pair.fused = [expand.layer.name, *expand.fused, *pair.fused]
            dropped.add(id(expand))
        merged[id(second)] = pair
        dropped.add(id(first))
    return [merged.get(id(s), s) for s in steps if id(s) not in dropped]


def _is_pointwise(step: _Step) -> bool:
    """A conv step the engine's pointwise path runs: 1x1, stride 1, no padding, one group,
    >= 8 channels in and out."""
    b = step.layer
    return step.kind == "conv" and b.kind is LayerKind.CONV and (b.r, b.s, b.g) == (1, 1, 1) \
        and tuple(b.stride) == (1, 1) and not any(b.pad) and b.c >= 8 and b.k >= 8


def _epilogue_act(layer: Layer, p: dict) -> str | None:
    op = "silu" if layer.op == "swish" else layer.op
    if p.get("onnx_op") == "HardSigmoid" or op not in EPILOGUE_ACTS:
        return None
    return op


def _linear_input_shape(network: Network, layer: Layer) -> tuple[int, int, int]:
    """The [c, h, w] map a linear layer flattens (a pool's [c, 1, 1] in the usual classifier)."""
    producer = layer.inputs[0]
    shape = network.input_shape if producer == INPUT else network.layer(producer).out_shape
    if int(np.prod(shape)) != layer.c:
        raise ValueError(f"layer {layer.name!r} expects {layer.c} inputs, {producer!r} gives {shape}")
    return shape


# ---- planning: buffers ------------------------------------------------------------------
@dataclass(frozen=True)
class _BufferPlan:
    slot_of: dict[str, int]  # tensor -> buffer slot
    shape_of: dict[str, tuple[int, int, int]]
    slot_floats: tuple[int, ...]  # each slot's size


def _buffer_plan(steps: list[_Step], network: Network) -> _BufferPlan:
    """Greedy reuse, as a framework's memory planner: a step's output takes a free slot (the
    smallest big enough, else the largest, grown) once every reader of the slot's previous
    tensor has run. A step never writes a slot it reads (the engine refuses overlap)."""
    last_read: dict[str, int] = {}
    for index, step in enumerate(steps):
        for name in (*step.inputs, *([step.residual] if step.residual else [])):
            last_read[name] = index
    floats_per_image: list[int] = []
    free: list[int] = []
    slot_of: dict[str, int] = {}
    shape_of: dict[str, tuple[int, int, int]] = {}
    for index, step in enumerate(steps):
        need = int(np.prod(step.out_shape))
        fits = [s for s in free if floats_per_image[s] >= need]
        if step.inplace:
            slot = slot_of[step.inputs[0]]
        elif fits:
            slot = min(fits, key=lambda s: floats_per_image[s])
        elif free:
            slot = max(free, key=lambda s: floats_per_image[s])
            floats_per_image[slot] = need
        else:
            slot = len(floats_per_image)
            floats_per_image.append(need)
        if slot in free:
            free.remove(slot)
        slot_of[step.output] = slot
        shape_of[step.output] = step.out_shape
        for name in set((*step.inputs, *([step.residual] if step.residual else []))):
            if name != INPUT and last_read.get(name) == index and slot_of[name] != slot:
                free.append(slot_of[name])
        if step.output not in last_read and index != len(steps) - 1:
            free.append(slot)  # an output nobody reads (a dead branch)
    return _BufferPlan(slot_of, shape_of, tuple(floats_per_image))


def pair_scratch_floats(steps: list[_Step]) -> tuple[int, int]:
    """Floats per image of the two scratch tensors an unfused pair or block runs through: the
    depthwise output, and the expand's output."""
    pairs = [s for s in steps if s.kind == "pair"]
    return (max((int(np.prod(s.first.out_shape)) for s in pairs), default=0),
            max((int(np.prod(s.expand.out_shape)) for s in pairs if s.expand), default=0))


def _check_memory(name: str, batch: int, steps: list[_Step], plan: _BufferPlan, winograd: bool = False) -> None:
    """Refuse before allocating: activation buffers, packed weights (about their own size; with
    ``winograd`` also the Winograd handles of the dense 3x3 stride-1 layers, 16/9 of theirs, which
    exist side by side with the direct ones until the session has chosen), a pair's or block's
    unfused scratch and the pool's tiles against the engine's memory limit."""
    from .session_runners import winograd_candidate

    from .. import engine

    convs = [*steps, *(s.first for s in steps if s.kind == "pair"), *(s.expand for s in steps if s.expand)]
    activations = 4 * batch * (sum(plan.slot_floats) + sum(pair_scratch_floats(steps)))
    activations += HUGE_PAGE + 64 * (len(plan.slot_floats) + 1)  # _arena's rounding
    weights = sum(4 * s.weight.size for s in convs if s.weight is not None)
    if winograd:
        weights += sum(4 * s.weight.size * 16 // 9 for s in steps
                       if s.kind == "conv" and s.weight is not None and winograd_candidate(s.layer))
    tiles = engine.cpu_count() * engine.DEFAULT_TILE_BYTES
    total = activations + weights + tiles
    limit = engine.get_memory_limit()
    if limit is not None and total > limit:
        raise errors.MemoryLimitExceeded(
            f"HostSession: {name} at batch {batch} needs {total} bytes ({activations} of activations, "
            f"{weights} of weights), over the memory limit ({limit} bytes); use a smaller batch or "
            f"ipuexplore.engine.set_memory_limit()", "IPX_STATUS_MEMORY_LIMIT")


def _check_tiles(name: str, batch: int, tile_bytes: int, workers: int | None) -> None:
    """Tiles larger than the default (a layer that needs them, the classifier over a large
    batch) are checked again before the pool allocates them."""
    from .. import engine

    extra = (workers or engine.cpu_count()) * (tile_bytes - engine.DEFAULT_TILE_BYTES)
    limit = engine.get_memory_limit()
    if extra > 0 and limit is not None and extra > limit:
        raise errors.MemoryLimitExceeded(
            f"HostSession: {name} at batch {batch} needs tiles of {tile_bytes} bytes per worker, over the "
            f"memory limit ({limit} bytes)", "IPX_STATUS_MEMORY_LIMIT")


# ---- buffers: one mapping --------------------------------------------------------------
HUGE_PAGE = 2 << 20
USE_HUGE_PAGES = True


def _centered(buffer: np.ndarray, size: int) -> np.ndarray:
    """``size`` floats in the middle of ``buffer`` (starting on a cache line). Workers own
    contiguous fractions of most passes' outputs (pool.c: images, channel blocks): a tensor
    centred in a reused buffer puts two workers' boundary at the same address whatever its
    size, so a worker writes the lines it wrote last time (its own cache) rather than the ones
    the other core holds modified."""
    start = (buffer.size - size) // 32 * 16
    return buffer[start: start + size]


def _arena(sizes: list[int]) -> list[np.ndarray]:
    """float32 buffers of ``sizes`` floats in one anonymous mapping marked for transparent huge
    pages: a whole run walks megabytes of activations step after step, which in 4 KiB pages
    is more pages than the TLB maps (a walk on every new page); each buffer starts on a cache line."""
    offsets, total = [], 0
    for size in sizes:
        offsets.append(total)
        total += -(-4 * size // 64) * 64
    if not USE_HUGE_PAGES or total == 0:
        return [np.empty(size, np.float32) for size in sizes]
    import mmap

    area = mmap.mmap(-1, -(-total // HUGE_PAGE) * HUGE_PAGE)
    if hasattr(mmap, "MADV_HUGEPAGE"):
        try:
            area.madvise(mmap.MADV_HUGEPAGE)
        except OSError:  # no transparent huge pages here: ordinary pages
            pass
    return [np.frombuffer(area, np.float32, size, offset) for size, offset in zip(sizes, offsets)]
