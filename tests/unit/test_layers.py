"""The shared layer description: shapes and counts on hand-computed cases."""

import pytest

from ipuexplore.layers import Layer, LayerKind, valid_group_counts


def test_conv_counts_hand_computed():
    # ResNeXt-50 conv2 of stage 1: 3x3, 128->128, 32 groups (4 channels per group), 56x56.
    layer = Layer.conv(128, 56, 56, 128, 3, pad=1, g=32)
    assert (layer.p, layer.q) == (56, 56)
    assert layer.channels_per_group == 4
    assert layer.macs == 128 * 56 * 56 * 4 * 9
    assert layer.flops == 2 * layer.macs
    assert layer.params == 128 * 4 * 9
    assert layer.input_bytes("fp16", batch=2) == 2 * 128 * 56 * 56 * 2
    assert layer.weight_bytes("fp32") == 128 * 4 * 9 * 4


def test_output_size_follows_torch():
    # torch: floor((h + pt + pb - d*(r-1) - 1) / stride) + 1
    layer = Layer.conv(3, 224, 224, 64, 7, stride=2, pad=3)
    assert layer.out_shape == (64, 112, 112)
    asym = Layer.conv(4, 10, 9, 8, (3, 2), stride=(2, 3), pad=(0, 1, 2, 0), dilation=(2, 1))
    assert asym.p == (10 + 0 + 1 - 2 * 2 - 1) // 2 + 1
    assert asym.q == (9 + 2 + 0 - 1 * 1 - 1) // 3 + 1


def test_arithmetic_intensity_falls_with_group_size():
    dense = Layer.conv(256, 14, 14, 256, 3, pad=1)
    depthwise = dense.with_(g=256)
    assert depthwise.arithmetic_intensity("fp16", 8) < dense.arithmetic_intensity("fp16", 8) / 50


def test_squeeze_excite_and_linear_params_match_torch():
    # torchvision SqueezeExcitation(96, 4): two 1x1 convs with bias.
    assert Layer.se(96, 56, 56, 4).params == 96 * 4 + 4 + 4 * 96 + 96
    assert Layer.linear(2048, 1000).params == 2048 * 1000 + 1000
    assert Layer.norm(64, 56, 56).params == 128


@pytest.mark.parametrize(
    "field, value, message",
    [("g", 3, "groups"), ("c", 0, "c must be"), ("stride", 0, "stride"), ("pad", -1, "pad")],
)
def test_bad_fields_are_named(field, value, message):
    kwargs = dict(c=8, h=8, w=8, k=8, kernel=3, g=1)
    kwargs[field] = value
    with pytest.raises((ValueError, TypeError), match=message):
        Layer.conv(**kwargs)


@pytest.mark.parametrize("se_c", [2.5, True, 0, -1])
def test_squeeze_channels_must_be_a_positive_int(se_c):
    with pytest.raises((ValueError, TypeError), match="se_c"):
        Layer.se(8, 4, 4, se_c)


@pytest.mark.parametrize("field, value", [
    ("stride", (1.5, 1.5)), ("stride", True), ("pad", (0.5, 0.5)), ("pad", 1.5), ("pad", (1, 1, 1, 0.5)),
    ("dilation", (1, 2.5)), ("kernel", (3.5, 3)),
])
def test_fractional_sizes_are_refused_not_truncated(field, value):
    with pytest.raises(TypeError, match=field):
        Layer.conv(8, 8, 8, 8, **{"kernel": 3, field: value})


def test_numpy_ints_are_ints():
    np = pytest.importorskip("numpy")
    layer = Layer.conv(8, 8, 8, 8, (np.int64(3), 3), stride=(np.int64(2), 2), pad=np.int64(1))
    assert layer.stride == (2, 2) and layer.pad == (1, 1, 1, 1) and type(layer.stride[0]) is int


def test_empty_output_is_refused():
    with pytest.raises(ValueError, match="empty"):
        Layer.conv(4, 2, 2, 4, 5)


def test_valid_group_counts():
    assert valid_group_counts(12) == [1, 2, 3, 4, 6, 12]
    assert valid_group_counts(12, 8) == [1, 2, 4]
    assert Layer.conv(8, 4, 4, 16, 1, g=8).kind is LayerKind.CONV
