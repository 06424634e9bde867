"""Network builders: totals against published counts, shapes chain, variants keep their cost."""

import math

import pytest

from ipuexplore.layers import LayerKind
from ipuexplore.networks import INPUT, build, default_res, list_networks
from ipuexplore.networks.graph import make_divisible
from ipuexplore.networks.variants import spatial_groups

# Published parameter counts and multiply-accumulates ("GFLOPS" in torchvision's tables are
# GMACs), at each model's default resolution.
#  torchvision weights metadata, `num_params` and `_ops`: torchvision/models/resnet.py
#  (ResNet50_Weights, ResNeXt50_32X4D_Weights, ResNeXt101_32X8D_Weights, ResNeXt101_64X4D_Weights),
#  torchvision/models/mobilenetv2.py (MobileNet_V2_Weights), torchvision/models/efficientnet.py
#  (EfficientNet_B0..B7_Weights); also pytorch.org/vision/stable/models.html.
#  resnext101_32x4d is not in torchvision: params from osmr/imgclsmob's model tests
#  (pytorchcv, "resnext101_32x4d ... weight_count == 44177704"), GMACs from timm's model card
#  huggingface.co/timm/resnext101_32x4d.gluon_in1k ("GMACs: 8.0", two digits only).
PUBLISHED = {
    "resnet50": (25_557_032, 4.089),
    "resnext50_32x4d": (25_028_904, 4.23),
    "resnext101_32x4d": (44_177_704, 8.0),
    "resnext101_32x8d": (88_791_336, 16.414),
    "resnext101_64x4d": (83_455_272, 15.46),
    "mobilenet_v2": (3_504_872, 0.301),
    "efficientnet_b0": (5_288_548, 0.386),
    "efficientnet_b1": (7_794_184, 0.687),
    "efficientnet_b2": (9_109_994, 1.088),
    "efficientnet_b3": (12_233_232, 1.827),
    "efficientnet_b4": (19_341_616, 4.394),
    "efficientnet_b5": (30_389_784, 10.266),
    "efficientnet_b6": (43_040_704, 19.068),
    "efficientnet_b7": (66_347_960, 37.746),
}

# torchvision EfficientNet_B*_Weights crop_size (the resolution its _ops are measured at).
DEFAULT_RES = {"efficientnet_b0": 224, "efficientnet_b1": 240, "efficientnet_b2": 288, "efficientnet_b3": 300,
               "efficientnet_b4": 380, "efficientnet_b5": 456, "efficientnet_b6": 528, "efficientnet_b7": 600}


@pytest.fixture(scope="module")
def networks():
    return {name: build(name) for name in list_networks()}


def test_every_published_network_is_listed():
    names = set(list_networks())
    assert set(PUBLISHED) <= names
    assert {f"efficientnet_b{i}_g16" for i in range(8)} <= names


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_params_equal_and_macs_within_1pct_of_published(networks, name):
    params, gmacs = PUBLISHED[name]
    net = networks[name]
    assert net.params == params
    assert net.macs / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert net.flops == 2 * net.macs
    assert net.res == DEFAULT_RES.get(name, 224)


@pytest.mark.parametrize("name", list_networks())
def test_names_unique_and_shapes_chain(networks, name):
    net = networks[name]
    out_shape = {INPUT: net.input_shape}
    for layer in net.layers:
        assert layer.name and layer.name not in out_shape, layer.name
        assert layer.inputs, layer.name
        for producer in layer.inputs:
            c, h, w = out_shape[producer]  # KeyError: consumer before producer
            if layer.kind is LayerKind.LINEAR:
                assert c * h * w == layer.c, layer.name
            else:
                assert (c, h, w) == layer.in_shape, layer.name
        out_shape[layer.name] = layer.out_shape
    assert net.layers[-1].out_shape == (1000, 1, 1)


def test_resnext_block_matches_torchvision_structure(networks):
    net = networks["resnext50_32x4d"]
    conv2 = net.layer("layer1.0.conv2")
    assert (conv2.c, conv2.k, conv2.g, conv2.channels_per_group, conv2.h) == (128, 128, 32, 4, 56)
    assert net.layer("layer2.0.conv2").stride == (2, 2)  # V1.5: stride on the 3x3 conv
    assert net.count("add") == 16
    assert networks["resnext101_32x8d"].count("add") == 33


def test_efficientnet_compound_scaling(networks):
    b7 = networks["efficientnet_b7"]
    # width 2.0: stem 32 -> 64, head 4 x 640 = 2560; depth 3.1: ceil(n * 3.1) blocks per stage
    assert b7.layer("stem.conv").k == 64
    assert b7.layer("head.conv").k == 2560
    blocks = {layer.name.split(".")[0] + "." + layer.name.split(".")[1] for layer in b7.layers if layer.kind is LayerKind.SE}
    assert len(blocks) == sum(math.ceil(n * 3.1) for n in (1, 2, 2, 3, 3, 4, 1))
    dw = b7.layer("s2.0.dw.conv")
    assert dw.g == dw.c == dw.k  # depthwise
    # squeeze-excite squeezes the block's *input* width / 4 (torchvision MBConv)
    assert b7.layer("s2.0.se").se_c == b7.layer("s2.0.expand.conv").c // 4


