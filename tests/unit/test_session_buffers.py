"""HostSession's activation buffers: one huge-page arena, buffers apart and on cache lines."""

import numpy as np
import pytest

from ipuexplore.networks import session_plan


@pytest.mark.parametrize("huge", [True, False])
def test_arena_buffers_are_disjoint_aligned_and_writable(huge, monkeypatch):
    monkeypatch.setattr(session_plan, "USE_HUGE_PAGES", huge)
    sizes = [5, 0, 1 << 20, 17, 3]
    bufs = session_plan._arena(sizes)
    assert [b.size for b in bufs] == sizes and all(b.dtype == np.float32 for b in bufs)
    spans = sorted((b.ctypes.data, b.ctypes.data + b.nbytes) for b in bufs if b.size)
    assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:]))
    assert not huge or all(start % 64 == 0 for start, _ in spans)
    for i, b in enumerate(bufs):
        b[:] = i
    assert all((b == i).all() for i, b in enumerate(bufs))


def test_arena_of_nothing():
    assert [b.size for b in session_plan._arena([0])] == [0]


def test_tensors_are_centred_so_the_two_workers_halves_meet_at_one_address():
    buf = session_plan._arena([1000])[0]
    mids = []
    for size in (1000, 999, 640, 17, 1):
        view = session_plan._centered(buf, size)
        assert view.size == size and np.shares_memory(view, buf)
        assert (view.ctypes.data - buf.ctypes.data) % 64 == 0
        mids.append((view.ctypes.data - buf.ctypes.data) // 4 + size / 2)
    assert max(mids) - min(mids) <= 16  # within a cache line of the buffer's middle
