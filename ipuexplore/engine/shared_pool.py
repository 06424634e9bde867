"""The pool a call runs on when its caller names none.

One shared pool per worker count serves such calls. ``conv2d()`` without ``pool=`` never
raises ``Busy``: when the shared pool is held by another thread, or its tiles are too small
for the layer, the call runs on a private pool made for it and closed after it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from .. import errors
from ..errors import Busy
from .arguments import as_int
from .pool import DEFAULT_TILE_BYTES, Pool

T = TypeVar("T")
_MAX_TILE_BYTES = 1 << 30  # the C engine's IPX_MAX_TILE_BYTES

_shared: dict[int, Pool] = {}
_shared_lock = threading.Lock()


def shared_pool(workers: int | None = None) -> Pool:
    """The shared pool of ``workers`` workers (None: one per CPU), made on first use."""
    key = 0 if workers is None else as_int(workers, "workers", 1)
    pool = _shared.get(key)  # the common case, without the lock
    if pool is not None and not pool.closed:
        return pool
    with _shared_lock:
        pool = _shared.get(key)
        if pool is None or pool.closed:
            pool = _shared[key] = Pool(workers)
        return pool


def run_on_a_pool(fn: Callable[[Pool], T], need_tile_bytes: int, pool: Pool | None,
                  workers: int | None) -> T:
    """``fn(pool)`` on the caller's ``pool`` if given, else on the shared pool of ``workers``,
    else (shared pool busy, or tiles under ``need_tile_bytes``) on a private pool. ``fn``
    takes the pool once, before it computes anything, and its only ``Busy`` can come from
    the pool (its handles are its own): a ``Busy`` on the shared pool, taken by another
    thread after we looked, is then retried on a private pool."""
    if pool is not None:
        return fn(pool)
    shared = shared_pool(workers)
    if need_tile_bytes <= shared.tile_bytes and not shared.busy:
        try:
            return fn(shared)
        except Busy:
            pass
    if need_tile_bytes > _MAX_TILE_BYTES:
        raise errors.TileTooSmall(
            f"this layer needs {need_tile_bytes} bytes of tile memory per worker, more than the "
            f"1 GiB maximum", "IPX_STATUS_TILE_TOO_SMALL")
    with Pool(workers, tile_bytes=max(need_tile_bytes, DEFAULT_TILE_BYTES)) as private:
        return fn(private)
