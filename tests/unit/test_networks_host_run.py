"""Host runs: the layers (numpy element-wise ones, engine pools) against torch, and whole
networks through the C engine."""

import importlib.util

import numpy as np
import pytest

from ipuexplore.layers import Layer
from ipuexplore.networks import INPUT, build, run_on_host
from ipuexplore.networks.graph import GraphBuilder
from ipuexplore.networks.host_run import _Buffers, _forward, _prepare, _weights

needs_engine = pytest.mark.skipif(importlib.util.find_spec("ipuexplore._ipx") is None,
                                  reason="the C engine (ipuexplore._ipx) is not built")


def _x(*shape):
    return np.random.default_rng(1).standard_normal(shape, dtype=np.float32)


def _op(layer, batch):
    """The layer's host-run function; pools and squeeze-excite's excitation run in the engine
    (its shared pool here)."""
    engine = None
    if layer.kind.value in ("pool", "se"):
        from ipuexplore import engine
    return _prepare(layer, batch, [], np.random.default_rng(0), engine)


@pytest.mark.parametrize("layer, reference", [
    (Layer.pool(5, 9, 9, "max", 3, stride=2, pad=1), lambda F, t: F.max_pool2d(t, 3, 2, 1)),
    (Layer.pool(5, 9, 9, "avg", 3, stride=2, pad=1), lambda F, t: F.avg_pool2d(t, 3, 2, 1, count_include_pad=True)),
    (Layer.pool(5, 7, 6, "global_avg"), lambda F, t: t.mean(dim=(2, 3), keepdim=True)),
    (Layer.act(5, 4, 4, "relu6"), lambda F, t: F.relu6(t)),
    (Layer.act(5, 4, 4, "silu"), lambda F, t: F.silu(t)),
    (Layer.act(5, 4, 4, "hardswish"), lambda F, t: F.hardswish(t)),
    (Layer.act(5, 4, 4, "gelu"), lambda F, t: F.gelu(t, approximate="tanh")),
    (Layer.act(5, 4, 4, "tanh"), lambda F, t: t.tanh()),
])
def test_host_layers_match_torch(layer, reference):
    torch = pytest.importorskip("torch")  # the peer reference (pip install ".[peer]")
    x = _x(2, layer.c, layer.h, layer.w) * 4
    got = _op(layer, 2)(x)
    np.testing.assert_allclose(got, reference(torch.nn.functional, torch.from_numpy(x)).numpy(), rtol=1e-5, atol=1e-5)
    assert got.shape == (2, *layer.out_shape) and got.dtype == np.float32


@pytest.mark.parametrize("layer", [
    Layer.pool(5, 9, 9, "max", 3, stride=2, pad=1), Layer.pool(5, 9, 9, "avg", 3, stride=2, pad=1),
    Layer.pool(5, 7, 6, "global_avg"), Layer.norm(5, 4, 4), Layer.se(6, 5, 5, 2, op="silu"),
    *(Layer.act(5, 4, 4, op) for op in ("relu", "relu6", "sigmoid", "silu", "hardswish", "gelu", "tanh")),
], ids=lambda layer: f"{layer.kind.value}-{layer.op}")
def test_host_layers_write_into_the_buffer_they_are_given(layer):
    x = _x(2, layer.c, layer.h, layer.w) * 4
    op = _op(layer, 2)
    fresh = op(x)
    out = np.full((2, *layer.out_shape), np.nan, np.float32)  # a reused buffer: stale contents
    got = op(x, out=out)
    np.testing.assert_array_equal(got, fresh)
    assert got is out or layer.op == "gelu"  # gelu alone computes into its own array


@needs_engine
def test_reused_activation_buffers_give_the_same_outputs_as_fresh_ones():
    """A layer's output buffer goes back to the free list after its last reader and is
    reused by later layers and passes: residual branches, squeeze-excite and aliasing
    activations must still see their own data."""
    from ipuexplore import engine

    class Fresh(_Buffers):  # never reuses
        def give(self, array):
            pass

    net = _small_net()
    with engine.Pool(workers=2) as pool:
        engine_ops = []
        ops = [_prepare(layer, 2, engine_ops, np.random.default_rng(i), engine) for i, layer in enumerate(net.layers)]
        for _, op in engine_ops:
            op.pool = pool
        finals = []
        record = [*ops[:-1], lambda x, out=None: finals.append(ops[-1](x, out=out).copy()) or finals[-1]]
        image = _x(2, *net.input_shape)
        _forward(net, record, image, 2, None, None, 0, 1, Fresh())
        shared = _Buffers()
        for _ in range(2):  # the second pass runs entirely on recycled buffers
            _forward(net, record, image, 2, None, None, 0, 1, shared)
        assert shared._free  # buffers were given back
    np.testing.assert_array_equal(finals[1], finals[0])
    np.testing.assert_array_equal(finals[2], finals[0])


