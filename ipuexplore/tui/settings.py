"""What the layer controls describe, and how it becomes a `Layer` (no textual here).

The explored layer is a k x k convolution with as many output as input channels
(``c == k``, "width"), padded to keep its size, as in the spatial conv of a ResNeXt
bottleneck or an EfficientNet MBConv block.

Keeping params or FLOPs constant ("keep" mode) follows ResNeXt (Xie et al. 2017, table 2):
the grouped conv sits in a bottleneck block ``1x1 io->d, kxk d->d grouped, 1x1 d->io``
with ``io = 4 x`` the reference width (ResNeXt's bottleneck ratio), and when the channels
per group shrink the block's width ``d`` grows until the block has the reference's
params (or FLOPs) again. EfficientNet-G16 (Masters et al. 2021) is the same move in the
other direction: bigger groups, narrower block.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ipuexplore.hardware import DEFAULT_PAIR
from ipuexplore.layers import Layer, valid_group_counts

WIDTHS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
SIZES = (7, 14, 28, 56, 112, 224)
KERNELS = (1, 3, 5, 7)
STRIDES = (1, 2)
DTYPES = ("fp16", "fp32")
KEEP_MODES = ("off", "params", "flops")
BLOCK_RATIO = 4  # ResNeXt bottleneck: block in/out channels = 4 x the reference width


# Layers from the networks the source article compares (shapes from ipuexplore.networks),
# for the command palette: name -> fields of LayerSettings (chips, batch, dtype, mode kept).
PRESETS: dict[str, dict] = {
    "ResNet-50 dense 3x3 (64 wide, 56x56)": dict(width=64, channels_per_group=64, size=56, kernel=3, stride=1),
    "ResNeXt-50 32x4d grouped 3x3 (128 wide, 4/group, 56x56)": dict(width=128, channels_per_group=4, size=56, kernel=3, stride=1),
    "ResNeXt-50 32x4d grouped 3x3 (256 wide, 8/group, 28x28)": dict(width=256, channels_per_group=8, size=28, kernel=3, stride=1),
    "MobileNetV2 depthwise 3x3 (144 wide, 56x56)": dict(width=144, channels_per_group=1, size=56, kernel=3, stride=1),
    "EfficientNet-B0 depthwise 5x5 (240 wide, 28x28)": dict(width=240, channels_per_group=1, size=28, kernel=5, stride=1),
    "EfficientNet-B0-G16 group 5x5 (160 wide, 16/group, 28x28)": dict(width=160, channels_per_group=16, size=28, kernel=5, stride=1),
}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def nearest(values: list[int] | tuple[int, ...], target: float) -> int:
    return min(values, key=lambda v: (abs(v - target), v))


@dataclass(frozen=True)
class LayerSettings:
    width: int = 256  # c = k; in keep mode the reference width
    channels_per_group: int = 8  # channels per group (c / g): ResNeXt-50 32x8d's stage-3 conv by default
    batch: int = 16
    size: int = 28
    kernel: int = 3
    stride: int = 1
    dtype: str = "fp16"
    train: bool = False
    chip_a: str = DEFAULT_PAIR[0]  # the source article's pair
    chip_b: str = DEFAULT_PAIR[1]
    keep: str = "off"
    ref_channels_per_group: int = 8  # channels per group of the reference block (keep mode)

    # ---- derived ---------------------------------------------------------------------------
    @property
    def effective_width(self) -> int:
        """The grouped conv's channels: the width itself, or widened in keep mode."""
        if self.keep == "off":
            return self.width
        target = self._block_cost(self.width, self.ref_channels_per_group)
        # cost is linear in d: cost(d) = d * cost(1) for fixed channels per group
        per_group = self.channels_per_group
        d = target / self._block_cost(1, per_group)
        return max(per_group, per_group * round(d / per_group))

    @property
    def groups(self) -> int:
        return self.effective_width // self.channels_per_group

    @property
    def io_channels(self) -> int:
        """In/out channels of the keep-mode bottleneck block."""
        return BLOCK_RATIO * self.width

    def _block_cost(self, d: float, per_group: int) -> float:
        """Params (or FLOPs per image) of the bottleneck block at width d."""
        io, rs = self.io_channels, self.kernel * self.kernel
        out = -(-self.size // self.stride)  # output size with "same" padding
        if self.keep == "flops":
            # 1x1 in at the input size; grouped conv and 1x1 out at the output size
            return 2 * (io * d * self.size**2 + d * per_group * rs * out**2 + d * io * out**2)
        return io * d + d * per_group * rs + d * io

    def layer(self) -> Layer:
        """The layer the models and the engine see. Raises ValueError if invalid."""
        c = self.effective_width
        return Layer.conv(
            c, self.size, self.size, c, self.kernel, stride=self.stride,
            pad=self.kernel // 2, g=c // self.channels_per_group, name="explored",
        )

    def block_layers(self) -> tuple[Layer, ...]:
        """The keep-mode bottleneck block (for the explanation line), empty if keep is off."""
        if self.keep == "off":
            return ()
        d, io = self.effective_width, self.io_channels
        grouped = self.layer()
        return (
            Layer.conv(io, self.size, self.size, d, 1, name="1x1 in"),
            grouped,
            Layer.conv(d, grouped.p, grouped.q, io, 1, name="1x1 out"),
        )

    # ---- choices each control steps through ----------------------------------------------
    def channels_per_group_choices(self) -> list[int]:
        # keep mode: divisors of the reference width; the widened width is rounded to match
        return divisors(self.width)

    def group_choices(self) -> list[int]:
        return valid_group_counts(self.effective_width)

    # ---- changes: always return valid settings -------------------------------------------
    def with_width(self, width: int) -> "LayerSettings":
        def fit(per_group: int) -> int:  # the value itself if it divides the new width
            return per_group if width % per_group == 0 else nearest(divisors(width), per_group)

        return replace(self, width=width, channels_per_group=fit(self.channels_per_group),
                       ref_channels_per_group=fit(self.ref_channels_per_group))

    def with_channels_per_group(self, channels_per_group: int) -> "LayerSettings":
        if channels_per_group not in self.channels_per_group_choices():
            raise ValueError(f"{channels_per_group} channels per group does not divide the width {self.width}")
        return replace(self, channels_per_group=channels_per_group)

    def with_groups(self, groups: int) -> "LayerSettings":
        if self.keep != "off":
            raise ValueError("groups follow the width in keep mode: step channels per group instead")
        if self.width % groups:
            raise ValueError(f"{groups} groups do not divide the width {self.width}")
        return replace(self, channels_per_group=self.width // groups)

    def with_keep(self, keep: str) -> "LayerSettings":
        if keep not in KEEP_MODES:
            raise ValueError(f"keep must be one of {KEEP_MODES}, got {keep!r}")
        if keep == "off":
            # leave the widened layer as it is, now as a plain width
            return replace(self, keep="off", width=self.effective_width)
        if self.keep == "off":
            return replace(self, keep=keep, ref_channels_per_group=self.channels_per_group)
        return replace(self, keep=keep)

    def change(self, field: str, value) -> "LayerSettings":
        """One entry point for every control: validates and keeps the settings consistent."""
        if field == "width":
            return self.with_width(int(value))
        if field == "channels_per_group":
            return self.with_channels_per_group(int(value))
        if field == "groups":
            return self.with_groups(int(value))
        if field == "keep":
            return self.with_keep(str(value))
        if field == "train":
            return replace(self, train=value in (True, "training"))
        if field in ("batch", "size", "kernel", "stride"):
            return replace(self, **{field: int(value)})
        if field in ("dtype", "chip_a", "chip_b"):
            return replace(self, **{field: str(value)})
        raise ValueError(f"unknown control {field!r}")

    def with_preset(self, name: str) -> "LayerSettings":
        fields = PRESETS[name]
        return replace(self, keep="off", ref_channels_per_group=fields["channels_per_group"], **fields)

    @classmethod
    def from_layer(cls, layer: Layer, base: "LayerSettings") -> "LayerSettings":
        """`base` showing a network's conv, if the layer view can describe it (c == k, square,
        'same' padding, no dilation); raises ValueError naming what does not fit."""
        if layer.kind.value != "conv":
            raise ValueError(f"{layer.name or 'this layer'} is a {layer.kind.value}, not a convolution")
        if layer.c != layer.k:
            raise ValueError(f"{layer.name}: {layer.c} in, {layer.k} out channels; the layer view "
                             "explores convs with as many outputs as inputs (the grouped/depthwise ones)")
        if layer.r != layer.s or layer.h != layer.w or layer.stride[0] != layer.stride[1]:
            raise ValueError(f"{layer.name}: not square ({layer.describe()})")
        per_group = layer.channels_per_group
        settings = replace(base, width=layer.c, channels_per_group=per_group, size=layer.h, kernel=layer.r,
                           stride=layer.stride[0], keep="off", ref_channels_per_group=per_group)
        if settings.layer().with_(name=layer.name, bias=layer.bias) != layer:
            raise ValueError(f"{layer.name}: padding {layer.pad}, dilation {layer.dilation}; the layer view "
                             f"explores undilated convs padded 'same' ({layer.r // 2} on every side)")
        return settings

    def describe_keep(self) -> str:
        if self.keep == "off":
            return "width fixed: fewer channels per group = fewer params and FLOPs"
        io, d = self.io_channels, self.effective_width
        return (
            f"keeps block {self.keep}: 1x1 {io}->{d}, {self.kernel}x{self.kernel} g{self.groups}, "
            f"1x1 {d}->{io} (ref {self.width} wide at {self.ref_channels_per_group}/group)"
        )

    def to_dict(self) -> dict:
        return {
            "width": self.width, "effective_width": self.effective_width, "cpg": self.channels_per_group,
            "groups": self.groups, "batch": self.batch, "size": self.size,
            "kernel": self.kernel, "stride": self.stride, "dtype": self.dtype,
            "train": self.train, "chips": [self.chip_a, self.chip_b], "keep": self.keep,
            "ref_cpg": self.ref_channels_per_group,
        }
