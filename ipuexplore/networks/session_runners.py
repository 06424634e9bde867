"""HostSession's runners: each planned step as the engine call (or numpy op) that computes it,
and its C call bound once to the session's buffers, so a run converts and checks nothing."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import errors
from ..layers import Layer, LayerKind
from . import epilogue
from .session_plan import _centered, _Step, fold_batch_norm


def winograd_candidate(layer: Layer) -> bool:
    """A dense 3x3 stride-1 convolution: the engine's Winograd kernel computes it."""
    return (layer.kind is LayerKind.CONV and layer.g == 1 and min(layer.c, layer.k) >= 8 and layer.r == layer.s == 3
            and tuple(layer.stride) == (1, 1) and tuple(layer.dilation) == (1, 1))


def _create_convs(steps: list[_Step], batch: int, engine, winograd: bool = False) -> tuple[dict[int, Any], dict[int, Any]]:
    """The engine convolutions of the conv and pair steps, by id of their step (a pair's first
    and expand under their own): weights packed, not yet bound to a pool. The float64 copies are
    dropped. With ``winograd``, also each dense 3x3 stride-1 conv step's Winograd handle (the
    second dict), for ``_choose_winograd``."""
    convs: dict[int, Any] = {}
    twins: dict[int, Any] = {}
    for step in steps:
        for s in ((*([step.expand] if step.expand else []), step.first, step) if step.kind == "pair"
                  else (step,) if step.kind == "conv" else ()):
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
                if winograd and s is step and step.kind == "conv" and winograd_candidate(layer):
                    twins[id(s)] = engine.Conv2d.from_layer(layer, batch, weight=weight, bias=bias, algorithm="winograd")
    return convs, twins


def _choose_winograd(steps: list[_Step], convs: dict[int, Any], twins: dict[int, Any], pool,
                     always: bool) -> dict[str, bool]:
    """For each conv step with a Winograd handle in ``twins``: that handle in ``convs`` instead of
    the direct one when it runs on the pool's tiles and ``always``, or when it ran faster on
    random data (``_faster``; steps of one geometry share the first one's verdict). The handle not
    chosen is closed. Returns each such step's output: whether it runs Winograd."""
    chosen: dict[str, bool] = {}
    verdicts: dict[tuple, bool] = {}
    rng = np.random.default_rng(0)
    for step in steps:
        twin = twins.get(id(step))  # left in twins until chosen: the caller closes it on an error
        if twin is None:
            continue
        direct = convs[id(step)]
        layer = step.layer
        key = (layer.c, layer.k, layer.h, layer.w, tuple(layer.pad))
        if key not in verdicts:
            x = rng.standard_normal(direct.input_shape, dtype=np.float32)
            out = np.empty(direct.output_shape, np.float32)
            wino = lambda x, out, residual: twin.run(x, out, pool=pool)  # noqa: E731
            verdicts[key] = _runs(wino, x, out, None) and (always or _faster(
                wino, lambda x, out, residual: direct.run(x, out, pool=pool), x, out, None, rounds=5))
        use = verdicts[key]
        del twins[id(step)]
        (direct if use else twin).close()
        if use:
            convs[id(step)] = twin
        chosen[step.output] = use
    return chosen


def _runner(step: _Step, batch: int, pool, engine, sums: dict[str, np.ndarray], scales: dict[str, np.ndarray],
            convs: dict[int, Any], scratch: tuple[np.ndarray, np.ndarray]):
    """A function (args, out, residual) computing the step into ``out``. ``sums``: channel-sum
    arrays by tensor, written by the convolution producing the tensor, read by its SE;
    ``scales``: SE channel scales by SE output, applied by the convolution reading it;
    ``scratch``: where an unfused pair or block puts its depthwise and its expand output."""
    layer = step.layer
    if step.kind == "pair":
        expand = convs[id(step.expand)] if step.expand else None
        return _pair_runner(step, expand, convs[id(step.first)], convs[id(step)], pool, sums.get(step.output), scratch)
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

    def maker(tensor, keep):
        y = tensor(step.output).reshape(out_shape)
        res = tensor(step.residual) if step.residual else None
        return _fused_maker(keep, conv, y, act, res, sums, scale)

    def bind(tensor, keep):
        x = tensor(step.inputs[0]).reshape(in_shape)
        return [(key, _on_pool(pool, maker(tensor, keep)(_floats(keep, x), x.size)))]

    def bind_input(tensor, keep):
        """As ``bind``, for the network's first convolution, which reads the caller's input:
        the call is made per run on x's floats."""
        make, n = maker(tensor, keep), int(np.prod(in_shape))
        return _FromInput(lambda xb: make(xb, n))

    run.conv = conv
    run.parts = lambda args, out, residual: [(key, run)]
    run.bind = bind
    run.bind_input = bind_input
    return run


