"""Exceptions of the engine. One root, ``IpxError``; subclasses also inherit the matching
builtin (``InvalidParameter`` is a ``ValueError``, ``OutOfMemory`` a ``MemoryError``...) so
callers can catch either. ``check()`` turns a C status code into the right exception.

This module does not need the compiled extension.
"""

from __future__ import annotations


class IpxError(Exception):
    """Root of every engine error. ``status`` is the C ``ipx_status`` name, or None when the
    error was found in Python before calling C."""

    def __init__(self, message: str, status: str | None = None):
        super().__init__(message)
        self.status = status


class InvalidParameter(IpxError, ValueError):
    """A parameter or buffer is invalid (shape, size, groups, padding, ...)."""


class InvalidType(IpxError, TypeError):
    """A parameter has the wrong type or dtype."""


class TileTooSmall(InvalidParameter):
    """The pool's tile memory cannot hold the smallest block of the layer."""


class OutOfMemory(IpxError, MemoryError):
    """An allocation failed."""


class MemoryLimitExceeded(OutOfMemory):
    """An allocation would exceed the memory limit given to the pool or convolution."""


class ThreadError(IpxError, RuntimeError):
    """A worker thread could not be started."""


class Busy(IpxError, RuntimeError):
    """The handle (pool or convolution) is in use by another call, or closed while running."""


class Cancelled(IpxError):
    """The run was stopped by ``Pool.cancel()``; its output is incomplete."""


class Unsupported(IpxError, NotImplementedError):
    """The operation is not supported for this configuration."""


class Closed(IpxError, RuntimeError):
    """The pool or convolution was closed."""


_BY_STATUS = {
    "IPX_STATUS_TILE_TOO_SMALL": TileTooSmall,
    "IPX_STATUS_OUT_OF_MEMORY": OutOfMemory,
    "IPX_STATUS_MEMORY_LIMIT": MemoryLimitExceeded,
    "IPX_STATUS_THREAD_ERROR": ThreadError,
    "IPX_STATUS_BUSY": Busy,
    "IPX_STATUS_CANCELLED": Cancelled,
    "IPX_STATUS_UNSUPPORTED": Unsupported,
}


def error_for_status(name: str, message: str, context: str = "") -> IpxError:
    """The exception for a C status called ``name`` (every other failure is an
    ``InvalidParameter``: the C library returns specific codes only for argument errors)."""
    cls = _BY_STATUS.get(name, InvalidParameter)
    text = f"{context}: {message}" if context else message
    return cls(text, status=name)


def check(ffi, lib, status: int, context: str = "") -> None:
    """Raise the exception for a non-zero ``ipx_status`` returned by ``lib``."""
    if status == 0:
        return
    message = ffi.string(lib.ipx_status_string(status)).decode("ascii")
    name = _status_names(ffi).get(status, f"IPX_STATUS_{status}")
    raise error_for_status(name, message, context)


_NAMES: dict[int, str] = {}


def _status_names(ffi) -> dict[int, str]:
    if not _NAMES:
        for name, value in ffi.typeof("ipx_status").relements.items():
            _NAMES[value] = name
    return _NAMES
