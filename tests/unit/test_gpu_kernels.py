"""The GPU's kernel-level terms (models/gpu_kernels.py): each hand-computed on a small case,
the limits they must respect, the software-era chip v100-2019 and the DGX systems."""

import json
import math
from dataclasses import replace
from pathlib import Path

import pytest

from ipuexplore.cli import main
from ipuexplore.hardware import list_chips, listing, load_chip
from ipuexplore.layers import Layer
from ipuexplore.models import Pins, estimate, gpu_kernels
from ipuexplore.models.work import passes

ROOT = Path(__file__).resolve().parents[2]
V100 = load_chip("v100")
V2019 = load_chip("v100-2019")
GTX = load_chip(ROOT / "docs" / "hw-examples" / "gtx1080ti-cudnn7.toml")
TODAY = ("v100", "a100-40gb", "a100-80gb", "h100", str(ROOT / "docs" / "hw-examples" / "rtx3090.toml"),
         str(ROOT / "docs" / "hw-examples" / "rtx4090.toml"))


# ---- hand-computed terms ------------------------------------------------------------------
def test_reduction_fill_pads_to_the_tile_depth():
    # grouped 1x1 with 16 channels per group: a reduction of 16 in 32-deep tensor-core
    # chunks (CUTLASS Sm70 threadblock K) uses half of each chunk; SIMT chunks are 8 deep
    work = passes(Layer.conv(256, 14, 14, 256, 1, g=16), 8, "fp16", False)[0]
    assert work.reduction == 16
    assert gpu_kernels.reduction_fill(work, tensor=True) == pytest.approx(16 / 32)
    assert gpu_kernels.reduction_fill(work, tensor=False) == 1.0
    p = estimate(V100, Layer.conv(256, 14, 14, 256, 1, g=16), batch=8).phase("forward")
    assert p.unit == "tensor cores (fp16)" and p.terms["reduction_fill"].value == pytest.approx(0.5)


def test_group_loop_runs_one_kernel_per_group_outside_1_2_4_channels():
    # cuDNN 7 (v100-2019): 8 groups of 8 channels -> 8 kernels, each with its own blocks
    layer = Layer.conv(64, 14, 14, 64, 3, pad=1, g=8)
    p = estimate(V2019, layer, batch=4).phase("forward")
    assert p.terms["launch_s"].value == pytest.approx(8 * 3e-6)
    # per group: m = 4 x 14 x 14 = 784 rows, n = 8: the fastest tile covers n in one column;
    # each group's kernel fills the SMs with its own blocks only
    sm_fill = p.terms["sm_fill"].value
    blocks = int(p.terms["sm_fill"].why.split()[0])
    per_group = blocks // 8
    waves = 8 * math.ceil(per_group / 80)
    assert sm_fill == pytest.approx(blocks / (waves * 80))
    # 4 channels per group has cuDNN 7's grouped kernel: one launch for all groups
    four = estimate(V2019, Layer.conv(64, 14, 14, 64, 3, pad=1, g=16), batch=4).phase("forward")
    assert four.terms["launch_s"].value == pytest.approx(3e-6)
    # the weight gradient of 4 channels per group also has cuDNN 7's grouped kernel
    # (BWD_FILTER_ALGO_0/1 in the 7.0.4 notes); of 8 per group it loops
    w4 = estimate(V2019, Layer.conv(64, 14, 14, 64, 3, pad=1, g=16), batch=4, train=True).phase("backward_weights")
    w8 = estimate(V2019, layer, batch=4, train=True).phase("backward_weights")
    assert "one kernel each" not in w4.terms["sm_fill"].why and "8 groups run one kernel each" in w8.terms["sm_fill"].why
    # today's software runs every group size in one kernel
    assert estimate(V100, layer, batch=4).phase("forward").terms["launch_s"].value == pytest.approx(3e-6)


def test_grouped_convs_lose_tensor_cores_on_the_2019_stack_only():
    layer = Layer.conv(256, 14, 14, 256, 3, pad=1, g=8)  # 32 channels per group
    assert estimate(V100, layer, batch=32).unit == "tensor cores (fp16)"
    e = estimate(V2019, layer, batch=32)
    assert e.unit == "CUDA cores" and "pytorch/pytorch#10290" in e.phases[0].terms["unit_peak_flop_s"].why
    dense = Layer.conv(256, 14, 14, 256, 3, pad=1)
    assert estimate(V2019, dense, batch=32).unit == "tensor cores (fp16)"


def test_nchw_transposes_hand_computed():
    # v100-2019 keeps activations NCHW: a tensor-core pass transposes its activation input to
    # NHWC and its result back to NCHW (each read + written once, a kernel each), a weight
    # gradient both of its activation operands
    layer = Layer.conv(256, 28, 28, 128, 1)
    e = estimate(V2019, layer, batch=32, train=True)
    x = layer.input_bytes("fp16", 32)
    dy = layer.output_bytes("fp16", 32)
    assert (x, dy) == (32 * 256 * 28 * 28 * 2, 32 * 128 * 28 * 28 * 2)
    bw = 900e9 * 0.83
    fwd, bwd_data, bwd_w = (e.phase(n) for n in ("forward", "backward_data", "backward_weights"))
    assert fwd.terms["layout_transpose_s"].value == pytest.approx(2 * (x + dy) / bw)
    assert bwd_data.terms["layout_transpose_s"].value == pytest.approx(2 * (dy + x) / bw)
    assert bwd_w.terms["layout_transpose_s"].value == pytest.approx(2 * (x + dy) / bw)
    assert fwd.terms["launch_s"].value == pytest.approx(3 * 3e-6)  # two transposes and the conv
    same = replace(V2019, id="nhwc", spec=replace(V2019.spec, nchw_layout=0))
    plain = estimate(same, layer, batch=32, train=True).phase("forward")
    assert fwd.time_s == pytest.approx(plain.time_s + 2 * (x + dy) / bw + 2 * 3e-6)
    assert "layout_transpose_s" not in estimate(V100, layer, batch=32).phases[0].terms
    # CUDA-core passes read NCHW directly: no transpose
    assert "layout_transpose_s" not in estimate(V2019, layer, batch=32, dtype="fp32").phases[0].terms


