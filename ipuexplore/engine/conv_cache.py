"""Prepared convolutions kept between ``conv2d()`` calls, as oneDNN keeps primitives: a call
with the geometry and the weights of an earlier one runs the convolution packed then instead
of packing the weights again.

An entry is found by geometry and by the identity of the weight and bias arrays, and serves
only if their contents still equal a copy taken when they were packed (compared byte for
byte on every hit), so an array changed in place, or a new array that happens to get a freed
one's id, never runs with stale packed weights. An entry in use is out of the cache: a
concurrent call with the same key packs its own. Bounded by entries and by bytes (packed
weights and copies), least recently used out first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from .conv import Conv2d

MAX_ENTRIES = 32
MAX_BYTES = 64 << 20


_SMALL = 64 << 10  # bytes: under this a copy and a bytes compare are cheapest (heap, no page faults)


def _byte_compare() -> Callable[[np.ndarray, bytes | np.ndarray], bool]:
    """Equal bytes. Small arrays: ``tobytes() ==`` (0.2 us for 9 KiB on the development VM);
    large ones: libc's memcmp through cffi where it can reach it (no temporary copy), else
    numpy's array_equal."""
    try:
        import cffi

        ffi = cffi.FFI()
        ffi.cdef("int memcmp(const void *a, const void *b, size_t n);")
        memcmp = ffi.dlopen(None).memcmp

        def large(a: np.ndarray, b: np.ndarray) -> bool:
            return memcmp(ffi.from_buffer(a), ffi.from_buffer(b), a.nbytes) == 0
    except (ImportError, OSError, AttributeError):
        def large(a: np.ndarray, b: np.ndarray) -> bool:
            return bool(np.array_equal(a.view(np.uint8), b.view(np.uint8)))

    def same(a: np.ndarray, copy: bytes | np.ndarray) -> bool:
        if isinstance(copy, bytes):
            return a.tobytes() == copy
        return a.nbytes == copy.nbytes and large(a, copy)

    return same


_same_bytes = _byte_compare()


def _copy(a: np.ndarray) -> bytes | np.ndarray:
    """What _same_bytes compares ``a`` with later."""
    return a.tobytes() if a.nbytes <= _SMALL else a.copy()


def _hashable(value):
    return tuple(value) if isinstance(value, list) else value


class Entry:
    """A prepared convolution and copies of the arrays it packed."""

    __slots__ = ("key", "conv", "weight", "bias", "min_tile_bytes", "nbytes")

    def __init__(self, key, conv: Conv2d, weight: np.ndarray, bias: np.ndarray | None):
        self.key, self.conv = key, conv
        self.weight = _copy(weight)
        self.bias = None if bias is None else _copy(bias)
        info = conv.info
        self.min_tile_bytes = info["min_tile_bytes"]
        self.nbytes = info["allocated_bytes"] + weight.nbytes + (0 if bias is None else bias.nbytes)

    def packed(self, weight: np.ndarray, bias: np.ndarray | None) -> bool:
        """These arrays hold what this entry packed."""
        if (bias is None) != (self.bias is None):
            return False
        return _same_bytes(weight, self.weight) and (bias is None or _same_bytes(bias, self.bias))


class ConvCache:
    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES):
        self.max_entries, self.max_bytes = max_entries, max_bytes
        self._entries: OrderedDict[tuple, Entry] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(input_shape, weight_shape, weight, bias, stride, padding, dilation, groups, algorithm, backward):
        """The lookup key, or None when an argument cannot be hashed (the call then runs
        uncached and Conv2d names the bad argument). ``weight`` and ``bias`` are the caller's
        objects (a torch tensor's numpy view is new on every call, the tensor is not)."""
        key = (input_shape, weight_shape, id(weight), None if bias is None else id(bias), _hashable(stride),
               _hashable(padding), _hashable(dilation), groups, algorithm, backward)
        try:
            hash(key)
        except TypeError:
            return None
        return key

    def take(self, key, weight: np.ndarray, bias: np.ndarray | None, create: Callable[[], Conv2d]) -> Entry:
        """The entry for ``key`` if it still matches the arrays (out of the cache until
        ``give``), else a new one from ``create()``."""
        with self._lock:
            entry = self._entries.pop(key, None) if key is not None else None
            if entry is not None:
                self._bytes -= entry.nbytes
        if entry is not None:
            if entry.packed(weight, bias):
                self.hits += 1
                return entry
            entry.conv.close()  # the arrays changed since they were packed
        self.misses += 1
        return Entry(key, create(), weight, bias)

    def give(self, entry: Entry) -> None:
        """Put ``entry`` back (most recently used), evicting the least recently used beyond
        the bounds; an entry that cannot be kept is closed."""
        evicted = []
        with self._lock:
            if entry.key is None or entry.nbytes > self.max_bytes or entry.key in self._entries:
                evicted.append(entry)  # uncacheable, too big, or another call's copy is back first
            else:
                self._entries[entry.key] = entry
                self._bytes += entry.nbytes
            while self._entries and (len(self._entries) > self.max_entries or self._bytes > self.max_bytes):
                _, old = self._entries.popitem(last=False)
                self._bytes -= old.nbytes
                evicted.append(old)
        for old in evicted:
            old.conv.close()

    def clear(self) -> None:
        """Close every cached convolution."""
        with self._lock:
            entries, self._entries, self._bytes = list(self._entries.values()), OrderedDict(), 0
        for entry in entries:
            entry.conv.close()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def nbytes(self) -> int:
        return self._bytes


CACHE = ConvCache()
