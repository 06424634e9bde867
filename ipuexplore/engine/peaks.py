"""The host's limits (FP32 FMA peak, memory bandwidth), measured on a pool."""

from __future__ import annotations

from dataclasses import dataclass, replace

from .._ipx_cffi import ffi, lib
from .arguments import as_uint64, check_status
from .codes import ISA_NAMES
from .pool import Pool
from .shared_pool import shared_pool


@dataclass(frozen=True)
class HostPeaks:
    """The host's limits as measured on a pool: ``peak_flop_s`` (FP32 FMA, FLOP/s, all
    workers), ``mem_bw_b_s`` (STREAM triad over arrays much larger than the caches, bytes/s),
    ``tile_bw_b_s`` (the triad inside tile memory), ``workers``, ``isa``, ``array_bytes``."""

    peak_flop_s: float
    mem_bw_b_s: float
    tile_bw_b_s: float
    workers: int
    isa: str
    array_bytes: int

    def roofline_flop_s(self, arithmetic_intensity: float) -> float:
        """Attainable FLOP/s at this FLOP/byte intensity against DRAM: min(peak, AI x BW)."""
        return min(self.peak_flop_s, arithmetic_intensity * self.mem_bw_b_s)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


_cache: dict[tuple[int, bool], HostPeaks] = {}


def host_peaks(pool: Pool | None = None, *, refresh: bool = False, portable: bool = False,
               array_bytes: int = 64 << 20, keep_higher: bool = False) -> HostPeaks:
    """Measure (once; cached per worker count) the FP32 FMA peak and the memory bandwidth on
    ``pool`` (default: the shared pool, one worker per CPU). Takes about a second. With
    ``refresh`` and ``keep_higher``, the cached FMA peak stays where it was higher: on a shared
    VM whose vCPUs now and then share a physical core, one reading can be half the peak."""
    pool = pool if pool is not None else shared_pool()
    key = (pool.workers, bool(portable))
    if not refresh and key in _cache:
        return _cache[key]
    out = ffi.new("ipx_host_peaks*")
    flags = lib.IPX_FLAG_PORTABLE if portable else 0
    nbytes = as_uint64(array_bytes, "array_bytes")
    status, _ = pool.execute("host_peaks", lambda h: lib.ipx_pool_measure_peaks(h, nbytes, flags, out),
                             record=False)
    check_status(status, "host_peaks")
    peaks = HostPeaks(float(out.peak_flop_s), float(out.mem_bw_b_s), float(out.tile_bw_b_s),
                      int(out.workers), ISA_NAMES.get(int(out.isa), "?"), int(out.array_bytes))
    if keep_higher and key in _cache and _cache[key].peak_flop_s > peaks.peak_flop_s:
        peaks = replace(peaks, peak_flop_s=_cache[key].peak_flop_s)
    _cache[key] = peaks
    return peaks
