"""Group-size override: the spatial conv of every block gets ``group_size`` channels per
group, and the block's inner width is re-chosen so its MACs stay about the same.

Bigger groups cost MACs in the spatial conv; shrinking the block's inner width (the
bottleneck width of ResNet/ResNeXt, the expanded width of an inverted residual) pays for
them, as the ResNeXt paper (Xie et al. 2017, Table 2) and EfficientNet-G16 (Masters et al.
2021: group 16, expansion 6 -> 4) do.
"""

from __future__ import annotations

import math
from collections.abc import Callable

# Widths are rounded to multiples of 8 as well as of the group size: the channel granularity
# of tensor cores (FP16) and of the reference networks' _make_divisible.
_CHANNEL_MULTIPLE = 8


def check_group_size(group_size: int | None) -> None:
    if group_size is None:
        return
    if not isinstance(group_size, int) or isinstance(group_size, bool) or group_size < 1:
        raise ValueError(f"group_size must be a positive int (channels per group), got {group_size!r}")


def spatial_groups(width: int, group_size: int | None, default_groups: int) -> int:
    """Group count of a block's spatial conv over ``width`` channels.

    With an override, channels per group is ``group_size`` where it divides ``width``, else the
    largest common divisor of the two (e.g. 8 for 40 channels and group size 16); a group size
    at or above ``width`` makes the conv dense.
    """
    if group_size is None:
        return default_groups
    if group_size >= width:
        return 1
    return width // math.gcd(width, group_size)


def matched_width(block_macs: Callable[[int], int], base_width: int, base_macs: int, group_size: int) -> int:
    """The inner width, a multiple of lcm(group_size, 8), whose block MACs are closest to ``base_macs``.

    ``block_macs(width)`` builds the block with the override at that width. A block's MACs are
    affine in its inner width (every conv in it is linear in it), so two probes give the line.
    """
    step = math.lcm(group_size, _CHANNEL_MULTIPLE)
    m1, m2 = block_macs(step), block_macs(2 * step)
    slope = (m2 - m1) / step
    if slope <= 0:
        return base_width
    exact = step + (base_macs - m1) / slope
    candidates = {max(step, math.floor(exact / step) * step), max(step, math.ceil(exact / step) * step)}
    return min(sorted(candidates), key=lambda w: abs(block_macs(w) - base_macs))
