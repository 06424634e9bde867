"""What a GPU's software does to a layer beyond the ideal kernel: the kernel-level terms of
``models.gpu``, each from measurements or the library's own code.

- **reduction fill**: a thread-block tile steps through the reduction in chunks of a fixed
  depth (CUTLASS ``default_gemm_configuration.h``: ``GemmShape<128, 256, 32>`` for Volta/Turing
  fp16 tensor ops, ``GemmShape<128, 128, 8>`` for SIMT); a reduction shorter than a chunk, as
  in a grouped 1x1 convolution with 16 channels per group, leaves the rest of it idle.
- **group loop**: cuDNN 7 has grouped kernels only for 1, 2 or 4 channels per group
  (cuDNN 7.0.4 release notes: grouped-convolution paths for those sizes); other group sizes
  run "in streams" one kernel per group (NVIDIA's description in caffe2 PR #1079), so each
  group's kernel fills the SMs with its own blocks only and pays its own launch; a generic
  CUDA-core GEMM tile is at least 32 outputs wide, so 8 or 16 channels per group use a
  quarter or half of it.
- **depthwise bandwidth**: direct depthwise kernels are latency-bound; they move their
  operands at a measured fraction of DRAM bandwidth (spec fields, sourced per chip file),
  backward kernels at a lower one than forward. A kernel that far below the DRAM roofline is
  limited by the bytes each SM keeps in flight (Little's law: rate = SMs x bytes in flight per
  SM / latency), so a measurement made on one GPU carries to another as a rate per SM: at most
  SMs x that rate, and at most the measured fraction of DRAM peak. A GPU with more bandwidth
  per SM (an A100: 2.27x a V100's bandwidth with 1.35x its SMs) gains less than its bandwidth.
- **layout transposes**: a framework that keeps activations NCHW (PyTorch before
  channels_last) has cuDNN transpose each tensor-core convolution's activation operand to
  NHWC in a kernel of its own and its result back to NCHW after (``nchwToNhwcKernel`` in
  cuDNN 7 profiles; NVIDIA's diagram, as MosaicML's channels_last method card reproduces it:
  transposed to NHWC before the convolution and back to NCHW after); each transpose reads and
  writes the tensor once. A weight gradient transposes both its activation operands. With
  channels_last activations PyTorch inserts none around depthwise kernels either: since
  pytorch/pytorch#38904 (replacing #38044, 2020) a channels-last depthwise convolution goes to
  cuDNN's NHWC kernels instead of being made contiguous (NCHW) for PyTorch's own kernel.
  Which runs are NCHW follows the framework's configs: PyTorch's default memory format is
  NCHW, and NVIDIA's DeepLearningExamples set ``memory_format: nhwc`` only for AMP runs
  (ConvNets configs.yml at 729963dd), so fp32/TF32 runs transpose (``nchw_layout_fp32``).
- **host dispatch**: an eager framework issues each op of the forward pass from the host
  (Python, the dispatcher, the launch); the GPU runs behind it and cannot get ahead, so a
  forward pass takes at least its ops x the host's time per op (``host_dispatch_us``, derived
  per machine from a published batch-1 latency, where the GPU's own work is a small part);
  an fp32 run's ops skip autocast (its dispatch key, the weight casts), so the same host
  issues them faster (``host_dispatch_fp32_us``, derived the same way from an fp32 row).
- **per-tensor optimizer**: PyTorch's optimizers before their foreach forms (torch.optim in
  1.9, ``torch/optim/_functional.py``) step each parameter tensor with a few kernels of its
  own, tiny for BN and bias vectors, so a network with many small tensors pays their launches,
  or the host's time to issue them (``host_op_us``) where that is longer: with AMP the step
  has just waited for the GPU (GradScaler), so nothing hides the optimizer's Python loop.
- **squeeze-excite under autograd**: PyTorch runs a squeeze-excite block as its separate ops
  (pool, two 1x1 convs with their bias kernels, activation, sigmoid, the scale ``s * x``) and
  differentiates each: the scale's backward writes ``grad * x`` at full size before reducing
  it over h x w, the pool's backward expands its gradient to full size, and x's two gradients
  are added by autograd. Counted kernel by kernel (``SE_KERNELS``), replacing the generic
  vector passes' bytes and launches.
- **gradient sums**: an addition's backward hands its gradient on without a kernel; the
  gradients of a tensor several layers read (a residual block's input) are added by autograd,
  one kernel per extra reader (``gradient_sums``; a step term).
- **in-place activations under autograd**: an in-place SiLU's gradient needs the input the op
  overwrites, so autograd clones it first: a copy kernel in every training forward.
- **AMP's casts and gradient unscale** (torch.cuda.amp): autocast casts each fp32 conv/linear
  weight and bias to fp16 once per forward, inference included (its cast cache lives as long as
  the autocast region), the cast's backward casts the fp16 gradient back to fp32, and GradScaler
  unscales every gradient and checks it for inf/NaN in multi-tensor kernels before the step; a
  framework keeping fp16 weights (apex O2: spec field ``fp16_weights``) casts nothing per forward.
- **no gradient for the images**: the input batch does not require grad, so the layers reading
  only the network's input never run their backward-data pass.
- **the images' own kernels**: the images reach the first layer in fp32, so autocast casts them
  to fp16 in every forward as it casts the weights (NVIDIA's loader and timm's benchmark both
  feed fp32); NVIDIA's PyTorch loader also makes each uint8 batch float and normalises it on
  the GPU, inside the timed step (spec field ``input_normalise_on_gpu``).

NVIDIA's MLPerf Training ResNet-50 stack (MXNet, mlcommons/training_results v1.1-v3.0
``NVIDIA/benchmarks/resnet/implementations/mxnet``) is a software era of its own; its spec
fields:

- **batch-norm statistics in the convolution** (``bn_stats_in_conv``): the symbols
  ``resnet-v1b-stats-fl.py`` / ``resnet-v1b-mainloop-fl.py`` build each bottleneck's
  convolutions as ``NormConvolution`` / ``NormalizedConvolution`` returning ``(out, sum,
  sum_squares)``, and ``BNStatsFinalize`` turns those per-channel sums into the norm's scale
  and bias (cuDNN's fused ``Scale_Bias_Activation_convolution_genStats`` pattern, NVIDIA's
  forum answer in 'Fusion of convolution and BatchNorm'): the norm reads its input once, to
  normalise it. (The stem's norm is a plain NHWC ``BatchNorm``; priced as the others.)
- **batch norm, addition and ReLU in one kernel** (``fused_bn_add_relu``): ``--fuse-bn-relu 1
  --fuse-bn-add-relu 1`` (run_and_time.sh), ``ScaleBiasAddRelu(..., fused_add=True,
  act_type='relu')`` ending each block and ``BatchNorm(act_type='relu')``; the NHWC kernel
  (apex contrib/csrc/groupbn/batch_norm_add_relu.h, the MXNet operator's code) keeps ReLU's
  mask as a bitmask and its backward ``dgrad`` writes both the input's and the addend's
  gradients. ReLU then costs nothing either way; the addition costs its addend's read forward
  and that gradient's write backward.
- **in-place gradient accumulation** (``grad_accumulate_in_place``): the container sets
  ``MXNET_EXEC_ENABLE_ADDTO=1`` (Dockerfile), so the second gradient of a block's input is
  added by the convolution producing it (it reads the first), not by an add kernel.
- **multi-tensor mixed-precision update** (``multi_tensor_update``): ``--dtype float16`` with
  fp32 master weights updated ``MXNET_OPTIMIZER_AGGREGATION_SIZE=54`` tensors per launch
  (config_DGXA100_common.sh), the loss scale folded into the update (``rescale_grad``) and the
  fp16 weights written by it: no per-forward weight casts, no separate unscale pass.
- **padded images** (``stem_pad_channels``): DALI pads the images to 4 channels
  (``--image-shape 4,224,224``, ``CropMirrorNormalize(pad_output=True)`` in common/dali.py) so
  the stride-2 stem runs on tensor cores (NVIDIA's convolution performance guide: 'padding to 4
  channels is sufficient if a stride of 2 is used'), computing zeros in the fourth channel.
- **norm applied in the next convolution's main loop** (``bn_apply_in_conv``, v3.0's
  ``resnet-v1b-mainloop-fl.py``): the second and third convolutions of a bottleneck are
  ``NormConvolution(conv, no_norm=False, in_sum=..., in_sum_squares=..., act_type='relu')``,
  which finalize the previous norm's sums and apply its scale, bias and ReLU to the operand as
  they load it: those norms have no forward kernel (``norms_applied_in_next_conv``).
- **CUDA graphs** (``cuda_graphs``): ``MXNET_ENABLE_CUDA_GRAPHS=1`` (config_DGXA100_common.sh)
  captures the forward and backward once and replays them, so no host issues the step's ops
  one by one: no host floor.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import replace

from ipuexplore.hardware import GpuSpec
from ipuexplore.layers import Layer, LayerKind

from .roofline import round_up
from .work import Work, input_gradient_skipped, passes  # noqa: F401  (input_gradient_skipped: re-exported)

K_TILE_TENSOR = 32  # CUTLASS Sm70/Sm75 tensor-op threadblock K (default_gemm_configuration.h)
K_TILE_SIMT = 8  # CUTLASS SIMT threadblock K (same file)
FAST_GROUP_SIZES = (1, 2, 4)  # cuDNN 7.0.4 release notes: grouped paths for these channels per group
# narrowest CUDA-core GEMM tile: cuBLAS's volta_sgemm_32x32_sliced1x4 / 64x32 / 128x32 and
# cuDNN's volta_scudnn_128x32 kernels (names in public profiles) are never narrower than 32
SIMT_NARROWEST_TILE = 32
# The optimizer's own ops per parameter tensor in PyTorch 1.9 (the 21.03 container of NVIDIA's
# published runs), torch/optim/_functional.py, with weight decay and momentum as NVIDIA's
# configs set them (DeepLearningExamples ConvNets configs.yml at 729963dd: ResNets ``sgd``,
# EfficientNets ``optimizer: rmsprop`` with momentum 0.9, image_classification/optimizers.py):
# ``sgd``: the weight decay add, momentum's mul_ and add_, the parameter's add_;
# ``rmsprop`` (not centred): the weight decay add, square_avg's mul_ and addcmul_, sqrt, add_
# eps, the buffer's mul_ and addcdiv_, the parameter's add_.
OPTIMIZER_OPS = {"momentum": 4, "rmsprop": 8}
# fp32 bytes per parameter the optimizer step reads and writes at least: master weights,
# gradients and its state read; weights and state written (AMP's fp16 copy is autocast's cast
# in the forward: amp_cast_s). Momentum keeps one state tensor, RMSprop two (square_avg and
# the momentum buffer).
OPTIMIZER_STATE_TENSORS = {"momentum": 1, "rmsprop": 2}


def optimizer_kernels(optimizer: str = "momentum") -> tuple[int, int]:
    """(kernels launched, ops the host issues) per parameter tensor of a training step under
    ``optimizer``. Kernels: the optimizer's ops, the gradient's zero_ (Optimizer.zero_grad, as
    DeepLearningExamples' training.py calls it at 729963dd) and autograd's AccumulateGrad add
    into it; launch-bound, their bytes are the weights', moved by the update term already.
    Host ops: those the host issues from Python after AMP's GradScaler.step() has waited for
    the GPU (``_maybe_opt_step`` reads found_inf with ``.item()``): the optimizer's and
    zero_grad's zero_ (AccumulateGrad runs inside the backward, hidden behind the GPU's work)."""
    if optimizer not in OPTIMIZER_OPS:
        raise ValueError(f"--optimizer {optimizer} is not modelled on GPUs: one of {', '.join(OPTIMIZER_OPS)}")
    ops = OPTIMIZER_OPS[optimizer]
    return ops + 1 + 1, ops + 1


def update_bytes_per_param(optimizer: str = "momentum") -> int:
    """fp32 bytes per parameter an optimizer step moves: (weights, gradients, state) read,
    (weights, state) written."""
    state = OPTIMIZER_STATE_TENSORS[optimizer]
    return 4 * ((2 + state) + (1 + state))


# NVIDIA's squeeze-excite (DeepLearningExamples ConvNets models/common.py at 729963dd:
# SequentialSqueezeAndExcitation returns ``se(x) * x``; se = AdaptiveAvgPool2d(1), Conv2d(c,
# se_c, 1) with bias, SiLU, Conv2d(se_c, c, 1) with bias, Sigmoid) as PyTorch 1.9 runs it.
# Per pass: (full-size tensors of x read, written) by each kernel over x, from
# tools/autograd/derivatives.yaml (mul: self ``grad * other``, other ``grad * self`` summed to
# its broadcast shape; adaptive_avg_pool2d_backward writes the full input gradient) and
# autograd's InputBuffer, which adds the gradients of a tensor used twice; then the kernels on
# c-long vectors (bytes negligible): a conv with bias is cuDNN's convolution then its bias add
# forward, and backward-data, backward-filter and backward-bias kernels.
SE_KERNELS = {
    "forward": (((1, 0), (1, 1)), 6),  # pool; scale -- convs x2, bias adds x2, SiLU, sigmoid
    # scale's x-gradient, its s-gradient grad * x, that summed over h x w, the pool's
    # backward, x's two gradients added -- sigmoid and SiLU backward, both convs' backward-data
    "backward_data": (((1, 1), (2, 1), (1, 0), (0, 1), (2, 1)), 4),
    "backward_weights": ((), 4),  # both convs' backward-filter and backward-bias, on c-long vectors
}
# A tensor read by several layers (a residual block's input: its first conv and the shortcut)
# gets one gradient from each; autograd's InputBuffer adds each further one into the first
# (torch/csrc/autograd/input_buffer.cpp, accumulate): an add kernel reading two gradients
# and writing one. The addition itself differentiates to its gradient, handed on unchanged
# (derivatives.yaml, add: ``self: grad``, ``other: maybe_multiply(grad, alpha)``): no kernel.
GRAD_SUM_TENSORS_MOVED = 3
# In-place activations (NVIDIA's and timm's ``nn.SiLU(inplace=True)``) whose derivative reads
# the input: derivatives.yaml's silu_backward(grad, self), hardswish_backward(grad, self). An
# in-place op's saved ``self`` is ``self.clone()`` (tools/autograd/gen_variable_type.py,
# save_variables: ``if var == 'self' and inplace: var = 'self.clone()'``, PyTorch 1.x; 2.x's
# original_self clones likewise). ReLU and ReLU6 differentiate from their result: no clone.
CLONED_IN_PLACE_OPS = ("silu", "swish", "hardswish")
# multi_tensor_apply (ATen/native/cuda/MultiTensorApply.cuh, PyTorch 1.9): a depth-1 launch
# (one tensor list, as _amp_foreach_non_finite_check_and_unscale_ uses) takes at most 110
# tensors and 320 chunks of 65,536 elements
MTA_TENSORS_PER_LAUNCH = 110
MTA_ELEMENTS_PER_LAUNCH = 320 * 65536
# bytes per parameter of AMP's work beyond the optimizer: the forward cast reads fp32 and
# writes fp16 (in inference too: autocast's cast cache, cached_cast in autocast_mode.cpp, is
# cleared by autocast.__exit__ when the outermost region ends: it lasts one forward), its backward reads the fp16 gradient and writes
# fp32; the unscale reads and writes each fp32 gradient
AMP_CAST_BYTES_PER_PARAM = 4 + 2
AMP_CAST_GRAD_BYTES_PER_PARAM = 2 + 4
AMP_UNSCALE_BYTES_PER_PARAM = 4 + 4


# NVIDIA's PyTorch data loader (DeepLearningExamples ConvNets image_classification/dataloaders.py,
# PrefetchedWrapper, at 2bdf2775 and 729963dd; configs.yml ``data_backend: pytorch`` for its
# ResNets and EfficientNets) copies each uint8 batch to the GPU, makes it float there
# (``.float()``; ``.half()`` under apex O2, f0ef8493) and normalises it in place
# (``.sub_(mean).div_(std)``) on a side stream that the step's torch.cuda.synchronize() waits
# for: per image element the uint8 read and the float written, then two in-place passes
# reading and writing the float, in three kernels.
INPUT_NORMALISE_KERNELS = 3
# autocast casts a conv's fp32 input to fp16 (a kernel reading 4 bytes, writing 2 per element)
# as it casts the weight; the images are fp32 under native AMP in NVIDIA's loader above and in
# timm's benchmark.py (resolve_precision('amp'): fp32 data)
INPUT_CAST_BYTES_PER_ELEM = 4 + 2


def input_kernels(s: GpuSpec, dtype: str, elements: int) -> tuple[int, int]:
    """(bytes, kernels) of the GPU work on ``elements`` image elements before the first layer:
    the loader's float conversion and normalisation, where the spec says the loader does it
    on the GPU, and autocast's cast of the fp32 images (AMP without fp16 weights)."""
    autocast = dtype == "fp16" and not s.fp16_weights
    moved = kernels = 0
    if s.input_normalise_on_gpu:
        b = 2 if dtype == "fp16" and s.fp16_weights else 4  # apex O2 normalises in half
        moved += elements * ((1 + b) + 2 * (b + b))
        kernels += INPUT_NORMALISE_KERNELS
    if autocast:
        moved += elements * INPUT_CAST_BYTES_PER_ELEM
        kernels += 1
    return moved, kernels