def _pair_runner(step: _Step, expand, first, second, pool, sums: np.ndarray | None,
                 scratch: tuple[np.ndarray, np.ndarray]):
    """A depthwise convolution and the pointwise one reading it: one pass (``Conv2d.run_pair``:
    the depthwise rows stay in tile memory) when ``fused``, else two runs through scratch. With
    the ``expand`` convolution before them: all three in one pass (``Conv2d.run_block``: the
    expand's rows stay in tile memory too) when ``block``, else the expand's run, then the pair.
    ``measure(out)`` times each choice on random data and keeps the faster."""
    mid_shape = first.output_shape
    mid = _centered(scratch[0], int(np.prod(mid_shape))).reshape(mid_shape)
    expanded = _centered(scratch[1], int(np.prod(first.input_shape))).reshape(first.input_shape) if expand else None
    e_act, a_act, act = (step.expand.act if expand else None), step.first.act, step.act

    def one_pass(x, out, residual):
        first.run_pair(second, x.reshape(first.input_shape), out.reshape(second.output_shape),
                       first_activation=a_act, residual=residual, activation=act, channel_sums=sums, pool=pool)

    def two_runs(x, out, residual):
        first.run_fused(x.reshape(first.input_shape), mid, activation=a_act, pool=pool)
        second.run_fused(mid, out.reshape(second.output_shape), residual=residual, activation=act,
                         channel_sums=sums, pool=pool)

    def pair(x, out, residual):
        (one_pass if run.fused else two_runs)(x, out, residual)

    def block_pass(x, out, residual):
        expand.run_block(first, second, x.reshape(expand.input_shape), out.reshape(second.output_shape),
                         expand_activation=e_act, first_activation=a_act, residual=residual, activation=act,
                         channel_sums=sums, pool=pool)

    def expand_then_pair(x, out, residual):
        expand.run_fused(x.reshape(expand.input_shape), expanded, activation=e_act, pool=pool)
        pair(expanded, out, residual)

    def run(args, out, residual):
        (block_pass if run.block else expand_then_pair if expand else pair)(args[0], out, residual)

    def measure(out, rounds: int = 5) -> None:
        """Sets ``fused`` (the pair in one pass) and ``block`` (the expand in it too): each when
        it runs (a block too large for the pool's tiles runs apart) and, with rounds, when its
        median time ratio against the other way is below 1 (paired rounds, each way run 3
        times, the order alternating so load bursts hit both)."""
        rng = np.random.default_rng(0)
        res = rng.standard_normal(out.shape, dtype=np.float32) if step.residual else None
        x = rng.standard_normal((expand or first).input_shape, dtype=np.float32)
        pair_x = expand.run_fused(x, activation=e_act, pool=pool) if expand else x
        run.fused = _runs(one_pass, pair_x, out, res) and (
            rounds == 0 or _faster(one_pass, two_runs, pair_x, out, res, rounds))
        run.block = expand is not None and _runs(block_pass, x, out, res) and (
            rounds == 0 or _faster(block_pass, expand_then_pair, x, out, res, rounds))

    names = [f"conv {_conv_name(step.first.layer)}", f"conv {_conv_name(step.layer)}"]
    pair_key = f"pair {_conv_name(step.first.layer)} > 1x1"
    block_key = "block 1x1 > " + pair_key[len("pair "):]
    expand_key = "conv dense 1x1" + (f" + {e_act}" if e_act else "")

    def parts(args, out, residual):
        if run.block:
            return [(block_key, run)]
        head = [(expand_key, lambda a, o, r: expand.run_fused(a[0].reshape(expand.input_shape), expanded,
                                                              activation=e_act, pool=pool))] if expand else []
        x_of = (lambda a: expanded) if expand else (lambda a: a[0])
        if run.fused:
            return [*head, (pair_key, lambda a, o, r: one_pass(x_of(a), o, r))]
        return [*head, (names[0], lambda a, o, r: first.run_fused(
                    x_of(a).reshape(first.input_shape), mid, activation=a_act, pool=pool)),
                (names[1], lambda a, o, r: second.run_fused(
                    mid, o.reshape(second.output_shape), residual=r, activation=act, channel_sums=sums, pool=pool))]

    def bind(tensor, keep):
        from .._ipx_cffi import lib
        from ..engine import fused

        x, y = tensor(step.inputs[0]), tensor(step.output).reshape(second.output_shape)
        res = tensor(step.residual) if step.residual else None
        if run.block:
            e0 = fused.epilogue_struct(keep, e_act, prefix="expand_")
            e1 = fused.epilogue_struct(keep, a_act, prefix="first_")
            e2 = fused.epilogue_struct(keep, act, res, y.shape, sums, y.shape[:2])
            xb, yb = _floats(keep, x.reshape(expand.input_shape)), _floats(keep, y, writable=True)
            h0, h1, h2 = _handle(expand), _handle(first), _handle(second)
            return [(block_key, _on_pool(pool, lambda h: lib.ipx_conv_run_block(h0, h1, h2, h, xb, x.size, yb, y.size,
                                                                                e0, e1, e2)))]
        head = [(expand_key, _on_pool(pool, _fused_call(keep, expand, x.reshape(expand.input_shape), expanded,
                                                        e_act)))] if expand else []
        x = (expanded if expand else x).reshape(first.input_shape)
        if not run.fused:
            return [*head, (names[0], _on_pool(pool, _fused_call(keep, first, x, mid, a_act))),
                    (names[1], _on_pool(pool, _fused_call(keep, second, mid, y, act, res, sums)))]
        e1 = fused.epilogue_struct(keep, a_act, prefix="first_")
        e2 = fused.epilogue_struct(keep, act, res, y.shape, sums, y.shape[:2])
        xb, yb = _floats(keep, x), _floats(keep, y, writable=True)
        h1, h2 = _handle(first), _handle(second)
        return [*head, (pair_key, _on_pool(pool, lambda h: lib.ipx_conv_run_pair(h1, h2, h, xb, x.size, yb, y.size,
                                                                                 e1, e2)))]

    run.fused, run.block = True, expand is not None
    run.conv = second
    run.measure = measure
    run.parts = parts
    run.bind = bind
    return run


