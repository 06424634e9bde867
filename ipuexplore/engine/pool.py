"""The worker pool: W persistent C workers, each with its own tile memory."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from .._ipx_cffi import ffi, lib
from ..errors import Busy, Closed
from .arguments import as_int, check_status
from .handle import Handle
from .memory import limit_for_c
from .stats import RunStats, StatsReader, StatsSnapshot, combine, resolve
from .trace import DEFAULT_CAPACITY, TraceRecorder

DEFAULT_TILE_BYTES = 624 * 1024  # one Graphcore IPU Mk2 tile's SRAM
MAX_WORKERS = lib.IPX_MAX_WORKERS
_RAN = (0, lib.IPX_STATUS_CANCELLED)  # statuses after which a run's counters are valid


def cpu_count() -> int:
    """Online CPUs, as the C engine counts them (the default worker count)."""
    return int(lib.ipx_cpu_count())


class Pool(Handle):
    """W persistent workers, each with ``tile_bytes`` of its own tile memory (the caller of a
    run is worker 0). Use as a context manager or call ``close()``; ``last_stats`` is the
    ``RunStats`` of the last run (None before the first). ``memory_limit`` (bytes) caps what
    the pool allocates; None = the global limit (``set_memory_limit``, default: the memory
    available)."""

    _BUSY = "the pool is running; cancel() it or wait"

    def __init__(self, workers: int | None = None, tile_bytes: int = DEFAULT_TILE_BYTES, *,
                 memory_limit: int | None = None):
        w = 0 if workers is None else as_int(workers, "workers", 1, MAX_WORKERS)
        tb = as_int(tile_bytes, "tile_bytes", 4096)
        ml = limit_for_c(memory_limit, "memory_limit")
        desc = ffi.new("ipx_pool_desc*", {"workers": w, "tile_bytes": tb, "memory_limit": ml})
        out = ffi.new("ipx_pool_t*")
        check_status(lib.ipx_pool_create(desc, out),
                     f"Pool(workers={w or 'all'}, tile_bytes={tb}, memory_limit={ml})")
        self._handle = out[0]
        self._lock = threading.Lock()
        nw = ffi.new("uint32_t*")
        nt = ffi.new("uint64_t*")
        check_status(lib.ipx_pool_get_config(self._handle, nw, nt))
        self._workers = int(nw[0])
        self._tile_bytes = int(nt[0])
        self._last_stats: RunStats | StatsSnapshot | None = None
        self._reader = StatsReader(self._workers)

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def tile_bytes(self) -> int:
        return self._tile_bytes

    @property
    def last_stats(self) -> RunStats | None:
        return resolve(self._last_stats)

    @property
    def busy(self) -> bool:
        """A call holds the pool now (a run on it would raise ``Busy``)."""
        return self._lock.locked()

    def cancel(self) -> None:
        """Stop the run in progress at its next superstep barrier (it raises ``Cancelled``).
        With no run in progress, the next run is cancelled. Safe from any thread."""
        handle = self._handle
        if handle is not None:
            lib.ipx_pool_cancel(handle)

    @contextmanager
    def tracing(self, capacity: int = DEFAULT_CAPACITY) -> Iterator[TraceRecorder]:
        """Record the runs made on this pool inside the block: ``with pool.tracing() as rec:``
        runs ``...``, then ``rec.trace`` is a ``Trace`` (each worker's exchange, compute and
        wait spans per superstep; ``Trace.to_chrome()``, ``write_chrome_trace``). At most
        ``capacity`` events are kept (3 per worker per superstep, plus one per worker per run);
        the rest are counted in ``Trace.dropped``. Raises ``Busy`` if the pool is running."""
        capacity = as_int(capacity, "capacity", 1)
        recorder = TraceRecorder(capacity)
        with self._held("Pool.tracing"):
            check_status(lib.ipx_pool_set_trace(self._handle, recorder._cdata, capacity), "Pool.tracing")
        try:
            yield recorder
        finally:
            recorded, dropped = ffi.new("size_t*"), ffi.new("uint64_t*")
            if self._handle is None:  # closed inside the block: its events went with it
                recorder.finish(0, 0, self._workers)
                return
            with self._held("Pool.tracing"):
                check_status(lib.ipx_pool_get_trace(self._handle, recorded, dropped), "Pool.tracing")
                check_status(lib.ipx_pool_set_trace(self._handle, ffi.NULL, 0), "Pool.tracing")
            recorder.finish(int(recorded[0]), int(dropped[0]), self._workers)

    @contextmanager
    def _held(self, who: str) -> Iterator[None]:
        if self._handle is None:
            raise Closed(f"{who}: the pool is closed")
        if not self._lock.acquire(blocking=False):
            raise Busy(f"{who}: the pool is in use by another call", "IPX_STATUS_BUSY")
        try:
            yield
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop the workers and free the tiles. Raises ``Busy`` if a run is in progress."""
        super().close()

    def execute(self, who: str, *calls: Callable[[object], int], record: bool = True):
        """Make C calls on this pool, holding it: each ``call(handle)`` takes the pool's
        ``ipx_pool_t`` and returns an ``ipx_status``; they run in order and stop at the first
        that fails. This is how ``Conv2d`` runs (C takes the pool on every run). Returns
        ``(status, stats)``: the status of the last call made and, with ``record``, the
        statistics of the calls that ran (one call's as they are, several combined), which
        become ``last_stats`` (``stats`` is None when none ran). Raises ``Closed`` or
        ``Busy`` (another call holds the pool) before calling anything."""
        if self._handle is None:
            raise Closed(f"{who}: the pool is closed")
        if not self._lock.acquire(blocking=False):
            raise Busy(f"{who}: the pool is in use by another call", "IPX_STATUS_BUSY")
        try:  # not self._held(): a generator's cost on every run
            handle, read, ran, status = self._handle, self._reader.read, [], 0  # no calls: (0, None)
            for call in calls:
                status = call(handle)
                if status not in _RAN:
                    break
                if record:
                    ran.append(read(handle))  # now: the next run overwrites the counters
                if status:
                    break
            if not ran:
                return status, None
            self._last_stats = stats = ran[0] if len(ran) == 1 else combine(ran)
            return status, stats
        finally:
            self._lock.release()

    def _destroy(self, handle) -> int:
        return lib.ipx_pool_destroy(handle)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"Pool(workers={self._workers}, tile_bytes={self._tile_bytes}, {state})"