def input_s(s: GpuSpec, dtype: str, elements: int) -> float:
    """Time of that work: its bytes at the element-wise rate, its launches (the side stream's
    kernels share the forward's memory bandwidth, so they add to it)."""
    moved, kernels = input_kernels(s, dtype, elements)
    return moved / (s.hbm_bw_gb_s * 1e9 * s.hbm_efficiency) + kernels * s.launch_overhead_us * 1e-6


def clones_input(work: Work) -> bool:
    """True for a training forward of an in-place activation whose gradient needs its input:
    autograd saves a clone of it before the op overwrites it (one read, one write more)."""
    return work.train and work.phase == "forward" and work.kind == "act" and work.op in CLONED_IN_PLACE_OPS


def framework_why(s: GpuSpec, work: Work, moved: int, kernels: int) -> str:
    """What the framework's own kernels for this pass are, in its numbers."""
    fused = _fused_why(s, work, moved)
    if fused:
        return fused
    if not kernels:
        return "an addition's backward hands its gradient on: no kernel (autograd sums it where a tensor has two readers)"
    if clones_input(work):
        return (f"autograd clones the input of this in-place {work.op} before it is overwritten (its gradient needs it): "
                f"{moved / 1e6:.3g} MB in {kernels} kernels (gpu_kernels.CLONED_IN_PLACE_OPS)")
    return (f"PyTorch's own kernels for this squeeze-excite pass, {kernels} moving {moved / 1e6:.3g} MB: the scale's backward "
            "writes grad x x before summing it, the pool's backward expands its gradient, autograd adds x's two "
            "gradients (gpu_kernels.SE_KERNELS)")


