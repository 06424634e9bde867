"""Cost of a pass on a Graphcore IPU: bulk-synchronous supersteps over tiles with local SRAM.

Structure after poplibs' planner (``lib/poplin/ConvModel.cpp``: cycles = per-tile compute +
exchange + reductions), simplified and written from its documented rules:

- **vertex (compute unit)**: the planner plans every candidate vertex and keeps the cheapest
  plan (``createPlan``), trying them in order of useful MACs/cycle after padding
  (``sortConvVertexTypeCandidates``): AMP when the channels per group fill its
  16-input-channel (fp16) passes, AMP on groups combined into wider block-diagonal ones
  (poplibs' combineConvGroups transform), SLIC (1x4 sliding window, IPU2), VMAC and HMAC
  (vector width) otherwise. Rates per tile come from the chip file; every vertex pass on a
  tile also pays a fixed overhead taken from poplibs' cycle estimates.
- **plan (tile fill, exchange, reductions)**: ``ipu_plan.plan`` splits the work over tiles
  (groups x rows x output channels x reduction) the way poplibs' planner does, trading
  replicated operands and partial-sum reductions against per-tile compute.
- **memory level**: the layer's tensors are read from SRAM (no DRAM term: poplibs has none).
  A layer too big for the usable SRAM is first serialised over its batch, then its output
  channels (``models.serialise``, called by ``models.estimate``); only a piece that still
  does not fit has every byte cross the streaming-memory link in its own phase (BSP: not
  overlapped), and is reported as not fitting.
- **exchange**: the bytes each tile must receive under that plan (all tiles exchange at
  once), plus the partial sums of a split reduction; element-wise layers compute where
  their data already lives.
- **partials**: the type of the partial sums (poplibs' ``partialsType``, a plan pin): half,
  as Graphcore's CNN configs set it, or float, poplibs' default. With half inputs and float
  partials the Mk2/Bow AMP runs 8 conv units instead of 16 (the chip file's
  ``amp_fp16_float_partials_conv_engines``; the Mk1 has 8 either way), a split reduction
  moves and adds 4-byte partials instead of 2, and a pass with no split reduction casts its
  float partials to half in a compute set of its own (poplin ``reduceOrCastComputeSets``).
- **sync**: one barrier per superstep (exchange, compute, reduce).

Phases of a superstep do not overlap, so the times add. Halos and layout rearrangements
between layers are ignored.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

from ipuexplore.hardware import Chip, IpuSpec

from .ipu_conv_program import rearrangement, reduce_stages
from .ipu_elementwise import cast_cycles, pass_cycles
from .ipu_plan import AMP_PASS_OVERHEAD_CYCLES, PARTIAL_BYTES, REDUCTION_CHUNK, VERTEX_OVERHEAD_CYCLES, plan
from .plan import DEFAULT_PARTIALS, PARTIALS, ConvOptions
from .result import COST_CACHE_SIZE, LazyTerms, Phase, Term, bound_of
from .roofline import fill, round_up
from .work import Work


def capacity_bytes(chip: Chip) -> float:
    s = _spec(chip)
    return s.sram_total_bytes * s.sram_usable_fraction


def amp_units(s: IpuSpec, dtype: str, partials: str = DEFAULT_PARTIALS) -> tuple[int, float]:
    """(conv units, peak MACs/cycle/tile) of the AMP for these inputs and partial sums."""
    if dtype != "fp16":
        return s.amp_fp32_conv_engines, s.amp_fp32_macs_per_cycle_per_tile
    engines = s.amp_fp16_conv_engines
    if partials == "float" and s.amp_fp16_float_partials_conv_engines:
        engines = s.amp_fp16_float_partials_conv_engines
    return engines, s.amp_fp16_macs_per_cycle_per_tile * engines / s.amp_fp16_conv_engines


def partial_bytes(dtype: str, partials: str = DEFAULT_PARTIALS) -> int:
    """Bytes of one partial sum: fp32 inputs always accumulate in float (poplin promotes them)."""
    return 2 if dtype == "fp16" and partials == "half" else 4


def vertex_candidates(s: IpuSpec, work: Work, dtype: str, partials: str = DEFAULT_PARTIALS) -> list[tuple[str, float, dict[str, float]]]:
    """Every vertex that can run this pass: (name, useful MACs/cycle/tile, fills), in
    poplibs' order of preference (most useful MACs/cycle first; on a tie the plain vertex
    before a combined-groups one)."""
    half = dtype == "fp16"
    vec = s.vector_fp16_macs_per_cycle_per_tile if half else s.vector_fp32_macs_per_cycle_per_tile
    candidates: list[tuple[str, float, dict[str, float]]] = []
    # AMP: input channels per pass must divide 16 (8 fp32) and keep 64-bit aligned loads,
    # i.e. a multiple of 4 half / 2 float; output channels come in multiples of the engines.
    engines, amp_peak = amp_units(s, dtype, partials)
    per_pass = s.amp_fp16_input_channels_per_pass if half else s.amp_fp32_input_channels_per_pass
    align = 4 if half else 2
    padded_in = round_up(work.in_ch, align)
    f_in = work.in_ch / round_up(padded_in, per_pass)
    f_out = fill(work.out_ch, engines)
    candidates.append(("AMP", amp_peak * f_in * f_out, {"in_fill": f_in, "out_fill": f_out}))
    # poplibs' combineConvGroups transform (ConvPlan.cpp, since Dec 2019): f groups of a
    # power-of-two width merge into one block-diagonal group of f x c/g channels (f a power
    # of two up to 16 / (c/g) half, 8 / (c/g) float); only 1 / f of its MACs are useful.
    cg = work.in_ch
    if work.phase != "backward_weights" and cg & (cg - 1) == 0 and cg < per_pass:
        f = 2
        while f * cg <= per_pass and work.groups % f == 0:
            rate = amp_peak * fill(f * cg, per_pass) * fill(f * work.out_ch, engines) / f
            candidates.append(("AMP", rate, {"groups_combined": f, "useful_fraction": 1 / f}))
            f *= 2
    # SLIC (fp16, IPU2): vector width x 4-wide window x 2 chains, groupings of 1/2/4
    # channels; the kernel width is padded to the 4-wide window.
    if half and s.slic_available and work.phase != "backward_weights":
        chans = 1 if work.in_ch == 1 else 2 if work.in_ch == 2 else 4
        f_ch = fill(work.in_ch, chans) * fill(work.out_ch, chans)
        f_win = fill(work.kernel_w, 4)
        candidates.append(("SLIC", vec * 4 * 2 * f_ch * f_win, {"channel_fill": f_ch, "window_fill": f_win}))
    # HMAC: one vector of MACs per cycle; half input channels come in pairs (padding).
    f_h = fill(work.in_ch, 2) if half else 1.0
    candidates.append(("HMAC", vec * f_h, {"in_fill": f_h}))
    # VMAC (half, later poplibs): several depthwise groups side by side fill the vector.
    if half and s.vmac_available and work.depthwise:
        candidates.append(("VMAC", vec, {"in_fill": 1.0}))
    # ties: the plain vertex over the combined-groups one (fewer passes, no zero padding)
    return sorted(candidates, key=lambda c: (-c[1], c[2].get("groups_combined", 1)))


def cost(chip: Chip, work: Work, dtype: str, *, in_sram: bool, conv: ConvOptions = ConvOptions()) -> Phase:
    if conv.partials not in PARTIALS:
        raise ValueError(f"partials must be one of {', '.join(PARTIALS)}, got {conv.partials!r}")
    return _cost(_spec(chip), work, dtype, in_sram, conv)


@lru_cache(maxsize=COST_CACHE_SIZE)
def _cost(s: IpuSpec, work: Work, dtype: str, in_sram: bool, conv: ConvOptions) -> Phase:
    # pure in its frozen arguments (a spec, not the Chip: two chips with one spec cost alike)
    clock = s.clock_ghz * 1e9
    half = dtype == "fp16"
    partials = conv.partials
    pb = partial_bytes(dtype, partials)

    if work.matmul:
        vec_rate = s.vector_fp16_macs_per_cycle_per_tile if half else s.vector_fp32_macs_per_cycle_per_tile
        # poplibs plans every candidate vertex and keeps the cheapest plan (createPlan);
        # on equal cycles the earlier in its order of preference
        best = None
        for cand in vertex_candidates(s, work, dtype, partials):
            # a plan takes at least its useful MACs spread evenly over every tile at the
            # vertex's useful rate: a candidate that cannot beat the best so far is skipped
            if best is not None and work.macs / (s.tiles * cand[1]) >= best[0].cycles:
                continue
            p = _plan_for(s, work, dtype, conv, cand)
            if best is None or p.cycles < best[0].cycles:
                best = (p, cand)
        p, (vertex, rate, fills) = best
        tile_fill = p.tiles_used / s.tiles * p.worker_fill
        # partial sums are added in poplibs' reduce vertices (models.ipu_conv_program)
        reduce_cycles = p.reduce_cycles
        # float partials of a pass with no split reduction are cast to half in a compute set
        cast = half and pb == 4 and p.cp == 1
        cast_cycles_ = cast_cycles(s, work.c_bytes // 2) if cast else 0.0
        compute_s = (p.compute_cycles + reduce_cycles + cast_cycles_) / clock
        compute_s += work.vector_ops / (vec_rate * s.tiles * clock)  # bias adds on the vector unit
        reduction_b = p.reduction_bytes_per_tile * p.tiles_used
        exchange_b = p.exchange_in_bytes_per_tile * p.tiles_used + reduction_b
        exchange_s_override = (p.exchange_in_bytes_per_tile + p.reduction_bytes_per_tile) / s.exchange_b_per_cycle_per_tile / clock
        stages = reduce_stages(p.cp)
        supersteps = p.supersteps + cast
        # training passes also flip weights or regroup operands (models.ipu_conv_program)
        moved = rearrangement(s, work, dtype)
        compute_s += moved.transpose_cycles / clock
        exchange_b += moved.exchange_bytes
        exchange_s_override += moved.exchange_bytes / s.exchange_bw_b_s
        supersteps += moved.supersteps
        f = int(fills.get("groups_combined", 1))
        unit = f"{vertex} ({f} groups combined)" if f > 1 else vertex
        def plan_why(p=p) -> str:
            return (
                (f"{p.serial} serial steps (temporaries within {p.temp_limit_bytes:,.0f} B per tile) of " if p.serial > 1 else "")
                + f"{p.gp} group x {p.mp} row x {p.np} column x {p.cp} reduction splits on {p.tiles_used} tiles "
                f"(inputs replicated {p.np}x, weights {p.mp}x); {p.exchange_in_bytes_per_tile:,.0f} B in per tile; "
                f"{p.passes_per_tile} vertex passes per tile; {stages} reduction stage{'' if stages == 1 else 's'}; "
                f"{partials} partials ({pb} B){', cast to half in a compute set of their own' if cast else ''}; {moved.why}"
            )
    else:
        vec_rate = s.vector_fp16_macs_per_cycle_per_tile if half else s.vector_fp32_macs_per_cycle_per_tile
        elems = max(1, max(work.a_bytes, work.c_bytes) // (2 if half else 4))  # reductions: their input
        tile_fill = min(1.0, elems / (s.tiles * vec_rate))
        # each operation over the elements is one popops vertex per tile (models.ipu_elementwise)
        ops_s = work.vector_ops / elems * pass_cycles(s, elems, dtype) / clock
        mac_s = work.macs / (vec_rate * s.tiles * clock)  # squeeze-excite FCs: tiny, on vectors
        compute_s = ops_s + mac_s
        fills, vertex, rate = {}, "vector", vec_rate
        # element-wise work runs where the data already lives: only weights (SE, norm)
        # are broadcast; squeeze-excite also reduces its pooled sums across tiles.
        pooled_b = work.rows * work.reduction * PARTIAL_BYTES if work.launches > 1 else 0  # SE: batch x c sums
        exchange_b = work.b_bytes + pooled_b
        reduction_b = 0
        supersteps = max(1, work.launches)
        unit = "vector"
        exchange_s_override = None
        def plan_why() -> str:
            return "element-wise: computed where the data lives"

    sram_b = work.min_bytes + reduction_b
    sram_s = sram_b / (s.sram_bw_tb_s * 1e12)
    exchange_s = exchange_b / s.exchange_bw_b_s if exchange_s_override is None else exchange_s_override
    streaming_b = 0 if in_sram else work.min_bytes
    streaming_s = streaming_b / (s.streaming_bw_gb_s * 1e9)
    sync_s = supersteps * s.sync_cycles / clock
    # SRAM reads overlap the vertex's compute (they are its operand loads): the slower wins.
    on_tile_s = max(compute_s, sram_s)
    time_s = on_tile_s + exchange_s + streaming_s + sync_s
    by_bound = {
        "compute": compute_s if compute_s >= sram_s else 0.0,
        "memory": (sram_s if sram_s > compute_s else 0.0) + streaming_s,
        "exchange": exchange_s,
        "overhead": sync_s,
    }
    level = "sram" if in_sram else "streaming"
    by_level = {"sram": float(sram_b), "exchange": float(exchange_b), "streaming": float(streaming_b)}
    why_level = (
        "tensors fit the usable SRAM: read on-tile" if in_sram
        else "tensors exceed the usable SRAM: streamed over the streaming-memory link in their own phase"
    )
    def t() -> dict[str, Term]:  # built when first read (LazyTerms)
        return {
            "vertex": Term(rate, "MAC/cycle/tile", f"{unit}: useful MACs/cycle/tile after padding ({_fmt(fills)}); of the candidate vertices, the one with the cheapest plan"),
            "tile_fill": Term(tile_fill, "fraction", "tiles used / tiles x workers busy on each tile"),
            "plan": Term(float(supersteps), "supersteps", plan_why()),
            "compute_s": Term(compute_s, "s", "the busiest tile's MACs / (rate x worker fill) + vertex pass overheads + partial-sum adds, / clock"),
            "sram_s": Term(sram_s, "s", "compulsory bytes at SRAM bandwidth (overlaps compute)"),
            "exchange_bytes": Term(exchange_b, "B", "operands each tile needs (replicated by the plan) + partial sums of split reductions"),
            "exchange_s": Term(exchange_s, "s", "bytes one tile receives / (B/cycle/tile x clock): all tiles exchange at once"),
            "streaming_s": Term(streaming_s, "s", why_level),
            "sync_s": Term(sync_s, "s", f"{supersteps} supersteps x {s.sync_cycles:g} cycles barrier"),
        }
    return Phase(
        name=work.phase,
        time_s=time_s,
        flops=work.flops,
        vector_ops=work.vector_ops,
        bytes=float(sram_b if in_sram else streaming_b),
        bytes_by_level=MappingProxyType(by_level),
        time_by_bound=MappingProxyType(by_bound),
        bound=bound_of(by_bound),
        unit=unit,
        memory_level=level,
        terms=LazyTerms(t),
    )


def _plan_for(s: IpuSpec, work: Work, dtype: str, conv: ConvOptions, cand: tuple[str, float, dict[str, float]]):
    """The cheapest tile plan of this pass with one candidate vertex, its temporaries within
    the convolution's share of tile memory (availableMemoryProportion)."""
    vertex, rate, fills = cand
    half = dtype == "fp16"
    engines, _ = amp_units(s, dtype, conv.partials)
    pb = partial_bytes(dtype, conv.partials)
    per_pass = s.amp_fp16_input_channels_per_pass if half else s.amp_fp32_input_channels_per_pass
    # combined groups: plan the transformed conv (fewer, wider groups, zero weights
    # included in its MACs and weight bytes) at the vertex's raw rate
    f = int(fills.get("groups_combined", 1))
    groups, n, in_ch = work.groups // f, work.cols * f, work.in_ch * f
    macs, b_bytes, raw_rate = work.macs * f, work.b_bytes * f, rate * f
    n_units = -(-n // engines) if vertex == "AMP" else n
    if work.phase == "backward_weights":  # reduction over positions, split in chunks
        red_units = max(1, work.reduction // REDUCTION_CHUNK)
    else:  # reduction over input channels, in AMP passes
        red_units = -(-in_ch // per_pass)
    return plan(
        s.tiles, s.workers_per_tile, s.exchange_b_per_cycle_per_tile, _vector(s, pb),
        groups, work.rows, n_units, red_units, macs / (groups * work.rows * n_units * red_units),
        raw_rate, work.a_bytes, b_bytes, work.c_bytes // (2 if half else 4),
        taps=work.taps if vertex == "AMP" else 1,
        pass_overhead=AMP_PASS_OVERHEAD_CYCLES if vertex == "AMP" else VERTEX_OVERHEAD_CYCLES,
        partial_bytes=pb, tile_bytes=s.sram_per_tile_kib * 1024,
        memory_proportion=conv.available_memory_proportion,
    )


def _vector(s: IpuSpec, elem_bytes: int) -> float:
    """Vector-unit MACs (or adds) per cycle per tile on elements of this size."""
    return s.vector_fp16_macs_per_cycle_per_tile if elem_bytes == 2 else s.vector_fp32_macs_per_cycle_per_tile


def _spec(chip: Chip) -> IpuSpec:
    if not isinstance(chip.spec, IpuSpec):
        raise ValueError(f"chip {chip.id!r} is not an IPU (family {chip.family!r})")
    return chip.spec


def _fmt(fills: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in fills.items()) or "no padding"
