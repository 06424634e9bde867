"""A whole network prepared once and run many times on the C engine: ``HostSession``.

Built the way an inference runtime builds its graph (ONNX Runtime's session, XNNPACK's
subgraph): every convolution is created once with its weights packed; batch norm is folded
into the preceding convolution's weights and bias; a following residual addition and
activation become the convolution's epilogue (``epilogue.py``); squeeze-excite's excitation
and the classifier are fully connected engine passes (``engine.SqueezeExcite``, ``Linear``);
every activation buffer is planned and allocated at build time, and each step's C call bound
to its buffers then, so a run allocates nothing but its returned copy.

ONNX models run with their own weights (initializers), so results can be checked against
other runtimes; built-in networks run with seeded random weights.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import errors
from ..layers import Layer, LayerKind
from . import epilogue
from .graph import INPUT, Network

# How HostSession runs a depthwise convolution and the pointwise one reading it: "measure"
# times both ways at build and keeps the faster, "always" one pass, "never" two.
PAIR_CHOICES = ("measure", "always", "never")
# Activations a convolution's epilogue applies; others run as their own step.
EPILOGUE_ACTS = frozenset(epilogue.ACTIVATIONS)
# ONNX ops whose meaning the session reproduces exactly (the importer maps a few others,
# e.g. Gelu, approximately for the cost models: those are refused here).
_EXACT_ONNX_ACTS = {"Relu", "Clip", "Sigmoid", "Silu", "HardSwish", "HardSigmoid", "Tanh"}


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
    params: dict[str, Any] = field(default_factory=dict)


class HostSession:
    """``HostSession(model, batch, *, workers=None)``: ``model`` is an ONNX path or a built-in
    network name (see ``ipuexplore.networks.list_networks``); ``run(x)`` with a float32
    [batch, c, h, w] array returns the network's output (a new array).

    Raises ValueError naming the parameter for a bad batch, an unknown name, a model whose
    static batch differs, or an op the engine cannot run (its name and node);
    ``MemoryLimitExceeded`` when the planned buffers and weights exceed the engine's memory
    limit (nothing is allocated then). One session serves one ``run`` at a time. ``model`` may
    also be a built `Network` (random weights, from ``seed``).
    """

    def __init__(self, model: str | os.PathLike | Network, batch: int, *, workers: int | None = None,
                 seed: int = 0, pairs: str = "measure"):
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        if pairs not in PAIR_CHOICES:
            raise ValueError(f"pairs must be one of {PAIR_CHOICES}, got {pairs!r}")
        self.batch = int(batch)
        network, params, self._output_shape = _load(model, self.batch, seed)
        self.network = network
        self.steps = _plan(network, params, fuse_pairs=pairs != "never")
        self._sizes = _buffer_plan(self.steps, network)
        _check_memory(network.name, self.batch, self.steps, self._sizes)
        from .. import engine  # lazy: only running needs the compiled engine

        self._pool = None
        convs = {}
        try:
            convs = _create_convs(self.steps, self.batch, engine)
            # one pool for the whole network, its tiles as large as the largest layer needs
            need = max((c.info["min_tile_bytes"] for c in convs.values()), default=0)
            tile_bytes = max(need, engine.DEFAULT_TILE_BYTES)
            _check_tiles(network.name, self.batch, tile_bytes, workers)
            self._pool = engine.Pool(workers, tile_bytes=tile_bytes)
            self._build(engine, convs, pairs)
        except BaseException:
            for conv in convs.values():
                conv.close()
            if self._pool is not None:
                self._pool.close()
            raise

    # ---- build -----------------------------------------------------------------------
    def _build(self, engine, convs, pairs: str) -> None:
        n = self.batch
        sums = {s.output: np.empty((n, s.out_shape[0]), np.float32) for s in self.steps if s.sums}
        # squeeze-excite scales the next convolution applies in its exchange (row and channel kernels)
        scales = {s.scale_from: np.empty((n, s.layer.c), np.float32) for s in self.steps
                  if s.scale_from and convs[id(s)].info["kernel"] in ("row", "channel")}
        mid = max((int(np.prod(s.first.out_shape)) for s in self.steps if s.kind == "pair"), default=0)
        # the activation slots, then a pair's depthwise output when it runs unfused
        *slots, scratch = _arena([n * size for size in self._sizes.slot_floats] + [n * mid])
        self._buffers = dict(enumerate(slots))
        self._runners = [_runner(step, n, self._pool, engine, sums, scales, convs, scratch) for step in self.steps]
        self._pair_choices = {}
        for step, runner in zip(self.steps, self._runners):
            if step.kind == "pair":
                fused = runner.measure(self._tensor(step.output), rounds=0 if pairs == "always" else 5)
                runner.fused = fused
                self._pair_choices[step.output] = fused
        # each engine step's C calls on the session's own buffers, checked and converted once
        # (steps reading the caller's input, and numpy fallbacks, go through their runner)
        self._keep: list = []  # the buffers and structs the bound calls point into
        self._bound = [runner.bind(self._tensor, self._keep) if hasattr(runner, "bind")
                       and INPUT not in (*step.inputs, step.residual) else None
                       for step, runner in zip(self.steps, self._runners)]
        self._program = _program(self.steps, self._runners, self._bound)

    def _tensor(self, name: str) -> np.ndarray:
        slot = self._sizes.slot_of[name]
        c, h, w = self._sizes.shape_of[name]
        return _centered(self._buffers[slot], self.batch * c * h * w).reshape(self.batch, c, h, w)

    # ---- run -------------------------------------------------------------------------
    @property
    def input_shape(self) -> tuple[int, int, int, int]:
        return (self.batch, *self.network.input_shape)

    @property
    def workers(self) -> int:
        return self._pool.workers

    def run(self, x: np.ndarray) -> np.ndarray:
        """The network's output for ``x`` (float32, C-contiguous, shape ``input_shape``)."""
        if self._pool.closed:
            raise errors.Closed("HostSession.run: the session is closed")
        if not isinstance(x, np.ndarray):
            raise errors.InvalidType(f"x must be a numpy.ndarray, got {type(x).__name__}")
        if x.dtype != np.float32:
            raise errors.InvalidType(f"x must have dtype float32, got {x.dtype}")
        if x.shape != self.input_shape:
            raise errors.InvalidParameter(f"x has shape {x.shape}, this session runs {self.input_shape}")
        if not x.flags.c_contiguous:
            raise errors.InvalidParameter("x must be C-contiguous; use np.ascontiguousarray(x)")
        for item in self._program:
            if isinstance(item, list):
                self._run_calls(item)
            else:
                step, runner = item
                runner(*self._arrays(step, x))
        return self._shape_output(self._tensor(self.steps[-1].output)).copy()

    def _run_calls(self, calls: list) -> None:
        """Bound C calls back to back under one hold of the pool."""
        status, _ = self._pool.execute("HostSession.run", *calls, record=False)
        if status:
            from .._ipx_cffi import ffi, lib

            errors.check(ffi, lib, status, "HostSession.run")

    def _arrays(self, step: _Step, x: np.ndarray):
        """A runner's arguments: (inputs, output, residual or None)."""
        def tensor(name):
            return x if name == INPUT else self._tensor(name)

        return [tensor(name) for name in step.inputs], self._tensor(step.output), \
            tensor(step.residual) if step.residual else None

    def profile(self, x: np.ndarray, runs: int = 5) -> dict[str, float]:
        """Seconds per run by op kind (median over ``runs`` after a warm-up): convolutions by
        kernel shape, their epilogues, pools, squeeze-excite, ... Each step is timed on its own."""
        import time

        self.run(x)
        samples: dict[str, list[float]] = {}
        for _ in range(runs):
            totals: dict[str, float] = {}
            for step, runner, bound in zip(self.steps, self._runners, self._bound):
                if bound is None:
                    args = self._arrays(step, x)
                    parts = runner.parts(*args) if hasattr(runner, "parts") else [(step.kind, runner)]
                    bound = [(key, lambda part=part: part(*args)) for key, part in parts]
                for key, call in bound:
                    start = time.perf_counter()
                    call()
                    totals[key] = totals.get(key, 0.0) + time.perf_counter() - start
            for key, value in totals.items():
                samples.setdefault(key, []).append(value)
        return {key: float(np.median(values)) for key, values in sorted(samples.items(), key=lambda kv: -sum(kv[1]))}

    def _shape_output(self, y: np.ndarray) -> np.ndarray:
        if self._output_shape is not None and int(np.prod(self._output_shape)) == y[0].size:
            return y.reshape(self.batch, *self._output_shape)
        if self.steps[-1].layer.kind is LayerKind.LINEAR:
            return y.reshape(self.batch, -1)
        return y

    def close(self) -> None:
        self._runners, self._bound, self._keep, self._program = [], [], [], []
        self._pool.close()

    def __enter__(self) -> "HostSession":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def describe(self) -> dict[str, Any]:
        """Steps and what each fused, for reports and tests."""
        return {
            "network": self.network.name, "batch": self.batch, "workers": self.workers,
            "layers": len(self.network.layers), "steps": len(self.steps),
            "buffer_bytes": 4 * sum(self._sizes.slot_floats),
            "fused": {s.output: s.fused for s in self.steps if s.fused},
            "pairs": dict(self._pair_choices),  # depthwise -> pointwise pairs: in one pass (True) or two
            "tile_bytes": self._pool.tile_bytes,
        }