def test_every_activation_the_onnx_import_makes_can_run():
    from ipuexplore.networks.onnx_import import _ACTIVATIONS as ONNX_ACTIVATIONS

    x = _x(1, 2, 3, 3)
    for op in sorted(set(ONNX_ACTIVATIONS.values()) | {"relu6", "silu"}):
        y = _op(Layer.act(2, 3, 3, op), 1)(x)
        assert y.shape == x.shape and y.dtype == np.float32, op


def test_squeeze_excite_scales_each_channel():
    layer = Layer.se(6, 5, 5, 2, op="silu")
    x = _x(3, 6, 5, 5)
    y = _op(layer, 3)(x)
    gate = y / x  # one sigmoid gate in (0, 1) per image and channel
    assert np.allclose(gate, gate[:, :, :1, :1], rtol=1e-4) and ((gate > 0) & (gate < 1)).all()
    rng = np.random.default_rng(0)  # the weights _prepare draws, in its order: w1 [se_c, c], w2 [c, se_c]
    w1, w2 = (_weights(rng, shape, fan_in).astype(np.float64) for shape, fan_in in (((2, 6), 6), ((6, 2), 2)))
    hidden = x.astype(np.float64).mean(axis=(2, 3)) @ w1.T
    hidden = hidden / (1 + np.exp(-hidden))  # silu
    expected = x / (1 + np.exp(-(hidden @ w2.T)))[:, :, None, None]
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-6)


def _small_net(size=32):
    b = GraphBuilder(3, size, size)
    x = b.conv_bn_act("stem", INPUT, 16, 3, stride=2, act="relu")
    x = b.pool("pool", x, "max", 3, stride=1, pad=1)
    y = b.conv_bn_act("dw", x, 16, 3, g=16, act="silu")
    y = b.se("se", y, 4)
    y = b.conv_bn_act("g4", y, 16, 3, g=4, act=None)
    x = b.add("add", x, y)
    b.linear("fc", b.pool("avgpool", x, "global_avg"), 10)
    return b.network("small", size)


@needs_engine
def test_run_times_every_layer_and_reports_progress():
    from ipuexplore import engine

    net = _small_net()
    seen = []
    with engine.Pool(workers=2) as pool:
        run = run_on_host(net, 3, pool=pool, progress=lambda done, total, name: seen.append((done, total, name)))
        assert pool.workers == 2  # the caller's pool is used and left open
        run_on_host(net, 1, pool=pool)
    assert [t.name for t in run.layers] == [layer.name for layer in net.layers]
    assert all(t.time_s > 0 for t in run.layers)
    assert sum(t.time_s for t in run.layers) <= run.wall_s
    assert run.images_per_s == pytest.approx(3 / run.wall_s)
    assert seen[-1] == (len(net.layers), len(net.layers), "fc") and len(seen) == len(net.layers)
    assert run.layers[0].flops == 3 * net.layers[0].flops
    assert run.workers == 2 and run.conv_s < run.wall_s


@needs_engine
def test_cancel_stops_between_layers():
    from ipuexplore.errors import Cancelled

    calls = []

    def cancel():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        run_on_host(_small_net(), 1, cancel=cancel)
    assert len(calls) == 4


@needs_engine
def test_whole_network_runs_on_the_engine():
    net = build("mobilenet_v2", res=64)
    run = run_on_host(net, 2)
    assert len(run.layers) == len(net.layers) and run.images_per_s > 0
    data = run.to_dict()
    assert data["batch"] == 2 and len(data["layers"]) == len(net.layers)


def test_bad_batch_is_named():
    with pytest.raises(ValueError, match="batch"):
        run_on_host(_small_net(), 0)


@needs_engine
def test_warmup_runs_the_pass_twice_and_times_the_second():
    net = _small_net()
    seen = []
    run = run_on_host(net, 1, warmup=True, progress=lambda done, total, name: seen.append((done, total)))
    n = len(net.layers)
    assert [d for d, _ in seen] == list(range(1, 2 * n + 1)) and {t for _, t in seen} == {2 * n}
    assert len(run.layers) == n


def test_broken_chain_is_refused_before_running():
    net = _small_net()
    layers = list(net.layers)
    layers[2] = layers[2].with_(h=8, w=8)  # as if a passed-through ONNX op had resized the map
    broken = type(net)(net.name, net.res, tuple(layers), net.input_shape, (("Resize", 1),))
    with pytest.raises(ValueError, match="Resize x1"):
        run_on_host(broken, 1)


def test_tiles_are_sized_for_the_largest_layer_before_anything_runs():
    pytest.importorskip("ipuexplore._ipx")
    from ipuexplore import engine
    from ipuexplore.errors import TileTooSmall

    net = _small_net(128)  # a stem whose output rows need more than the smallest tile
    run = run_on_host(net, 2)  # its own pool: tiles as large as the largest layer needs
    assert run.batch == 2
    with engine.Pool(1, tile_bytes=4096) as small:  # a caller's pool too small: refused up front
        with pytest.raises(TileTooSmall, match="needs tile_bytes >="):
            run_on_host(net, 2, pool=small, progress=lambda *a: pytest.fail("ran a layer"))
