"""Run a network's forward pass on this machine: convolutions, pooling, the classifier and
squeeze-excite's excitation in the C engine, the cheap element-wise layers in numpy.

Weights are random (the point is time, not accuracy), scaled so activations stay finite over
hundreds of layers (denormals or infinities would distort the timing). Every convolution is
created once before the timed pass (weight packing is not timed), then each layer is timed on
its own with ``time.perf_counter``. Layers write into activation buffers reused across layers
and passes, as a framework's caching allocator does (``_Buffers``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import Cancelled, TileTooSmall
from ..layers import Layer, LayerKind
from .graph import INPUT, Network


@dataclass(frozen=True)
class HostLayerTime:
    name: str
    kind: str
    time_s: float  # this layer, whole batch
    flops: int  # whole batch, 2 x MACs


@dataclass(frozen=True)
class HostRun:
    network: str
    batch: int
    workers: int
    layers: tuple[HostLayerTime, ...]
    wall_s: float  # the whole forward pass, batch images

    @property
    def images_per_s(self) -> float:
        return self.batch / self.wall_s if self.wall_s > 0 else float("inf")

    @property
    def conv_s(self) -> float:
        return sum(t.time_s for t in self.layers if t.kind == LayerKind.CONV.value)

    def to_dict(self) -> dict[str, Any]:
        return {
            "network": self.network, "batch": self.batch, "workers": self.workers, "wall_s": self.wall_s,
            "images_per_s": self.images_per_s,
            "layers": [{"name": t.name, "kind": t.kind, "time_s": t.time_s, "flops": t.flops} for t in self.layers],
        }


def run_on_host(
    network: Network, batch: int = 1, *, pool=None, progress: Callable[[int, int, str], None] | None = None,
    cancel: Callable[[], bool] | None = None, warmup: bool = False, seed: int = 0, workers: int | None = None,
) -> HostRun:
    """Execute ``network`` on ``batch`` random images and time each layer.

    ``pool``: an ``ipuexplore.engine.Pool`` to run the engine's layers on, refused before anything
    runs when its tiles are smaller than a layer needs (default: a new one of ``workers``
    workers, with tiles as large as the largest layer needs, closed afterwards). ``progress(done, total, layer_name)``
    is called after each layer; ``cancel()`` is polled between layers and, when it returns
    True, the run stops with ``ipuexplore.errors.Cancelled``. ``warmup`` runs the pass once
    untimed first (first-touch page faults and cold caches otherwise land in the times);
    progress then counts both passes.
    """
    if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
        raise ValueError(f"batch must be a positive int, got {batch!r}")
    _check_shapes_chain(network)
    from .. import engine  # lazy: the compiled engine is only needed to run

    rng = np.random.default_rng(seed)
    engine_ops: list = []  # (layer, _Pooled): sized before the pool, run on it per call
    ops = [_prepare(layer, batch, engine_ops, rng, engine) for layer in network.layers]
    need = max((op.min_tile_bytes for _, op in engine_ops), default=0)
    own_pool = pool is None
    if own_pool:
        pool = engine.Pool(workers, tile_bytes=max(need, engine.DEFAULT_TILE_BYTES))
    elif need > pool.tile_bytes:
        layer = next(layer for layer, op in engine_ops if op.min_tile_bytes == need)
        raise TileTooSmall(
            f"layer {layer.name!r} at batch {batch} needs tile_bytes >= {need}, the pool has {pool.tile_bytes}",
            "IPX_STATUS_TILE_TOO_SMALL")
    for _, op in engine_ops:
        op.pool = pool
    try:
        image = rng.standard_normal((batch, *network.input_shape), dtype=np.float32)
        passes = 2 if warmup else 1
        total = passes * len(network.layers)
        buffers = _Buffers()
        for done_before in range(0, total, len(network.layers)):
            times, wall = _forward(network, ops, image, batch, progress, cancel, done_before, total, buffers)
        return HostRun(network.name, batch, int(getattr(pool, "workers", 1)), tuple(times), wall)
    finally:
        if own_pool:
            pool.close()


def _check_shapes_chain(network: Network) -> None:
    """Refuse before allocating anything if a layer's input is not its producers' output (an
    ONNX operator we pass through may have changed the shape)."""
    shapes = {INPUT: network.input_shape}
    for layer in network.layers:
        for producer in layer.inputs:
            c, h, w = shapes[producer]
            ok = c * h * w == layer.c if layer.kind is LayerKind.LINEAR else (c, h, w) == layer.in_shape
            if not ok:
                skipped = ", ".join(f"{op} x{n}" for op, n in network.unsupported) or "none"
                raise ValueError(f"layer {layer.name!r} expects {layer.in_shape} but {producer!r} gives {(c, h, w)}: "
                                 f"the network cannot run on the host (unsupported ops passed through: {skipped})")
        shapes[layer.name] = layer.out_shape


class _Buffers:
    """Activation buffers by shape: a layer's output comes from here and goes back once its
    last reader has run. Fresh numpy arrays fault in new pages on every layer (about 3 us per
    4 KiB on the development VM: a batch norm on 12.8 MB took 5.7 ms with fresh arrays,
    1.6 ms into a reused one), which a framework's caching allocator never pays."""

    def __init__(self) -> None:
        self._free: dict[tuple[int, ...], list[np.ndarray]] = {}

    def take(self, shape: tuple[int, ...]) -> np.ndarray:
        stack = self._free.get(shape)
        return stack.pop() if stack else np.empty(shape, np.float32)

    def give(self, array: np.ndarray) -> None:
        self._free.setdefault(array.shape, []).append(array)


