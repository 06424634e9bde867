"""The weight update of a training step on an IPU, per weight tensor, as Graphcore's TF1 CNNs run it.

Graphcore's CNN training code (graphcore/examples 187775b1,
applications/tensorflow/cnns/training) steps every variable on its own; each TensorFlow op
on the IPU becomes its own Poplar program, so each step below is a compute set with its
sync (popops element-wise operations and reductions):

- **gradient accumulation** (``pipelining_ops.pipeline(gradient_accumulation_count=...)``):
  every micro-batch adds each weight gradient into its accumulator, one compute set per
  tensor per micro-batch (none without accumulation);
- **gradient preparation** (``ipu_optimizer.py`` ``IPUOptimizer.apply_gradients``): the
  cross-replica sum is normalised by the replicas and divided by the loss scale, one fused
  element-wise compute set per tensor;
- **momentum** (``optimisers.py`` ``Momentum._apply_weight_update``: ``mom = m * mom + grad``,
  ``var - lr * mom``): two compute sets per tensor;
- **LARS** (``lars_optimizer.py`` ``LARSOptimizer.compute_lr`` then ``apply_momentum``), on
  every tensor whose name is not in the skip list (``--lars-skip-list`` defaults to beta,
  gamma and bias: it scales convolution and fully connected weights): the L2 norms of the
  weights and of the gradient (two reductions of two compute sets each, as popops reduces:
  on-tile partials, then the exchanged partials), the trust ratio (a compute set of a few
  scalars), the gradient with weight decay times the scaled rate (one fused pass), then
  momentum's two.

An element-wise compute set costs popops' vertex over the elements a tile holds
(models.ipu_elementwise) plus a sync, as the norm layers' passes do (models.ipu_norm).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ipuexplore.hardware import IpuSpec
from ipuexplore.layers import Layer, LayerKind

from .ipu_elementwise import pass_cycles
from .ipu_plan import PARTIAL_BYTES
from .plan import OPTIMIZERS

MOMENTUM_SETS = 2  # mom = m * mom + grad; var = var - lr * mom
PREPARE_SETS = 1  # cross-replica normalisation and loss-scale division, fused
LARS_NORMS = 2  # ||w||, ||g||
LARS_EXTRA_SETS = 2  # the trust ratio's scalars; (grad + wd * var) * scaled lr
REDUCTION_SETS = 2  # on-tile partials, then the exchanged partials (popops ReductionPlan)


class Tensor(NamedTuple):
    elems: int
    lars: bool  # scaled by LARS (not in its skip list: not a bias, beta or gamma)


def tensors(layer: Layer) -> tuple[Tensor, ...]:
    """The layer's trainable tensors as Graphcore's models declare them."""
    if layer.kind in (LayerKind.CONV, LayerKind.LINEAR):
        bias = layer.k if layer.bias else 0
        return (Tensor(layer.params - bias, True),) + ((Tensor(bias, False),) if bias else ())
    if layer.kind is LayerKind.NORM:
        return (Tensor(layer.c, False), Tensor(layer.c, False))  # gamma, beta
    if layer.kind is LayerKind.SE:  # two fully connected layers with biases
        fc = layer.c * layer.se_c
        return (Tensor(fc, True), Tensor(layer.se_c, False), Tensor(fc, True), Tensor(layer.c, False))
    return ()


class UpdateCost(NamedTuple):
    accumulate_s: float  # per micro-batch: the gradients added into their accumulators
    step_s: float  # per step: preparation and the optimizer
    compute_sets: int  # of the step (the accumulation's are ``len(tensors)`` per micro-batch)


def layer_update(s: IpuSpec, layer: Layer, optimizer: str, dtype: str, accumulating: bool) -> UpdateCost:
    """The seconds one layer's tensors take in the weight update under ``optimizer``."""
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    clock = s.clock_ghz * 1e9
    width = s.vector_fp16_macs_per_cycle_per_tile if dtype == "fp16" else s.vector_fp32_macs_per_cycle_per_tile
    sync = s.sync_cycles
    accumulate = step = 0.0
    sets = 0
    for t in tensors(layer):
        passes = pass_cycles(s, t.elems, dtype)
        if accumulating:
            accumulate += passes + sync
        n = PREPARE_SETS + MOMENTUM_SETS
        cycles = n * (passes + sync)
        if optimizer == "lars" and t.lars:
            reduce_cycles, reduce_sets = norm_cycles(s, t.elems, width)
            cycles += LARS_NORMS * reduce_cycles
            cycles += LARS_EXTRA_SETS * sync + passes  # the scalars' set, then the fused gradient pass
            n += LARS_NORMS * reduce_sets + LARS_EXTRA_SETS
        step += cycles
        sets += n
    return UpdateCost(accumulate / clock, step / clock, sets)


def norm_cycles(s: IpuSpec, elems: int, width: float) -> tuple[float, int]:
    """Cycles and compute sets of one tensor's L2 norm (a reduction to one value).

    Every tile holding part of the tensor (at least a vector each: an assumption) squares and
    sums its share; its fp32 partial then crosses to the reducing tile. popops
    ``ReductionPlan.cpp`` ``calculateNextStep`` sends partials straight to the output only
    while the fan-in stays under 2 sqrt(tiles); above it an intermediate stage first reduces
    sqrt(partials) per tile (its columns = sqrt(data / outputs)), one more compute set.
    """
    holders = min(s.tiles, math.ceil(elems / width))
    on_tile = math.ceil(elems / (s.tiles * width))
    per_partial = PARTIAL_BYTES / s.exchange_b_per_cycle_per_tile + 1 / width  # receive and add
    if holders < 2 * math.sqrt(s.tiles):
        sets, fan_in = REDUCTION_SETS, holders
    else:
        sets, fan_in = REDUCTION_SETS + 1, 2 * math.ceil(math.sqrt(holders))
    return on_tile + fan_in * per_partial + sets * s.sync_cycles, sets
