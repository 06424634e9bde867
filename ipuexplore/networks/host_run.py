"""Run a network's forward pass on this machine: convolutions (and the classifier, as a 1x1
convolution) in the C engine, the cheap element-wise layers in numpy.

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

    ``pool``: an ``ipuexplore.engine.Pool`` to run the convolutions on, refused before anything
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
    convs: list = []  # (layer, engine.Conv2d): sized before the pool, run on it per call
    ops = [_prepare(layer, batch, convs, rng, engine) for layer in network.layers]
    need = max((conv.info["min_tile_bytes"] for _, conv in convs), default=0)
    own_pool = pool is None
    if own_pool:
        pool = engine.Pool(workers, tile_bytes=max(need, engine.DEFAULT_TILE_BYTES))
    elif need > pool.tile_bytes:
        layer = next(layer for layer, conv in convs if conv.info["min_tile_bytes"] == need)
        raise TileTooSmall(
            f"layer {layer.name!r} at batch {batch} needs tile_bytes >= {need}, the pool has {pool.tile_bytes}",
            "IPX_STATUS_TILE_TOO_SMALL")
    for _, conv in convs:
        conv.pool = pool
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


def _prepare(layer: Layer, batch: int, convs: list, rng: np.random.Generator, engine) -> Callable:
    """A function computing ``layer`` on numpy arrays of shape [batch, c, h, w]: called as
    ``op(*inputs, out=buffer)`` with a float32 buffer of the layer's output shape, it returns
    the buffer filled, or an array of its own (the buffer then goes unused)."""
    kind = layer.kind
    if kind is LayerKind.CONV:
        return _conv(layer, batch, convs, rng, engine)
    if kind is LayerKind.LINEAR:
        # A 1x1 convolution on a 1x1 map in the engine: numpy's threaded BLAS next to the
        # engine's workers oversubscribed the cores (a 1280->1000 fc took 30 ms instead of 0.6).
        conv = _conv(layer, batch, convs, rng, engine)
        return lambda x, out=None: conv(np.ascontiguousarray(x.reshape(x.shape[0], layer.c, 1, 1)), out=out)
    if kind is LayerKind.NORM:
        return _norm(layer, rng)
    if kind is LayerKind.ACT:
        return _activation(layer.op)
    if kind is LayerKind.ADD:
        return lambda a, b, out=None: np.add(a, b, out=out)
    if kind is LayerKind.POOL:
        return _pool(layer)
    if kind is LayerKind.SE:
        return _squeeze_excite(layer, rng)
    raise ValueError(f"layer {layer.name!r}: kind {kind.value!r} cannot run on the host")


def _weights(rng, shape, fan_in) -> np.ndarray:
    # Variance 1/fan_in keeps the activations' scale about constant through the layers.
    return (rng.standard_normal(shape, dtype=np.float32) * np.float32(1.0 / np.sqrt(fan_in))).astype(np.float32)


class _PooledConv:
    """An engine convolution and the pool it runs on, chosen once every layer's tile need is known."""

    def __init__(self, conv) -> None:
        self.conv, self.info, self.pool = conv, conv.info, None

    def run(self, x, out):
        return self.conv.run(x, out, pool=self.pool)


def _conv(layer: Layer, batch: int, convs: list, rng, engine) -> Callable:
    conv = _PooledConv(engine.Conv2d.from_layer(layer, batch, rng=rng))
    convs.append((layer, conv))
    shape = conv.conv.output_shape

    def run(x, out=None):
        return conv.run(x, out if out is not None and out.shape == shape else None)

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


def _pool(layer: Layer) -> Callable:
    if layer.op == "global_avg":
        return lambda x, out=None: np.mean(x, axis=(2, 3), keepdims=True, dtype=np.float32, out=out)
    top, bottom, left, right = layer.pad
    fill = -np.inf if layer.op == "max" else 0.0
    sh, sw = layer.stride

    padded: dict[tuple[int, ...], np.ndarray] = {}  # one padded copy per input shape, borders set once

    def pool(x, out=None):
        if any(layer.pad):
            n, c, h, w = x.shape
            buf = padded.get(x.shape)
            if buf is None:
                buf = padded[x.shape] = np.full((n, c, h + top + bottom, w + left + right), fill, np.float32)
            buf[:, :, top : top + h, left : left + w] = x
            x = buf
        # One strided view per kernel offset, reduced in place: far faster than a window view.
        first = True
        for i in range(layer.r):
            for j in range(layer.s):
                view = x[:, :, i : i + sh * (layer.p - 1) + 1 : sh, j : j + sw * (layer.q - 1) + 1 : sw]
                if first:
                    if out is None:
                        out = np.array(view, dtype=np.float32)
                    else:
                        np.copyto(out, view)
                    first = False
                elif layer.op == "max":
                    np.maximum(out, view, out=out)
                else:
                    out += view
        if layer.op != "max":
            out *= np.float32(1.0 / (layer.r * layer.s))  # counts the padding (count_include_pad)
        return out

    return pool


def _squeeze_excite(layer: Layer, rng) -> Callable:
    w1, b1 = _weights(rng, (layer.c, layer.se_c), layer.c), np.zeros(layer.se_c, np.float32)  # [in, out]
    w2, b2 = _weights(rng, (layer.se_c, layer.c), layer.se_c), np.zeros(layer.c, np.float32)
    act = _activation(layer.op)

    def se(x, out=None):
        s = x.mean(axis=(2, 3), dtype=np.float32)
        s = act(s @ w1 + b1) @ w2 + b2
        return np.multiply(x, _sigmoid(s)[:, :, None, None].astype(np.float32), out=out)

    return se
