"""Cost of a pass on a Graphcore IPU: bulk-synchronous supersteps over tiles with local SRAM.

Structure after poplibs' planner (``lib/poplin/ConvModel.cpp``: cycles = per-tile compute +
exchange + reductions), simplified and written from its documented rules:

- **vertex (compute unit)**: the planner picks the vertex with the most useful MACs/cycle
  after padding (``sortConvVertexTypeCandidates``): AMP when the channels per group fill its
  16-input-channel (fp16) passes, SLIC (1x4 sliding window, IPU2) and HMAC (vector width)
  otherwise. Rates per tile come from the chip file.
- **tile fill**: work is split into independent units (positions x groups x output-channel
  chunks x input-channel chunks); fewer units than the IPU's worker threads leave tiles idle.
- **memory level**: when the layer's tensors fit the usable SRAM they are read at SRAM
  bandwidth (no DRAM term: poplibs has none); otherwise every byte also crosses the
  streaming-memory link in its own phase (BSP: not overlapped).
- **exchange**: each operand crosses the tile-to-tile exchange once (activations arrive laid
  out by the producing layer, weights are broadcast to the tiles of their group), plus the
  partial sums of a reduction split across tiles (the weight-gradient pass).
- **sync**: one barrier per superstep (exchange, compute, reduce).

Phases of a superstep do not overlap, so the times add. Halos and layout rearrangement
costs beyond "once" are ignored: the exchange term is a lower bound.
"""

from __future__ import annotations

from types import MappingProxyType

from ipuexplore.hardware import Chip, IpuSpec

from .result import Phase, Term, bound_of
from .roofline import fill, round_up
from .work import Work

PARTIAL_BYTES = 4  # poplibs accumulates partial sums in fp32 (floatPartials default)
MIN_REDUCTION_CHUNK = 64  # positions per tile below which splitting a reduction stops paying (assumption)


def capacity_bytes(chip: Chip) -> float:
    s = _spec(chip)
    return s.sram_total_bytes * s.sram_usable_fraction


def select_vertex(s: IpuSpec, work: Work, dtype: str) -> tuple[str, float, dict[str, float]]:
    """(vertex name, useful MACs/cycle/tile, fills) chosen as poplibs' planner orders them."""
    half = dtype == "fp16"
    vec = s.vector_fp16_macs_per_cycle_per_tile if half else s.vector_fp32_macs_per_cycle_per_tile
    candidates: list[tuple[str, float, dict[str, float]]] = []
    # AMP: input channels per pass must divide 16 (8 fp32) and keep 64-bit aligned loads,
    # i.e. a multiple of 4 half / 2 float; output channels come in multiples of the engines.
    amp_peak = s.amp_fp16_macs_per_cycle_per_tile if half else s.amp_fp32_macs_per_cycle_per_tile
    per_pass = s.amp_fp16_input_channels_per_pass if half else s.amp_fp32_input_channels_per_pass
    engines = s.amp_fp16_conv_engines if half else s.amp_fp32_conv_engines
    align = 4 if half else 2
    padded_in = round_up(work.in_ch, align)
    f_in = work.in_ch / round_up(padded_in, per_pass)
    f_out = fill(work.out_ch, engines)
    candidates.append(("AMP", amp_peak * f_in * f_out, {"in_fill": f_in, "out_fill": f_out}))
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
    return max(candidates, key=lambda c: c[1])


def cost(chip: Chip, work: Work, dtype: str, *, in_sram: bool) -> Phase:
    s = _spec(chip)
    clock = s.clock_ghz * 1e9
    threads = s.tiles * s.workers_per_tile
    half = dtype == "fp16"

    if work.matmul:
        vertex, rate, fills = select_vertex(s, work, dtype)
        engines = s.amp_fp16_conv_engines if half else s.amp_fp32_conv_engines
        per_pass = s.amp_fp16_input_channels_per_pass if half else s.amp_fp32_input_channels_per_pass
        if work.phase == "backward_weights":
            # reduction over positions split across tiles in chunks, then reduced
            split = max(1, min(s.tiles, work.red // MIN_REDUCTION_CHUNK))
            units = work.groups * work.m * -(-work.out_ch // engines) * split
        else:
            split = 1
            units = work.m * work.groups * -(-work.out_ch // engines) * -(-work.in_ch // per_pass)
        tile_fill = min(1.0, units / threads)
        compute_s = work.macs / (rate * s.tiles * tile_fill * clock)
        vec_rate = (s.vector_fp16_macs_per_cycle_per_tile if half else s.vector_fp32_macs_per_cycle_per_tile)
        compute_s += work.vector_ops / (vec_rate * s.tiles * clock)  # bias adds on the vector unit
        reduction_b = work.c_bytes // (2 if half else 4) * PARTIAL_BYTES * (split - 1)
        exchange_b = work.min_bytes + reduction_b
        supersteps = 3 if split > 1 else 2
        unit = vertex
    else:
        vec_rate = s.vector_fp16_macs_per_cycle_per_tile if half else s.vector_fp32_macs_per_cycle_per_tile
        elems = max(1, work.c_bytes // (2 if half else 4))
        tile_fill = min(1.0, elems / (s.tiles * vec_rate))
        ops_s = work.vector_ops / (vec_rate * s.tiles * tile_fill * clock)
        mac_s = work.macs / (vec_rate * s.tiles * clock)  # squeeze-excite FCs: tiny, on vectors
        compute_s = ops_s + mac_s
        fills, vertex, rate = {}, "vector", vec_rate
        # element-wise work runs where the data already lives: only weights (SE, norm)
        # are broadcast; squeeze-excite also reduces its pooled sums across tiles.
        pooled_b = work.m * work.red * PARTIAL_BYTES if work.kernels > 1 else 0  # SE: batch x c sums
        exchange_b = work.b_bytes + pooled_b
        reduction_b = 0
        supersteps = max(1, work.kernels)
        unit = "vector"

    sram_b = work.min_bytes + reduction_b
    sram_s = sram_b / (s.sram_bw_tb_s * 1e12)
    exchange_s = exchange_b / s.exchange_bw_b_s
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
    t = {
        "vertex": Term(rate, "MAC/cycle/tile", f"{unit}: best useful MACs/cycle/tile after padding ({_fmt(fills)})"),
        "tile_fill": Term(tile_fill, "fraction", "independent work units / worker threads, capped at 1"),
        "compute_s": Term(compute_s, "s", "MACs / (rate x tiles x tile fill x clock)"),
        "sram_s": Term(sram_s, "s", "compulsory bytes at SRAM bandwidth (overlaps compute)"),
        "exchange_bytes": Term(exchange_b, "B", "operands once over the exchange + partial sums of split reductions"),
        "exchange_s": Term(exchange_s, "s", "exchange bytes / (B/cycle/tile x tiles x clock)"),
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
        terms=MappingProxyType(t),
    )


def _spec(chip: Chip) -> IpuSpec:
    if not isinstance(chip.spec, IpuSpec):
        raise ValueError(f"chip {chip.id!r} is not an IPU (family {chip.family!r})")
    return chip.spec


def _fmt(fills: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in fills.items()) or "no padding"
