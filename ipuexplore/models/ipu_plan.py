"""How a grouped matrix product is split over an IPU's tiles: a small planner after poplibs'.

poplibs (``lib/poplin/ConvPlan.cpp``, ``ConvModel.cpp``) partitions a convolution over tiles
along the conv groups, the output positions (field), the output channels and the input
channels, and picks the partition with the fewest estimated cycles: per-tile compute +
exchange of the operands each tile needs + reduction of partial sums. This is the same idea
with four split factors and a closed-form cost, searched over powers of two (and the
largest split that fits):

- ``gp`` groups (no replication: groups are independent),
- ``mp`` rows (output positions, or weight rows for the weight-gradient pass): each slice
  needs all of the weights of its group -> weights are replicated ``mp`` times,
- ``np`` output-channel chunks: each needs all inputs of its rows -> inputs replicated
  ``np`` times,
- ``cp`` reduction chunks: partial sums of each output (2 or 4 bytes: the partials type)
  are exchanged and reduced.

All tiles exchange concurrently (bulk-synchronous), so the exchange time is the bytes one
tile receives divided by its exchange bandwidth. Halos are ignored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from .ipu_conv_program import reduce_cycles, reduce_stages

PARTIAL_BYTES = 4  # fp32 partials: poplibs' default partialsType, and popops' statistics reductions

# Fixed tile cycles per vertex pass, from poplibs lib/poplin/PerformanceEstimation.hpp:
# AMP (half): a worker runs 38 + 4 (n - 3) cycles for n output positions, six workers
# barrel-scheduled -> 6 x (38 - 12) = 156 tile cycles beyond the 4-per-position loop, plus
# the supervisor's per-pass loop (19 + 7) and the weight load into the engines
# (16 engines x 32 B / 16 B per cycle = 32): 214 cycles per (group, input-chunk,
# output-chunk, kernel-tap) pass.
AMP_PASS_OVERHEAD_CYCLES = 214
# Other vertices (HMAC, VMAC, SLIC): 16 worker cycles of non-loop overhead x 6 workers
# (getConvPartialHorizontalMacCycleEstimate) + 61 supervisor cycles
# (VerticalMac outer loop): ~157 per vertex (group, channel chunk) on a tile.
VERTEX_OVERHEAD_CYCLES = 157
REDUCTION_CHUNK = 64  # positions per tile below which splitting a weight-gradient reduction stops paying (assumption)


@dataclass(frozen=True)
class TilePlan:
    gp: int
    mp: int
    np: int
    cp: int
    tiles_used: int
    compute_cycles: float  # includes the per-pass overheads (all serial steps)
    passes_per_tile: int
    exchange_in_bytes_per_tile: float
    reduction_bytes_per_tile: float
    worker_fill: float
    cycles: float = 0.0  # what the planner minimised: compute + exchange in + reduction
    reduce_cycles: float = 0.0  # the reduce vertices' tile cycles (all serial steps)
    serial: int = 1  # output-channel serial steps, run one after another
    temp_limit_bytes: float = math.inf  # the per-tile bound on temporaries the plan met

    @property
    def supersteps(self) -> int:
        """Per serial step: the exchange, the partials' compute set, and one compute set per
        reduction stage."""
        return self.serial * (2 + reduce_stages(self.cp))


def _pow2_upto(limit: int) -> list[int]:
    """Powers of two up to ``limit``, and ``limit`` itself (so all tiles can be used)."""
    out, v = [], 1
    while v <= limit:
        out.append(v)
        v *= 2
    if limit >= 1 and out[-1] != limit:
        out.append(limit)
    return out


@lru_cache(maxsize=65536)
def plan(
    tiles: int, workers: int, exchange_b_per_cycle: float, vec_macs: float,
    groups: int, m: int, n_units: int, red_units: int, macs_per_group_unit: float,
    rate: float, a_bytes: int, b_bytes: int, c_elems: int,
    taps: int = 1, pass_overhead: float = 0.0, partial_bytes: int = PARTIAL_BYTES,
    tile_bytes: float = math.inf, memory_proportion: float = 1.0,
) -> TilePlan:
    """The cheapest partition (cycles) of one pass whose temporaries fit.

    ``n_units`` / ``red_units`` are the output-channel and reduction chunks the vertex works
    in; ``macs_per_group_unit`` is MACs per (group, row, n unit, red unit); ``rate`` the
    vertex's useful MACs/cycle/tile; each (group, n unit, red unit, tap) slice on a tile is
    one vertex pass costing ``pass_overhead`` cycles on top; a split reduction exchanges
    ``partial_bytes`` per partial sum and adds them in poplibs' reduce vertices
    (``ipu_conv_program.reduce_cycles``; ``vec_macs`` is kept for the signature).

    Memory, as poplibs plans it (``ConvPlan.cpp``): the fewest cycles with each tile's
    temporaries, the operands it receives and its partial sums (``ConvModel.cpp``
    ``addConvTempMemoryEstimate``), within ``memory_proportion`` x ``tile_bytes``
    (availableMemoryProportion x bytes per tile). Where no partition fits, the output channels
    are split into serial steps run one after another, each its own exchange, compute set and
    reductions (the fewest steps that fit); where none fits even so, the bound is doubled until
    it passes twice the tile's memory and then dropped (``createPlan``'s minimizeMemory).
    """
    limit = memory_proportion * tile_bytes
    while True:
        for serial in _pow2_upto(n_units) if limit < math.inf else (1,):
            step = -(-n_units // serial)  # output-channel units of the largest serial step
            share = step / n_units
            p = _partition(tiles, workers, exchange_b_per_cycle, vec_macs, groups, m, step, red_units,
                           macs_per_group_unit, rate, a_bytes, b_bytes * share, c_elems * share, taps, pass_overhead,
                           partial_bytes, limit)
            if p is not None:
                return _serial(p, serial, limit) if serial > 1 or limit < math.inf else p
        limit = limit * 2 if limit * 2 < 2 * tile_bytes else math.inf


def _serial(p: TilePlan, serial: int, limit: float) -> TilePlan:
    """``p`` run as ``serial`` steps one after another on the same tiles."""
    return TilePlan(p.gp, p.mp, p.np, p.cp, p.tiles_used, p.compute_cycles * serial, p.passes_per_tile * serial,
                    p.exchange_in_bytes_per_tile * serial, p.reduction_bytes_per_tile * serial, p.worker_fill,
                    p.cycles * serial, p.reduce_cycles * serial, serial, limit)


def _partition(
    tiles, workers, exchange_b_per_cycle, vec_macs, groups, m, n_units, red_units, macs_per_group_unit,
    rate, a_bytes, b_bytes, c_elems, taps, pass_overhead, partial_bytes, limit,
) -> TilePlan | None:
    """The cheapest partition with each tile's temporaries within ``limit`` bytes (None: none)."""
    # (the loop is the cold path of every IPU estimate: invariants hoisted, the TilePlan built once)
    best = None
    best_cycles = float("inf")
    gp = min(groups, tiles)
    per_group_tiles = tiles // gp
    g_slice = -(-groups // gp)
    xb = exchange_b_per_cycle
    for np_ in _pow2_upto(min(n_units, per_group_tiles)):
        n_slice = -(-n_units // np_)
        for cp in _pow2_upto(min(red_units, per_group_tiles // np_)):
            c_slice = -(-red_units // cp)
            gnc = g_slice * n_slice * c_slice
            passes = gnc * taps
            overhead = passes * pass_overhead
            b_in = b_bytes / (gp * np_ * cp)
            mp_max = min(m, per_group_tiles // (np_ * cp))
            for mp in _pow2_upto(mp_max):
                m_slice = -(-m // mp)
                in_bytes = a_bytes / (gp * mp * cp) + b_in
                partials = (c_elems / (gp * mp * np_)) * partial_bytes  # each tile's partial sums
                if in_bytes + partials > limit:
                    continue
                tile_macs = g_slice * m_slice * n_slice * c_slice * macs_per_group_unit
                # the 6 workers take output positions of the tile's slice
                worker_fill = g_slice * m_slice / workers
                if worker_fill > 1.0:
                    worker_fill = 1.0
                compute = tile_macs / (rate * worker_fill) + overhead
                if cp > 1:
                    red_bytes = partials
                    # reduce: each tile receives its share of cp partials and adds them
                    adds = reduce_cycles(partials / partial_bytes / cp, cp, partial_bytes, workers)
                else:
                    red_bytes = adds = 0.0
                cycles = compute + in_bytes / xb + red_bytes / xb + adds
                if cycles < best_cycles:
                    best_cycles = cycles
                    best = (mp, np_, cp, compute, passes, in_bytes, red_bytes, worker_fill, adds)
    if best is None:
        return None
    mp, np_, cp, compute, passes, in_bytes, red_bytes, worker_fill, adds = best
    return TilePlan(gp, mp, np_, cp, gp * mp * cp * np_, compute, passes, in_bytes, red_bytes, worker_fill, best_cycles, adds)