def test_fp32_runs_keep_nchw_where_the_spec_says_so_hand_computed():
    # today's A100: AMP runs are channels_last, fp32 (TF32) runs keep PyTorch's default NCHW,
    # so a TF32 tensor-core pass transposes its input and its result: 2 x 2 x 8 x 256 x 28 x
    # 28 x 4 B at 0.79 x 2,039 GB/s, two kernels more; its fp16 pass and the V100's fp32 (CUDA
    # cores) do not
    a100 = load_chip("a100-80gb")
    layer = Layer.conv(256, 28, 28, 256, 1)
    tf32 = estimate(a100, layer, batch=8, dtype="fp32").phases[0]
    x = layer.input_bytes("fp32", 8)
    assert x == 8 * 256 * 28 * 28 * 4
    assert tf32.unit == "tensor cores (tf32)"
    assert tf32.terms["layout_transpose_s"].value == pytest.approx(2 * 2 * x / (2039e9 * 0.79))
    assert "layout_transpose_s" not in estimate(a100, layer, batch=8).phases[0].terms
    assert "layout_transpose_s" not in estimate(V100, layer, batch=8, dtype="fp32").phases[0].terms
    off = replace(a100, id="nhwc32", spec=replace(a100.spec, nchw_layout_fp32=0))
    assert "layout_transpose_s" not in estimate(off, layer, batch=8, dtype="fp32").phases[0].terms


def test_depthwise_backward_uses_its_own_rate():
    dw = Layer.conv(192, 28, 28, 192, 3, pad=1, g=192)
    e = estimate(V100, dw, batch=64, train=True)
    nbytes = dw.min_bytes("fp16", 64)
    # the RTX 3080's rates per SM (4.75 / 3.80 GB/s) on the V100's 80 SMs: 380 and 304 GB/s,
    # 0.422 and 0.338 of 900 GB/s, just under the measured fractions 0.43 / 0.34
    assert e.phase("forward").terms["depthwise_s"].value == pytest.approx(nbytes / (80 * 4.75e9))
    assert e.phase("backward_data").terms["depthwise_s"].value == pytest.approx(nbytes / (80 * 3.80e9))
    # L2 traffic stays its own term (a dense layer's has no depthwise term)
    assert e.phase("forward").terms["l2_s"].value < e.phase("forward").terms["depthwise_s"].value
    assert "depthwise_s" not in estimate(V100, dw.with_(g=1), batch=64).phase("forward").terms


def test_depthwise_rate_carries_per_sm_to_a_gpu_with_more_bandwidth_per_sm():
    # A100 80GB: 108 SMs x 4.75 GB/s = 513 GB/s = 0.252 of 2,039 GB/s (Little's law: the
    # latency-bound kernel's bytes in flight grow with SMs, not with DRAM bandwidth)
    dw = Layer.conv(192, 28, 28, 192, 3, pad=1, g=192)
    a100 = load_chip("a100-80gb")
    e = estimate(a100, dw, batch=64, train=True)
    nbytes = dw.min_bytes("fp16", 64)
    assert e.phase("forward").terms["depthwise_s"].value == pytest.approx(nbytes / (108 * 4.75e9))
    assert e.phase("backward_data").terms["depthwise_s"].value == pytest.approx(nbytes / (108 * 3.80e9))
    assert gpu_kernels.depthwise_bw_efficiency(a100.spec, passes(dw, 64, "fp16", False)[0]) == pytest.approx(108 * 4.75 / 2039)
    # a GPU with little bandwidth per SM keeps the measured fraction as its cap
    rich = replace(a100.spec, hbm_bw_gb_s=900.0)
    assert gpu_kernels.depthwise_bw_efficiency(rich, passes(dw, 64, "fp16", False)[0]) == 0.43
    # without a per-SM figure the measured fraction applies as before
    plain = replace(a100.spec, depthwise_gb_s_per_sm=0.0, depthwise_grad_gb_s_per_sm=0.0)
    assert gpu_kernels.depthwise_bw_efficiency(plain, passes(dw, 64, "fp16", False)[0]) == 0.43



def test_fp32_nchw_depthwise_runs_the_frameworks_own_kernel():
    # A100, an fp32 (TF32) run kept NCHW: PyTorch 1.9's use_cudnn_depthwise gives cuDNN only fp16
    # or channels_last depthwise layers, so its own kernel runs, 1.2265x cuDNN's time forward
    # and 1.2968x backward (pytorch/pytorch#91735): the per-SM rate (108 x 4.75 / 3.80 GB/s) / that
    dw = Layer.conv(192, 28, 28, 192, 3, pad=1, g=192)
    a100 = load_chip("a100-80gb")
    f32 = estimate(a100, dw, batch=64, train=True, dtype="fp32")
    n32 = dw.min_bytes("fp32", 64)
    fwd, bwd = f32.phase("forward").terms["depthwise_s"], f32.phase("backward_data").terms["depthwise_s"]
    assert fwd.value == pytest.approx(n32 * 1.2265 / (108 * 4.75e9))
    assert bwd.value == pytest.approx(n32 * 1.2968 / (108 * 3.80e9))
    assert "framework's own kernel" in fwd.why and "depthwise_native_slowdown" in fwd.why
    assert "pytorch/pytorch#91735" in a100.source_of("depthwise_native_slowdown")
    # fp16 (AMP) runs keep cuDNN's kernel
    f16 = estimate(a100, dw, batch=64, train=True).phase("forward").terms["depthwise_s"]
    assert f16.value == pytest.approx(dw.min_bytes("fp16", 64) / (108 * 4.75e9))
    assert "own kernel" not in f16.why
    # an fp32 run in channels_last, or a spec without the field: cuDNN's kernel
    for spec in (replace(a100.spec, nchw_layout_fp32=0), replace(a100.spec, depthwise_native_slowdown=0.0,
                                                                 depthwise_native_grad_slowdown=0.0)):
        assert gpu_kernels.depthwise_bw_efficiency(spec, passes(dw, 64, "fp32", False)[0], "fp32") == \
            pytest.approx(108 * 4.75 / 2039)
    # the backward slowdown defaults to the forward's
    only_fwd = replace(a100.spec, depthwise_native_grad_slowdown=0.0)
    back = [w for w in passes(dw, 64, "fp32", True) if w.phase == "backward_data"][0]
    assert gpu_kernels.depthwise_bw_efficiency(only_fwd, back, "fp32") == pytest.approx(108 * 3.80 / 2039 / 1.2265)


