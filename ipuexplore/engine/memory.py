"""The memory limit: requests are refused before allocating, not left to the OOM killer."""

from __future__ import annotations

import os
import time

from .. import errors
from .arguments import as_uint64

_memory_limit: int | None = None  # None: the memory available now
_available_cache = [0.0, None]  # (time read, bytes): /proc is re-read at most every 0.5 s
_SMALL_REQUEST = 64 << 20  # under the default limit, smaller requests skip the /proc read


def available_memory() -> int | None:
    """MemAvailable (Linux), else free physical pages; None when the OS does not say."""
    now = time.monotonic()
    if now - _available_cache[0] < 0.5:
        return _available_cache[1]
    value = None
    try:
        with open("/proc/meminfo", "rb") as f:
            for line in f:
                if line.startswith(b"MemAvailable:"):
                    value = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError, IndexError):
        pass
    if value is None:
        try:
            value = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            value = None
    _available_cache[:] = [now, value]
    return value


def set_memory_limit(limit_bytes: int | None) -> None:
    """Cap the bytes one request may allocate (output arrays, packed weights, pool tiles).
    ``None`` (the default) means the memory available when the request is made. Requests
    over the limit raise ``MemoryLimitExceeded`` (a ``MemoryError``) before allocating."""
    global _memory_limit
    _memory_limit = None if limit_bytes is None else as_uint64(limit_bytes, "limit_bytes")


def get_memory_limit() -> int | None:
    """The limit in force now: the one set, else the available memory (None if unknown)."""
    return _memory_limit if _memory_limit is not None else available_memory()


def limit_for_c(explicit: int | None, name: str) -> int:
    """A C descriptor's memory_limit: the explicit value, else the global limit (0 = none)."""
    if explicit is not None:
        return as_uint64(explicit, name)
    limit = get_memory_limit()
    return 0 if limit is None else max(limit, 1)


def check_request(who: str, what: str, nbytes: int, explicit: int | None = None) -> None:
    """Raise ``MemoryLimitExceeded`` if allocating ``nbytes`` for ``what`` would pass the
    limit (``explicit``, else the one set, else the memory available)."""
    limit = explicit if explicit is not None else _memory_limit
    if limit is None:
        if nbytes < _SMALL_REQUEST:
            return
        limit = available_memory()
        source = "the memory available now"
    else:
        source = "the limit set" if explicit is None else "memory_limit"
    if limit is not None and nbytes > limit:
        raise errors.MemoryLimitExceeded(
            f"{who}: {what} needs {nbytes} bytes, over {source} ({limit} bytes); "
            f"use smaller shapes or ipuexplore.engine.set_memory_limit()", "IPX_STATUS_MEMORY_LIMIT")