def test_make_divisible_matches_reference_rule():
    assert make_divisible(32 * 1.1) == 32
    assert make_divisible(32 * 1.2) == 40
    assert make_divisible(16 * 0.1) == 8  # never below the divisor
    assert make_divisible(100) == 104
    assert make_divisible(20, 16) == 32  # 16 would lose more than 10%


@pytest.mark.parametrize("b", range(8))
def test_g16_follows_masters_2021_recipe(networks, b):
    base, g16 = networks[f"efficientnet_b{b}"], networks[f"efficientnet_b{b}_g16"]
    assert len(g16.layers) == len(base.layers)
    for layer in g16.layers:
        if layer.kind is LayerKind.CONV and layer.r > 1 and layer.name != "stem.conv":
            assert layer.channels_per_group in (8, 16), layer.name  # 8 only where 16 does not divide
        if layer.name.endswith("expand.conv"):
            assert layer.k == make_divisible(layer.c * 4, 8), layer.name
    # The recipe (group 16, expansion 4) keeps params within ~12% of the base network's ...
    assert g16.params == pytest.approx(base.params, rel=0.12)
    # ... but not MACs: grouping the spatial convs costs more than expansion 6 -> 4 saves,
    # most at B0 (+64%), least at B7 (+19%).
    assert 1.15 < g16.macs / base.macs < 1.70


@pytest.mark.parametrize("name", ["resnext50_32x4d", "resnext101_32x8d", "resnet50"])
@pytest.mark.parametrize("group_size", [1, 4, 16, 64])
def test_group_size_override_keeps_macs_and_params(networks, name, group_size):
    base, net = networks[name], build(name, group_size=group_size)
    for layer in net.layers:
        if layer.name.endswith("conv2"):
            assert layer.channels_per_group == min(group_size, layer.c), layer.name
    assert net.macs == pytest.approx(base.macs, rel=0.05)
    assert net.params == pytest.approx(base.params, rel=0.06)


def test_group_size_override_on_efficientnet_rematches_expanded_blocks(networks):
    base, net = networks["efficientnet_b4"], build("efficientnet_b4", group_size=16)
    assert net.layer("s3.0.gconv.conv").channels_per_group == 16
    # Per block with an expand conv (whose width can move, in steps of 16 channels), MACs
    # stay within 15%.
    for stage, index in [(2, 0), (3, 1), (5, 2), (6, 3)]:
        prefix = f"s{stage}.{index}."
        block_macs = [sum(l.macs for l in n.layers if l.name.startswith(prefix)) for n in (base, net)]
        assert block_macs[1] == pytest.approx(block_macs[0], rel=0.15), prefix
    # Stage 1 has no expand conv, so its grouped conv is the one cost not paid back.
    assert net.macs == pytest.approx(base.macs, rel=0.15)


@pytest.mark.parametrize("name", ["efficientnet_b3", "efficientnet_b4"])
def test_a_group_size_at_or_above_the_width_makes_the_spatial_conv_dense(name):
    # Stage 1 keeps its input's width (no expand conv): 40 or 48 and 24 channels, under 64.
    spatial = [layer for layer in build(name, group_size=64).layers
               if layer.kind is LayerKind.CONV and layer.r > 1 and layer.name != "stem.conv" and layer.c <= 64]
    assert spatial and all(layer.g == 1 for layer in spatial), [(l.name, l.c, l.g) for l in spatial]
    assert spatial_groups(40, 64, 1) == 1 and spatial_groups(40, 16, 1) == 5  # below the width: gcd, 8/group


def test_width_multiplier_and_resolution():
    base = build("efficientnet_b0")
    wide = build("efficientnet_b0", width=1.5)
    assert wide.layer("stem.conv").k == 48 and wide.params > 1.8 * base.params
    assert build("mobilenet_v2", width=1.4).layer("head.conv").k == 1792  # torchvision's 1280 x 1.4
    big = build("resnet50", res=448)
    assert big.macs == pytest.approx(4 * build("resnet50").macs, rel=0.01)
    assert big.params == PUBLISHED["resnet50"][0]
    assert default_res("efficientnet_b7") == 600


def test_peak_activation_memory_counts_live_tensors():
    net = build("resnet50")
    # The largest single step: stem conv output 64x112x112 alive with the bn output of the
    # same size and the 3x224x224 input; the peak can't be below the largest tensor.
    largest = max(layer.output_elems for layer in net.layers)
    assert largest <= net.peak_activation_elems < 4 * largest
    assert net.peak_activation_bytes("fp16", batch=8) == 8 * 2 * net.peak_activation_elems
    assert net.stored_activation_elems > 10 * net.peak_activation_elems


@pytest.mark.parametrize(
    "kwargs, message",
    [({"name": "resnet51"}, "name must be one of"), ({"name": "resnet50", "res": 8}, "res"),
     ({"name": "resnet50", "group_size": 0}, "group_size"), ({"name": "resnet50", "width": 0}, "width")],
)
def test_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(kwargs.pop("name"), **kwargs)
