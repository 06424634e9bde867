"""Cost of a pass on an NVIDIA GPU: kernels streaming tensors from HBM through L2 into SMs.

Mechanisms, each a named term:

- **compute unit**: tensor cores only when the channels per group (input and output) are
  multiples of 8 in fp16 or 4 in TF32 (NVIDIA's convolution guide); otherwise CUDA cores at
  the FP32 rate. Depthwise layers run a direct CUDA-core kernel (as cuDNN and PyTorch do).
- **tile shape**: an implicit-GEMM kernel computes per group an ``m x n`` output in
  thread-block tiles of one of cuDNN's shapes (``TILE_SHAPES``; a tile no wider than the
  narrowest multiple of the MMA width 8 covering ``n``), the one giving the least time, as an
  autotuner picks kernels. Operands are re-read from L2 once per tile column / row: small
  groups mean narrow tiles and little reuse, so L2 traffic grows.
- **SM fill**: thread blocks / SMs, with wave quantisation when there are more blocks than
  SMs; split-K over long reductions fills idle SMs where that is faster despite its second
  (reduction) kernel.
- **memory level**: compulsory bytes come from HBM, except that a layer whose working set
  fits in L2 reads its input from L2 (the producing kernel just wrote it there).
- **depthwise weight gradient**: PyTorch's kernel re-reads both operands once per kernel
  tap (one thread block per weight), so its L2 traffic is r x s times the compulsory bytes.
- **fixed cost**: a launch per kernel.
- **the framework's kernels**: where a framework runs a layer as several ops of its own
  (PyTorch's squeeze-excite and its autograd; the clone autograd saves of an in-place SiLU's
  input), their bytes and launches replace the generic vector pass's
  (``gpu_kernels.framework_kernels``).
- **the software's kernels** (``gpu_kernels``; spec fields naming the GPU's software era):
  the reduction depth of a thread-block tile, depthwise kernels' measured fraction of DRAM
  bandwidth (forward and backward), cuDNN 7's per-group kernels and CUDA-core-only grouped
  convolutions, the NCHW <-> NHWC transposes around tensor-core convolutions of a
  framework that keeps activations NCHW, and the fused kernels of NVIDIA's MLPerf stack (norm
  statistics from the convolution, batch norm + addition + ReLU in one kernel, images padded
  to 4 channels for a tensor-core stem).

Compute and memory traffic overlap (the pipeline streams), so the pass takes the slowest of
compute, HBM and L2 time, plus launches and any layout transposes (kernels of their own, run
before the pass). Two memory levels and the fills above make this a roofline of its own
rather than ``roofline.roofline``'s single bandwidth.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from types import MappingProxyType

from ipuexplore.hardware import Chip, GpuSpec

from . import gpu_kernels as kern
from .result import COST_CACHE_SIZE, LazyTerms, Phase, Term, bound_of
from .roofline import round_up
from .work import Work

# Thread-block tiles (positions x output channels) of cuDNN's conv kernels, as profiles name
# them: volta_fp16_s884cudnn_fp16_256x128_ldg8_... (NVIDIA/apex#666),
# volta_fp16_s884cudnn_fp16_256x64_ldg8_... and turing_..._256x128 / _256x64 (pytorch/pytorch
# #54324), volta_fp16_scudnn_fp16_128x64_... (apache/mxnet#9774), 128x128 (CUTLASS's
# default, volta_fp16_s884cudnn_fp16_128x128_..._splitK_...), and cuBLAS's smaller tiles for
# small GEMMs (volta_h884gemm_64x64_ldg8_nn; volta_sgemm_128x32_nn, volta_sgemm_64x32_sliced1x4_nn,
# volta_sgemm_32x32_sliced1x4_tn in TensorFlow and PyTorch profiles). An autotuner (cudnn.benchmark,
# TF's autotune) runs the fastest; the model takes the tile shape with the least time. A
# GEMM narrower than a shape gets the narrowest tile that covers it (multiples of MMA_N).
# MMA instructions are 8 wide in N on sm70/sm80 (mma.m8n8k4, mma.m16n8k16: PTX ISA).
TILE_SHAPES = ((256, 128), (256, 64), (128, 128), (128, 64), (128, 32), (64, 64), (64, 32), (32, 32))
MMA_N = 8
SPLIT_K_MIN = 64  # shortest reduction chunk a split-K kernel gives one block (assumption)


def capacity_bytes(chip: Chip) -> float:
    return _spec(chip).hbm_gb * 1e9


def l2_bytes(chip: Chip) -> float:
    return _spec(chip).l2_mb * 1e6


def compute_unit(s: GpuSpec, work: Work, dtype: str) -> tuple[str, float, str]:
    """(unit, peak FLOP/s, why) for this pass's channel shape."""
    cg, kg = kern.channels_per_group(work)
    if work.depthwise:
        return "CUDA cores (direct depthwise)", s.peak_fp32_tflop_s * 1e12, "depthwise: 1 channel per group, no matrix to feed tensor cores"
    if kern.grouped_without_tensor_cores(s, work):
        why = "this software's grouped convolutions run on CUDA cores (cuDNN 7: pytorch/pytorch#10290)"
        return "CUDA cores", s.peak_fp32_tflop_s * 1e12, why
    if dtype == "fp16":
        if cg % 8 == 0 and kg % 8 == 0:
            return "tensor cores (fp16)", s.peak_fp16_tensor_tflop_s * 1e12, "channels per group are multiples of 8"
        if kern.stem_padding(s, work):
            why = (f"the images padded to {cg} channels for this stride-2 convolution (spec field stem_pad_channels): "
                   "tensor cores, the padded channel's MACs computed on zeros")
            return "tensor cores (fp16)", s.peak_fp16_tensor_tflop_s * 1e12, why
        why = f"channels per group ({cg} in, {kg} out) not multiples of 8: no tensor cores"
        return "CUDA cores", s.peak_fp32_tflop_s * 1e12, why
    if s.peak_tf32_tensor_tflop_s > 0 and cg % 4 == 0 and kg % 4 == 0:
        return "tensor cores (tf32)", s.peak_tf32_tensor_tflop_s * 1e12, "fp32 runs as TF32 (PyTorch's cuDNN default); channels per group multiples of 4"
    why = "no TF32 tensor cores on this GPU" if s.peak_tf32_tensor_tflop_s <= 0 else f"channels per group ({cg} in, {kg} out) not multiples of 4"
    return "CUDA cores", s.peak_fp32_tflop_s * 1e12, why


