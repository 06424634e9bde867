"""conv2d() keeps the convolutions it prepares: hits on the same geometry and weights, never
stale packed weights, bounded size."""

import numpy as np
import pytest

import ipuexplore
from ipuexplore.engine import Pool, reference_conv2d
from ipuexplore.engine.conv_cache import CACHE

rng = np.random.default_rng(6)
X = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)


def _weight(scale=1.0):
    return (rng.standard_normal((8, 2, 3, 3)) * scale).astype(np.float32)


@pytest.fixture
def cache(monkeypatch):
    CACHE.clear()
    monkeypatch.setattr(CACHE, "hits", 0)
    monkeypatch.setattr(CACHE, "misses", 0)
    yield CACHE
    CACHE.clear()


def _check(y, w, b=None):
    np.testing.assert_allclose(y, reference_conv2d(X, w, b, 1, 1, 1, 4), rtol=1e-4, atol=1e-4)


def test_the_same_layer_twice_is_a_hit(cache):
    w, b = _weight(), np.arange(8, dtype=np.float32)
    with Pool(2) as pool:
        _check(ipuexplore.conv2d(X, w, b, padding=1, groups=4, pool=pool), w, b)
        _check(ipuexplore.conv2d(X, w, b, padding=1, groups=4, pool=pool), w, b)
        assert pool.last_stats is not None
    _check(ipuexplore.conv2d(X, w, b, padding=1, groups=4, workers=2), w, b)  # on any pool
    assert (cache.misses, cache.hits, len(cache)) == (1, 2, 1)
    ipuexplore.conv2d(X, w, b, padding=1, groups=4, algorithm="gemm")  # another algorithm: its own entry
    ipuexplore.conv2d(X[:1], w, b, padding=1, groups=4)  # another batch: its own entry
    for _ in range(2):  # arguments given as lists are keys too (another spelling: another entry)
        _check(ipuexplore.conv2d(X, w, b, [1, 1], [1, 1], [1, 1], groups=4), w, b)
    assert (cache.misses, cache.hits, len(cache)) == (4, 3, 4)


def test_a_changed_weight_array_is_never_served_stale(cache):
    w = _weight()
    ipuexplore.conv2d(X, w, padding=1, groups=4)
    w *= -3  # changed in place: same object, same id
    _check(ipuexplore.conv2d(X, w, padding=1, groups=4), w)
    w2 = _weight()  # another array of the same shape
    _check(ipuexplore.conv2d(X, w2, padding=1, groups=4), w2)
    b = np.zeros(8, np.float32)
    ipuexplore.conv2d(X, w, b, padding=1, groups=4)
    b += 5  # a changed bias too
    _check(ipuexplore.conv2d(X, w, b, padding=1, groups=4), w, b)
    assert cache.hits == 0 and cache.misses == 5
    big = np.zeros((64, 64, 3, 3), np.float32)  # over the byte-copy threshold: compared in place
    xb = np.ones((1, 64, 5, 5), np.float32)
    assert ipuexplore.conv2d(xb, big, padding=1).max() == 0
    big[0, 0, 1, 1] = 1
    assert ipuexplore.conv2d(xb, big, padding=1)[0, 0, 2, 2] == 1
    assert cache.hits == 0


def test_backward_is_cached_too(cache):
    w = _weight()
    dy = rng.standard_normal(X.shape).astype(np.float32)
    first = ipuexplore.conv2d_backward(dy, X, w, padding=1, groups=4)
    again = ipuexplore.conv2d_backward(dy, X, w, padding=1, groups=4)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    assert (cache.misses, cache.hits) == (1, 1)


def test_the_cache_stays_bounded(cache, monkeypatch):
    monkeypatch.setattr(cache, "max_entries", 4)
    weights = [_weight() for _ in range(12)]  # all alive: 12 distinct ids
    for w in weights:
        ipuexplore.conv2d(X, w, padding=1, groups=4)
    assert len(cache) == 4
    ipuexplore.conv2d(X, weights[-1], padding=1, groups=4)  # the most recent stayed
    ipuexplore.conv2d(X, weights[0], padding=1, groups=4)  # the oldest went
    assert (cache.hits, cache.misses) == (1, 13)
    monkeypatch.setattr(cache, "max_bytes", cache.nbytes // len(cache))  # about one entry's worth
    ipuexplore.conv2d(X, weights[1], padding=1, groups=4)
    assert len(cache) <= 1 and cache.nbytes <= cache.max_bytes
    monkeypatch.setattr(cache, "max_bytes", 100)  # one entry is over it: not kept at all
    ipuexplore.conv2d(X, weights[2], padding=1, groups=4)
    assert len(cache) == 0 and cache.nbytes == 0


def test_an_entry_in_use_is_not_shared(cache):
    w = _weight()
    ipuexplore.conv2d(X, w, padding=1, groups=4)
    key = cache.key((2, 8, 9, 9), w.shape, w, None, 1, 1, 1, 4, "auto", False)
    held = cache.take(key, w, None, None)  # as a call running in another thread would
    assert len(cache) == 0
    _check(ipuexplore.conv2d(X, w, padding=1, groups=4), w)  # packs its own, no Busy
    cache.give(held)  # the other call's copy is already back: this one is closed
    assert len(cache) == 1 and held.conv.closed


def test_torch_weights_hit_by_tensor_identity(cache):
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(_weight())
    x = torch.from_numpy(X)
    ipuexplore.conv2d(x, w, padding=1, groups=4)
    ipuexplore.conv2d(x, w, padding=1, groups=4)
    assert (cache.misses, cache.hits) == (1, 1)
    w.mul_(2)
    _check(ipuexplore.conv2d(x, w, padding=1, groups=4), w.numpy())
    assert cache.misses == 2