def gradient_sums(layers: Sequence[Layer], dtype: str, batch: int, in_place: bool = False) -> tuple[int, int]:
    """(bytes, kernels) of autograd adding up the gradients of tensors several layers read;
    ``in_place``: each further gradient is added by the kernel producing it, which reads the
    partial sum (one tensor, no kernel of its own: spec field grad_accumulate_in_place)."""
    made = {l.name: l for l in layers}
    users = Counter(name for l in layers for name in l.inputs)
    forks = [(made[name], k - 1) for name, k in users.items() if k > 1 and name in made]
    moved = 1 if in_place else GRAD_SUM_TENSORS_MOVED
    return (sum(moved * extra * l.output_bytes(dtype, batch) for l, extra in forks),
            0 if in_place else sum(extra for _, extra in forks))


def norms_applied_in_next_conv(layers: Sequence[Layer]) -> list[int]:
    """Indices of the batch norms read only by a ReLU that is read only by one convolution:
    the norms a main-loop-fused convolution applies as it loads its operand."""
    readers: dict[str, list[Layer]] = {}
    for l in layers:
        for name in l.inputs:
            readers.setdefault(name, []).append(l)
    out = []
    for i, l in enumerate(layers):
        after = readers.get(l.name, []) if l.kind is LayerKind.NORM and l.name else []
        if len(after) == 1 and after[0].kind is LayerKind.ACT and after[0].op == "relu":
            convs = readers.get(after[0].name, [])
            if len(convs) == 1 and convs[0].kind is LayerKind.CONV:
                out.append(i)
    return out


