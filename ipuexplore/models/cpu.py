"""Cost of a pass on the host CPU, as the project's C engine runs it.

The engine vectorises a grouped conv over output channels when there are at least as many
output channels per group as SIMD lanes, and a depthwise conv along the output row
(DESIGN.md section 2). Data lives in L3 when the pass's tensors fit, else in DRAM. fp16
layers are costed in fp32 (the engine computes in fp32), but bytes follow the dtype asked.
"""

from __future__ import annotations

from functools import lru_cache
from types import MappingProxyType

from ipuexplore.hardware import Chip, CpuSpec

from .result import COST_CACHE_SIZE, LazyTerms, Phase, Term, bound_of
from .work import Work


def capacity_bytes(chip: Chip) -> float:
    return _spec(chip).dram_gb * 1e9


def cost(chip: Chip, work: Work, dtype: str) -> Phase:
    return _cost(_spec(chip), work, dtype)


@lru_cache(maxsize=COST_CACHE_SIZE)
def _cost(s: CpuSpec, work: Work, dtype: str) -> Phase:
    # pure in its frozen arguments (a spec, not the Chip: two chips with one spec cost alike)
    peak = s.peak_fp32_gflop_s * 1e9
    if work.matmul and not work.depthwise:
        simd_fill = min(1.0, work.out_ch / s.simd_fp32_lanes) if work.phase != "backward_weights" else min(1.0, work.n / s.simd_fp32_lanes)
        unit = "SIMD FMA (over output channels)"
    elif work.matmul:
        simd_fill, unit = 1.0, "SIMD FMA (along output rows)"
    else:
        simd_fill, unit = 1.0, "SIMD vector"
    in_l3 = work.min_bytes <= s.l3_mb * 1e6
    bw = (s.l3_bw_gb_s if in_l3 else s.dram_bw_gb_s) * 1e9
    compute_s = work.flops / (peak * simd_fill) + work.vector_ops / (peak / 2)
    memory_s = work.min_bytes / bw
    overhead_s = s.call_overhead_us * 1e-6
    time_s = max(compute_s, memory_s) + overhead_s
    by_bound = {
        "compute": compute_s if compute_s >= memory_s else 0.0,
        "memory": memory_s if memory_s > compute_s else 0.0,
        "exchange": 0.0,
        "overhead": overhead_s,
    }
    level = "l3" if in_l3 else "dram"
    def t() -> dict[str, Term]:  # built when first read (LazyTerms)
        return {
            "simd_fill": Term(simd_fill, "fraction", f"{unit}: lanes used of {s.simd_fp32_lanes}"),
            "compute_s": Term(compute_s, "s", "FLOPs / (peak x SIMD fill) + element-wise ops at half the FMA rate"),
            "memory_s": Term(memory_s, "s", f"compulsory bytes at {level.upper()} bandwidth"),
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
