"""The inverted-residual block of MobileNetV2 and EfficientNet ("MBConv").

1x1 expand (skipped when the expanded width equals the input width) -> kxk depthwise (or,
with a group-size override, grouped) conv -> optional squeeze-excite -> 1x1 project with no
activation -> residual add when stride is 1 and the shapes match. Every conv has a batch norm.
"""

from __future__ import annotations

from .graph import GraphBuilder
from .variants import matched_width, spatial_groups


def inverted_residual(
    b: GraphBuilder, name: str, x: str, *, out: int, kernel: int, stride: int, expanded: int,
    g: int, se_c: int, act: str,
) -> str:
    inp = b.shapes[x][0]
    y = x
    if expanded != inp:
        y = b.conv_bn_act(f"{name}.expand", y, expanded, 1, act=act)
    spatial = "dw" if g == expanded else "gconv"
    y = b.conv_bn_act(f"{name}.{spatial}", y, expanded, kernel, stride=stride, g=g, act=act)
    if se_c:
        y = b.se(f"{name}.se", y, se_c, op=act)
    y = b.conv_bn_act(f"{name}.project", y, out, 1, act=None)
    if stride == 1 and inp == out:
        y = b.add(f"{name}.add", y, x)
    return y


def add_block(
    b: GraphBuilder, name: str, x: str, *, out: int, kernel: int, stride: int, expanded: int,
    se_c: int, act: str, group_size: int | None, base_group_size: int = 1,
) -> str:
    """Append one block; ``base_group_size`` is the design's own (1: depthwise, 16: G16).

    With ``group_size`` set, the spatial conv gets that many channels per group and the
    expanded width is re-chosen to keep the block's MACs (blocks without an expand conv keep
    their width: it is the input's).
    """
    inp = b.shapes[x][0]

    def groups(width: int, size: int) -> int:
        return spatial_groups(width, size, width)

    if group_size is not None and expanded != inp:

        def macs(width: int, size: int) -> int:
            probe = GraphBuilder(*b.shapes[x])
            inverted_residual(probe, name, "input", out=out, kernel=kernel, stride=stride, expanded=width,
                              g=groups(width, size), se_c=se_c, act=act)
            return probe.macs()

        base = macs(expanded, base_group_size)
        expanded = matched_width(lambda w: macs(w, group_size), expanded, base, group_size)
    size = base_group_size if group_size is None else group_size
    return inverted_residual(b, name, x, out=out, kernel=kernel, stride=stride, expanded=expanded,
                             g=groups(expanded, size), se_c=se_c, act=act)