def gradient_sum_s(s: GpuSpec, moved: int, kernels: int) -> float:
    """Time of those additions: their bytes at the element-wise rate, their launches."""
    return moved / (s.hbm_bw_gb_s * 1e9 * s.hbm_efficiency) + kernels * s.launch_overhead_us * 1e-6


def se_tensor_bytes(work: Work) -> int:
    """Bytes of x (c x h x w per image), the tensor a squeeze-excite pass streams; work.py's
    SE passes count x twice in the input (pool, scale) and once in the output."""
    if work.phase == "forward":
        return work.c_bytes
    if work.phase == "backward_data":
        return work.c_bytes // 2
    return work.a_bytes // 3


def fused_kernels(s: GpuSpec, work: Work) -> tuple[int, int] | None:
    """(bytes, kernels) of this pass under the MLPerf stack's fusions (module docstring), or
    None where they do not apply. A norm's training forward Work reads its input twice
    (statistics, then normalising); an addition's reads its two inputs and its backward
    writes one gradient per input."""
    if s.fused_bn_add_relu:
        if work.kind == "act" and work.op == "relu":
            return 0, 0  # inside the norm kernel, both ways
        if work.kind == "add" and work.phase == "forward":
            return work.a_bytes // 2, 0  # the addend, read by the norm kernel
        if work.kind == "add" and work.phase == "backward_data":
            return work.c_bytes // 2, 0  # the addend's gradient, written by the norm's backward
    if s.bn_stats_in_conv and work.kind == "norm" and work.train and work.phase == "forward":
        return work.min_bytes - work.a_bytes // 2, work.launches  # normalise; finalize the sums
    return None