def _forward(network, ops, image, batch, progress, cancel, done_before, total, buffers):
    last_use = network.last_use
    tensors = {INPUT: image}
    owned: set[str] = set()  # tensors whose array came from `buffers`
    times = []
    start = time.perf_counter()
    for index, (layer, op) in enumerate(zip(network.layers, ops)):
        if cancel is not None and cancel():
            raise Cancelled("host run cancelled")
        args = [tensors[name] for name in layer.inputs]
        out = buffers.take((batch, *layer.out_shape))
        t0 = time.perf_counter()
        result = op(*args, out=out)
        times.append(HostLayerTime(layer.name, layer.kind.value, time.perf_counter() - t0, batch * layer.flops))
        tensors[layer.name] = result
        if result is out:
            owned.add(layer.name)
        else:
            buffers.give(out)  # the op made its own array (or passed its input through)
        for name in set(layer.inputs):
            if last_use.get(name) == index:  # free activations as a framework would
                array = tensors.pop(name)
                if name in owned:
                    owned.discard(name)
                    if not any(t is array for t in tensors.values()):  # not aliased by a live one
                        buffers.give(array)
        if progress is not None:
            progress(done_before + index + 1, total, layer.name)
    return times, time.perf_counter() - start


def _prepare(layer: Layer, batch: int, engine_ops: list, rng: np.random.Generator, engine) -> Callable:
    """A function computing ``layer`` on numpy arrays of shape [batch, c, h, w]: called as
    ``op(*inputs, out=buffer)`` with a float32 buffer of the layer's output shape, it returns
    the buffer filled, or an array of its own (the buffer then goes unused). Layers the engine
    runs are appended to ``engine_ops`` as (layer, _Pooled), to be given their pool."""
    kind = layer.kind
    if kind is LayerKind.CONV:
        return _conv(layer, batch, engine_ops, rng, engine)
    if kind is LayerKind.LINEAR:
        # In the engine: numpy's threaded BLAS next to the engine's workers oversubscribed the
        # cores (a 1280->1000 fc took 30 ms instead of 0.6).
        return _linear(layer, batch, engine_ops, rng, engine)
    if kind is LayerKind.NORM:
        return _norm(layer, rng)
    if kind is LayerKind.ACT:
        return _activation(layer.op)
    if kind is LayerKind.ADD:
        return lambda a, b, out=None: np.add(a, b, out=out)
    if kind is LayerKind.POOL:
        return _pool(layer, batch, engine_ops, engine)
    if kind is LayerKind.SE:
        return _squeeze_excite(layer, batch, engine_ops, rng, engine)
    raise ValueError(f"layer {layer.name!r}: kind {kind.value!r} cannot run on the host")


def _weights(rng, shape, fan_in) -> np.ndarray:
    # Variance 1/fan_in keeps the activations' scale about constant through the layers.
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(1.0 / np.sqrt(fan_in))).astype(np.float32)


class _Pooled:
    """An engine op (``Conv2d``, ``Pooling2d``) and the pool it runs on, chosen once every
    layer's tile need is known; ``run(x, out)`` writes into ``out`` when it has the op's
    output shape, else into a new array."""

    def __init__(self, op, min_tile_bytes: int) -> None:
        self.op, self.min_tile_bytes, self.pool = op, min_tile_bytes, None

    def run(self, x, out=None):
        return self.op.run(x, out if out is not None and out.shape == self.op.output_shape else None, pool=self.pool)


def _conv(layer: Layer, batch: int, engine_ops: list, rng, engine) -> Callable:
    conv = engine.Conv2d.from_layer(layer, batch, rng=rng)
    pooled = _Pooled(conv, conv.info["min_tile_bytes"])
    engine_ops.append((layer, pooled))
    return pooled.run


