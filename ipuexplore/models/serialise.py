"""Serialising a layer too big for one IPU, as poplibs does before anything is streamed.

poplibs plans a convolution within the memory it is given (``availableMemoryProportion``);
when the whole layer cannot fit, its planner splits the work into serial pieces that run one
after another on the same tiles: over the batch first (``ConvPlan`` serial splits of the
batch), then over the output channels (``serialSplit`` of the output channels, or of the
conv groups for a grouped layer). Each piece is costed as a layer of its own; their times add.
"""

from __future__ import annotations

from dataclasses import dataclass

from ipuexplore.layers import Layer, LayerKind
from .plan import divisors
from .work import activation_bytes_kept


@dataclass(frozen=True)
class Serial:
    pieces: int  # serial pieces in all
    micro_batch: int  # images per piece
    parts: tuple[tuple[Layer, int, int], ...]  # (piece layer, its batch, how many such pieces)
    why: str


def working_bytes(layer: Layer, batch: int, dtype: str, train: bool) -> int:
    """What one layer needs resident while it runs: its tensors, and when training the
    gradients of its weights and the activations kept for the backward pass."""
    kept = activation_bytes_kept(layer, batch, dtype) if train else 0
    return layer.min_bytes(dtype, batch) + (layer.weight_bytes(dtype) + kept if train else 0)


def split(layer: Layer, batch: int, dtype: str, train: bool, capacity: float) -> Serial | None:
    """The fewest serial pieces whose working set fits ``capacity``; None if none does."""
    # the batch first, in equal pieces (micro-batch x pieces = batch, as a network's plan splits it)
    for micro in divisors(batch)[1:]:
        if working_bytes(layer, micro, dtype, train) <= capacity:
            k = batch // micro
            return Serial(k, micro, ((layer, micro, k),), f"batch {batch} run as {k} serial pieces of {micro} image{'s' if micro > 1 else ''}")
    # then the output channels (conv groups for a grouped layer), one image at a time
    for j in _channel_splits(layer):
        piece = _channel_piece(layer, j)
        if working_bytes(piece, 1, dtype, train) <= capacity:
            what = "conv groups" if layer.g > 1 else "output channels"
            return Serial(j * batch, 1, ((piece, 1, j * batch),),
                          f"{what} split into {j} serial pieces, each for one image at a time ({j * batch} pieces)")
    return None


def _channel_splits(layer: Layer) -> list[int]:
    if layer.kind not in (LayerKind.CONV, LayerKind.LINEAR):
        return []
    n = layer.g if layer.g > 1 else layer.k
    return [j for j in range(2, n + 1) if n % j == 0]


def _channel_piece(layer: Layer, j: int) -> Layer:
    if layer.g > 1:
        return layer.with_(c=layer.c // j, k=layer.k // j, g=layer.g // j)
    return layer.with_(k=layer.k // j)
