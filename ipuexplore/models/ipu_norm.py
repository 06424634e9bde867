"""A normalisation layer's training program on an IPU, counted the way poplibs builds it.

Batch norm and group norm in training (popnn ``BatchNorm.cpp`` / ``GroupNorm.cpp``, both
calling poplin ``Norms.cpp``) are not one kernel but a sequence of programs, each a compute
set of its own with a sync before it:

- forward: the statistics, one ``reduceMany`` of the mean and the sum of squares (reads the
  input twice); the inverse standard deviation (a compute set over c values); ``normWhiten``
  (``sub`` the mean, ``mulInPlace`` by the inverse deviation) and ``normalise`` (``mul`` by
  gamma, ``addInPlace`` beta): four passes over the activations;
- backward: ``normGradients`` (``mul`` by gamma); ``normStatisticsGradients``: its
  ``normParamGradients`` (``mul`` activations x gradients, then one ``normReduce`` of both),
  a ``Copy`` of the gradient, ``mul`` (varGrads), ``mulInPlace`` of c values, ``addInPlace``,
  ``scaledAddTo`` and ``mulInPlace``; and the framework's own ``normParamGradients`` for the
  gamma and beta deltas (a ``mul`` and a ``normReduce``): eight passes over the activations,
  one small compute set and two reductions, each reading two tensors;
- a popops reduction is two compute sets: every tile reduces what it holds, then the partials
  are exchanged and reduced where the output lives (``popops/reduction/ReductionPlan.cpp``,
  ``estimateBalancedReduceCost``: pre-exchange, sync, compute, post-exchange, sync);
- recomputation runs the forward's four passes again: the statistics are cached from the
  first forward (Krell et al. 2022, "statistics caching").

Each element-wise pass runs where the data lives, all tiles at once, as popops' vertex does
(models.ipu_elementwise: a fixed prologue, then 3 worker cycles per vector), plus a sync; a
reduction folds its inputs on each tile at the vector width (4 halves or 2 floats per cycle).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ipuexplore.hardware import IpuSpec

from .ipu_elementwise import pass_cycles
from .ipu_plan import PARTIAL_BYTES

FORWARD_PASSES = 4  # sub, mulInPlace (normWhiten); mul, addInPlace (normalise)
FORWARD_SMALL_SETS = 1  # iStdDev over c values
FORWARD_REDUCTIONS = (2,)  # one reduceMany: mean and sum of squares, each reading the input
BACKWARD_PASSES = 8  # mul gamma; mul, Copy, mul, addInPlace, scaledAddTo, mulInPlace; mul (param deltas)
BACKWARD_SMALL_SETS = 1  # scaleMeanDelta over c values
BACKWARD_REDUCTIONS = (2, 2)  # two normReduce calls, each over two concatenated tensors
REDUCTION_COMPUTE_SETS = 2  # on-tile partials, then exchange and the final reduce
RECOMPUTE_PASSES = FORWARD_PASSES  # statistics cached: whiten and normalise again


@dataclass(frozen=True)
class NormProgram:
    """Seconds of one norm layer's training program at one micro-batch."""

    passes_s: float  # the element-wise compute sets (forward and backward), each with its sync
    passes_sync_s: float  # of which the syncs
    reductions_s: float  # the statistics reductions: on-tile partials, exchange, final reduce, syncs
    recompute_s: float  # the forward's passes again (recomputation)
    compute_sets: int  # forward + backward, for --why


def training_program(s: IpuSpec, elems: int, outputs: int, dtype: str) -> NormProgram:
    """The program of a norm layer over ``elems`` activations (one micro-batch) with
    ``outputs`` statistics (c for batch norm, groups x images for group norm)."""
    if elems < 1 or outputs < 1:
        raise ValueError(f"elems and outputs must be >= 1, got {elems} and {outputs}")
    clock = s.clock_ghz * 1e9
    width = s.vector_fp16_macs_per_cycle_per_tile if dtype == "fp16" else s.vector_fp32_macs_per_cycle_per_tile
    sync = s.sync_cycles
    per_pass = pass_cycles(s, elems, dtype)  # one element-wise pass's vertex on the busiest tile
    small = pass_cycles(s, outputs, dtype)
    folded = math.ceil(elems / (s.tiles * width))  # a reduction's on-tile fold, at the vector width
    element_sets = FORWARD_PASSES + BACKWARD_PASSES + FORWARD_SMALL_SETS + BACKWARD_SMALL_SETS
    passes = (FORWARD_PASSES + BACKWARD_PASSES) * per_pass + (FORWARD_SMALL_SETS + BACKWARD_SMALL_SETS) * small + element_sets * sync
    reductions = 0.0
    for reads in FORWARD_REDUCTIONS + BACKWARD_REDUCTIONS:
        # every tile folds its share of each input into partials; the partials of the
        # ``outputs`` values (fp32) then cross to the reducing tiles and are added there
        gathered = reads * outputs * PARTIAL_BYTES / s.exchange_b_per_cycle_per_tile
        reductions += reads * folded + gathered + REDUCTION_COMPUTE_SETS * sync
    recompute = RECOMPUTE_PASSES * (per_pass + sync)
    sets = element_sets + REDUCTION_COMPUTE_SETS * len(FORWARD_REDUCTIONS + BACKWARD_REDUCTIONS)
    return NormProgram(passes / clock, element_sets * sync / clock, reductions / clock, recompute / clock, sets)