def _linear(layer: Layer, batch: int, engine_ops: list, rng, engine) -> Callable:
    """The classifier on its [batch, c] input (a flattened map), into [batch, k, 1, 1]."""
    bias = np.zeros(layer.k, np.float32) if layer.bias else None
    linear = engine.Linear(_weights(rng, (layer.k, layer.c), layer.c), bias, batch)
    pooled = _Pooled(linear, linear.info["min_tile_bytes"])
    engine_ops.append((layer, pooled))
    shape = (batch, *layer.out_shape)

    def run(x, out=None):
        y = linear.run(np.ascontiguousarray(x).reshape(batch, layer.c), None if out is None or out.shape != shape else out.reshape(batch, -1),
                       pool=pooled.pool)
        return y.reshape(shape)

    return run


def _norm(layer: Layer, rng) -> Callable:
    # Inference batch norm: one scale and shift per channel (running statistics folded in).
    scale = (1.0 + 0.1 * rng.standard_normal(layer.c)).astype(np.float32).reshape(1, -1, 1, 1)
    shift = (0.1 * rng.standard_normal(layer.c)).astype(np.float32).reshape(1, -1, 1, 1)
    if layer.op == "group":
        def group_norm(x, out=None):
            n, c, h, w = x.shape
            g = x.reshape(n, -1, c * h * w // max(1, c))  # one group per channel when no count is known
            g = (g - g.mean(axis=-1, keepdims=True)) / np.sqrt(g.var(axis=-1, keepdims=True) + 1e-5)
            return g.reshape(x.shape) * scale + shift

        return group_norm

    def batch_norm(x, out=None):
        out = np.multiply(x, scale, out=out)
        out += shift
        return out

    return batch_norm


def _sigmoid(x, out=None):
    out = np.negative(x, out=out)
    with np.errstate(over="ignore"):  # exp(large) = inf gives the limit 0, as it should
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _silu(x, out=None):
    out = _sigmoid(x, out)
    out *= x
    return out


def _hardswish(x, out=None):
    out = np.add(x, 3, out=out)
    np.clip(out, 0, 6, out=out)
    out *= x
    out *= np.float32(1 / 6)
    return out


# Element-wise activations, written into `out` when given (see _prepare).
_ACTIVATIONS = {
    "relu": lambda x, out=None: np.maximum(x, 0, out=out, dtype=np.float32),
    "relu6": lambda x, out=None: np.clip(x, 0, 6, out=out),
    "sigmoid": _sigmoid,
    "silu": _silu,
    "swish": _silu,
    "hardswish": _hardswish,
    "gelu": lambda x, out=None: 0.5 * x * (1 + np.tanh(0.7978845608 * (x + 0.044715 * x**3))),
    "tanh": lambda x, out=None: np.tanh(x, out=out),
    "identity": lambda x, out=None: x,
}


def _activation(op: str) -> Callable:
    try:
        return _ACTIVATIONS[op]
    except KeyError:
        raise ValueError(f"activation op must be one of {sorted(_ACTIVATIONS)}, got {op!r}") from None


def _pool(layer: Layer, batch: int, engine_ops: list, engine) -> Callable:
    """Max, average (padding counted) and global average pooling in the engine (``Pooling2d``)."""
    op = engine.Pooling2d((batch, layer.c, layer.h, layer.w), (layer.r, layer.s), layer.stride, layer.pad,
                          mode="max" if layer.op == "max" else "avg", count_include_pad=True)
    pooled = _Pooled(op, op.min_tile_bytes)
    engine_ops.append((layer, pooled))
    return pooled.run


def _squeeze_excite(layer: Layer, batch: int, engine_ops: list, rng, engine) -> Callable:
    """Each channel's sum (numpy), the excitation (means -> fc -> act -> fc -> sigmoid) in the
    engine (``SqueezeExcite``: one superstep, no BLAS threads beside the pool's), the scale in
    numpy."""
    w1 = _weights(rng, (layer.se_c, layer.c), layer.c)
    w2 = _weights(rng, (layer.c, layer.se_c), layer.se_c)
    excite = engine.SqueezeExcite(w1, np.zeros(layer.se_c, np.float32), w2, np.zeros(layer.c, np.float32), batch,
                                  (layer.h, layer.w), activation=layer.op)
    pooled = _Pooled(excite, excite.info["min_tile_bytes"])
    engine_ops.append((layer, pooled))

    def se(x, out=None):
        scale = excite.run(x.sum(axis=(2, 3), dtype=np.float32), pool=pooled.pool)
        return np.multiply(x, scale[:, :, None, None], out=out)

    return se