# ---- loading ------------------------------------------------------------------------
def _is_path(model) -> bool:
    text = os.fspath(model)
    return text.endswith(".onnx") or os.sep in text or os.path.isfile(text)


def _load(model, batch: int, seed: int):
    """(network, params per layer, output shape per image or None)."""
    if isinstance(model, Network):  # a built-in network already built (another resolution, width...)
        return model, random_params(model, seed), None
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be an ONNX path or a network name, got {type(model).__name__}")
    if _is_path(model):
        from .onnx_import import read_onnx

        graph = read_onnx(model)
        path = os.fspath(model)
        if graph.unsupported_nodes:
            op, node = graph.unsupported_nodes[0]
            more = f" (and {len(graph.unsupported_nodes) - 1} more)" if len(graph.unsupported_nodes) > 1 else ""
            raise ValueError(f"model {path!r}: op {op} (node {node!r}) cannot run in the engine{more}")
        if graph.batch is not None and graph.batch != batch:
            raise ValueError(f"batch={batch} but model {path!r} has a static batch of {graph.batch}")
        _check_exact(graph.network, graph.params, path)
        return graph.network, graph.params, graph.output_shape
    from .registry import build

    network = build(model)
    return network, random_params(network, seed), None


def _check_exact(network: Network, params: dict, path: str) -> None:
    """Refuse layers the importer describes for the cost models but the session cannot compute
    exactly (an approximated activation, norms without constant statistics)."""
    for layer in network.layers:
        p = params.get(layer.name, {})
        op = p.get("onnx_op")
        bad = None
        if layer.kind is LayerKind.ACT and op not in _EXACT_ONNX_ACTS:
            bad = op
        elif layer.kind is LayerKind.NORM and (op != "BatchNormalization" or "scale" not in p):
            bad = op if op != "BatchNormalization" else "BatchNormalization with computed statistics"
        elif layer.kind is LayerKind.SE and p.get("gate", {}).get("onnx_op") not in ("Sigmoid", "HardSigmoid"):
            bad = "squeeze-excite gate"
        elif layer.kind is LayerKind.SE and _se_activation(layer.op) not in (None, *epilogue.ACTIVATIONS):
            bad = f"squeeze-excite activation {layer.op}"
        if bad:
            raise ValueError(f"model {path!r}: op {bad} (node {layer.name!r}) cannot run in the engine")


