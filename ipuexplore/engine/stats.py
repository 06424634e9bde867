"""Statistics of a run: the C pool's per-worker counters as numpy arrays (``RunStats``)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._ipx_cffi import ffi, lib
from .arguments import check_status
from .codes import ALGORITHM_NAMES, KERNEL_NAMES

STAT_FIELDS = ("flops", "bytes_in", "bytes_out", "exchange_ns", "compute_ns", "wait_ns", "supersteps")


@dataclass(frozen=True)
class RunStats:
    """Statistics of one run. Per-worker arrays (uint64, one entry per worker): ``flops``
    (2 x MACs), ``bytes_in`` (copied into tile memory), ``bytes_out`` (results written),
    ``exchange_ns``, ``compute_ns``, ``wait_ns`` (at superstep barriers), ``supersteps``
    (supersteps with work). Totals: ``wall_s``, ``gflop_s``, ``gb_s``
    ((bytes_in + bytes_out) / wall_s)."""

    flops: np.ndarray
    bytes_in: np.ndarray
    bytes_out: np.ndarray
    exchange_ns: np.ndarray
    compute_ns: np.ndarray
    wait_ns: np.ndarray
    supersteps: np.ndarray
    wall_s: float
    gflop_s: float
    gb_s: float
    algorithm: str
    kernel: str
    workers: int
    total_supersteps: int

    @property
    def total_flops(self) -> int:
        return int(self.flops.sum())

    @property
    def total_bytes(self) -> int:
        return int(self.bytes_in.sum() + self.bytes_out.sum())

    @classmethod
    def combine(cls, *runs: "RunStats") -> "RunStats":
        """Several runs on one pool (e.g. backward data + weights) as one: counters and wall
        times add up, rates are recomputed."""
        first = runs[0]
        arrays = {name: sum(getattr(r, name) for r in runs) for name in STAT_FIELDS}
        wall = sum(r.wall_s for r in runs)
        flops = float(arrays["flops"].sum())
        moved = float(arrays["bytes_in"].sum() + arrays["bytes_out"].sum())
        return cls(**arrays, wall_s=wall, gflop_s=flops / wall / 1e9 if wall else 0.0,
                   gb_s=moved / wall / 1e9 if wall else 0.0,
                   algorithm="+".join(dict.fromkeys(r.algorithm for r in runs)),
                   kernel="+".join(dict.fromkeys(r.kernel for r in runs)),
                   workers=first.workers, total_supersteps=sum(r.total_supersteps for r in runs))

    def to_dict(self) -> dict:
        out = {}
        for key, value in self.__dict__.items():
            out[key] = value.tolist() if isinstance(value, np.ndarray) else value
        return out


class StatsSnapshot:
    """A run's raw counters (the C structs' bytes); ``get()`` builds (once) the RunStats they
    describe. Building RunStats costs about 6 us, copying the bytes well under 1: runs copy,
    readers build."""

    __slots__ = ("_per_worker", "_totals", "_workers", "_stats")

    def __init__(self, per_worker: bytes, totals: bytes, workers: int):
        self._per_worker, self._totals, self._workers, self._stats = per_worker, totals, workers, None

    def get(self) -> RunStats:
        if self._stats is None:
            table = np.frombuffer(self._per_worker, dtype=np.uint64).reshape(self._workers, len(STAT_FIELDS)).copy()
            t = ffi.new("ipx_run_stats*")
            ffi.memmove(t, self._totals, len(self._totals))
            self._stats = RunStats(
                **{name: table[:, i] for i, name in enumerate(STAT_FIELDS)},
                wall_s=float(t.wall_s),
                gflop_s=float(t.gflop_s),
                gb_s=float(t.gb_s),
                algorithm=ALGORITHM_NAMES.get(int(t.algorithm), "?"),
                kernel=KERNEL_NAMES.get(int(t.kernel), "?"),
                workers=int(t.workers),
                total_supersteps=int(t.supersteps),
            )
        return self._stats


def resolve(stats: RunStats | StatsSnapshot | None) -> RunStats | None:
    return stats.get() if isinstance(stats, StatsSnapshot) else stats


def combine(snapshots: list[StatsSnapshot]) -> RunStats | StatsSnapshot:
    """One run's snapshot as it is, several runs' as their combined RunStats."""
    if len(snapshots) == 1:
        return snapshots[0]
    return RunStats.combine(*(s.get() for s in snapshots))


class StatsReader:
    """Reads a pool's last-run counters into a StatsSnapshot, through buffers allocated once."""

    __slots__ = ("_workers", "_per_worker", "_totals", "_per_worker_bytes", "_totals_bytes")

    def __init__(self, workers: int):
        self._workers = workers
        self._per_worker = ffi.new("ipx_worker_stats[]", workers)
        self._totals = ffi.new("ipx_run_stats*")
        self._per_worker_bytes = ffi.buffer(self._per_worker)
        self._totals_bytes = ffi.buffer(self._totals)

    def read(self, pool_handle) -> StatsSnapshot:
        status = lib.ipx_pool_get_stats(pool_handle, self._totals, self._per_worker, self._workers)
        if status:
            check_status(status, "ipx_pool_get_stats")
        return StatsSnapshot(self._per_worker_bytes[:], self._totals_bytes[:], self._workers)
