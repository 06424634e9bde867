"""A pool's runs as a trace: each worker's exchange, compute and wait span of every superstep
(the C pool records them, ``ipx_pool_set_trace``), and the same as a Chrome trace
(``{"traceEvents": [...]}``) that Perfetto and chrome://tracing open: the host's version of
an IPU execution trace, one thread per worker."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np

from .._ipx_cffi import ffi, lib

# ipx_trace_event, field for field (checked against the C size at import).
EVENT_DTYPE = np.dtype([("start_ns", "<u8"), ("end_ns", "<u8"), ("superstep", "<u8"),
                        ("run", "<u4"), ("worker", "<u4"), ("phase", "<i4"), ("reserved", "<u4")])
assert EVENT_DTYPE.itemsize == ffi.sizeof("ipx_trace_event")

# The waits for a run to reach a worker (its wake-up) and for every worker to finish it are
# waits like a superstep barrier's; args say which.
PHASE_NAMES = {lib.IPX_TRACE_EXCHANGE: "exchange", lib.IPX_TRACE_COMPUTE: "compute",
               lib.IPX_TRACE_WAIT: "wait", lib.IPX_TRACE_START: "wait", lib.IPX_TRACE_END: "wait"}
WAIT_FOR = {lib.IPX_TRACE_START: "run start", lib.IPX_TRACE_END: "run end"}
DEFAULT_CAPACITY = 1 << 16  # events (40 bytes each): a few thousand supersteps on 8 workers


@dataclass(frozen=True)
class Trace:
    """What a pool recorded while tracing: ``events`` (a numpy structured array with fields
    ``start_ns``, ``end_ns`` (CLOCK_MONOTONIC), ``superstep``, ``run`` (0 for the first traced
    run), ``worker``, ``phase`` (an ``IPX_TRACE_*`` value)), ``dropped`` (events that did not
    fit the buffer) and the pool's ``workers``."""

    events: np.ndarray
    dropped: int
    workers: int

    def busy_ns(self, worker: int, run: int | None = None) -> int:
        """Nanoseconds a worker's spans cover (all phases; one run or all)."""
        e = self.events
        mask = e["worker"] == worker
        if run is not None:
            mask &= e["run"] == run
        return int((e["end_ns"][mask] - e["start_ns"][mask]).sum())

    def to_chrome(self) -> dict:
        """The Chrome trace-event form: one complete ("X") event per span, timestamps in
        microseconds from the first span, thread ``worker`` of one process, named."""
        e = self.events
        origin = int(e["start_ns"].min()) if len(e) else 0
        out = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0,
                "args": {"name": "ipuexplore engine"}}]
        for w in range(self.workers):
            out.append({"name": "thread_name", "ph": "M", "pid": 1, "tid": w,
                        "args": {"name": f"worker {w}"}})
            out.append({"name": "thread_sort_index", "ph": "M", "pid": 1, "tid": w,
                        "args": {"sort_index": w}})
        order = np.lexsort((e["start_ns"], e["worker"]))
        for i in order:
            ev = e[i]
            phase = int(ev["phase"])
            args = {"run": int(ev["run"]), "superstep": int(ev["superstep"])}
            if phase in WAIT_FOR:
                args["for"] = WAIT_FOR[phase]
            out.append({"name": PHASE_NAMES.get(phase, "?"), "cat": "superstep", "ph": "X",
                        "pid": 1, "tid": int(ev["worker"]),
                        "ts": (int(ev["start_ns"]) - origin) / 1000.0,
                        "dur": (int(ev["end_ns"]) - int(ev["start_ns"])) / 1000.0, "args": args})
        meta = {"workers": self.workers, "dropped_events": self.dropped}
        return {"traceEvents": out, "displayTimeUnit": "ns", "otherData": meta}


def trace_layer(layer, batch: int, *, train: bool = False, workers: int | None = None,
                seed: int = 0) -> Trace:
    """One run of a convolution layer on a new engine pool, traced: the forward pass, with
    ``train`` also backward data and backward weights (three runs, ``run`` 0..2). ``layer``
    is anything with the attributes c, k, h, w, r, s, g, stride, pad, dilation (pairs for the
    last three), as ``ipuexplore.layers.Layer``. Inputs and weights are seeded random; an
    untraced run first packs and warms everything."""
    from .conv import Conv2d  # conv imports pool, which imports this module
    from .pool import Pool

    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, layer.c, layer.h, layer.w), dtype=np.float32)
    weight = rng.standard_normal((layer.k, layer.c // layer.g, layer.r, layer.s), dtype=np.float32)
    with Pool(workers) as pool:
        conv = Conv2d(weight, input_shape=x.shape, stride=tuple(layer.stride), padding=tuple(layer.pad),
                      dilation=tuple(layer.dilation), groups=layer.g, pool=pool, backward=train)
        y = conv.run(x)
        grad = rng.standard_normal(y.shape, dtype=np.float32)

        def passes():
            conv.run(x, y)
            if train:
                conv.backward_data(grad)
                conv.backward_weights(grad, x)

        passes()  # warm
        capacity = DEFAULT_CAPACITY
        while True:
            with pool.tracing(capacity) as rec:
                passes()
            if rec.trace.dropped == 0:
                return rec.trace
            capacity = len(rec.trace.events) + rec.trace.dropped


def write_chrome_trace(path: str | os.PathLike, trace: Trace) -> None:
    """Writes ``trace.to_chrome()`` as JSON to ``path``."""
    with open(path, "w", encoding="utf-8") as f:
        json.dump(trace.to_chrome(), f)


class TraceRecorder:
    """The buffer a pool fills while tracing (``Pool.tracing``); ``trace`` is set when tracing
    stops."""

    def __init__(self, capacity: int):
        self._cdata = ffi.new("ipx_trace_event[]", capacity)
        self.capacity = capacity
        self.trace: Trace | None = None

    def finish(self, recorded: int, dropped: int, workers: int) -> Trace:
        raw = np.frombuffer(ffi.buffer(self._cdata), dtype=EVENT_DTYPE, count=recorded)
        self.trace = Trace(raw.copy(), dropped, workers)
        return self.trace