def cost(chip: Chip, work: Work, dtype: str, *, l2_resident: bool) -> Phase:
    return _cost(_spec(chip), work, dtype, l2_resident)


@lru_cache(maxsize=COST_CACHE_SIZE)
def _cost(s: GpuSpec, work: Work, dtype: str, l2_resident: bool) -> Phase:
    # pure in its frozen arguments (a spec, not the Chip: two chips with one spec cost alike)
    b = 2 if dtype == "fp16" else 4
    l2_bw = s.l2_bw_tb_s * 1e12

    flops = work.flops  # the layer's own FLOPs, whatever padding the kernel computes
    pad = kern.stem_padding(s, work) if dtype == "fp16" else 0
    if pad:
        work = kern.padded_stem(work, pad)
    # Compulsory traffic; an L2-resident input was just written by the producing kernel.
    hbm_b = work.min_bytes - (work.a_bytes if l2_resident else 0)
    own = kern.framework_kernels(s, work)  # the framework's own kernels (squeeze-excite's ops, fusions)
    if own is not None:
        hbm_b = own[0] - (min(work.a_bytes, own[0]) if l2_resident else 0)
        if not own[1]:  # no kernel at all: nothing to compute either
            work = replace(work, macs=0, vector_ops=0)
            flops = 0
    tensor = False
    loop = kern.group_loop(s, work)
    if work.matmul and not work.depthwise:
        unit, peak, why_unit = compute_unit(s, work, dtype)
        tensor = unit.startswith("tensor")
        eff = s.tensor_core_efficiency if tensor else s.cuda_core_efficiency
        best = None
        tried = set()
        for max_m, max_n in TILE_SHAPES:
            key = (min(max_m, work.rows), min(max_n, work.cols))  # small GEMMs: several shapes coincide
            if key in tried:
                continue
            tried.add(key)
            shape = _tile_shape(s, work, b, hbm_b, peak * eff, tensor, max_m, max_n, loop)
            if best is None or shape[0] < best[0]:
                best = shape
        _, tile_m, tile_n, shape_fill, blocks, split_k, l2_b = best
        kernels = work.launches * (work.groups if loop else 1) + (1 if split_k > 1 else 0)  # split-K reduces in a second kernel
    else:
        if work.matmul:
            unit, peak, why_unit = compute_unit(s, work, dtype)
        else:
            unit, peak, why_unit = "CUDA cores", s.peak_fp32_tflop_s * 1e12, "element-wise work"
        tile_n = tile_m = 1
        shape_fill = 1.0
        # one block per ~1K elements of the larger side (a reduction parallelises over its input)
        blocks = max(1, max(work.a_bytes, work.c_bytes) // (b * 1024))
        split_k = 1
        l2_b = own[0] if own is not None else work.min_bytes  # direct kernels tile through shared memory: operands once
        if work.depthwise and work.phase == "backward_weights":
            # PyTorch's conv_depthwise2d_grad_weight_kernel (aten/src/ATen/native/cuda/
            # DepthwiseConv2d.cu) gives each block one (channel, kh, kw) weight: every block
            # re-reads its channel's input and output-gradient planes, r x s times in all.
            l2_b = work.rows * (work.a_bytes + work.b_bytes) + work.c_bytes
        eff = s.cuda_core_efficiency
        kernels = own[1] if own is not None else work.launches
    red_fill = kern.reduction_fill(work, tensor) if work.matmul and not work.depthwise else 1.0
    serial = work.groups if loop else 1
    waves, sm_fill, compute_s, hbm_s, l2_s = _times(s, work, blocks, split_k, peak * eff * shape_fill * red_fill, hbm_b, l2_b, serial)
    # a framework's depthwise kernel that is latency-bound rather than bandwidth-bound moves
    # its operands at a fraction of DRAM bandwidth wherever they live (spec fields, sourced)
    dw_eff = kern.depthwise_bw_efficiency(s, work, dtype)
    depthwise_s = work.min_bytes / (s.hbm_bw_gb_s * 1e9 * dw_eff) if dw_eff else 0.0
    # NCHW activations transposed to NHWC for tensor cores and the result back, in kernels of their own
    t_bytes, t_kernels = kern.transposed_bytes(s, work, tensor, dtype)
    transpose_s = t_bytes / (s.hbm_bw_gb_s * 1e9 * s.hbm_efficiency)
    kernels += t_kernels
    launch_s = kernels * s.launch_overhead_us * 1e-6
    slowest_mem = max(hbm_s, l2_s, depthwise_s)
    time_s = max(compute_s, slowest_mem) + transpose_s + launch_s
    by_bound = {
        "compute": compute_s if compute_s >= slowest_mem else 0.0,
        "memory": (slowest_mem if slowest_mem > compute_s else 0.0) + transpose_s,
        "exchange": 0.0,
        "overhead": launch_s,
    }
    level = "l2" if l2_resident and max(l2_s, depthwise_s) >= hbm_s else "hbm"
    def t() -> dict[str, Term]:  # built when first read (LazyTerms)
        terms = {
            "unit_peak_flop_s": Term(peak, "FLOP/s", f"{unit}: {why_unit}"),
            "efficiency": Term(eff, "fraction", "achievable fraction of the unit's peak (chip file, with source)"),
            "shape_fill": Term(shape_fill, "fraction", f"per-group GEMM {work.rows}x{work.cols} in {tile_m}x{tile_n} tiles "
                               "(tensor cores; CUDA cores only in per-group kernels, whose narrowest tile is 32 wide)"),
            "reduction_fill": Term(red_fill, "fraction", f"reduction of {work.reduction} in thread-block chunks of "
                                   f"{kern.K_TILE_TENSOR if tensor else kern.K_TILE_SIMT} (CUTLASS tile depth)"),
            "sm_fill": Term(sm_fill, "fraction", f"{blocks} blocks x split-K {split_k} over {s.sms} SMs in {waves} wave(s)"
                            + (f"; {serial} groups run one kernel each (cuDNN 7 has grouped kernels only for 1, 2 or 4 channels per group)" if loop else "")),
            "compute_s": Term(compute_s, "s", "FLOPs / (peak x efficiency x shape fill x reduction fill x SM fill) + element-wise ops"),
            "hbm_s": Term(hbm_s, "s", "compulsory bytes / (HBM bandwidth x efficiency)" + ("; input read from L2" if l2_resident else "")),
            "l2_s": Term(l2_s, "s", _l2_why(work, tile_m, tile_n, l2_b, l2_bw)),
            "launch_s": Term(launch_s, "s", f"{kernels} kernel launch(es) x {s.launch_overhead_us:g} us"),
        }
        if own is not None:
            why_own = kern.framework_why(s, work, own[0], kernels)
            terms["framework_kernels"] = Term(float(kernels), "kernels", why_own)
        if dw_eff:
            terms["depthwise_s"] = Term(depthwise_s, "s", f"the depthwise kernel moves its {work.min_bytes / 1e6:.3g} MB at "
                                        f"{dw_eff:.3g} of DRAM bandwidth, wherever they live (spec fields depthwise_bw_efficiency "
                                        "/ depthwise_grad_bw_efficiency; at most SMs x depthwise_gb_s_per_sm, a latency-bound "
                                        "kernel's bytes in flight per SM: Little's law)"
                                        + ("; the framework's own kernel, not the library's: fp32 kept NCHW (spec fields "
                                           "depthwise_native_slowdown / depthwise_native_grad_slowdown)"
                                           if kern.native_depthwise(s, dtype) else ""))
        if t_kernels:
            terms["layout_transpose_s"] = Term(transpose_s, "s", f"{t_bytes / 1e6:.3g} MB read and written by {t_kernels} "
                                               "NCHW <-> NHWC transpose kernel(s) around the tensor-core pass (spec fields nchw_layout, "
                                               "nchw_layout_fp32 for fp32 runs)")
        return terms
    return Phase(
        name=work.phase,
        time_s=time_s,
        flops=flops,
        vector_ops=work.vector_ops,
        bytes=float(hbm_b + t_bytes),
        bytes_by_level=MappingProxyType({"hbm": float(hbm_b + t_bytes), "l2": float(l2_b)}),
        time_by_bound=MappingProxyType(by_bound),
        bound=bound_of(by_bound),
        unit=unit,
        memory_level=level,
        terms=LazyTerms(t),
    )


def _tile_shape(s: GpuSpec, work: Work, b: int, hbm_b: float, unit_peak: float, tensor: bool,
                max_m: int, max_n: int, loop: bool) -> tuple[float, int, int, float, int, int, float]:
    """(time, tile_m, tile_n, shape fill, blocks, split-K, L2 bytes) of the tiled pass with
    thread-block tiles of at most ``max_m`` x ``max_n`` (``loop``: one kernel per group)."""
    narrowest = kern.narrowest_tile(tensor, loop, MMA_N)
    tile_n = min(max_n, round_up(work.cols, narrowest))
    tile_m = min(max_m, round_up(work.rows, MMA_N))
    padded = tensor or narrowest > 1  # CUDA-core kernels built for small groups do not pad
    shape_fill = (work.cols / round_up(work.cols, tile_n)) * (work.rows / round_up(work.rows, tile_m)) if padded else 1.0
    blocks = work.groups * -(-work.rows // tile_m) * -(-work.cols // tile_n)
    # tiled GEMM traffic into the SMs: A re-read per tile column, B per tile row
    tiled_b = work.groups * (
        work.rows * work.reduction * -(-work.cols // tile_n) + work.cols * work.reduction * -(-work.rows // tile_m)
    ) * b
    rate = unit_peak * shape_fill * kern.reduction_fill(work, tensor)
    serial = work.groups if loop else 1
    kernels = work.launches * serial
    time = _pass_time(s, work, blocks, 1, rate, hbm_b, tiled_b + work.c_bytes, kernels, serial)
    split_k = max(1, min(-(-s.sms * serial // blocks), work.reduction // SPLIT_K_MIN))
    if split_k > 1:
        # split-K fills idle SMs but writes partial sums and reduces them in a second
        # kernel; an autotuner (cudnn.benchmark, TF's autotune) keeps it only if faster
        split = _pass_time(s, work, blocks, split_k, rate, hbm_b, tiled_b + work.c_bytes * split_k, kernels + 1, serial)
        if split < time:
            time = split
        else:
            split_k = 1
    return time, tile_m, tile_n, shape_fill, blocks, split_k, tiled_b + work.c_bytes * split_k


def _times(s: GpuSpec, work: Work, blocks: int, split_k: int, unit_rate: float, hbm_b: float,
           l2_b: float, serial: int = 1) -> tuple[int, float, float, float, float]:
    """(waves, SM fill, compute, HBM and L2 seconds) of a pass run as ``blocks`` x ``split_k``
    thread blocks at ``unit_rate`` (the unit's FLOP/s x efficiency x fills), in ``serial``
    kernels that run one after another (each with an equal share of the blocks)."""
    per_kernel = -(-blocks // serial)
    waves = serial * -(-per_kernel * split_k // s.sms)
    sm_fill = blocks * split_k / (waves * s.sms)
    # element-wise ops are one op each, at half the FMA-counted FLOP rate of the CUDA cores
    vec_s = work.vector_ops / (s.peak_fp32_tflop_s * 1e12 / 2 * s.cuda_core_efficiency * sm_fill)
    compute_s = work.flops / (unit_rate * sm_fill) + vec_s
    return waves, sm_fill, compute_s, hbm_b / (s.hbm_bw_gb_s * 1e9 * s.hbm_efficiency), l2_b / (s.l2_bw_tb_s * 1e12)


def _pass_time(s: GpuSpec, work: Work, blocks: int, split_k: int, unit_rate: float, hbm_b: float,
               l2_b: float, kernels: int, serial: int) -> float:
    """A tiled pass's time for one split-K choice, combined as ``_cost`` combines it."""
    _, _, compute_s, hbm_s, l2_s = _times(s, work, blocks, split_k, unit_rate, hbm_b, l2_b, serial)
    return max(compute_s, hbm_s, l2_s) + kernels * s.launch_overhead_us * 1e-6


def _l2_why(work: Work, tile_m: int, tile_n: int, l2_b: float, l2_bw: float) -> str:
    """Why the L2 traffic is what it is, in the pass's own numbers."""
    if work.matmul and not work.depthwise:
        return (
            f"{l2_b / 1e6:.3g} MB through L2 at {l2_bw / 1e12:g} TB/s: implicit GEMM reads each input "
            f"element once per kernel tap ({work.taps}) and per {tile_n}-wide tile column "
            f"({-(-work.cols // tile_n)}), each weight once per {tile_m}-row tile ({-(-work.rows // tile_m)})"
        )
    if work.depthwise and work.phase == "backward_weights":
        return f"{l2_b / 1e6:.3g} MB through L2: the weight-gradient kernel re-reads its planes once per kernel tap"
    return f"{l2_b / 1e6:.3g} MB through L2: a direct kernel reads each operand once"


def _spec(chip: Chip) -> GpuSpec:
    if not isinstance(chip.spec, GpuSpec):
        raise ValueError(f"chip {chip.id!r} is not a GPU (family {chip.family!r})")
    return chip.spec
