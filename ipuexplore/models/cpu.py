"""Cost of a pass on the host CPU, as the project's C engine runs it.

Mechanisms, each a named term, read from the engine (``csrc/src/conv.c`` ``pick_kernel``,
``kernel_row.c``; DESIGN.md section 2; names as in docs/GLOSSARY.md):

- **kernel**: the engine kernel per layer: the row kernel's 3x3 depthwise path ("row:dw3")
  for one channel per group with a 3x3, stride-1, undilated kernel (``row_uses_dw3``; the
  engine reports it as "row"), the channel kernel (vectorised
  over output channels: pixels x 16 channels per register block) when a group has at least 8
  input and 8 output channels, else the row kernel (vectorised along the output row, a few
  output channels sharing each input load); a forward 1x1 convolution on a map with at least
  8 input and 8 output channels per group runs the channel kernel's 1x1 path ("pointwise",
  ``kernel_pointwise.c``: pixels in vectors, output channels in registers), and depthwise
  layers off the 3x3 stride-1 path the row kernel's other depthwise paths or, on small maps,
  the channel-blocked kernel (``kernel_nchwc.c``), costed as "row:dw5" (5x5 stride 1) and
  "row:dw-s2" (stride 2, 3x3 or 5x5: the exchange splits rows into phases); one group of fewer than 8 input and at least 8
  output channels (a stem) is lowered to a matrix product over K = c*r*s on im2col rows
  ("gemm"), or with a window larger than 3x3 runs the channel kernel. Backward data runs the forward kernels on
  the transposed layer; backward weights runs channel blocks (``backward_weights.c``: at least
  8 input and a multiple of 8 output channels per group, stride 1 across) or else row blocks.
- **lane fill**: the channel kernel fills its 8 lanes with output channels (k/g of 8); the
  row kernel (either path) fills them with output pixels, rows padded to a multiple of 8
  (q of round_up(q, 8)).
- **kernel efficiency**: the fraction of the FMA peak each kernel reaches beyond those fills.
  Not derivable from first principles on a shared 2-vCPU VM: *fitted* to the engine's own
  forward-pass timings (host.toml names the run, shapes and commit); a spec without them
  gets an ideal kernel (1.0).
- **bulk-synchronous phases**: each worker copies its inputs and weights into tile memory,
  computes from it, writes its outputs, then waits at a barrier; the phases do not overlap,
  so their times add. Copies run at L3 bandwidth when the pass's tensors fit the L3, else at
  DRAM bandwidth.
- **fixed cost**: a dispatch to the worker pool per pass.
- **exp-based activations** (spec field ``exp_activation_ns``): SiLU / swish and sigmoid cost
  the engine an exp polynomial and a division per element (``activations.h``), measured per
  element and core (``scripts/fit_host_model.py``), where the element-wise count says 4 ops.
- **fused epilogues** (spec field ``fused_epilogues``; inference only): a network runs as the
  engine's fused session (``networks.HostSession``, ``session_plan.py``): batch norm is folded
  into the convolution's weights (no pass), an activation the engine knows runs in the
  convolution's write (its element-wise ops, no memory pass, no dispatch), a residual addition
  reads its addend in that write (one input, no output pass, no dispatch), and squeeze-excite
  keeps only its two small FCs (the pooling is summed in the depthwise write, the scale applied
  in the next convolution's exchange). Group norm and other activations stay passes of their
  own, as the session runs them.

fp16 layers are costed in fp32 (the engine computes in fp32), but bytes follow the dtype asked.
Backward passes use the efficiency of the kernel family that runs them (fitted to forward
timings only).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from types import MappingProxyType

from ipuexplore.hardware import Chip, CpuSpec
from ipuexplore.layers import dtype_bytes

from .result import COST_CACHE_SIZE, LazyTerms, Phase, Term, bound_of
from .roofline import fill, roofline
from .work import Work

CHANNEL_KERNEL_MIN_IN = 8  # pick_kernel: channel kernel when c/g >= 8 and k/g >= 8
CHANNEL_KERNEL_MIN_OUT = 8


def capacity_bytes(chip: Chip) -> float:
    return _spec(chip).dram_gb * 1e9


IM2COL = "gemm"  # a stem on im2col rows through the pointwise kernel's compute (kernel_pointwise.c ipx__im2col_kernel)
ROW_DW3 = "row:dw3"  # the row kernel's own path for 3x3 depthwise layers (kernel_row.c row_uses_dw3)
# depthwise 5x5 stride 1, and stride 2 (3x3 or 5x5): kernel_row.c row_dw_kind, kernel_nchwc.c on small maps
DW_5X5, DW_STRIDED = "row:dw5", "row:dw-s2"
POINTWISE = "pointwise"  # the channel kernel's 1x1 path (kernel_pointwise.c)


def kernel_for(work: Work) -> str:
    """The engine kernel that runs this pass: 'channel', 'row' or its 3x3 depthwise path
    'row:dw3' ('vector' for element-wise work)."""
    if not work.matmul:
        return "vector"
    if work.depthwise:
        # kernel_row.c row_uses_dw3: its own path for 3x3, stride 1, dilation 1; other
        # depthwise convs run the generic row kernel
        if work.taps == 9 and work.kernel_w == 3 and work.unit_stride and work.phase == "forward":
            return ROW_DW3
        if work.phase == "forward" and work.kernel_w in (3, 5) and work.taps == work.kernel_w ** 2:
            return DW_5X5 if work.unit_stride else DW_STRIDED
        return "row"
    if work.phase == "backward_weights":
        # backward_weights.c: c/g >= 8 (out_ch here), k/g (n) whole 8-channel vectors, stride 1
        # across (unit_stride: the Work does not keep the horizontal stride apart)
        return "channel" if work.out_ch >= 8 and work.cols % 8 == 0 and work.unit_stride else "row"
    if work.in_ch >= CHANNEL_KERNEL_MIN_IN and work.out_ch >= CHANNEL_KERNEL_MIN_OUT:
        # a 1x1 convolution on a map (not a linear layer's 1x1 "map") runs the pointwise path
        return POINTWISE if work.taps == 1 and work.row > 1 and work.phase == "forward" else "channel"
    # pick_kernel's stem lowering: one group, fewer than 8 input channels, not on a
    # backward-data geometry with zeros between rows (stride > 1); windows past 3x3 (a 7x7
    # stem) run the channel kernel on the padded rows instead
    if work.groups == 1 and work.out_ch >= CHANNEL_KERNEL_MIN_OUT and (work.phase == "forward" or work.unit_stride):
        return IM2COL if work.taps <= 9 else "channel"
    return "row"


# The activations computed through exp (activations.h: sigmoid_denominator)
EXP_ACTS = frozenset({"silu", "swish", "sigmoid"})
# The activations the engine applies in a convolution's write (ipx_activation)
FUSED_ACTS = frozenset({"relu", "relu6", "silu", "swish", "sigmoid", "hardswish"})


def fused_pass(s: CpuSpec, work: Work) -> tuple[Work, str] | None:
    """The part of this pass the fused session still runs, and why (None: not fused)."""
    if not s.fused_epilogues or work.train or work.phase != "forward" or work.matmul:
        return None
    if work.kind == "norm" and work.op == "batch":
        return replace(work, vector_ops=0, a_bytes=0, b_bytes=0, c_bytes=0), \
            "batch norm folded into the convolution's weights and bias: no pass"
    if work.kind == "act" and work.op in FUSED_ACTS:
        return replace(work, a_bytes=0, b_bytes=0, c_bytes=0), \
            f"{work.op} applied in the convolution's write: its element-wise ops, no pass over memory"
    if work.kind == "add":
        return replace(work, a_bytes=work.a_bytes // 2, c_bytes=0), \
            "residual addition in the convolution's write: the addend read, no pass of its own"
    if work.kind == "se":
        return replace(work, a_bytes=0, c_bytes=0), \
            "squeeze-excite's pooling summed in the depthwise write and its scale applied in the next convolution's exchange: its FCs remain"
    return None


def cost(chip: Chip, work: Work, dtype: str) -> Phase:
    return _cost(_spec(chip), work, dtype)


@lru_cache(maxsize=COST_CACHE_SIZE)
def _cost(s: CpuSpec, work: Work, dtype: str) -> Phase:
    # pure in its frozen arguments (a spec, not the Chip: two chips with one spec cost alike)
    peak = s.peak_fp32_gflop_s * 1e9
    lanes = s.simd_fp32_lanes
    exp_act = s.exp_activation_ns and work.kind == "act" and work.op in EXP_ACTS
    elements = work.c_bytes // dtype_bytes(dtype) if exp_act else 0  # the outputs, before a fusion moves them
    fused = fused_pass(s, work)
    if fused is not None:
        work, why_fused = fused
    kernel = kernel_for(work)
    borrowed = ""  # a path without a fitted figure of its own: whose it costs at instead
    if kernel == POINTWISE:
        lane_fill = 1.0  # pixels in 16-float vectors over the whole map, the last few alone (pw_tail_pixel)
        eff = s.pointwise_kernel_efficiency or s.channel_kernel_efficiency
        borrowed = "" if s.pointwise_kernel_efficiency else "not fitted to this kernel: the channel kernel's"
        unit = "channel kernel's 1x1 path (SIMD over output pixels)"
        why_fill = "pixels of the whole map in vectors"
    elif kernel == "channel":
        # lanes hold output channels; for weight gradients those are the layer's k/g (n)
        chans = work.cols if work.phase == "backward_weights" else work.out_ch
        lane_fill = fill(chans, lanes)
        eff = s.channel_kernel_efficiency
        unit = "channel kernel (SIMD over output channels)"
        why_fill = f"{chans} output channels per group in {lanes}-lane vectors"
    elif kernel == IM2COL:
        # the pointwise kernel's register block over pixels; its efficiency is not fitted on its
        # own: assumed the channel kernel's (the fitted dense kernel), which says so in --why
        lane_fill = fill(max(1, work.row), lanes)
        eff = s.channel_kernel_efficiency
        borrowed = "not fitted to this kernel: the channel kernel's"
        unit = "im2col + GEMM (SIMD over output pixels)"
        why_fill = f"rows of {max(1, work.row)} outputs in {lanes}-lane vectors"
    elif kernel in ("row", ROW_DW3, DW_5X5, DW_STRIDED):
        row = max(1, work.row)
        lane_fill = fill(row, lanes)
        # each depthwise path's own fitted figure (0: not fitted) and its name in --why
        own, path = {ROW_DW3: (s.depthwise_kernel_efficiency, ", 3x3 depthwise path"),
                     DW_5X5: (s.depthwise_5x5_efficiency, ", 5x5 depthwise path"),
                     DW_STRIDED: (s.depthwise_strided_efficiency, ", strided depthwise paths")
                     }.get(kernel, (s.row_kernel_efficiency, ""))
        eff = own or s.row_kernel_efficiency
        borrowed = "" if own else "not fitted to this path: the row kernel's"
        unit = f"row kernel{path} (SIMD along output rows)"
        why_fill = f"rows of {row} outputs in {lanes}-lane vectors"
    else:
        lane_fill, eff, unit, why_fill = 1.0, 1.0, "SIMD vector", "element-wise"
    in_l3 = work.min_bytes <= s.l3_mb * 1e6
    bw = (s.l3_bw_gb_s if in_l3 else s.dram_bw_gb_s) * 1e9
    # The roofline's two sides, at the peak this kernel reaches and the level the data is in;
    # their max is not the time: the bulk-synchronous phases do not overlap, so they add.
    roof = roofline(work.flops, work.min_bytes, peak * eff * lane_fill, bw)
    if exp_act:  # the engine's measured cost per element, on every core
        compute_s = roof.compute_s + elements * s.exp_activation_ns * 1e-9 / s.cores
    else:
        compute_s = roof.compute_s + work.vector_ops / (peak / 2)
    memory_s = roof.memory_s
    exchange_s = (work.a_bytes + work.b_bytes) / bw  # copied into tile memory
    write_s = memory_s - exchange_s
    # a fused epilogue is no call of its own (squeeze-excite's FCs are: a session step)
    overhead_s = 0.0 if fused is not None and work.kind != "se" else s.call_overhead_us * 1e-6
    time_s = compute_s + memory_s + overhead_s
    by_bound = {
        "compute": compute_s,
        "memory": memory_s,
        "exchange": 0.0,
        "overhead": overhead_s,
    }
    level = "l3" if in_l3 else "dram"

    def t() -> dict[str, Term]:  # built when first read (LazyTerms)
        fused_term = {"fused": Term(1.0, "flag", why_fused + " (spec field fused_epilogues)")} if fused else {}
        return {**fused_term,
            "kernel_efficiency": Term(eff, "fraction", f"{unit}: fraction of the FMA peak it reaches " + (
                f"({borrowed}, assumed)" if borrowed else "(fitted to engine timings; host.toml)")),
            "simd_fill": Term(lane_fill, "fraction", why_fill),
            "compute_s": Term(compute_s, "s", f"{elements:,} outputs x {s.exp_activation_ns:g} ns per element per core "
                              f"(spec field exp_activation_ns: the engine's exp and division) / {s.cores} cores" if exp_act else
                              "FLOPs / (peak x kernel efficiency x SIMD fill) + element-wise ops at half the FMA rate"),
            "exchange_s": Term(exchange_s, "s", f"inputs and weights copied into tile memory at {level.upper()} bandwidth"),
            "write_s": Term(write_s, "s", f"outputs written at {level.upper()} bandwidth"),
            "memory_s": Term(memory_s, "s", "exchange + write: bulk-synchronous phases, not overlapped with compute"),
            "overhead_s": Term(overhead_s, "s", "dispatch to the worker pool"),
        }

    return Phase(
        name=work.phase,
        time_s=time_s,
        flops=work.flops,
        vector_ops=work.vector_ops,
        bytes=float(work.min_bytes),
        bytes_by_level=MappingProxyType({level: float(work.min_bytes)}),
        time_by_bound=MappingProxyType(by_bound),
        bound=bound_of(by_bound),
        unit=unit,
        memory_level=level,
        terms=LazyTerms(t),
    )


def _spec(chip: Chip) -> CpuSpec:
    if not isinstance(chip.spec, CpuSpec):
        raise ValueError(f"chip {chip.id!r} is not a CPU (family {chip.family!r})")
    return chip.spec
