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
from typing import Any

import numpy as np

from .. import errors
from ..layers import LayerKind
from . import epilogue
from .graph import INPUT, Network
from .session_plan import _arena, _buffer_plan, _centered, _check_memory, _check_tiles, _plan, _Step
from .session_plan import pair_scratch_floats
from .session_plan import fold_batch_norm  # noqa: F401  (public: folded weights, for callers and tests)
from .session_runners import _choose_winograd, _create_convs, _FromInput, _program, _runner, _se_activation

# How HostSession runs a depthwise convolution and the pointwise one reading it: "measure"
# times both ways at build and keeps the faster, "always" one pass, "never" two.
PAIR_CHOICES = ("measure", "always", "never")
# How it runs a dense 3x3 stride-1 convolution: the Winograd kernel where it measured faster
# at build ("measure"; ResNets' 14x14 and larger maps, not 7x7 ones), always, or never (direct).
WINOGRAD_CHOICES = ("measure", "always", "never")
# Activations a convolution's epilogue applies; others run as their own step.
EPILOGUE_ACTS = frozenset(epilogue.ACTIVATIONS)
# ONNX ops whose meaning the session reproduces exactly (the importer maps a few others,
# e.g. Gelu, approximately for the cost models: those are refused here).
_EXACT_ONNX_ACTS = {"Relu", "Clip", "Sigmoid", "Silu", "HardSwish", "HardSigmoid", "Tanh"}


# What HostSession.phases gives per op kind beside its wall time: the workers' phases summed
# over workers, and the bytes that crossed the tiles' boundary
PHASE_KEYS = ("exchange_s", "compute_s", "wait_s", "bytes_in", "bytes_out")


