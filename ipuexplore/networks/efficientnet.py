"""EfficientNet-B0..B7 as torchvision builds them, and the group-16 variant of Masters et al.

torchvision ``_efficientnet_conf`` / ``MBConvConfig``: channels are scaled by the width
multiplier and rounded with ``_make_divisible(c * width, 8)``; block counts become
``ceil(n * depth)``; the expanded width is ``_make_divisible(c_in * expand_ratio, 8)``;
squeeze-excite squeezes to ``max(1, c_in // 4)`` (of the block's *input* width) with SiLU;
the head conv has ``4 x`` the last stage's width. Stochastic depth and dropout cost nothing
at inference and are left out.
"""

from __future__ import annotations

import math

from .graph import GraphBuilder, Network, make_divisible
from .mbconv import add_block

# Table 1 of Tan & Le 2019 as torchvision writes it:
# (expand ratio, kernel, stride, input channels, output channels, blocks)
STAGES = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)

# variant -> (width multiplier, depth multiplier, resolution): torchvision efficientnet_b0..b7
# and the crop_size of their IMAGENET1K_V1 weights (B2 runs at 288, the paper's 260).
SCALING = {
    "b0": (1.0, 1.0, 224),
    "b1": (1.0, 1.1, 240),
    "b2": (1.1, 1.2, 288),
    "b3": (1.2, 1.4, 300),
    "b4": (1.4, 1.8, 380),
    "b5": (1.6, 2.2, 456),
    "b6": (1.8, 2.6, 528),
    "b7": (2.0, 3.1, 600),
}

# EfficientNet-G16 (Masters et al. 2021, "Making EfficientNet More Efficient",
# graphcore-research/making-efficientnet-more-efficient): 16 channels per group in the
# spatial convs, expansion ratio 6 -> 4 to keep FLOPs about equal.
G16_GROUP_SIZE = 16
G16_EXPAND = 4


def build_efficientnet(
    name: str, res: int, *, variant: str, g16: bool = False, group_size: int | None = None,
    width: float = 1.0, num_classes: int = 1000,
) -> Network:
    width_mult, depth_mult, _ = SCALING[variant]
    width_mult *= width

    def channels(c: float) -> int:
        return make_divisible(c * width_mult, 8)

    b = GraphBuilder(3, res, res)
    x = b.conv_bn_act("stem", "input", channels(STAGES[0][3]), 3, stride=2, act="silu")
    for stage, (expand, kernel, first_stride, c_in, c_out, depth) in enumerate(STAGES, start=1):
        if g16 and expand == 6:
            expand = G16_EXPAND
        out = channels(c_out)
        for index in range(int(math.ceil(depth * depth_mult))):
            inp = b.shapes[x][0]
            x = add_block(
                b, f"s{stage}.{index}", x, out=out, kernel=kernel,
                stride=first_stride if index == 0 else 1,
                expanded=make_divisible(inp * expand, 8), se_c=max(1, inp // 4), act="silu",
                group_size=group_size, base_group_size=G16_GROUP_SIZE if g16 else 1,
            )
    x = b.conv_bn_act("head", x, 4 * b.shapes[x][0], 1, act="silu")
    x = b.pool("avgpool", x, "global_avg")
    b.linear("fc", x, num_classes)
    return b.network(name, res)
