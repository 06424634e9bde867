"""MobileNetV2 as torchvision builds it (``torchvision/models/mobilenetv2.py``).

Stem 3x3/2 conv (32) + BN + ReLU6; inverted residuals (t, c, n, s) below with hidden width
``round(c_in * t)``, no squeeze-excite, ReLU6; head 1x1 conv to 1280 (scaled only when the
width multiplier exceeds 1); global average pool; fc 1000. Channel counts go through
``_make_divisible(c * width, 8)``.
"""

from __future__ import annotations

from .graph import GraphBuilder, Network, make_divisible
from .mbconv import add_block

# (expand ratio t, output channels c, blocks n, first stride s): Table 2 of Sandler et al. 2018.
SETTING = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def build_mobilenet_v2(name: str, res: int, *, group_size: int | None = None, width: float = 1.0,
                       num_classes: int = 1000) -> Network:
    b = GraphBuilder(3, res, res)
    x = b.conv_bn_act("stem", "input", make_divisible(32 * width), 3, stride=2, act="relu6")
    for stage, (expand, c, depth, first_stride) in enumerate(SETTING, start=1):
        out = make_divisible(c * width)
        for index in range(depth):
            inp = b.shapes[x][0]
            x = add_block(
                b, f"s{stage}.{index}", x, out=out, kernel=3, stride=first_stride if index == 0 else 1,
                expanded=int(round(inp * expand)), se_c=0, act="relu6", group_size=group_size,
            )
    x = b.conv_bn_act("head", x, make_divisible(1280 * max(1.0, width)), 1, act="relu6")
    x = b.pool("avgpool", x, "global_avg")
    b.linear("fc", x, num_classes)
    return b.network(name, res)