def random_params(network: Network, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Seeded random weights for a built-in network, in `read_onnx`'s layout. Variance
    1/fan_in keeps activations' scale about constant over hundreds of layers."""
    rng = np.random.default_rng(seed)

    def weights(shape, fan_in):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    params: dict[str, dict[str, Any]] = {}
    for layer in network.layers:
        kind = layer.kind
        if kind is LayerKind.CONV:
            bias = (0.1 * rng.standard_normal(layer.k)).astype(np.float32) if layer.bias else None
            params[layer.name] = {"weight": weights((layer.k, layer.channels_per_group, layer.r, layer.s),
                                                    layer.channels_per_group * layer.r * layer.s), "bias": bias}
        elif kind is LayerKind.LINEAR:
            bias = (0.1 * rng.standard_normal(layer.k)).astype(np.float32) if layer.bias else None
            params[layer.name] = {"weight": weights((layer.k, layer.c), layer.c), "bias": bias}
        elif kind is LayerKind.NORM:
            c = layer.c
            params[layer.name] = {"scale": (1 + 0.1 * rng.standard_normal(c)).astype(np.float32),
                                  "shift": (0.1 * rng.standard_normal(c)).astype(np.float32),
                                  "mean": (0.1 * rng.standard_normal(c)).astype(np.float32),
                                  "var": (1 + 0.1 * rng.random(c)).astype(np.float32), "epsilon": 1e-5,
                                  "onnx_op": "BatchNormalization" if layer.op == "batch" else layer.op}
        elif kind is LayerKind.SE:
            params[layer.name] = {"w1": weights((layer.se_c, layer.c, 1, 1), layer.c),
                                  "b1": np.zeros(layer.se_c, np.float32),
                                  "w2": weights((layer.c, layer.se_c, 1, 1), layer.se_c),
                                  "b2": np.zeros(layer.c, np.float32), "gate": {"onnx_op": "Sigmoid"}}
        elif kind is LayerKind.POOL:
            params[layer.name] = {"count_include_pad": True}
    return params


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
    a "pair" step at the pointwise one's place."""
    readers: dict[str, list[_Step]] = {}
    for s in steps:
        for name in {*s.inputs, *([s.residual] if s.residual else [])}:
            readers.setdefault(name, []).append(s)
    merged: dict[int, _Step] = {}  # id of the pointwise step -> the pair
    dropped: set[int] = set()
    for first in steps:
        a = first.layer
        if not (first.kind == "conv" and a.kind is LayerKind.CONV and a.g == a.c == a.k and a.g > 1
                and first.residual is None and not first.sums and first.scale_from is None):
            continue
        (second, *more) = readers.get(first.output, [None])
        b = second.layer if second is not None else None
        if more or b is None or second.kind != "conv" or b.kind is not LayerKind.CONV or second.inputs != (first.output,) \
                or second.scale_from or (b.r, b.s, b.g) != (1, 1, 1) or tuple(b.stride) != (1, 1) or any(b.pad) \
                or b.c < 8 or b.k < 8:
            continue
        pair = _Step("pair", b, first.inputs, second.output, second.out_shape,
                     fused=[a.name, *first.fused, b.name, *second.fused], weight=second.weight, bias=second.bias,
                     act=second.act, residual=second.residual, sums=second.sums, first=first)
        merged[id(second)] = pair
        dropped.add(id(first))
    return [merged.get(id(s), s) for s in steps if id(s) not in dropped]


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


def _check_memory(name: str, batch: int, steps: list[_Step], plan: _BufferPlan) -> None:
    """Refuse before allocating: activation buffers, packed weights (about their own size), a
    pair's unfused scratch and the pool's tiles against the engine's memory limit."""
    from .. import engine

    convs = [*steps, *(s.first for s in steps if s.kind == "pair")]
    activations = 4 * batch * (sum(plan.slot_floats) + max(
        (int(np.prod(s.first.out_shape)) for s in steps if s.kind == "pair"), default=0))
    activations += HUGE_PAGE + 64 * (len(plan.slot_floats) + 1)  # _arena's rounding
    weights = sum(4 * s.weight.size for s in convs if s.weight is not None)
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


# ---- runners --------------------------------------------------------------------------
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


def _create_convs(steps: list[_Step], batch: int, engine) -> dict[int, Any]:
    """The engine convolutions of the conv and pair steps, by id of their step (a pair's first
    under its own): weights packed, not yet bound to a pool. The float64 copies are dropped."""
    convs: dict[int, Any] = {}
    for step in steps:
        for s in ((step.first, step) if step.kind == "pair" else (step,) if step.kind == "conv" else ()):
            layer = s.layer
            weight = np.ascontiguousarray(s.weight, np.float32)
            bias = None if s.bias is None else np.ascontiguousarray(s.bias, np.float32)
            s.weight = s.bias = None
            if layer.kind is LayerKind.LINEAR:
                # on [batch, c*h*w] as it lies in memory (a flatten of NCHW maps): the weights
                # stream through the workers once for a block of images, not once per image
                convs[id(s)] = engine.Linear(weight.reshape(weight.shape[0], -1), bias, batch, activation=s.act)
            else:
                convs[id(s)] = engine.Conv2d.from_layer(layer, batch, weight=weight, bias=bias)
    return convs


def _runner(step: _Step, batch: int, pool, engine, sums: dict[str, np.ndarray], scales: dict[str, np.ndarray],
            convs: dict[int, Any], scratch: np.ndarray):
    """A function (args, out, residual) computing the step into ``out``. ``sums``: channel-sum
    arrays by tensor, written by the convolution producing the tensor, read by its SE;
    ``scales``: SE channel scales by SE output, applied by the convolution reading it."""
    layer = step.layer
    if step.kind == "pair":
        return _pair_runner(step, convs[id(step.first)], convs[id(step)], pool, sums.get(step.output), scratch)
    if step.kind == "conv":
        conv = convs[id(step)]
        if layer.kind is LayerKind.LINEAR:
            return _classifier_runner(step, conv, batch, pool)
        return _conv_runner(step, conv, pool, sums.get(step.output), scales.get(step.scale_from))
    if step.kind == "pool":
        return _pool_runner(step, batch, pool, engine)
    if step.kind == "se":
        return _se_runner(layer, step.params, batch, pool, engine, sums.get(step.inputs[0]), scales.get(step.output))
    if step.kind == "act":
        op = epilogue.onnx_activation(layer.op, step.params)
        return lambda args, out, residual: epilogue.apply_numpy(np.copyto(out, args[0]) or out, None, op)
    if step.kind == "add":
        return lambda args, out, residual: np.add(args[0], args[1], out=out)
    if step.kind == "norm":
        s, b = fold_batch_norm(np.ones((layer.c, 1, 1, 1)), None, step.params)
        scale = s.astype(np.float32).reshape(1, -1, 1, 1)
        shift = b.astype(np.float32).reshape(1, -1, 1, 1)

        def norm(args, out, residual):
            np.multiply(args[0], scale, out=out)
            out += shift

        return norm
    raise ValueError(f"layer {layer.name!r}: kind {step.kind!r} cannot run in the engine")


def _conv_name(layer: Layer) -> str:
    return "linear" if layer.kind is LayerKind.LINEAR else (
        "depthwise" if layer.g == layer.c and layer.g > 1 else "grouped" if layer.g > 1 else "dense") + f" {layer.r}x{layer.s}"


def _conv_runner(step: _Step, conv, pool, sums: np.ndarray | None = None, scale: np.ndarray | None = None):
    """The convolution with its epilogue (residual, activation, channel sums) in the engine's
    write phase and a squeeze-excite scale (``scale``) in its exchange, one pass."""
    in_shape, out_shape = conv.input_shape, conv.output_shape
    act = step.act

    def run(args, out, residual):
        conv.run_fused(args[0].reshape(in_shape), out.reshape(out_shape), residual=residual, activation=act,
                       channel_sums=sums, input_scale=scale, pool=pool)

    extras = (["scale"] if scale is not None else []) + (["residual"] if step.residual else []) + \
        ([act] if act else []) + (["pool"] if sums is not None else [])
    key = " + ".join([f"conv {_conv_name(step.layer)}", *extras])

    def bind(tensor, keep):
        x, y = tensor(step.inputs[0]).reshape(in_shape), tensor(step.output).reshape(out_shape)
        res = tensor(step.residual) if step.residual else None
        return [(key, _on_pool(pool, _fused_call(keep, conv, x, y, act, res, sums, scale)))]

    run.conv = conv
    run.parts = lambda args, out, residual: [(key, run)]
    run.bind = bind
    return run


def _pair_runner(step: _Step, first, second, pool, sums: np.ndarray | None, scratch: np.ndarray):
    """A depthwise convolution and the pointwise one reading it: one pass (``Conv2d.run_pair``:
    the depthwise rows stay in tile memory) when ``fused``, else two runs through ``scratch``.
    ``measure(out)`` times both on random data and says whether the pass is faster."""
    mid_shape = first.output_shape
    mid = _centered(scratch, int(np.prod(mid_shape))).reshape(mid_shape)
    a_act, act = step.first.act, step.act

    def one_pass(args, out, residual):
        first.run_pair(second, args[0].reshape(first.input_shape), out.reshape(second.output_shape),
                       first_activation=a_act, residual=residual, activation=act, channel_sums=sums, pool=pool)

    def two_runs(args, out, residual):
        first.run_fused(args[0].reshape(first.input_shape), mid, activation=a_act, pool=pool)
        second.run_fused(mid, out.reshape(second.output_shape), residual=residual, activation=act,
                         channel_sums=sums, pool=pool)

    def run(args, out, residual):
        (one_pass if run.fused else two_runs)(args, out, residual)

    def measure(out, rounds: int = 5) -> bool:
        """Paired rounds (each way run 3 times, the order alternating so load bursts hit both):
        the pass when its median time ratio is below 1 (no rounds: the pass). A pair whose
        block does not fit the pool's tiles runs in two."""
        import time

        from .. import errors as errs

        rng = np.random.default_rng(0)
        x = rng.standard_normal(first.input_shape, dtype=np.float32)
        res = rng.standard_normal(out.shape, dtype=np.float32) if step.residual else None
        try:
            one_pass([x], out, res)
        except errs.TileTooSmall:
            return False
        if rounds == 0:
            return True
        two_runs([x], out, res)
        ratios = []
        for i in range(rounds):
            times = {}
            for fn in ((one_pass, two_runs) if i % 2 == 0 else (two_runs, one_pass)):
                start = time.perf_counter()
                for _ in range(3):
                    fn([x], out, res)
                times[fn] = time.perf_counter() - start
            ratios.append(times[one_pass] / times[two_runs])
        return float(np.median(ratios)) < 1.0

    pair_key, first_key, second_key = (f"pair {_conv_name(step.first.layer)} > 1x1",
                                       f"conv {_conv_name(step.first.layer)}", f"conv {_conv_name(step.layer)}")

    def parts(args, out, residual):
        if run.fused:
            return [(pair_key, run)]
        return [(first_key, lambda a, o, r: first.run_fused(
                    a[0].reshape(first.input_shape), mid, activation=a_act, pool=pool)),
                (second_key, lambda a, o, r: second.run_fused(
                    mid, o.reshape(second.output_shape), residual=r, activation=act, channel_sums=sums, pool=pool))]

    def bind(tensor, keep):
        x, y = tensor(step.inputs[0]).reshape(first.input_shape), tensor(step.output).reshape(second.output_shape)
        res = tensor(step.residual) if step.residual else None
        if not run.fused:
            return [(first_key, _on_pool(pool, _fused_call(keep, first, x, mid, a_act))),
                    (second_key, _on_pool(pool, _fused_call(keep, second, mid, y, act, res, sums)))]
        from .._ipx_cffi import lib
        from ..engine import fused

        e1 = fused.epilogue_struct(keep, a_act, prefix="first_")
        e2 = fused.epilogue_struct(keep, act, res, y.shape, sums, y.shape[:2])
        xb, yb = _floats(keep, x), _floats(keep, y, writable=True)
        h1, h2 = _handle(first), _handle(second)
        return [(pair_key, _on_pool(pool, lambda h: lib.ipx_conv_run_pair(h1, h2, h, xb, x.size, yb, y.size, e1, e2)))]

    run.fused = True
    run.conv = second
    run.measure = measure
    run.parts = parts
    run.bind = bind
    return run


def _classifier_runner(step: _Step, linear, batch: int, pool):
    """A linear layer on [batch, c] (``engine.Linear``: its activation applied in registers;
    a residual, if any, as an engine epilogue over the output)."""
    c, k = linear.input_shape[1], linear.output_shape[1]
    post = epilogue.Epilogue(None, pool)

    def run(args, out, residual):
        linear.run(args[0].reshape(batch, c), out.reshape(batch, k), pool=pool)
        if residual is not None:
            post(out, residual)

    def bind(tensor, keep):
        if step.residual:
            return None
        x, y = tensor(step.inputs[0]).reshape(batch, c), tensor(step.output).reshape(batch, k)
        return [("classifier", _on_pool(pool, _fc_call(keep, linear, x, y)))]

    run.conv = linear
    run.parts = lambda args, out, residual: [("classifier", run)]
    run.bind = bind
    return run


def _pool_runner(step: _Step, batch: int, pool, engine):
    """Max, average and global pooling in the engine: one superstep pass (``Pooling2d``),
    ONNX's count_include_pad (default off)."""
    layer, params = step.layer, step.params
    op = engine.Pooling2d((batch, layer.c, layer.h, layer.w), (layer.r, layer.s), layer.stride, layer.pad,
                          mode="max" if layer.op == "max" else "avg",
                          count_include_pad=bool(params.get("count_include_pad", False)))
    in_shape, out_shape = op.input_shape, op.output_shape

    def pool2d(args, out, residual):
        op.run(args[0].reshape(in_shape), out.reshape(out_shape), pool=pool)

    def bind(tensor, keep):
        from .._ipx_cffi import lib

        x, y = tensor(step.inputs[0]).reshape(in_shape), tensor(step.output).reshape(out_shape)
        xb, yb, desc = _floats(keep, x), _floats(keep, y, writable=True), op._desc  # checked when op was made
        return [("pool", _on_pool(pool, lambda h: lib.ipx_pooling_run(h, desc, xb, x.size, yb, y.size)))]

    pool2d.bind = bind
    return pool2d


def _se_runner(layer: Layer, params: dict, batch: int, pool, engine, sums: np.ndarray | None,
               deferred: np.ndarray | None):
    """Squeeze-excite in the engine: the channel sums are ``sums`` (the producing convolution's
    epilogue wrote them) or an engine pass over the tensor; the excitation (means, two fully
    connected layers, activation, gate) is one superstep (``engine.SqueezeExcite``) writing the
    channel scale to ``deferred`` for the next convolution's exchange to apply, else to a
    buffer an engine epilogue then scales the tensor with in place."""
    op = _se_activation(layer.op)
    gate = epilogue.onnx_activation("sigmoid", params.get("gate", {}))
    w1, w2 = (np.ascontiguousarray(params[name], np.float32) for name in ("w1", "w2"))
    excite = engine.SqueezeExcite(w1, _vector(params.get("b1")), w2, _vector(params.get("b2")), batch,
                                  (layer.h, layer.w), activation=op, gate=gate)
    channel_sums = sums if sums is not None else np.empty((batch, layer.c), np.float32)
    scale = deferred if deferred is not None else np.empty((batch, layer.c), np.float32)
    engine_pass = epilogue.Epilogue(None, pool)  # the sums when no convolution wrote them; the scale

    def se(args, out, residual):
        x = args[0]
        if sums is None:
            engine_pass(x, sums=channel_sums)
        excite.run(channel_sums, scale, pool=pool)
        if deferred is not None:  # out is x (in place): the next convolution scales it
            return
        if out is not x:  # the tensor has other readers (not in the supported networks)
            np.copyto(out, x)
        engine_pass(out, scale=scale)

    def bind(tensor, keep):
        if sums is None or deferred is None:
            return None
        return [("se", _on_pool(pool, _fc_call(keep, excite, sums, deferred)))]

    se.conv = excite
    se.bind = bind
    return se


# ---- bound calls: a step's C call with its arguments checked and converted once ------------
def _program(steps: list[_Step], runners: list, bound: list) -> list:
    """The run as the session makes it: consecutive bound steps' C calls (functions of the
    pool's handle) merged into one list, made under one hold of the pool (a Python round trip
    per step, 50-70 a network, costs more than the hold); other steps as (step, runner)."""
    program: list = []
    for step, runner, calls in zip(steps, runners, bound):
        if calls is None:
            program.append((step, runner))
        elif program and isinstance(program[-1], list):
            program[-1].extend(call.raw for _, call in calls)
        else:
            program.append([call.raw for _, call in calls])
    return program


def _on_pool(pool, call):
    """``call`` (a function of the pool's C handle, returning a status) made on the session's
    pool: at run only the pool's lock is taken and the status checked, without the Python
    API's per-call checks and statistics (about 8 us a step, 50-70 steps a network)."""
    from .. import errors as errs
    from .._ipx_cffi import ffi, lib

    def run():
        status, _ = pool.execute("HostSession.run", call, record=False)
        if status:
            errs.check(ffi, lib, status, "HostSession.run")

    run.raw = call
    return run


def _handle(op):
    """The C handle of an engine object the session created and alone uses (its arguments
    were checked when the call was bound)."""
    return op._handle


def _floats(keep: list, array: np.ndarray, writable: bool = False):
    """A cffi float view of a session buffer, kept alive in ``keep``."""
    from .._ipx_cffi import ffi

    buf = ffi.from_buffer("float[]", array, require_writable=writable)
    keep.extend((array, buf))
    return buf


def _fused_call(keep: list, conv, x, y, act=None, residual=None, sums=None, scale=None):
    """``Conv2d.run_fused(x, y, ...)`` as a bound call."""
    from .._ipx_cffi import lib
    from ..engine import fused

    e = fused.epilogue_struct(keep, act, residual, conv.output_shape, sums, conv.output_shape[:2], scale,
                              conv.input_shape[:2])
    xb, yb, handle = _floats(keep, x), _floats(keep, y, writable=True), _handle(conv)
    return lambda h: lib.ipx_conv_run_fused(handle, h, xb, x.size, yb, y.size, e)


def _fc_call(keep: list, fc, x, y):
    """``Linear.run(x, y)`` or ``SqueezeExcite.run(x, y)`` as a bound call."""
    from .._ipx_cffi import lib

    xb, yb, handle = _floats(keep, x), _floats(keep, y, writable=True), _handle(fc)
    return lambda h: lib.ipx_fc_run(handle, h, xb, x.size, yb, y.size)


def _se_activation(op: str) -> str | None:
    """The excitation's hidden activation as the engine names it."""
    return "silu" if op == "swish" else None if op == "identity" else op


def _vector(value) -> np.ndarray | None:
    return None if value is None else np.ascontiguousarray(value, np.float32).reshape(-1)