def _runs(fn, x, out, residual) -> bool:
    """Whether the fused pass runs on these tiles (TileTooSmall: a block of it does not fit)."""
    try:
        fn(x, out, residual)
    except (errors.TileTooSmall, errors.Unsupported):
        return False
    return True


def _faster(fused, apart, x, out, residual, rounds: int) -> bool:
    """Whether ``fused`` takes less time than ``apart``: the median over paired rounds of their
    time ratio (each way run 3 times, the order alternating so load bursts hit both)."""
    import time

    apart(x, out, residual)
    ratios = []
    for i in range(rounds):
        times = {}
        for fn in ((fused, apart) if i % 2 == 0 else (apart, fused)):
            start = time.perf_counter()
            for _ in range(3):
                fn(x, out, residual)
            times[fn] = time.perf_counter() - start
        ratios.append(times[fused] / times[apart])
    return float(np.median(ratios)) < 1.0


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
class _FromInput:
    """A bound call that reads the caller's input: ``make(x)``, x's floats as cffi passes them,
    gives the C call (a function of the pool's handle), made anew for every run's input."""

    def __init__(self, make):
        self.make = make


def _program(steps: list[_Step], runners: list, bound: list, from_input: list) -> list:
    """The run as the session makes it: consecutive bound steps' C calls (functions of the
    pool's handle, or a ``_FromInput`` for a step reading the caller's input) merged into one
    list, made under one hold of the pool (a Python round trip per step, 50-70 a network, costs
    more than the hold; the first convolution through the Python API took about 100 us more
    than bound, MobileNetV2 at batch 1); other steps as (step, runner)."""
    program: list = []
    for step, runner, calls, on_input in zip(steps, runners, bound, from_input):
        if on_input is not None:
            raw = [on_input]
        elif calls is not None:
            raw = [call.raw for _, call in calls]
        else:
            program.append((step, runner))
            continue
        if program and isinstance(program[-1], list):
            program[-1].extend(raw)
        else:
            program.append(raw)
    return program


def _on_pool(pool, call):
    """``call`` (a function of the pool's C handle, returning a status) made on the session's
    pool: at run only the pool's lock is taken and the status checked, without the Python
    API's per-call checks and statistics (about 8 us a step, 50-70 steps a network)."""
    from .._ipx_cffi import ffi, lib

    def run():
        status, _ = pool.execute("HostSession.run", call, record=False)
        if status:
            errors.check(ffi, lib, status, "HostSession.run")

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
    return _fused_maker(keep, conv, y, act, residual, sums, scale)(_floats(keep, x), x.size)


def _fused_maker(keep: list, conv, y, act=None, residual=None, sums=None, scale=None):
    """``make(xb, n)``: ``Conv2d.run_fused`` into y as a bound call on the n floats at xb."""
    from .._ipx_cffi import lib
    from ..engine import fused

    e = fused.epilogue_struct(keep, act, residual, conv.output_shape, sums, conv.output_shape[:2], scale,
                              conv.input_shape[:2])
    yb, handle = _floats(keep, y, writable=True), _handle(conv)
    return lambda xb, n: lambda h: lib.ipx_conv_run_fused(handle, h, xb, n, yb, y.size, e)


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
