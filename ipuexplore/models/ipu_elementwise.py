"""Tile cycles of one element-wise compute set on an IPU, from poplibs' own cycle estimates.

popops runs an element-wise operation over the elements a tile holds as one supervisor
vertex whose six workers each take a sixth of them (``popopsCycleEstimators.cpp``
``BinaryOp1D``): a worker spends a fixed prologue (26 worker cycles for half, 29 for float)
and then 3 cycles per vector (``binaryOpInnerLoopCycles``: 1 cycle for the operation plus 2
for its load and store in the assembly codelets of add, subtract and multiply), one vector
being 4 halves or 2 floats; the supervisor adds 11 cycles (``PerformanceEstimation.cpp``
``basicOpSupervisorOverhead``). The workers are barrel-scheduled, so the vertex takes
``workers x`` the busiest worker's cycles on the tile clock: a half pass streams 4/3 halves
per tile cycle, a third of the vector unit's MAC rate. ``ScaledAdd`` (half, half) has the
same 3-cycle loop (``getScaledArithmeticSupervisorCycleEstimate``).
"""

from __future__ import annotations

import math

from ipuexplore.hardware import IpuSpec

WORKER_PROLOGUE_CYCLES = {"fp16": 26, "fp32": 29}
CYCLES_PER_VECTOR = 3
SUPERVISOR_CYCLES = 11
VECTOR_WIDTH = {"fp16": 4, "fp32": 2}


def pass_cycles(s: IpuSpec, elems: int, dtype: str) -> float:
    """Tile cycles of one element-wise operation over ``elems`` elements spread evenly over
    the tiles (the busiest tile's vertex; 0 elements cost nothing)."""
    if elems < 0:
        raise ValueError(f"elems must be >= 0, got {elems}")
    if elems == 0:
        return 0.0
    width = VECTOR_WIDTH["fp16" if dtype == "fp16" else "fp32"]
    per_tile = math.ceil(elems / s.tiles)
    vectors = math.ceil(math.ceil(per_tile / s.workers_per_tile) / width)
    worker = WORKER_PROLOGUE_CYCLES["fp16" if dtype == "fp16" else "fp32"] + CYCLES_PER_VECTOR * vectors
    return s.workers_per_tile * worker + SUPERVISOR_CYCLES


# popops Cast from float to half (PerformanceEstimation.cpp getCast1DCycleEstimate and
# castWorkerCycles, poplibs 7eac0f26): per worker 18 cycles of call and 19 of prologue, then
# one 4-element vector per 2 cycles (two 64-bit loads of floats, one store of halves); the
# supervisor adds 12 cycles
CAST_WORKER_CYCLES = 18 + 19
CAST_CYCLES_PER_VECTOR = 2
CAST_VECTOR = 4
CAST_SUPERVISOR_CYCLES = 12


def cast_cycles(s: IpuSpec, elems: int) -> float:
    """Tile cycles of casting ``elems`` float elements, spread evenly over the tiles, to half."""
    if elems < 0:
        raise ValueError(f"elems must be >= 0, got {elems}")
    if elems == 0:
        return 0.0
    per_worker = math.ceil(math.ceil(elems / s.tiles) / s.workers_per_tile)
    worker = CAST_WORKER_CYCLES + CAST_CYCLES_PER_VECTOR * math.ceil(per_worker / CAST_VECTOR)
    return s.workers_per_tile * worker + CAST_SUPERVISOR_CYCLES
