"""Conv2d.from_layer: a Layer description turned into an engine convolution."""

import numpy as np
import pytest

from ipuexplore.engine import Conv2d, Pool, reference_conv2d
from ipuexplore.layers import Layer


def test_asymmetric_padding_runs_as_four_sided_padding():
    layer = Layer.conv(6, 11, 10, 8, 3, stride=2, pad=(0, 1, 1, 0), g=2)  # ONNX SAME_UPPER style
    conv = Conv2d.from_layer(layer, 3)
    assert conv.input_shape == (3, 6, 11, 10)
    assert conv.output_shape == (3, 8, layer.p, layer.q)
    x = np.random.default_rng(0).standard_normal(conv.input_shape, dtype=np.float32)
    weight = np.random.default_rng(0).standard_normal(conv.weight_shape, dtype=np.float32) / np.float32(3 * 3 * 3)
    mine = Conv2d.from_layer(layer, 3, weight=weight)
    want = reference_conv2d(x, weight, None, 2, (0, 1, 1, 0), 1, 2)
    np.testing.assert_allclose(mine.run(x), want, rtol=1e-4, atol=1e-5)


def test_random_weights_are_seeded_and_scaled_by_fan_in():
    layer = Layer.conv(64, 8, 8, 32, 3, pad=1, g=4, bias=True)
    x = np.random.default_rng(1).standard_normal((2, 64, 8, 8), dtype=np.float32)
    with Pool(2) as pool:
        a = Conv2d.from_layer(layer, 2, rng=7, pool=pool).run(x)
        b = Conv2d.from_layer(layer, 2, rng=np.random.default_rng(7), pool=pool).run(x)
        c = Conv2d.from_layer(layer, 2, rng=8, pool=pool).run(x)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # variance 1/fan-in: unit-variance inputs give outputs of about unit variance (the
    # border pixels see fewer taps, so a little less)
    assert 0.6 < a[:, :, 1:-1, 1:-1].std() < 1.4


def test_linear_layer_is_a_1x1_convolution():
    layer = Layer.linear(12, 5, bias=True)
    weight = np.random.default_rng(2).standard_normal((5, 12, 1, 1), dtype=np.float32)
    bias = np.arange(5, dtype=np.float32)
    conv = Conv2d.from_layer(layer, 4, weight=weight, bias=bias)
    x = np.random.default_rng(3).standard_normal((4, 12, 1, 1), dtype=np.float32)
    want = x[:, :, 0, 0] @ weight[:, :, 0, 0].T + bias
    np.testing.assert_allclose(conv.run(x)[:, :, 0, 0], want, rtol=1e-5, atol=1e-5)


def test_bad_layers_and_weights_are_refused():
    with pytest.raises(ValueError, match="conv or linear Layer, got kind <LayerKind.ACT"):
        Conv2d.from_layer(Layer.act(4, 5, 5, "relu"))
    with pytest.raises(ValueError, match=r"weight must have the layer's shape \(8, 2, 3, 3\)"):
        Conv2d.from_layer(Layer.conv(4, 5, 5, 8, 3, g=2), weight=np.zeros((8, 4, 3, 3), np.float32))
    with pytest.raises(ValueError, match="batch=0"):
        Conv2d.from_layer(Layer.conv(4, 5, 5, 8, 3), 0)
