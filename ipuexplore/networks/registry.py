"""Network names (torchvision's) -> builders, default resolutions and the public `build`."""

from __future__ import annotations

from functools import partial

from .efficientnet import SCALING, build_efficientnet
from .graph import Network
from .mobilenet import build_mobilenet_v2
from .resnet import CONFIGS as RESNET_CONFIGS, build_resnet
from .variants import check_group_size

# name -> (builder(name, res, group_size=, width=), default resolution)
_NETWORKS: dict[str, tuple] = {}
for _name in RESNET_CONFIGS:
    _NETWORKS[_name] = (build_resnet, 224)
for _variant, (_, _, _res) in SCALING.items():
    _NETWORKS[f"efficientnet_{_variant}"] = (partial(build_efficientnet, variant=_variant), _res)
    _NETWORKS[f"efficientnet_{_variant}_g16"] = (partial(build_efficientnet, variant=_variant, g16=True), _res)
_NETWORKS["mobilenet_v2"] = (build_mobilenet_v2, 224)


def list_networks() -> list[str]:
    return list(_NETWORKS)


def default_res(name: str) -> int:
    return _lookup(name)[1]


def _lookup(name: str) -> tuple:
    try:
        return _NETWORKS[name]
    except KeyError:
        raise ValueError(f"name must be one of {', '.join(_NETWORKS)} (or an .onnx path), got {name!r}") from None


def build(name: str, *, res: int | None = None, group_size: int | None = None, width: float = 1.0) -> Network:
    """Build ``name`` at ``res`` x ``res`` (default: the resolution its reference weights use).

    ``group_size``: channels per group for every block's spatial (depthwise/grouped) conv, with
    the block's inner width adjusted to keep its MACs; ``width``: channel multiplier on top of
    the network's own.
    """
    builder, default = _lookup(name)
    res = default if res is None else res
    if not isinstance(res, int) or isinstance(res, bool) or res < 32:
        raise ValueError(f"res must be an int >= 32 (the networks downsample 32x), got {res!r}")
    check_group_size(group_size)
    if not isinstance(width, (int, float)) or isinstance(width, bool) or not 0.05 <= width <= 8:
        raise ValueError(f"width must be a number in [0.05, 8], got {width!r}")
    label = name
    if group_size is not None:
        label += f"[g{group_size}]"
    if width != 1.0:
        label += f"[w{width:g}]"
    network = builder(name, res, group_size=group_size, width=float(width))
    return Network(label, res, network.layers, network.input_shape)