def _fused_why(s: GpuSpec, work: Work, moved: int) -> str:
    if fused_kernels(s, work) is None:
        return ""
    mb = f"{moved / 1e6:.3g} MB"
    if work.kind == "act":
        return "ReLU runs inside the batch-norm kernel producing its input, forward and backward (spec field fused_bn_add_relu)"
    if work.kind == "add":
        what = "its addend read" if work.phase == "forward" else "the addend's gradient written"
        return f"the addition runs inside the batch-norm kernel: {what}, {mb} (spec field fused_bn_add_relu)"
    return (f"the convolution before this norm wrote its per-channel sums (spec field bn_stats_in_conv): the input read "
            f"once to normalise it, {mb} in all; the sums finalized in a kernel on channel-long vectors")


def framework_kernels(s: GpuSpec, work: Work) -> tuple[int, int] | None:
    """(bytes, kernels) the framework's own kernels move and launch for this pass, where
    they differ from the generic vector pass (a squeeze-excite block; an in-place activation
    that autograd must clone; an addition's backward, which hands its gradient on; the fused
    kernels of NVIDIA's MLPerf stack); None elsewhere."""
    fused = fused_kernels(s, work)
    if fused is not None:
        return fused
    if work.kind == "add" and work.phase == "backward_data":
        return 0, 0
    if clones_input(work):
        return work.min_bytes + 2 * work.a_bytes, work.launches + 1
    if work.kind != "se" or work.phase not in SE_KERNELS:
        return None
    big, small = SE_KERNELS[work.phase]
    x = se_tensor_bytes(work)
    return sum(r + w for r, w in big) * x + work.b_bytes, len(big) + small