class HostSession:
    """``HostSession(model, batch, *, workers=None)``: ``model`` is an ONNX path or a built-in
    network name (see ``ipuexplore.networks.list_networks``); ``run(x)`` with a float32
    [batch, c, h, w] array returns the network's output (a new array).

    Raises ValueError naming the parameter for a bad batch, an unknown name, a model whose
    static batch differs, or an op the engine cannot run (its name and node);
    ``MemoryLimitExceeded`` when the planned buffers and weights exceed the engine's memory
    limit (nothing is allocated then). One session serves one ``run`` at a time. ``model`` may
    also be a built `Network` (random weights, from ``seed``). ``pairs`` (PAIR_CHOICES) and
    ``winograd`` (WINOGRAD_CHOICES): how depthwise + pointwise pairs and dense 3x3 stride-1
    convolutions run; by default each way is timed at build and the faster kept
    (``describe()`` says which).
    """

    def __init__(self, model: str | os.PathLike | Network, batch: int, *, workers: int | None = None,
                 seed: int = 0, pairs: str = "measure", winograd: str = "measure"):
        if isinstance(batch, bool) or not isinstance(batch, (int, np.integer)) or batch < 1:
            raise ValueError(f"batch must be a positive int, got {batch!r}")
        if pairs not in PAIR_CHOICES:
            raise ValueError(f"pairs must be one of {PAIR_CHOICES}, got {pairs!r}")
        if winograd not in WINOGRAD_CHOICES:
            raise ValueError(f"winograd must be one of {WINOGRAD_CHOICES}, got {winograd!r}")
        self.batch = int(batch)
        network, params, self._output_shape = _load(model, self.batch, seed)
        self.network = network
        self.steps = _plan(network, params, fuse_pairs=pairs != "never")
        self._sizes = _buffer_plan(self.steps, network)
        _check_memory(network.name, self.batch, self.steps, self._sizes, winograd=winograd != "never")
        from .. import engine  # lazy: only running needs the compiled engine

        self._pool = None
        convs, twins = {}, {}
        try:
            convs, twins = _create_convs(self.steps, self.batch, engine, winograd=winograd != "never")
            # one pool for the whole network, its tiles as large as the largest layer needs
            need = max((c.info["min_tile_bytes"] for c in convs.values()), default=0)
            tile_bytes = max(need, engine.DEFAULT_TILE_BYTES)
            _check_tiles(network.name, self.batch, tile_bytes, workers)
            self._pool = engine.Pool(workers, tile_bytes=tile_bytes)
            self._winograd_choices = _choose_winograd(self.steps, convs, twins, self._pool, winograd == "always")
            self._build(engine, convs, pairs)
        except BaseException:
            for conv in (*convs.values(), *twins.values()):
                conv.close()
            if self._pool is not None:
                self._pool.close()
            raise

    # ---- build -----------------------------------------------------------------------
    def _build(self, engine, convs, pairs: str) -> None:
        n = self.batch
        sums = {s.output: np.empty((n, s.out_shape[0]), np.float32) for s in self.steps if s.sums}
        # squeeze-excite scales the next convolution applies in its exchange (not the GEMM lowering)
        scales = {s.scale_from: np.empty((n, s.layer.c), np.float32) for s in self.steps
                  if s.scale_from and convs[id(s)].info["kernel"] in ("row", "channel", "winograd")}
        # the activation slots, then a pair's depthwise output and a block's expand output when
        # they run unfused
        sizes = (*self._sizes.slot_floats, *pair_scratch_floats(self.steps))
        *slots, mid, expanded = _arena([n * size for size in sizes])
        self._buffers = dict(enumerate(slots))
        self._runners = [_runner(step, n, self._pool, engine, sums, scales, convs, (mid, expanded))
                         for step in self.steps]
        self._pair_choices, self._block_choices = {}, {}
        for step, runner in zip(self.steps, self._runners):
            if step.kind == "pair":
                runner.measure(self._tensor(step.output), rounds=0 if pairs == "always" else 5)
                self._pair_choices[step.output] = runner.fused
                if step.expand:
                    self._block_choices[step.output] = runner.block
        # each engine step's C calls on the session's own buffers, checked and converted once
        # (none for numpy fallbacks and steps reading the caller's input: profile and phases
        # run those through their runner)
        self._keep: list = []  # the buffers and structs the bound calls point into
        self._bound = [runner.bind(self._tensor, self._keep) if hasattr(runner, "bind")
                       and INPUT not in (*step.inputs, step.residual) else None
                       for step, runner in zip(self.steps, self._runners)]
        # a run's program: the bound calls, and a convolution on the caller's input (the
        # network's first) bound but for x's pointer, set per run; numpy fallbacks apart
        from_input = [runner.bind_input(self._tensor, self._keep) if hasattr(runner, "bind_input")
                      and list(step.inputs) == [INPUT] and step.residual != INPUT else None
                      for step, runner in zip(self.steps, self._runners)]
        self._program = _program(self.steps, self._runners, self._bound, from_input)

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
        xb = None
        for item in self._program:
            if isinstance(item, list):
                if xb is None and any(type(call) is _FromInput for call in item):
                    from .._ipx_cffi import ffi

                    xb = ffi.from_buffer("float[]", x)
                self._run_calls([call.make(xb) if type(call) is _FromInput else call for call in item])
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

    def profile(self, x: np.ndarray, runs: int = 5, *, by: str = "kind") -> dict[str, float]:
        """Seconds per run by op kind (median over ``runs`` after a warm-up): convolutions by
        kernel shape, their epilogues, pools, squeeze-excite, ... Each step is timed on its own.
        ``by="step"``: by step instead, keyed by the tensor each step writes (a layer's name for
        built-in networks, the graph's tensor name for ONNX models), in run order."""
        import time

        if by not in ("kind", "step"):
            raise ValueError(f"by must be 'kind' or 'step', got {by!r}")
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
                    name = step.output if by == "step" else key
                    totals[name] = totals.get(name, 0.0) + time.perf_counter() - start
            for key, value in totals.items():
                samples.setdefault(key, []).append(value)
        order = sorted(samples.items(), key=lambda kv: -sum(kv[1])) if by == "kind" else samples.items()
        return {key: float(np.median(values)) for key, values in order}

    def phases(self, x: np.ndarray, runs: int = 5) -> dict[str, dict[str, float]]:
        """Where each op kind's time goes, each engine step timed on its own (medians over
        ``runs`` after a warm-up): ``wall_s``, and the workers' ``exchange_s`` (copies into tile
        memory), ``compute_s`` and ``wait_s`` (idle at the step's end), summed over the workers,
        and the bytes that crossed the tiles' boundary per run, ``bytes_in`` (copied in: inputs,
        weights, residuals) and ``bytes_out`` (written). Steps that read the caller's input or
        run in numpy are left out (see ``profile``)."""
        from ..engine.stats import resolve

        self.run(x)
        samples: dict[str, list[np.ndarray]] = {}
        for _ in range(runs):
            totals: dict[str, np.ndarray] = {}
            for key, call in (part for bound in self._bound if bound for part in bound):
                stats = resolve(self._pool.execute("HostSession.phases", call.raw, record=True)[1])
                phase = np.array([stats.wall_s, stats.exchange_ns.sum() * 1e-9, stats.compute_ns.sum() * 1e-9,
                                  stats.wait_ns.sum() * 1e-9, stats.bytes_in.sum(), stats.bytes_out.sum()],
                                 dtype=np.float64)
                totals[key] = totals.get(key, 0.0) + phase
            for key, value in totals.items():
                samples.setdefault(key, []).append(value)
        names = ("wall_s", *PHASE_KEYS)
        medians = {key: np.median(values, axis=0) for key, values in samples.items()}
        return {key: dict(zip(names, map(float, m))) for key, m in sorted(medians.items(), key=lambda kv: -kv[1][0])}

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
            "blocks": dict(self._block_choices),  # pairs with their expand: in the same pass (True) or before it
            "winograd": dict(self._winograd_choices),  # dense 3x3 stride-1 convolutions: Winograd (True) or direct
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