@pytest.mark.parametrize("chip", ["a100-80gb", "a100-40gb", "v100", "h100"])
def test_the_frameworks_depthwise_kernel_is_never_faster_than_the_librarys(chip):
    spec = load_chip(chip).spec
    dw = Layer.conv(144, 56, 56, 144, 3, pad=1, g=144)
    for work in passes(dw, 32, "fp32", True):
        lib = gpu_kernels.depthwise_bw_efficiency(spec, work, "fp16")
        assert gpu_kernels.depthwise_bw_efficiency(spec, work, "fp32") <= lib

# ---- limits -------------------------------------------------------------------------------
@pytest.mark.parametrize("chip", TODAY + ("v100-2019",))
@pytest.mark.parametrize("train", [False, True])
def test_a_depthwise_layer_never_beats_its_memory_roofline(chip, train):
    c = load_chip(chip)
    for kernel, stride, size in ((3, 1, 56), (5, 2, 28), (3, 1, 7)):
        layer = Layer.conv(240, size, size, 240, kernel, stride=stride, pad=kernel // 2, g=240)
        for batch in (1, 32, 256):
            e = estimate(c, layer, batch=batch, train=train)
            for p in e.phases:
                work = next(w for w in passes(layer, batch, "fp16", train) if w.phase == p.name)
                # every compulsory byte that is not already in L2 crosses HBM at no more than its peak
                floor = (work.min_bytes - (work.a_bytes if e.memory_level == "l2" else 0)) / (c.spec.hbm_bw_gb_s * 1e9)
                assert p.time_s >= floor, (chip, kernel, batch, p.name)


# equal FLOPs per layer: channels double as groups quadruple (c^2 / g constant), and the
# channels per group (128, 64, 32, 16) stay multiples of 8
EQUAL_FLOPS = ((1, 128), (4, 256), (16, 512), (64, 1024))


@pytest.mark.parametrize("chip", TODAY + ("v100-2019",))
@pytest.mark.parametrize("dtype", ["fp16", "fp32"])
@pytest.mark.parametrize("batch, size", [(8, 56), (32, 28), (128, 28), (256, 14)])
def test_more_groups_at_equal_flops_never_speed_up_a_1x1_convolution(chip, dtype, batch, size):
    # where the dense layer fills the GPU (>= 6272 output positions); smaller layers are
    # dominated by launch and wave quantisation of a few thread blocks. Where both layers are
    # compute-bound on CUDA cores, the grouped layer's smaller tiles can fill the last wave
    # better (V100 fp32, batch 8 at 56x56: 392 blocks in 5 waves, 0.98 of the SMs, against
    # 0.99): allowed, up to 2% (one wave in five is the coarsest quantisation in this sweep)
    for train in (False, True):
        times = [estimate(chip, Layer.conv(c, size, size, c, 1, g=g), batch=batch, dtype=dtype, train=train).time_s
                 for g, c in EQUAL_FLOPS]
        assert all(b >= a * 0.98 for a, b in zip(times, times[1:])), (chip, dtype, batch, size, train, times)


# ShuffleNet V2 (Ma et al., ECCV 2018, arXiv:1807.11164) Table 2, the Guideline 2 experiment
# (Table 1 is Guideline 1's input/output channel ratios at equal FLOPs; reading notes that follow
# the paper's numbering: blog.csdn.net/weixin_43711554/article/details/109050137): GPU batches/s
# of a stack of 1x1 group convolutions on 56x56 maps at equal FLOPs as g grows, GTX 1080 Ti with
# cuDNN 7.0. Columns x1 / x2 / x4 scale the FLOPs, so x4 doubles the channels (FLOPs ~ c^2 / g):
# rows (g: c for x1, batches/s at x1, at x4). UNVERIFIED: recalled, not re-read: every copy of
# the paper the search corpora hold returns only its opening (the table is an image in the
# translations), so neither these figures nor their c column were checked against the table.
SHUFFLENET_V2_TABLE2 = {1: (128, 2451, 437), 2: (180, 1725, 341), 4: (256, 1026, 338), 8: (360, 634, 230)}


def test_shufflenet_v2_grouped_1x1_sweep_reproduced_in_direction_and_size():
    # batch 1: the table's rates are ~20 us per conv for g=1, c=128 if each of its 10 blocks
    # holds two convs (5 TFLOP/s); batch 8 would need 40 TFLOP/s, above the card's 11.3
    for column, mult in ((1, 1), (2, 2)):
        base = None
        for g, row in SHUFFLENET_V2_TABLE2.items():
            c = row[0] * mult
            t = estimate(GTX, Layer.conv(c, 56, 56, c, 1, g=g), batch=1, dtype="fp32").time_s
            base = base or (t, row[column])
            model, published = t / base[0], base[1] / row[column]
            assert model >= 1.0
            if g > 1:
                assert 0.65 <= model / published <= 1.35, (mult, g, model, published)
    # the largest slowdown, g=8 at x1: published 3.9x
    g8 = estimate(GTX, Layer.conv(360, 56, 56, 360, 1, g=8), batch=1, dtype="fp32").time_s
    g1 = estimate(GTX, Layer.conv(128, 56, 56, 128, 1), batch=1, dtype="fp32").time_s
    assert 2.5 <= g8 / g1 <= 4.0


# ---- the framework around the kernels: host dispatch, optimizer, unfused squeeze-excite ----
EAGER_V100 = ROOT / "docs" / "hw-examples" / "v100-pytorch-eager.toml"


def _step(chip, network, batch, train=False):
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    return network_step(load_chip(chip), build(network).layers, batch, "fp16", train)


def test_host_dispatch_floor_hand_computed():
    # ResNet-50 issues 174 forward ops (53 conv, 53 BN, 49 ReLU, 16 add, 2 pool, FC); at
    # 73.7 us each the DGX-1 host needs 12.82 ms per batch, and the GPU's own 0.8 ms hides none
    # of it: batch 1 runs at 78 img/s, the published figure the spec derives its 73.7 us from
    step = _step(EAGER_V100, "resnet50", 1)
    host = 174 * 73.7e-6
    gpu = step.terms["layers_s"].value + step.terms["amp_s"].value  # the layers and autocast's casts
    assert gpu < 0.1 * host
    assert step.terms["host_dispatch_s"].value == pytest.approx(host - gpu)
    assert step.time_s == pytest.approx(host)
    # at batch 256 the GPU's work (~70 ms) hides the host's 12.8 ms entirely
    big = _step(EAGER_V100, "resnet50", 256)
    assert big.terms["host_dispatch_s"].value == 0.0
    assert big.time_s == pytest.approx(big.terms["layers_s"].value + big.terms["amp_s"].value)
    # the shipped v100 has no host figure: its host keeps ahead (large batches, graphs, engines)
    plain = _step("v100", "resnet50", 1)
    assert plain.terms["host_dispatch_s"].value == 0.0 and "no host figure" in plain.terms["host_dispatch_s"].why


def test_fp32_ops_skip_autocast_on_the_host_hand_computed():
    # the same 174 ops in fp32 skip autocast's dispatch and weight casts: the DGX-1 host issues
    # them at 59.9 us each (host_dispatch_fp32_us, from the FP32 batch-1 row: 96 img/s), 10.42 ms
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    eager = load_chip(EAGER_V100)
    assert gpu_kernels.host_us_per_op(eager.spec, "fp16") == 73.7
    assert gpu_kernels.host_us_per_op(eager.spec, "fp32") == 59.9
    step = network_step(eager, build("resnet50").layers, 1, "fp32", False)
    assert step.time_s == pytest.approx(174 * 59.9e-6)
    assert "59.9 us each" in step.terms["host_dispatch_s"].why and "host_dispatch_fp32_us" in step.terms["host_dispatch_s"].why
    assert gpu_kernels.host_dispatch_s(eager.spec, 174, "fp32") == pytest.approx(174 * 59.9e-6)
    # a spec without an fp32 figure uses its one host figure for both
    same = replace(eager.spec, host_dispatch_fp32_us=0.0)
    assert gpu_kernels.host_us_per_op(same, "fp32") == 73.7


def test_host_floor_only_slows_and_fades_with_batch():
    for batch in (1, 8, 64, 256):
        eager, plain = _step(EAGER_V100, "efficientnet_b0", batch), _step("v100", "efficientnet_b0", batch)
        assert eager.time_s >= plain.time_s
    assert _step(EAGER_V100, "efficientnet_b0", 256).time_s == pytest.approx(_step("v100", "efficientnet_b0", 256).time_s)


def test_framework_ops_and_parameter_tensors():
    assert gpu_kernels.framework_ops(Layer.conv(32, 8, 8, 32, 3, pad=1), "fp16") == 1
    assert gpu_kernels.framework_ops(Layer.se(32, 8, 8, 8), "fp16") == 4
    assert gpu_kernels.parameter_tensors(Layer.conv(32, 8, 8, 32, 3, bias=True)) == 2
    assert gpu_kernels.parameter_tensors(Layer.linear(32, 10)) == 2
    assert gpu_kernels.parameter_tensors(Layer.se(32, 8, 8, 8)) == 4


def test_per_tensor_optimizer_launches_hand_computed():
    # ResNet-50: 53 conv weights, 53 x 2 BN tensors, the FC's weight and bias = 161 tensors,
    # 6 kernels each (SGD's weight decay, momentum mul_ and add_, parameter add_; zero_grad;
    # AccumulateGrad) at 3 us = 18 us, or 5 of them issued by the host after GradScaler's wait
    # at 6.7 us = 33.5 us, the slower; the bytes part as before (20 B per parameter at 0.87 x 900 GB/s)
    step = _step("v100", "resnet50", 64, train=True)
    params = 25_557_032
    bytes_s = params * 20 / (900e9 * 0.87)
    assert step.terms["weight_update_s"].value == pytest.approx(161 * 5 * 6.7e-6 + bytes_s, rel=1e-3)
    # a host that issues faster than the GPU launches leaves the launches
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    quick = replace(V100, spec=replace(V100.spec, host_op_us=1.0))
    fast = network_step(quick, build("resnet50").layers, 64, "fp16", True)
    assert fast.terms["weight_update_s"].value == pytest.approx(161 * 6 * 3e-6 + bytes_s, rel=1e-3)


def test_rmsprop_issues_eight_ops_and_moves_two_states_hand_computed():
    # RMSprop with momentum and weight decay (NVIDIA's EfficientNet configs): 8 ops per tensor
    # + zero_ = 9 host ops at 6.7 us = 60.3 us (launches: 10 x 3 us = 30 us, the faster);
    # bytes: master, gradient, square average, buffer read (16 B), master and both states
    # written (12 B) = 28 B per parameter. ResNet-50 has 161 tensors, 25,557,032 parameters
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    assert gpu_kernels.optimizer_kernels("rmsprop") == (10, 9)
    assert gpu_kernels.optimizer_kernels("momentum") == (6, 5)
    assert gpu_kernels.update_bytes_per_param("rmsprop") == 28
    assert gpu_kernels.update_bytes_per_param("momentum") == 20
    step = network_step(V100, build("resnet50").layers, 64, "fp16", True, pins=Pins(optimizer="rmsprop"))
    bytes_s = 25_557_032 * 28 / (900e9 * 0.87)
    assert step.terms["weight_update_s"].value == pytest.approx(161 * 9 * 6.7e-6 + bytes_s, rel=1e-3)
    assert "rmsprop step" in step.terms["weight_update_s"].why
    with pytest.raises(ValueError, match="--optimizer lars: LARS is modelled on IPUs only"):
        network_step(V100, build("resnet50").layers, 64, "fp16", True, pins=Pins(optimizer="lars"))
    with pytest.raises(ValueError, match="--optimizer rmsprop: RMSprop is modelled on GPUs only"):
        network_step(load_chip("bow-pod16"), build("resnet50").layers, 64, "fp16", True, pins=Pins(optimizer="rmsprop"))


def test_squeeze_excite_runs_pytorchs_own_kernels_hand_computed():
    # x = 4 images x 32 x 8 x 8 fp16 = 16,384 B. Forward: the pool reads x, the scale reads x
    # and writes it (3x) in 8 kernels (pool, 2 convs + 2 bias adds, SiLU, sigmoid, scale).
    # Backward: the scale's x-gradient (2x), its s-gradient grad * x (3x) summed over h x w
    # (1x), the pool's backward (1x), x's two gradients added (3x) = 10x in 9 kernels, the
    # conv weights' and biases' gradients 4 kernels on c-long vectors
    from ipuexplore.models import gpu
    layer = Layer.se(32, 8, 8, 8)
    x, w = 4 * 32 * 8 * 8 * 2, layer.weight_bytes("fp16")
    fwd, bwd, wgt = (gpu.cost(V100, p, "fp16", l2_resident=False) for p in passes(layer, 4, "fp16", True))
    assert fwd.bytes == 3 * x + w and fwd.terms["framework_kernels"].value == 8
    assert bwd.bytes == 10 * x + w and bwd.terms["framework_kernels"].value == 9
    assert wgt.bytes == 0 and wgt.terms["framework_kernels"].value == 4
    assert fwd.terms["launch_s"].value == pytest.approx(8 * 3e-6)
    # other vector layers keep the generic pass
    bn = gpu.cost(V100, passes(Layer.norm(32, 8, 8), 4, "fp16", True)[1], "fp16", l2_resident=False)
    assert "framework_kernels" not in bn.terms


def test_in_place_silu_is_cloned_in_training_only_hand_computed():
    # SiLU on 4 x 32 x 8 x 8 fp16 (16,384 B): the op reads and writes it (2x); in a training
    # forward autograd first clones the input it will need (2x more, a second kernel)
    from ipuexplore.models import gpu
    x = 4 * 32 * 8 * 8 * 2
    train_fwd = gpu.cost(V100, passes(Layer.act(32, 8, 8, "silu"), 4, "fp16", True)[0], "fp16", l2_resident=False)
    infer = gpu.cost(V100, passes(Layer.act(32, 8, 8, "silu"), 4, "fp16", False)[0], "fp16", l2_resident=False)
    assert train_fwd.bytes == 4 * x and train_fwd.terms["framework_kernels"].value == 2
    assert infer.bytes == 2 * x and "framework_kernels" not in infer.terms
    # ReLU differentiates from its result: no clone
    relu = gpu.cost(V100, passes(Layer.act(32, 8, 8, "relu"), 4, "fp16", True)[0], "fp16", l2_resident=False)
    assert relu.bytes == 2 * x and "framework_kernels" not in relu.terms


def test_no_input_gradient_for_the_images_hand_computed():
    # autograd computes no gradient for the images (they do not require grad), so the layers
    # reading only the network's input (ResNet-50's conv1, EfficientNet's stem conv) never run
    # their backward-data pass: the training step is every layer's passes less that one
    from ipuexplore.networks import build
    net = build("resnet50")
    assert gpu_kernels.input_gradient_skipped(net.layers) == [0] and net.layers[0].inputs == ("input",)
    assert gpu_kernels.input_gradient_skipped(build("efficientnet_b0").layers) == [0]
    assert gpu_kernels.input_gradient_skipped([Layer.conv(8, 4, 4, 8, 3, pad=1)]) == []  # no named input
    step = _step("v100", "resnet50", 64, train=True)
    full = sum(estimate(V100, l, batch=64, train=True).time_s for l in net.layers)
    stem_bwd = estimate(V100, net.layers[0], batch=64, train=True).phase("backward_data").time_s
    assert stem_bwd > 0
    images = gpu_kernels.input_s(V100.spec, "fp16", 64 * 3 * 224 * 224)  # the images' own kernels, in conv1's share
    assert step.terms["layers_s"].value == pytest.approx(full - stem_bwd + images, rel=1e-9)
    assert step.layer_time_s[0] == pytest.approx(estimate(V100, net.layers[0], batch=64, train=True).time_s - stem_bwd + images)
    assert "conv1" in step.terms["layers_s"].why
    # inference runs no backward pass to skip
    assert _step("v100", "resnet50", 64).terms["layers_s"].value == pytest.approx(
        sum(_step("v100", "resnet50", 64).layer_time_s))


def test_autograd_sums_the_gradients_of_forked_tensors_hand_computed():
    # ResNet-50: each of its 16 blocks reads its input twice (first conv, shortcut): the max
    # pool's output (64 x 56 x 56) and the outputs of 15 blocks (3 x 256 x 56 x 56, 4 x 512 x
    # 28 x 28, 6 x 1024 x 14 x 14, 2 x 2048 x 7 x 7; the last block's feeds the pool only):
    # 5,619,712 elements per image, each sum reading two fp16 gradients and writing one
    from ipuexplore.networks import build
    elems = 64 * 56 * 56 + 3 * 256 * 56 * 56 + 4 * 512 * 28 * 28 + 6 * 1024 * 14 * 14 + 2 * 2048 * 7 * 7
    assert elems == 5_619_712
    moved = 3 * elems * 2 * 64
    assert gpu_kernels.gradient_sums(build("resnet50").layers, "fp16", 64) == (moved, 16)
    step = _step("v100", "resnet50", 64, train=True)
    assert step.terms["gradient_sum_s"].value == pytest.approx(moved / (900e9 * 0.87) + 16 * 3e-6)
    assert _step("v100", "resnet50", 64).terms["gradient_sum_s"].value == 0.0
    # the addition's own backward hands the gradient on: no kernel, no time
    add = estimate(V100, Layer.add(256, 14, 14), batch=8, train=True).phase("backward_data")
    assert add.time_s == 0.0 and add.bytes == 0 and add.terms["framework_kernels"].value == 0


def test_amp_casts_and_unscale_hand_computed():
    # ResNet-50, AMP: 55 tensors cast (53 conv weights, the FC's weight and bias), 25,503,912
    # parameters (all but BN's 53,120): per micro-batch 12 B each (fp32 -> fp16 forward,
    # fp16 -> fp32 gradient) at 0.87 x 900 GB/s and 2 x 55 launches; per step the unscale
    # reads and writes 161 fp32 gradients (8 B per parameter) in max(ceil(161 / 110),
    # ceil(25,557,032 / (320 x 65,536))) = 2 multi-tensor launches + the scale update
    step = _step("v100", "resnet50", 64, train=True)
    bw = 900e9 * 0.87
    cast = 25_503_912 * 12 / bw + 110 * 3e-6
    unscale = 25_557_032 * 8 / bw + 3 * 3e-6
    assert step.terms["amp_s"].value == pytest.approx(cast + unscale, rel=1e-6)
    assert gpu_kernels.amp_cast_s(V100.spec, 55, 25_503_912) == pytest.approx(cast)
    # inference casts the weights in every forward too (autocast's cache lasts one forward):
    # 6 B per parameter (fp32 read, fp16 written) and one kernel per tensor, in each layer's
    # share of the step; a framework that keeps fp16 weights (apex O2: fp16_weights) has none
    fwd = 25_503_912 * 6 / bw + 55 * 3e-6
    assert gpu_kernels.amp_cast_s(V100.spec, 55, 25_503_912, train=False) == pytest.approx(fwd)
    from dataclasses import replace
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    # (images arriving ready, so the only input work is autocast's cast of the fp32 images:
    # 64 x 3 x 224 x 224 elements, 6 B each, one kernel, in the stem's share)
    plain = replace(V100, spec=replace(V100.spec, input_normalise_on_gpu=0))
    o2 = replace(plain, spec=replace(plain.spec, fp16_weights=1))
    autocast, halved = (network_step(c, build("resnet50").layers, 64, "fp16", False) for c in (plain, o2))
    assert autocast.terms["amp_s"].value == halved.terms["amp_s"].value == 0.0
    images = 64 * 3 * 224 * 224 * 6 / bw + 3e-6
    assert autocast.terms["layers_s"].value - halved.terms["layers_s"].value == pytest.approx(fwd + images, rel=1e-6)
    assert autocast.time_s == pytest.approx(sum(autocast.layer_time_s))
    assert build("resnet50").layers[0].params == 9408  # the stem conv: one cast kernel of its own
    assert autocast.layer_time_s[0] - halved.layer_time_s[0] == pytest.approx(9408 * 6 / bw + 3e-6 + images, rel=1e-6)
    assert gpu_kernels.amp_cast_s(o2.spec, 55, 25_503_912, train=False) == 0.0
    # fp32 training has none
    assert network_step(V100, build("resnet50").layers, 64, "fp32", True).terms["amp_s"].value == 0.0


def test_the_images_own_kernels_hand_computed():
    # NVIDIA's PyTorch loader (spec field input_normalise_on_gpu) makes each uint8 batch float
    # on the GPU and normalises it in place: uint8 read + fp32 written (1 + 4 B), sub_ and div_
    # each reading and writing fp32 (2 x 8 B) = 21 B per element in 3 kernels; under autocast
    # the fp32 images are cast to fp16 too (4 + 2 B, 1 kernel); apex O2 (fp16_weights)
    # normalises in half (1 + 2 + 2 x 4 = 11 B) and casts nothing
    n = 3 * 224 * 224
    assert gpu_kernels.input_kernels(V100.spec, "fp16", n) == (27 * n, 4)
    assert gpu_kernels.input_kernels(V100.spec, "fp32", n) == (21 * n, 3)
    o2 = replace(V100.spec, fp16_weights=1)
    assert gpu_kernels.input_kernels(o2, "fp16", n) == (11 * n, 3)
    # timm's benchmark feeds synthetic fp32 images already on the GPU: autocast's cast only
    timm = load_chip(str(ROOT / "docs" / "hw-examples" / "rtx3090.toml")).spec
    assert timm.input_normalise_on_gpu == 0
    assert gpu_kernels.input_kernels(timm, "fp16", n) == (6 * n, 1)
    assert gpu_kernels.input_kernels(timm, "fp32", n) == (0, 0)
    assert gpu_kernels.input_s(V100.spec, "fp16", n) == pytest.approx(27 * n / (900e9 * 0.87) + 4 * 3e-6)
    # in the step: ResNet-50 at batch 64, in conv1's share, named in layers_s's why
    step = _step("v100", "resnet50", 64)
    bare = replace(V100, spec=replace(V100.spec, input_normalise_on_gpu=0))
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    without = network_step(bare, build("resnet50").layers, 64, "fp16", False)
    loader = 64 * n * 21 / (900e9 * 0.87) + 3 * 3e-6
    assert step.layer_time_s[0] - without.layer_time_s[0] == pytest.approx(loader, rel=1e-9)
    assert step.layer_time_s[1:] == without.layer_time_s[1:]
    assert "images' own kernels before conv1" in step.terms["layers_s"].why
    # the 2019 stack's runs used DALI (main.py's default data backend at f0ef8493): none
    assert load_chip("v100-2019").spec.input_normalise_on_gpu == 0


# ---- NVIDIA's MLPerf stack (a100-80gb-mlperf, h100-mlperf) ---------------------------------
MLPERF = load_chip("a100-80gb-mlperf")
A100 = load_chip("a100-80gb")


def test_mlperf_stack_is_the_a100_silicon_with_its_software():
    silicon = ("sms", "clock_ghz", "peak_fp16_tensor_tflop_s", "hbm_bw_gb_s", "l2_mb", "hbm_efficiency", "launch_overhead_us")
    for stack, chip in ((MLPERF, A100), (load_chip("h100-mlperf"), load_chip("h100"))):
        assert all(getattr(stack.spec, f) == getattr(chip.spec, f) for f in silicon)
        s = stack.spec
        assert (s.bn_stats_in_conv, s.fused_bn_add_relu, s.grad_accumulate_in_place, s.multi_tensor_update,
                s.stem_pad_channels, s.fp16_weights, s.input_normalise_on_gpu, s.host_dispatch_us) == (1, 1, 1, 54, 4, 1, 0, 0)
        assert "MXNET_OPTIMIZER_AGGREGATION_SIZE=54" in stack.source_of("multi_tensor_update")
    # today's stacks keep every one of these off
    assert (A100.spec.bn_stats_in_conv, A100.spec.fused_bn_add_relu, A100.spec.grad_accumulate_in_place,
            A100.spec.multi_tensor_update, A100.spec.stem_pad_channels) == (0, 0, 0, 0, 0)


def test_mlperf_norm_reads_its_input_once_hand_computed():
    # BN on 4 x 32 x 8 x 8 fp16 (x = 16,384 B), training forward: PyTorch's pass reads x for
    # the statistics and again to normalise, writes the result (3x + the weights); with the
    # sums from the convolution's epilogue it reads x once (2x + w), still 2 kernels (the
    # normalise and the sums' finalize on channel-long vectors)
    from ipuexplore.models import gpu
    layer = Layer.norm(32, 8, 8)
    x, w = 4 * 32 * 8 * 8 * 2, layer.weight_bytes("fp16")
    fwd = passes(layer, 4, "fp16", True)[0]
    assert gpu.cost(A100, fwd, "fp16", l2_resident=False).bytes == 3 * x + w
    fused = gpu.cost(MLPERF, fwd, "fp16", l2_resident=False)
    assert fused.bytes == 2 * x + w and fused.terms["framework_kernels"].value == 2
    assert "bn_stats_in_conv" in fused.terms["framework_kernels"].why
    # inference has no statistics pass to remove
    infer = passes(layer, 4, "fp16", False)[0]
    assert gpu.cost(MLPERF, infer, "fp16", l2_resident=False).bytes == gpu.cost(A100, infer, "fp16", l2_resident=False).bytes


def test_mlperf_relu_and_add_run_inside_the_norm_kernel_hand_computed():
    # ReLU: nothing either way. The addition (two 4 x 32 x 8 x 8 fp16 inputs, x = 16,384 B
    # each): forward the norm kernel reads its addend (x), backward it writes the addend's
    # gradient (x); no launch, so the time is x at the element-wise rate
    from ipuexplore.models import gpu
    x = 4 * 32 * 8 * 8 * 2
    for p in passes(Layer.act(32, 8, 8, "relu"), 4, "fp16", True):
        c = gpu.cost(MLPERF, p, "fp16", l2_resident=False)
        assert c.time_s == 0.0 and c.bytes == 0 and c.terms["framework_kernels"].value == 0
    fwd, bwd = (gpu.cost(MLPERF, p, "fp16", l2_resident=False) for p in passes(Layer.add(32, 8, 8), 4, "fp16", True))
    for c in (fwd, bwd):
        assert c.bytes == x and c.terms["launch_s"].value == 0.0
        assert c.time_s == pytest.approx(x / (2039e9 * 0.79))
    assert "addend" in fwd.terms["framework_kernels"].why
    # SiLU is no part of the fused kernel (ReLU only: act_type='relu')
    silu = gpu.cost(MLPERF, passes(Layer.act(32, 8, 8, "silu"), 4, "fp16", False)[0], "fp16", l2_resident=False)
    assert silu.bytes == 2 * x


def test_mlperf_gradients_accumulate_in_place_hand_computed():
    # ResNet-50's 16 forked tensors (5,619,712 elements per image, see above): each further
    # gradient added by the convolution producing it, which reads the partial sum: one fp16
    # tensor per fork, no add kernel
    from ipuexplore.networks import build
    moved = 5_619_712 * 2 * 64
    assert gpu_kernels.gradient_sums(build("resnet50").layers, "fp16", 64, in_place=True) == (moved, 0)
    step = _step("a100-80gb-mlperf", "resnet50", 64, train=True)
    assert step.terms["gradient_sum_s"].value == pytest.approx(moved / (2039e9 * 0.79))
    assert "grad_accumulate_in_place" in step.terms["gradient_sum_s"].why


def test_mlperf_multi_tensor_update_hand_computed():
    # 161 parameter tensors, 54 per launch: 3 launches of 3 us; the update's bytes as any
    # momentum step (fp32 weights, gradients and momentum read, weights and momentum written:
    # 20 B per parameter); no autocast casts and no GradScaler pass (amp_s 0)
    from ipuexplore.networks import build
    assert gpu_kernels.optimizer_launch_s(MLPERF.spec, 161) == pytest.approx(3 * 3e-6)
    assert gpu_kernels.optimizer_launch_s(A100.spec, 161) > 161 * 3e-6  # per-tensor elsewhere
    step = _step("a100-80gb-mlperf", "resnet50", 64, train=True)
    params = sum(l.params for l in build("resnet50").layers)
    assert step.terms["weight_update_s"].value == pytest.approx(params * 20 / (2039e9 * 0.79) + 3 * 3e-6)
    assert step.terms["amp_s"].value == 0.0 and "multi_tensor_update" in step.terms["weight_update_s"].why
    assert _step("a100-80gb", "resnet50", 64, train=True).terms["amp_s"].value > 0


def test_mlperf_stem_padded_to_four_channels_hand_computed():
    # ResNet-50's stem (3 -> 64 channels, 7x7, stride 2): padded to 4 channels it runs on
    # tensor cores as the 4-channel convolution does (the fourth channel's MACs computed on
    # zeros, its bytes read): the same time, while the phase reports the 3-channel FLOPs; on
    # today's PyTorch stack CUDA cores
    from ipuexplore.models import gpu
    stem3, stem4 = (Layer.conv(c, 224, 224, 64, 7, stride=2, pad=3) for c in (3, 4))
    p3 = estimate(MLPERF, stem3, batch=32).phase("forward")
    assert p3.unit == "tensor cores (fp16)" and p3.terms["unit_peak_flop_s"].value == pytest.approx(312e12)
    assert "stem_pad_channels" in p3.terms["unit_peak_flop_s"].why
    p4 = estimate(MLPERF, stem4, batch=32).phase("forward")
    assert p3.time_s == pytest.approx(p4.time_s, rel=1e-9) and p3.bytes == p4.bytes
    assert p3.flops == pytest.approx(p4.flops * 3 / 4) and p3.flops == 2 * 32 * stem3.macs
    assert estimate(A100, stem3, batch=32).phase("forward").unit == "CUDA cores"
    # the weight gradient pads likewise; a stride-1 3-channel convolution is not the stem case
    assert estimate(MLPERF, stem3, batch=32, train=True).phase("backward_weights").unit == "tensor cores (fp16)"
    assert estimate(MLPERF, Layer.conv(3, 56, 56, 64, 3, pad=1), batch=32).phase("forward").unit == "CUDA cores"
    work = passes(stem3, 32, "fp16", False)[0]
    assert gpu_kernels.stem_padding(MLPERF.spec, work) == 4 and gpu_kernels.stem_padding(A100.spec, work) == 0
    assert gpu.cost(MLPERF, work, "fp16", l2_resident=False).time_s < gpu.cost(A100, work, "fp16", l2_resident=False).time_s


def test_v3_norms_applied_in_the_next_convolution_hand_computed():
    # resnet-v1b-mainloop-fl: in each of ResNet-50's 16 bottlenecks the first two norms (each
    # read by a ReLU read by one convolution) are applied by that convolution as it loads its
    # operand: 32 norms lose their forward kernel; the block-ending norm (with the addition)
    # and the shortcut's keep theirs
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    layers = build("resnet50").layers
    idx = gpu_kernels.norms_applied_in_next_conv(layers)
    assert len(idx) == 32 and all(layers[i].kind.value == "norm" for i in idx)
    assert [layers[i].name for i in idx[:2]] == ["layer1.0.bn1", "layer1.0.bn2"] and "layer1.0.bn3" not in [layers[i].name for i in idx]
    h100 = load_chip("h100-mlperf")
    plain = replace(h100, spec=replace(h100.spec, bn_apply_in_conv=0))
    fused, unfused = (network_step(c, layers, 64, "fp16", True) for c in (h100, plain))
    fwd = sum(estimate(h100, layers[i], batch=64, train=True).phase("forward").time_s for i in idx)
    assert fused.terms["layers_s"].value == pytest.approx(unfused.terms["layers_s"].value - fwd, rel=1e-9)
    assert fused.layer_time_s[idx[0]] == pytest.approx(unfused.layer_time_s[idx[0]]
                                                       - estimate(h100, layers[idx[0]], batch=64, train=True).phase("forward").time_s)
    assert "bn_apply_in_conv" in fused.terms["layers_s"].why
    assert MLPERF.spec.bn_apply_in_conv == 0  # v1.1/v2.0's resnet-v1b-stats-fl applies them in kernels of their own
    # inference too: the same symbol
    assert network_step(h100, layers, 64, "fp16", False).time_s < network_step(plain, layers, 64, "fp16", False).time_s


def test_cuda_graphs_leave_no_host_floor_hand_computed():
    # the eager V100 spec's host issues ResNet-50's 174 forward ops at 73.7 us: 12.82 ms at
    # batch 1; replayed as CUDA graphs the host issues none, whatever host_dispatch_us says
    eager = load_chip(ROOT / "docs" / "hw-examples" / "v100-pytorch-eager.toml")
    graphs = replace(eager, spec=replace(eager.spec, cuda_graphs=1))
    from ipuexplore.models.netplan import network_step
    from ipuexplore.networks import build
    layers = build("resnet50").layers
    assert network_step(eager, layers, 1, "fp16", False).terms["host_dispatch_s"].value > 0.0
    step = network_step(graphs, layers, 1, "fp16", False)
    assert step.terms["host_dispatch_s"].value == 0.0 and "cuda_graphs" in step.terms["host_dispatch_s"].why
    assert gpu_kernels.host_us_per_op(graphs.spec, "fp16") == 0.0 and gpu_kernels.host_us_per_op(eager.spec, "fp16") == pytest.approx(73.7)
    assert MLPERF.spec.cuda_graphs == 1


def test_mlperf_stack_never_slower_than_pytorch_on_the_same_silicon():
    # every fusion removes work: the MLPerf stack's ResNet-50 step is faster at every batch,
    # and its layers never slower one by one
    for batch in (8, 64, 256):
        assert _step("a100-80gb-mlperf", "resnet50", batch, train=True).time_s < _step("a100-80gb", "resnet50", batch, train=True).time_s
    from ipuexplore.networks import build
    for layer in build("resnet50").layers:
        assert estimate(MLPERF, layer, batch=16, train=True).time_s <= estimate(A100, layer, batch=16, train=True).time_s * (1 + 1e-12)


# ---- the era chip and the systems ---------------------------------------------------------
def test_v100_2019_is_the_v100_silicon_with_2019_software():
    silicon = ("sms", "clock_ghz", "peak_fp32_tflop_s", "peak_fp16_tensor_tflop_s", "hbm_gb", "hbm_bw_gb_s", "l2_mb", "l2_bw_tb_s")
    assert all(getattr(V2019.spec, f) == getattr(V100.spec, f) for f in silicon)
    s = V2019.spec
    assert (s.nchw_layout, s.grouped_tensor_cores, s.group_loop) == (1, 0, 1)
    assert s.depthwise_bw_efficiency == 0.24 and "pytorch/pytorch#18631" in V2019.source_of("depthwise_bw_efficiency")
    assert "cuDNN 7.6" in V2019.name


def test_era_fields_are_optional_with_todays_defaults(tmp_path):
    text = (ROOT / "ipuexplore" / "hardware" / "v100.toml").read_text()
    text = "\n".join(line for line in text.splitlines() if not line.startswith("depthwise_"))
    chip = load_chip(_write(tmp_path, text.replace('id = "v100"', 'id = "mine"')))
    assert (chip.spec.nchw_layout, chip.spec.grouped_tensor_cores, chip.spec.group_loop) == (0, 1, 0)
    assert chip.spec.depthwise_bw_efficiency == 0.0 and chip.spec.depthwise_grad_bw_efficiency == 0.0
    with pytest.raises(ValueError, match="figures.group_loop"):
        load_chip(_write(tmp_path, text + "\ngroup_loop = 2\n"))


def _write(tmp_path, text):
    path = tmp_path / "spec.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("system, device", [("dgx-1-v100", "v100"), ("dgx-a100", "a100-80gb"), ("dgx-h100", "h100"),
                                            ("dgx-a100-mlperf", "a100-80gb-mlperf"), ("dgx-h100-mlperf", "h100-mlperf")])
