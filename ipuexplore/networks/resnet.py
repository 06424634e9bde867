"""ResNet-50 and ResNeXt, built as torchvision's ``ResNet`` with ``Bottleneck`` blocks builds them.

torchvision (``torchvision/models/resnet.py``): 7x7/2 stem conv (64), BN, ReLU, 3x3/2 max pool;
four stages of bottlenecks (planes 64, 128, 256, 512; stride on the 3x3 conv, "ResNet V1.5");
inner width ``int(planes * width_per_group / 64) * groups``; output ``4 * planes``; a 1x1
projection (conv + BN) on the shortcut where the shape changes; global average pool; fc 1000.
"""

from __future__ import annotations

from .graph import GraphBuilder, Network, make_divisible
from .variants import matched_width, spatial_groups

EXPANSION = 4
STAGE_PLANES = (64, 128, 256, 512)
STAGE_STRIDES = (1, 2, 2, 2)

# name -> (blocks per stage, groups, width per group)
CONFIGS = {
    "resnet50": ((3, 4, 6, 3), 1, 64),
    "resnext50_32x4d": ((3, 4, 6, 3), 32, 4),
    "resnext101_32x4d": ((3, 4, 23, 3), 32, 4),  # not in torchvision: its ResNet class with these arguments
    "resnext101_32x8d": ((3, 4, 23, 3), 32, 8),
    "resnext101_64x4d": ((3, 4, 23, 3), 64, 4),
}


def _bottleneck(b: GraphBuilder, name: str, x: str, inner: int, out: int, stride: int, g: int) -> str:
    y = b.conv(f"{name}.conv1", x, inner, 1)
    y = b.act(f"{name}.relu1", b.norm(f"{name}.bn1", y), "relu")
    y = b.conv(f"{name}.conv2", y, inner, 3, stride=stride, g=g)
    y = b.act(f"{name}.relu2", b.norm(f"{name}.bn2", y), "relu")
    y = b.norm(f"{name}.bn3", b.conv(f"{name}.conv3", y, out, 1))
    shortcut = x
    if stride != 1 or b.shapes[x][0] != out:
        shortcut = b.norm(f"{name}.downsample.1", b.conv(f"{name}.downsample.0", x, out, 1, stride=stride, pad=0))
    return b.act(f"{name}.relu3", b.add(f"{name}.add", y, shortcut), "relu")


def build_resnet(name: str, res: int, *, group_size: int | None = None, width: float = 1.0, num_classes: int = 1000) -> Network:
    depths, groups, width_per_group = CONFIGS[name]
    b = GraphBuilder(3, res, res)
    x = b.conv("conv1", "input", make_divisible(64 * width), 7, stride=2, pad=3)
    x = b.act("relu", b.norm("bn1", x), "relu")
    x = b.pool("maxpool", x, "max", 3, stride=2, pad=1)
    for stage, (planes, depth, first_stride) in enumerate(zip(STAGE_PLANES, depths, STAGE_STRIDES), start=1):
        planes = make_divisible(planes * width)
        out = planes * EXPANSION
        base_inner = int(planes * (width_per_group / 64.0)) * groups
        for index in range(depth):
            block = f"layer{stage}.{index}"
            stride = first_stride if index == 0 else 1
            inner, g = base_inner, groups
            if group_size is not None:
                inner = _override(b, block, x, base_inner, out, stride, groups, group_size)
                g = spatial_groups(inner, group_size, groups)
            x = _bottleneck(b, block, x, inner, out, stride, g)
    x = b.pool("avgpool", x, "global_avg")
    b.linear("fc", x, num_classes)
    return b.network(name, res)


def _override(b: GraphBuilder, block: str, x: str, base_inner: int, out: int, stride: int, groups: int, group_size: int) -> int:
    """Inner width keeping the bottleneck's MACs with ``group_size`` channels per group in conv2."""

    def macs(inner: int, g: int) -> int:
        probe = GraphBuilder(*b.shapes[x])
        _bottleneck(probe, block, "input", inner, out, stride, g)
        return probe.macs()

    base = macs(base_inner, groups)
    return matched_width(lambda w: macs(w, spatial_groups(w, group_size, groups)), base_inner, base, group_size)
