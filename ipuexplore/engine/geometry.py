"""A convolution's shapes, from ``torch.nn.functional.conv2d``'s argument conventions."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InvalidParameter
from .arguments import as_int, as_pair, as_padding


@dataclass(frozen=True)
class Geometry:
    n: int
    c: int
    h: int
    w: int
    k: int
    r: int
    s: int
    g: int
    stride: tuple[int, int]
    dilation: tuple[int, int]
    pad: tuple[int, int, int, int]  # top, bottom, left, right
    p: int
    q: int

    @property
    def input_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def output_shape(self):
        return (self.n, self.k, self.p, self.q)

    @property
    def weight_shape(self):
        return (self.k, self.c // self.g, self.r, self.s)


def geometry(input_shape, weight_shape, stride, padding, dilation, groups) -> Geometry:
    """The checked geometry of a convolution; ``InvalidParameter`` names what is wrong."""
    if len(input_shape) != 4:
        raise InvalidParameter(f"input_shape must be (n, c, h, w), got {input_shape!r}")
    n, c, h, w = (as_int(v, f"input_shape[{i}]", 1) for i, v in enumerate(input_shape))
    k, cg, r, s = (as_int(v, f"weight.shape[{i}]", 1) for i, v in enumerate(weight_shape))
    g = as_int(groups, "groups", 1)
    if c % g:
        raise InvalidParameter(f"groups={g} does not divide the input channels c={c}")
    if k % g:
        raise InvalidParameter(f"groups={g} does not divide the output channels k={k} (weight.shape[0])")
    if cg * g != c:
        raise InvalidParameter(
            f"weight.shape[1]={cg} must be input channels / groups = {c}/{g} = {c // g}"
        )
    st = as_pair(stride, "stride", 1)
    dil = as_pair(dilation, "dilation", 1)
    pad = as_padding(padding, r, s, st, dil)
    eff_h = h + pad[0] + pad[1] - dil[0] * (r - 1) - 1
    eff_w = w + pad[2] + pad[3] - dil[1] * (s - 1) - 1
    if eff_h < 0 or eff_w < 0:
        raise InvalidParameter(
            f"empty output: kernel {r}x{s} with dilation={dil} is larger than the padded input "
            f"{h}+{pad[0]}+{pad[1]} x {w}+{pad[2]}+{pad[3]} (padding={padding!r})"
        )
    p, q = eff_h // st[0] + 1, eff_w // st[1] + 1
    limit = 1 << 62
    for what, count in (
        ("input", n * c * h * w),
        ("weight", k * cg * r * s * 8),
        ("output", n * k * p * q),
        ("flops", 2 * n * k * p * q * cg * r * s),
    ):
        if count * 4 >= limit:
            raise InvalidParameter(f"{what} byte count overflows: {count} elements (shape too large)")
    return Geometry(n, c, h, w, k, r, s, g, st, dil, pad, p, q)


def conv_output_size(input_shape, weight_shape, stride=1, padding=0, dilation=1, groups=1):
    """Output shape (n, k, p, q) of a convolution, with conv2d's argument conventions."""
    return geometry(tuple(input_shape), tuple(weight_shape), stride, padding, dilation, groups).output_shape