def amp_cast_s(s: GpuSpec, tensors: int, params: float, train: bool = True) -> float:
    """One micro-batch's autocast casts: each fp16-run weight tensor cast to fp16 in every
    forward (inference included) and, training, its gradient back to fp32 in the backward, a
    kernel each way. None in inference where the framework keeps fp16 weights (fp16_weights)."""
    if not train and s.fp16_weights:
        return 0.0
    bw = s.hbm_bw_gb_s * 1e9 * s.hbm_efficiency
    per_param = AMP_CAST_BYTES_PER_PARAM + (AMP_CAST_GRAD_BYTES_PER_PARAM if train else 0)
    return params * per_param / bw + (2 if train else 1) * tensors * s.launch_overhead_us * 1e-6


def amp_unscale_s(s: GpuSpec, tensors: int, params: float) -> float:
    """GradScaler's unscale and inf/NaN check of every gradient in multi-tensor launches,
    plus its scale update (_amp_update_scale_), once per step."""
    bw = s.hbm_bw_gb_s * 1e9 * s.hbm_efficiency
    launches = max(-(-tensors // MTA_TENSORS_PER_LAUNCH), -(-int(params) // MTA_ELEMENTS_PER_LAUNCH)) + 1
    return params * AMP_UNSCALE_BYTES_PER_PARAM / bw + launches * s.launch_overhead_us * 1e-6


def cast_tensors(layer: Layer) -> tuple[int, int]:
    """(tensors, parameters) autocast runs in fp16 for this layer: conv and linear weights
    and biases (squeeze-excite's two convs with theirs); batch norm keeps fp32."""
    if layer.kind in (LayerKind.CONV, LayerKind.LINEAR):
        return 1 + int(layer.bias), layer.params
    if layer.kind is LayerKind.SE:
        return 4, layer.params
    return 0, 0


def narrowest_tile(tensor: bool, loop: bool, mma_n: int) -> int:
    """Narrowest output width of a thread-block tile: the MMA width on tensor cores; 32 for a
    generic CUDA-core GEMM run per group (cuDNN 7's group loop); 1 for CUDA-core kernels
    written for small groups (cuDNN's grouped and depthwise kernels), which do not pad."""
    if tensor:
        return mma_n
    return SIMT_NARROWEST_TILE if loop else 1


def reduction_fill(work: Work, tensor: bool) -> float:
    """Useful fraction of the reduction chunks a thread-block tile steps through."""
    k = K_TILE_TENSOR if tensor else K_TILE_SIMT
    return work.reduction / round_up(work.reduction, k)


def group_loop(s: GpuSpec, work: Work) -> bool:
    """True when this software runs the pass's groups as one kernel each."""
    if not s.group_loop or work.groups == 1 or work.depthwise:
        return False
    return not all(ch in FAST_GROUP_SIZES for ch in channels_per_group(work))


def channels_per_group(work: Work) -> tuple[int, int]:
    """(input, output) channels per group of the convolution a pass belongs to (a weight
    gradient's reduction runs over positions, its GEMM is c/g x r x s by k/g)."""
    if work.phase == "backward_weights":
        return work.out_ch, work.cols
    return work.in_ch, work.out_ch


def grouped_without_tensor_cores(s: GpuSpec, work: Work) -> bool:
    """True when this software's grouped convolutions run on CUDA cores whatever their shape
    (pytorch/pytorch#10290: fp16 grouped convs on a Titan V, cuDNN 7, slower than the same
    groups as separate dense convs, which did use tensor cores)."""
    return not s.grouped_tensor_cores and work.groups > 1 and not work.depthwise


def depthwise_bw_efficiency(s: GpuSpec, work: Work, dtype: str = "fp16") -> float:
    """Fraction of DRAM bandwidth this pass's depthwise kernel reaches (0: no such term): the
    library's kernel, or the framework's own (that rate / its slowdown) where the run is fp32
    and kept NCHW (``native_depthwise``)."""
    if not work.depthwise:
        return 0.0
    if work.phase == "forward":
        fraction, per_sm = s.depthwise_bw_efficiency, s.depthwise_gb_s_per_sm
    else:
        fraction = s.depthwise_grad_bw_efficiency or s.depthwise_bw_efficiency
        per_sm = s.depthwise_grad_gb_s_per_sm or s.depthwise_gb_s_per_sm
    if per_sm:
        fraction = min(fraction or 1.0, s.sms * per_sm / s.hbm_bw_gb_s)
    if fraction and native_depthwise(s, dtype):
        slowdown = s.depthwise_native_slowdown if work.phase == "forward" else \
            s.depthwise_native_grad_slowdown or s.depthwise_native_slowdown
        fraction /= slowdown
    return fraction


def native_depthwise(s: GpuSpec, dtype: str) -> bool:
    """True when this software runs a run's depthwise layers in the framework's own kernel:
    PyTorch (1.9, NVIDIA's 21.03 container) gives cuDNN only fp16 or channels_last depthwise
    convolutions (use_cudnn_depthwise), and fp32 runs stay NCHW (nchw_layout_fp32)."""
    return bool(s.depthwise_native_slowdown and dtype == "fp32" and s.nchw_layout_fp32)


def stem_padding(s: GpuSpec, work: Work) -> int:
    """Channels this pass's input is padded to for tensor cores (0: none): a stride-2
    convolution on fewer channels than the spec's stem_pad_channels, with output channels in
    multiples of 8 (the images' convolution in NVIDIA's MLPerf stack)."""
    cg, kg = channels_per_group(work)
    if s.stem_pad_channels and cg <= s.stem_pad_channels and kg % 8 == 0 and not work.unit_stride and work.groups == 1:
        return s.stem_pad_channels
    return 0


def padded_stem(work: Work, pad: int) -> Work:
    """The pass as run on images padded to ``pad`` channels: the padded channels' MACs are
    computed (on zeros) and their bytes read (images and weights; the weight gradient written);
    the forward reduces over pad x r x s, the weight gradient computes pad x r x s rows."""
    cg = channels_per_group(work)[0]
    grow = pad / cg
    if work.phase == "backward_weights":
        return replace(work, macs=round(work.macs * grow), rows=work.rows * pad // cg, out_ch=pad,
                       a_bytes=round(work.a_bytes * grow), c_bytes=round(work.c_bytes * grow))
    return replace(work, macs=round(work.macs * grow), reduction=work.reduction * pad // cg, in_ch=pad,
                   a_bytes=round(work.a_bytes * grow), b_bytes=round(work.b_bytes * grow))


def nchw(s: GpuSpec, dtype: str) -> bool:
    """True when this software keeps a run of this precision's activations NCHW."""
    return bool(s.nchw_layout or (dtype == "fp32" and s.nchw_layout_fp32))


def transposed_bytes(s: GpuSpec, work: Work, tensor: bool, dtype: str) -> tuple[int, int]:
    """(bytes read + written, transpose kernels) the NCHW <-> NHWC conversions around a
    tensor-core pass: its activation-like operand to NHWC and its result back to NCHW (a
    weight gradient: both activation operands, its small result left as it is)."""
    if not (nchw(s, dtype) and tensor):
        return 0, 0
    if work.phase == "backward_weights":
        return 2 * (work.a_bytes + work.b_bytes), 2
    return 2 * (work.a_bytes + work.c_bytes), 2


def framework_ops(layer: Layer, dtype: str) -> int:
    """Ops the framework issues from the host for this layer's forward pass (its kernels)."""
    return passes(layer, 1, dtype, False)[0].launches


def parameter_tensors(layer: Layer) -> int:
    """Parameter tensors the optimizer steps one by one (weight, bias; BN's two; SE's four)."""
    if layer.kind in (LayerKind.CONV, LayerKind.LINEAR):
        return 1 + int(layer.bias)
    return {LayerKind.NORM: 2, LayerKind.SE: 4}.get(layer.kind, 0)


def host_us_per_op(s: GpuSpec, dtype: str) -> float:
    """The host's time per forward op for a run of this precision (0: no host figure, or the
    step replayed as CUDA graphs: spec field cuda_graphs)."""
    if s.cuda_graphs:
        return 0.0
    return s.host_dispatch_fp32_us if dtype == "fp32" and s.host_dispatch_fp32_us else s.host_dispatch_us


def host_dispatch_s(s: GpuSpec, ops: int, dtype: str = "fp16") -> float:
    """Host time to issue ``ops`` forward-pass ops (0 where the spec has no host figure)."""
    return ops * host_us_per_op(s, dtype) * 1e-6


def optimizer_launch_s(s: GpuSpec, tensors: int, optimizer: str = "momentum") -> float:
    """Time of the per-tensor optimizer kernels of one training step: their launches, or the
    host issuing them one by one where that is slower (nothing hides it: the step waited). A
    multi-tensor update (spec field multi_tensor_update) launches one kernel per that many
    tensors."""
    if s.multi_tensor_update:
        return -(-tensors // s.multi_tensor_update) * s.launch_overhead_us * 1e-6
    kernels, host_ops = optimizer_kernels(optimizer)
    launches = kernels * s.launch_overhead_us
    host = host_ops * s.host_op_us
    return tensors * max(launches, host) * 1e-6

