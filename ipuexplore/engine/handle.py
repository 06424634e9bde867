"""The life of a C handle in Python: guarded by a non-blocking lock, closed once."""

from __future__ import annotations

from ..errors import Busy
from .arguments import check_status


class Handle:
    """A C handle (``self._handle``) guarded by a non-blocking lock (``self._lock``) that a
    call holds while it runs: closing while a call is in progress is refused with ``Busy``.
    A context manager; the handle is also freed when the object is collected."""

    _BUSY = "it is running"  # why close() is refused, for the message

    def _destroy(self, handle) -> int:  # the C destroy function, per subclass
        raise NotImplementedError

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        if self._handle is None:
            return
        name = type(self).__name__
        if not self._lock.acquire(blocking=False):
            raise Busy(f"{name}.close(): {self._BUSY}", "IPX_STATUS_BUSY")
        try:
            check_status(self._destroy(self._handle), f"{name}.close")
            self._handle = None
        finally:
            self._lock.release()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        try:
            if getattr(self, "_handle", None) is not None and self._lock.acquire(blocking=False):
                self._destroy(self._handle)
                self._handle = None
        except Exception:
            pass
