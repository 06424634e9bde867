"""The compute sets and copies a convolution pass runs on an IPU beside its own vertices.

Counted from poplibs' program for a convolution (``lib/poplin/ConvProgramTree.hpp`` and
``Convolution.cpp``, poplibs 7eac0f26); each program is a superstep of its own (a sync, then
its exchange or its compute set):

- **reduction stages**: partial sums split over ``cp`` tiles are reduced in
  ``multiStageGroupedReduce``, one compute set per stage; ``ConvReducePlan.cpp``
  ``getNumReduceStages`` takes 1 stage below 16 partials per output, 2 below 125, else 3.
- **backward-data weights** (``convolutionInternal`` with ``transposeAndFlipWeights``):
  ``weightsTransposeChansFlipXY`` copies every weight into the backward pass's layout (one
  ``Copy``: all weight bytes cross the exchange) after a ``partialTranspose`` compute set of
  the channel groups; with one channel per group on either side (depthwise) the grouping is
  1 and the transpose is skipped (``G5 == 1``).
- **weight-gradient operands** (``calculateWeightDeltas``): the activations and the output
  gradients are used with the batch and field as the reduced dimension, so
  ``convolutionPreprocess`` regroups both (``regroupIfBeneficialForPlan`` ->
  ``popops::rearrange::regroupTensor``: a ``Copy`` to the transposing tiles, then a
  transpose compute set) before the plan's own exchange; the channel grouping (a multiple
  of 4 halves, ``getMinimumRegroupGrainSize``) is never the field one, so both are regrouped.
- the cast of float partials to a half result, where nothing reduces them, is one more
  compute set of ``reduceOrCastComputeSets`` (``models.ipu``; none with half partials, which
  Graphcore's configs set: ``enable_half_partials``).

The transposes run on the tiles that hold the data (popops Rearrange.cpp
``addTransposeVertices``); their vertices' cycle estimates are in Poplar's runtime, not
public, so a transpose is taken at the vector width per tile like an element-wise pass
(project assumption).
"""

from __future__ import annotations

import math
from typing import NamedTuple

from ipuexplore.hardware import IpuSpec

from .work import Work

REDUCE_STAGE_DEPTHS = (16, 125)  # ConvReducePlan.cpp getNumReduceStages thresholds
# poplibs' estimate of a reduce vertex (PerformanceEstimation.hpp getReduceCycleEstimate, the
# supervisor vertex): per worker 32 cycles, then per loop of 8 half (4 float) outputs 3 cycles
# per partial (2 loads of the 64-bit path and a pointer) + 8 (half partials) / 6 (float) of
# loop overhead, for a half result; the six workers share the loops
REDUCE_VERTEX_CYCLES = 32
REDUCE_CYCLES_PER_PARTIAL = 3
REDUCE_LOOP_OVERHEAD = {2: 8, 4: 6}
REDUCE_OUTPUTS_PER_LOOP = {2: 8, 4: 4}


class Rearrangement(NamedTuple):
    """What a pass runs beside the plan's exchange, compute and reduction."""

    exchange_bytes: float  # bytes copied across the exchange (all tiles at once)
    transpose_cycles: float  # the transposes' cycles on the busiest tile
    supersteps: int  # copies and compute sets, each with its sync
    why: str


def reduce_stages(partials_depth: int) -> int:
    """Compute sets of the reduction of ``partials_depth`` partial sums per output (0: none)."""
    if partials_depth < 1:
        raise ValueError(f"partials_depth must be >= 1, got {partials_depth}")
    if partials_depth == 1:
        return 0
    return 1 + sum(partials_depth >= d for d in REDUCE_STAGE_DEPTHS)


def reduce_cycles(outputs: float, depth: int, partial_bytes: int, workers: int) -> float:
    """Tile cycles of reducing ``depth`` partial sums of each of ``outputs`` outputs on a tile,
    in ``reduce_stages(depth)`` compute sets of about equal depth (0 when nothing is split)."""
    stages = reduce_stages(depth)
    if stages == 0:
        return 0.0
    per_stage = max(2, round(depth ** (1 / stages)))
    while per_stage ** stages < depth:  # the smallest depth per stage that covers them all
        per_stage += 1
    while per_stage > 2 and (per_stage - 1) ** stages >= depth:
        per_stage -= 1
    width = REDUCE_OUTPUTS_PER_LOOP[partial_bytes]
    total, out = 0.0, float(outputs)
    for k in range(stages):
        stage_out = out * per_stage ** (stages - 1 - k)  # earlier stages reduce wider partials
        loops = math.ceil(math.ceil(stage_out / width) / workers)
        total += workers * (REDUCE_VERTEX_CYCLES
                            + (REDUCE_CYCLES_PER_PARTIAL * per_stage + REDUCE_LOOP_OVERHEAD[partial_bytes]) * loops)
    return total


def rearrangement(s: IpuSpec, work: Work, dtype: str) -> Rearrangement:
    """The weight flip of a backward-data pass, or the operand regrouping of a
    weight-gradient pass (nothing for a forward pass)."""
    elem = 2 if dtype == "fp16" else 4
    width = s.vector_fp16_macs_per_cycle_per_tile if dtype == "fp16" else s.vector_fp32_macs_per_cycle_per_tile

    def transpose(nbytes: float) -> float:
        return math.ceil(nbytes / elem / (s.tiles * width))

    if work.phase == "backward_data":
        transposed = work.in_ch > 1 and work.out_ch > 1
        cycles = transpose(work.b_bytes) if transposed else 0.0
        return Rearrangement(float(work.b_bytes), cycles, 1 + transposed,
                             "weights flipped into the backward layout: one copy"
                             + (" after a channel-group transpose" if transposed else " (one channel per group: no transpose)"))
    if work.phase == "backward_weights":
        operands = work.a_bytes + work.b_bytes  # activations and output gradients
        return Rearrangement(float(operands), transpose(work.a_bytes) + transpose(work.b_bytes), 4,
                             "activations and gradients regrouped for the weight-gradient plan: a copy and a transpose each")
    return Rearrangement(0.0, 0.0, 0, "forward: operands used in their own layout")