def test_dgx_systems_load_as_eight_gpus(system, device):
    chip = load_chip(system)
    assert chip.family == "gpu" and chip.device == device and chip.devices == 8
    assert chip.system.devices_per_node == 8 and chip.system.intra_node_link_gb_s > 0
    assert chip.spec == load_chip(device).spec
    assert system in list_chips() and dict(listing())[system].endswith(f"(8 x {device})")


def test_cli_lists_the_era_chip_and_the_systems(capsys):
    assert main(["chips"]) == 0
    out = capsys.readouterr().out
    for chip_id in ("v100-2019", "dgx-1-v100", "dgx-a100", "dgx-h100", "a100-80gb-mlperf", "h100-mlperf", "dgx-a100-mlperf", "dgx-h100-mlperf"):
        assert chip_id in out


def test_net_json_has_the_era_chip_and_a_dgx_plan(capsys):
    code = main(["net", "resnet50", "--chips", "v100-2019,dgx-a100", "--batch", "64", "--train", "--json"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    dgx = doc["chips"]["dgx-a100"]
    assert dgx["plan"]["ipus"] == 8 and dgx["plan"]["replicas"] == 8 and dgx["plan"]["micro_batch"] == 8
    assert doc["chips"]["v100-2019"]["plan"]["ipus"] == 1
    assert dgx["throughput_img_s"] == pytest.approx(64 / dgx["time_s"])
