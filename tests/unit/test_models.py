"""Cost models: every term on hand-computed cases, then the limits the explorer relies on."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from ipuexplore.hardware import load_chip
from ipuexplore.layers import Layer, LayerKind
from ipuexplore.models import estimate, roofline
from ipuexplore.models import gpu as gpu_model
from ipuexplore.models import ipu as ipu_model
from ipuexplore.models import ipu_plan
from ipuexplore.models.plan import ConvOptions
from ipuexplore.models.roofline import fill, round_up
from ipuexplore.models.work import passes

MK1, MK2, V100, A100 = (load_chip(c) for c in ("ipu-mk1", "ipu-mk2", "v100", "a100-40gb"))


def conv(cg, c=64, hw=8, batch_note=None, **kw):
    return Layer.conv(c, hw, hw, c, 3, pad=1, g=c // cg, **kw)


# ---- roofline core ----------------------------------------------------------------------
def test_roofline_hand_computed():
    r = roofline(work=1e12, bytes_=1e9, peak_flop_s=100e12, bw_b_s=1e12)
    assert r.arithmetic_intensity == 1000 and r.ridge_flop_per_b == 100
    assert r.bound == "compute" and r.time_s == pytest.approx(0.01) and r.attainable_flop_s == 100e12
    r = roofline(work=1e9, bytes_=1e9, peak_flop_s=100e12, bw_b_s=1e12)
    assert r.bound == "memory" and r.time_s == pytest.approx(1e-3) and r.attainable_flop_s == 1e12
    with pytest.raises(ValueError):
        roofline(1, 1, 0, 1)


def test_fill_and_round_up():
    assert round_up(17, 8) == 24 and round_up(16, 8) == 16
    assert fill(4, 16) == 0.25 and fill(24, 16) == 0.75 and fill(16, 16) == 1.0


# ---- work decomposition -----------------------------------------------------------------
def test_training_passes_have_equal_macs_and_swapped_roles():
    layer = Layer.conv(64, 8, 8, 32, 3, pad=1, g=4)
    fwd, bwd_d, bwd_w = passes(layer, 2, "fp16", True)
    assert fwd.macs == bwd_d.macs == bwd_w.macs == 2 * layer.macs
    assert (fwd.in_ch, fwd.cols, fwd.reduction, fwd.rows) == (16, 8, 16 * 9, 2 * 64)
    assert (bwd_d.in_ch, bwd_d.cols, bwd_d.reduction) == (8, 16, 8 * 9)
    assert (bwd_w.rows, bwd_w.cols, bwd_w.reduction) == (16 * 9, 8, 2 * 64)
    assert bwd_d.c_bytes == layer.input_bytes("fp16", 2)  # grad input
    assert bwd_w.c_bytes == layer.weight_bytes("fp16")  # grad weights


# ---- IPU terms --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "chip, cg, dtype, vertex, rate",
    [
        (MK1, 16, "fp16", "AMP", 32),  # 16 in-chans fill one pass, 16 out-chans = 2 x 8 engines
        (MK1, 4, "fp16", "AMP", 32 / 4),  # 4 groups combined into one of 16: full AMP, 1/4 useful
        (MK1, 2, "fp16", "HMAC", 4),  # AMP needs multiples of 4 half: HMAC vector width
        (MK1, 1, "fp16", "HMAC", 2),  # Poplar 1.x: no VMAC, half channels padded to pairs
        (MK1, 8, "fp32", "AMP", 8),  # 8 fp32 in-chans per pass, 8 out = 2 x 4 engines
        (MK2, 1, "fp16", "SLIC", 4 * 4 * 2 * 3 / 4),  # 3-wide kernel in a 4-wide window
        (MK2, 16, "fp16", "AMP", 64),
    ],
)
def test_ipu_vertex_choice(chip, cg, dtype, vertex, rate):
    work = passes(conv(cg), 1, dtype, False)[0]
    name, got, _ = ipu_model.vertex_candidates(chip.spec, work, dtype)[0]
    assert (name, got) == (vertex, pytest.approx(rate))


def test_ipu_combines_small_groups_into_amp_passes():
    # 4 channels per group on Mk1: a plain AMP pass fills 4/16 inputs and 4/8 engines (4
    # MACs/cycle). Combining 2 groups (8 in / 8 out: 1/2 x 1 fill, 1/2 useful) or 4 (full,
    # 1/4 useful) both give 32 / 4 = 8; the tie goes to the smaller factor (fewer zeros).
    work = passes(conv(4), 1, "fp16", False)[0]
    name, rate, fills = ipu_model.vertex_candidates(MK1.spec, work, "fp16")[0]
    assert (name, rate, fills["groups_combined"]) == ("AMP", 8.0, 2)
    # the planned conv is the transformed one: 2x the MACs at the raw AMP rate
    e = estimate(MK1, conv(4, c=256, hw=14), batch=16)
    assert "groups_combined 2" in e.phase("forward").terms["vertex"].why
    assert e.unit == "AMP (2 groups combined)"


def test_ipu_plans_every_candidate_vertex_and_keeps_the_cheapest():
    # poplibs' createPlan plans each candidate vertex and keeps the cheapest plan. At 4
    # channels per group the combined AMP passes win at batch 16, but at batch 1 each tile
    # has too few positions to amortise AMP's per-tap pass overhead (214 cycles x 9 taps)
    # and the 4-wide HMAC vertex is cheaper in cycles although its MAC rate is half.
    layer = conv(4, c=256, hw=14)
    for batch, vertex in ((1, "HMAC"), (16, "AMP")):
        work = passes(layer, batch, "fp16", False)[0]
        cands = ipu_model.vertex_candidates(MK1.spec, work, "fp16")
        cycles = {c[0] + str(c[2].get("groups_combined", 1)): ipu_model._plan_for(MK1.spec, work, "fp16", ConvOptions(), c).cycles
                  for c in cands}
        e = estimate(MK1, layer, batch=batch)
        assert e.unit.split(" (")[0] == vertex
        chosen = min(cycles, key=cycles.get)
        assert chosen.startswith(vertex), (batch, cycles)
    assert ipu_model.vertex_candidates(MK1.spec, passes(layer, 1, "fp16", False)[0], "fp16")[0][0] == "AMP"  # first tried


def test_ipu_plan_hand_computed_single_operand_split():
    # 4 tiles, 1 worker, 4 B/cycle exchange; 4 rows of 100 MACs at 10 MACs/cycle;
    # inputs 400 B, weights 40 B. Rows split 4 ways: 10 compute cycles, 100 + 40 B in
    # (weights replicated) = 35 cycles -> 45; 2 ways: 20 + 60 = 80; 1 way: 40 + 110 = 150.
    p = ipu_plan.plan(4, 1, 4.0, 4.0, 1, 4, 1, 1, 100.0, 10.0, 400, 40, 4)
    assert (p.gp, p.mp, p.np, p.cp, p.tiles_used) == (1, 4, 1, 1, 4)
    assert p.compute_cycles == 10 and p.exchange_in_bytes_per_tile == 140
    assert p.reduction_bytes_per_tile == 0 and p.supersteps == 2


def test_ipu_plan_trades_replication_against_compute():
    # m=2 rows x 2 column units, 400 B of inputs and of weights on 4 tiles:
    # (np, mp) = (1,1): 40 + 200 = 240 cycles; (2,1) or (1,2): 20 + 150 = 170; (2,2): 10 + 100 = 110
    p = ipu_plan.plan(4, 1, 4.0, 4.0, 1, 2, 2, 1, 100.0, 10.0, 400, 400, 4)
    assert (p.mp, p.np) == (2, 2)
    assert p.compute_cycles + p.exchange_in_bytes_per_tile / 4 == 110


def test_ipu_plan_charges_a_fixed_cost_per_vertex_pass():
    # as the first case, with 9 kernel taps as separate passes at 214 cycles each: rows split
    # 4 ways -> 1 pass group x 9 taps = 9 passes on each tile
    p = ipu_plan.plan(4, 1, 4.0, 4.0, 1, 4, 1, 1, 100.0, 10.0, 400, 40, 4, taps=9, pass_overhead=214)
    assert p.passes_per_tile == 9
    assert p.compute_cycles == 10 + 9 * 214
    # poplibs-derived constants: 6 x (38 - 12) + 19 + 7 + 16 x 32 / 16
    assert ipu_plan.AMP_PASS_OVERHEAD_CYCLES == 6 * (38 - 12) + 19 + 7 + 16 * 32 // 16


def test_ipu_plan_splits_reductions_with_partial_sums():
    # one output chunk, a long reduction: splitting it 4 ways costs fp32 partials
    p = ipu_plan.plan(4, 1, 4.0, 4.0, 1, 1, 1, 4, 1000.0, 10.0, 40, 40, 16)
    assert p.cp == 4 and p.supersteps == 3
    assert p.reduction_bytes_per_tile == 16 * 4  # all 16 outputs' partials, fp32


def test_ipu_terms_add_up():
    s = MK1.spec
    layer = conv(16, c=256, hw=14)  # 16 groups of 16; fits SRAM
    e = estimate(MK1, layer, batch=4)
    p = e.phase("forward")
    clock = 1.6e9
    macs = 4 * 256 * 14 * 14 * 16 * 9
    # no tile can beat the whole IPU at full AMP rate
    assert p.terms["compute_s"].value >= macs / (32 * 1216 * clock)
    min_bytes = layer.min_bytes("fp16", 4)
    assert p.terms["exchange_bytes"].value >= min_bytes - layer.output_bytes("fp16", 4)
    assert p.terms["sram_s"].value == pytest.approx(min_bytes / 45e12)
    assert p.terms["sync_s"].value == pytest.approx(p.terms["plan"].value * s.sync_cycles / clock)
    assert p.terms["streaming_s"].value == 0
    assert e.time_s == pytest.approx(
        p.terms["compute_s"].value + p.terms["exchange_s"].value + p.terms["sync_s"].value
    )
    assert e.memory_level == "sram" and e.fits and e.bound == "compute"


def test_ipu_layer_too_big_for_sram_is_serialised_not_streamed():
    # poplibs serialises a layer that does not fit (batch, then output channels): no cliff
    layer = conv(16, c=256, hw=56)
    small, big = estimate(MK1, layer, batch=2), estimate(MK1, layer, batch=64)
    assert small.fits and big.fits
    assert big.memory_level == "sram"
    assert big.plan.gradient_accumulation > 1 and big.plan.micro_batch < 64
    assert big.terms["serialised_pieces"].value == big.plan.gradient_accumulation
    # per image about the same as the resident layer, never the streamed 10x
    assert big.time_s / 64 < 1.3 * small.time_s / 2


def test_cliff_gone_batch_16_of_a_layer_that_fits_at_batch_1_costs_about_16x():
    layer = conv(16, c=256, hw=224)
    one, sixteen = estimate(MK1, layer, batch=1), estimate(MK1, layer, batch=16)
    assert one.fits and sixteen.fits
    assert 12 < sixteen.time_s / one.time_s < 20


def test_layer_too_big_even_for_one_image_splits_its_output_channels():
    layer = Layer.conv(2048, 160, 160, 2048, 3, pad=1)  # 105 MB in, 105 MB out, 75 MB weights
    e = estimate(MK1, layer, batch=2)
    assert e.fits and "output channels" in e.terms["serialised_pieces"].why
    assert e.plan.micro_batch == 1


def test_ipu_weight_gradient_reduction_adds_partials_and_a_superstep():
    e = estimate(MK1, conv(16, c=256, hw=14), batch=4, train=True)
    wu = e.phase("backward_weights")
    assert "reduction" in wu.terms["plan"].why
    # exchange, compute, one reduce stage (12 partials < 16), and the regrouping of both
    # operands (a copy and a transpose each: models.ipu_conv_program)
    assert wu.terms["plan"].value == 3 + 4
    assert wu.terms["sync_s"].value == pytest.approx(7 * MK1.spec.sync_cycles / 1.6e9)


# ---- GPU terms --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "chip, cg, dtype, unit",
    [
        (V100, 8, "fp16", "tensor cores (fp16)"),
        (V100, 4, "fp16", "CUDA cores"),  # not a multiple of 8
        (V100, 8, "fp32", "CUDA cores"),  # no TF32 on Volta
        (A100, 4, "fp32", "tensor cores (tf32)"),
        (A100, 2, "fp32", "CUDA cores"),
        (V100, 1, "fp16", "CUDA cores (direct depthwise)"),
    ],
)
def test_gpu_compute_unit_follows_channel_multiples(chip, cg, dtype, unit):
    assert estimate(chip, conv(cg), batch=8, dtype=dtype).unit == unit


def test_gpu_depthwise_terms_hand_computed():
    layer = conv(1, c=256, hw=56)
    e = estimate(V100, layer, batch=32)
    p = e.phase("forward")
    min_bytes = layer.min_bytes("fp16", 32)
    assert min_bytes > V100.spec.l2_mb * 1e6  # not L2-resident
    assert p.terms["hbm_s"].value == pytest.approx(min_bytes / (900e9 * V100.spec.hbm_efficiency))
    assert p.terms["launch_s"].value == pytest.approx(3e-6)
    assert e.bytes == min_bytes and e.bound == "memory" and e.memory_level == "hbm"
    # the depthwise kernel moves its bytes at 0.43 of DRAM bandwidth, capped at 80 SMs x
    # 4.75 GB/s = 0.422 (v100.toml, sourced), slower than a streaming kernel's 0.87: that
    # rate, not HBM's, sets the time
    dw_s = min_bytes / (80 * 4.75e9)
    assert p.terms["depthwise_s"].value == pytest.approx(dw_s) and dw_s > p.terms["hbm_s"].value
    assert e.time_s == pytest.approx(dw_s + 3e-6)
    assert e.arithmetic_intensity == pytest.approx(layer.flops * 32 / min_bytes)


def test_gpu_tile_traffic_hand_computed():
    # 4 groups of 16 channels: per-group GEMM m=8*8*8, n=16, red=16*9. Tiles 32 x 16 (the
    # 32-row shape gives 64 blocks, 0.8 of the SMs, where 128-row tiles give 16: fastest)
    layer = conv(16, c=64, hw=8)
    p = estimate(V100, layer, batch=8).phase("forward")
    m, n, red, g = 8 * 64, 16, 16 * 9, 4
    blocks = g * (m // 32) * 1
    assert "in 32x16 tiles" in p.terms["shape_fill"].why
    # 64 blocks on 80 SMs could split K 2 ways, but the second (reduction) kernel's 3 us
    # launch costs more than it saves: the autotuner keeps the plain kernel
    split_k = 1
    l2 = g * (m * red * 1 + n * red * (m // 32)) * 2 + layer.output_bytes("fp16", 8) * split_k
    assert p.bytes_by_level["l2"] == l2
    assert p.terms["shape_fill"].value == 1.0
    waves = -(-blocks * split_k // 80)
    sm_fill = blocks * split_k / (waves * 80)
    assert p.terms["sm_fill"].value == pytest.approx(sm_fill)
    assert p.unit == "tensor cores (fp16)"
    # a reduction of 144 in CUTLASS's 32-deep chunks: 5 chunks, 160 deep, 0.9 of them used
    assert p.terms["reduction_fill"].value == pytest.approx(144 / 160)
    assert p.terms["compute_s"].value == pytest.approx(8 * layer.flops / (125e12 * 0.66 * 1.0 * 0.9 * sm_fill))
    assert p.terms["l2_s"].value == pytest.approx(l2 / 3.1e12)
    assert p.terms["launch_s"].value == pytest.approx(3e-6)


def test_gpu_split_k_only_where_it_pays():
    # dense 512 -> 512 3x3 on 7x7, batch 1: m=49, n=512. In 56 x 128 tiles that is 4 blocks on
    # 80 SMs with a reduction 4608 long: splitting it 20 ways fills the SMs and is worth a
    # second launch; in 32 x 32 tiles (32 blocks) a split pays less than its launch
    layer = Layer.conv(512, 7, 7, 512, 3, pad=1)
    work = passes(layer, 1, "fp16", False)[0]
    hbm_b = work.min_bytes - work.a_bytes  # the input is L2-resident
    wide = gpu_model._tile_shape(V100.spec, work, 2, hbm_b, 125e12 * 0.66, True, 128, 128, False)
    assert wide[1:6] == (56, 128, 49 / 56, 4, 20)
    flops, peak = 2 * 49 * 512 * 4608, 125e12 * 0.66 * (49 / 56)
    split = flops / (peak * 1.0) + 2 * 3e-6
    plain = flops / (peak * 4 / 80) + 3e-6
    assert split < plain and wide[0] == pytest.approx(max(split - 6e-6, hbm_b / (900e9 * V100.spec.hbm_efficiency)) + 6e-6)
    narrow = gpu_model._tile_shape(V100.spec, work, 2, hbm_b, 125e12 * 0.66, True, 32, 32, False)
    # in 32 x 32 tiles (32 blocks, m padded to 64) a 3-way split gives 96 blocks in 2 waves,
    # compute 0.6 x 80 SMs busy against 32 of 80: it pays by a hair over its second launch
    nflops_s = flops / (125e12 * 0.66 * (49 / 64))
    hbm_s = hbm_b / (900e9 * V100.spec.hbm_efficiency)
    split3, plain32 = max(nflops_s / (96 / 160), hbm_s) + 6e-6, max(nflops_s / (32 / 80), hbm_s) + 3e-6
    assert narrow[5] == (3 if split3 < plain32 else 1)
    assert narrow[0] == pytest.approx(min(split3, plain32))
    # the estimate runs the fastest of all shapes, as an autotuner would
    p = estimate(V100, layer, batch=1).phase("forward")
    assert p.time_s == pytest.approx(min(wide[0], narrow[0]))


def test_gpu_l2_resident_input_skips_hbm():
    layer = conv(16, c=64, hw=8)  # a few hundred kB: fits the V100's 6 MB L2
    e = estimate(V100, layer, batch=2)
    assert e.bytes == layer.weight_bytes("fp16") + layer.output_bytes("fp16", 2)
    assert e.phase("forward").memory_level in ("l2", "hbm")


# ---- element-wise layers -------------------------------------------------------------------
def test_elementwise_layer_terms_hand_computed():
    act = Layer.act(64, 56, 56, "relu")
    elems = 32 * 64 * 56 * 56
    g = estimate(V100, act, batch=32).phase("forward")
    assert g.bytes == 2 * elems * 2  # read + write, fp16
    assert g.terms["hbm_s"].value == pytest.approx(2 * elems * 2 / (900e9 * V100.spec.hbm_efficiency))
    assert g.bound == "memory" and g.terms["launch_s"].value == pytest.approx(3e-6)
    i = estimate(MK1, act, batch=32).phase("forward")
    # relu: one popops vertex per tile (models.ipu_elementwise): 6 workers x (26 + 3 cycles
    # per 4-half vector) + 11, over the 5,282 elements (881 per worker: 221 vectors) each tile holds
    assert i.terms["compute_s"].value == pytest.approx((6 * (26 + 3 * 221) + 11) / 1.6e9)
    assert i.terms["exchange_s"].value == 0 and i.terms["plan"].value == 1


# ---- host terms -------------------------------------------------------------------------
def test_host_terms_hand_computed():
    host = load_chip("host")  # 179 GFLOP/s, 8 fp32 lanes, L3 115 GB/s (33.5 MB), DRAM 17 GB/s
    eff = host.spec.row_kernel_efficiency  # fitted to the engine (host.toml says to what)
    assert host.figures["row_kernel_efficiency"].tag == "M" and "FITTED" in host.figures["row_kernel_efficiency"].source
    layer = conv(4, c=64, hw=14)  # 16 groups of 4 channels: the engine's row kernel
    e = estimate(host, layer, batch=2, dtype="fp32")
    p = e.phase("forward")
    assert p.unit.startswith("row kernel")
    assert p.terms["simd_fill"].value == 14 / 16  # rows of 14 outputs in 8-lane vectors
    assert p.terms["compute_s"].value == pytest.approx(2 * layer.flops / (179e9 * eff * 14 / 16))
    copy_in = (layer.input_bytes("fp32", 2) + layer.weight_bytes("fp32")) / 115e9
    assert p.terms["exchange_s"].value == pytest.approx(copy_in)
    assert p.terms["write_s"].value == pytest.approx(layer.output_bytes("fp32", 2) / 115e9)
    assert p.memory_level == "l3" and p.terms["overhead_s"].value == pytest.approx(5e-6)
    # bulk-synchronous: copy, compute and write do not overlap
    assert e.time_s == pytest.approx(p.terms["compute_s"].value + p.terms["memory_s"].value + 5e-6)
    big = estimate(host, Layer.conv(256, 112, 112, 256, 3, pad=1, g=256), batch=8, dtype="fp32")
    assert big.memory_level == "dram"  # 2 x 103 MB does not fit the 32 MiB L3
    assert big.unit.startswith("row kernel, 3x3 depthwise path")


def test_host_fused_epilogues_hand_computed():
    # host.toml: the fused session at inference (fused_epilogues = 1); 179 GFLOP/s, L3 115 GB/s
    host = load_chip("host")
    assert host.spec.fused_epilogues == 1 and "HostSession" in host.source_of("fused_epilogues")
    unfused = replace(host, spec=replace(host.spec, fused_epilogues=0))
    elems = 2 * 64 * 14 * 14

    def fwd(chip, layer, train=False):
        return estimate(chip, layer, batch=2, dtype="fp32", train=train).phase("forward")

    # batch norm: folded into the convolution, nothing left
    norm = fwd(host, Layer.norm(64, 14, 14))
    assert norm.time_s == 0 and norm.bytes == 0 and "folded" in norm.terms["fused"].why
    # ReLU in the convolution's write: its element-wise ops at half the FMA rate, no memory, no call
    relu = fwd(host, Layer.act(64, 14, 14, "relu"))
    assert relu.time_s == pytest.approx(elems / (179e9 / 2)) and relu.bytes == 0
    # SiLU: the engine's measured cost per element (an exp and a division), on every core
    silu = fwd(host, Layer.act(64, 14, 14, "silu"))
    assert host.figures["exp_activation_ns"].tag == "M" and silu.bytes == 0
    assert silu.time_s == pytest.approx(elems * host.spec.exp_activation_ns * 1e-9 / host.spec.cores)
    assert "exp_activation_ns" in silu.terms["compute_s"].why
    no_exp = replace(host, spec=replace(host.spec, exp_activation_ns=0.0))  # counted as 4 ops at half the FMA rate
    assert fwd(no_exp, Layer.act(64, 14, 14, "silu")).time_s == pytest.approx(4 * elems / (179e9 / 2))
    # the residual addition: its addend read in the write (L3), its ops, no call
    add = fwd(host, Layer.add(64, 14, 14))
    assert add.bytes == 4 * elems and add.terms["overhead_s"].value == 0
    assert add.time_s == pytest.approx(4 * elems / 115e9 + elems / (179e9 / 2))
    # squeeze-excite: the FCs' weights and a call remain, not the passes over x
    se = fwd(host, Layer.se(64, 14, 14, 16))
    assert se.bytes == Layer.se(64, 14, 14, 16).weight_bytes("fp32")
    assert se.terms["overhead_s"].value == pytest.approx(5e-6)
    # never more than the unfused pass; unchanged where the session does not fuse
    for layer in (Layer.norm(64, 14, 14), Layer.act(64, 14, 14, "silu"), Layer.add(64, 14, 14), Layer.se(64, 14, 14, 16)):
        assert fwd(host, layer).time_s < fwd(unfused, layer).time_s
    for layer in (Layer.norm(64, 14, 14, "group"), Layer.act(64, 14, 14, "gelu"), Layer.pool(64, 14, 14, "max", 3, stride=2, pad=1)):
        assert fwd(host, layer).time_s == fwd(unfused, layer).time_s and "fused" not in fwd(host, layer).terms
    # training keeps every pass (autograd needs them)
    assert fwd(host, Layer.norm(64, 14, 14), train=True).time_s == fwd(unfused, Layer.norm(64, 14, 14), train=True).time_s


def test_host_kernel_choice_follows_the_engine():
    from ipuexplore.models import cpu as cpu_model

    def kernel(cg, kg=None, c=256):
        kg = cg if kg is None else kg
        layer = Layer.conv(c, 14, 14, kg * (c // cg), 3, pad=1, g=c // cg)
        return cpu_model.kernel_for(passes(layer, 1, "fp32", False)[0])

    # csrc/src/conv.c pick_kernel: channel kernel when c/g >= 8 and k/g >= 8, else the row kernel
    assert [kernel(cg) for cg in (1, 2, 4, 8, 16, 256)] == ["row:dw3", "row", "row", "channel", "channel", "channel"]
    assert kernel(16, kg=4) == "row"
    assert kernel(4, kg=16) == "row"
    # one group of fewer than 8 input channels (a stem): im2col rows through the pointwise compute
    stem = Layer.conv(3, 224, 224, 32, 3, stride=2, pad=1)
    assert cpu_model.kernel_for(passes(stem, 1, "fp32", False)[0]) == "gemm"
    # ... but a window past 3x3 (ResNet's 7x7 stem) runs the channel kernel
    assert cpu_model.kernel_for(passes(Layer.conv(3, 224, 224, 64, 7, stride=2, pad=3), 1, "fp32", False)[0]) == "channel"
    assert cpu_model.kernel_for(passes(Layer.conv(3, 56, 56, 4, 3, pad=1), 1, "fp32", False)[0]) == "row"
    # kernel_pointwise.c: a 1x1 convolution on a map with >= 8 channels in and out per group (a
    # linear layer's 1x1 "map" runs fully_connected.c, costed as the channel kernel)
    fwd = lambda layer: cpu_model.kernel_for(passes(layer, 1, "fp32", False)[0])  # noqa: E731
    assert fwd(Layer.conv(96, 14, 14, 576, 1)) == "pointwise" and fwd(Layer.linear(1280, 1000)) == "channel"
    assert cpu_model.kernel_for(passes(Layer.conv(96, 14, 14, 576, 1), 1, "fp32", True)[1]) == "channel"
    # depthwise off the 3x3 stride-1 path: 5x5 stride 1, and stride 2 (row_dw_kind 51, 32 / 52)
    dw = lambda k, stride: fwd(Layer.conv(96, 28, 28, 96, k, stride=stride, pad=k // 2, g=96))  # noqa: E731
    assert [dw(3, 1), dw(5, 1), dw(3, 2), dw(5, 2)] == ["row:dw3", "row:dw5", "row:dw-s2", "row:dw-s2"]

    def weight_grad_kernel(cg, kg, stride=1):
        layer = Layer.conv(4 * cg, 14, 14, 4 * kg, 3, stride=stride, pad=1, g=4)
        return cpu_model.kernel_for(passes(layer, 1, "fp32", True)[2])

    # conv_backward.c bw_uses_chan: c/g >= 8, k/g a multiple of 8, stride 1 across
    assert [weight_grad_kernel(8, 8), weight_grad_kernel(16, 24), weight_grad_kernel(4, 8),
            weight_grad_kernel(8, 12), weight_grad_kernel(8, 8, stride=2)] == ["channel", "channel", "row", "row", "row"]
    # a CPU spec without the fitted fields models ideal kernels
    from ipuexplore.hardware.loader import parse_chip

    text = (Path(__file__).resolve().parents[2] / "ipuexplore/hardware/host.toml").read_text()
    bare = parse_chip("\n".join(l for l in text.splitlines() if "_kernel_efficiency" not in l), "bare.toml")
    assert (bare.spec.depthwise_kernel_efficiency, bare.spec.row_kernel_efficiency, bare.spec.channel_kernel_efficiency) == (1.0, 1.0, 1.0)


# ---- limits ------------------------------------------------------------------------------
@pytest.mark.parametrize("chip", ["ipu-mk1", "ipu-mk2", "v100", "a100-40gb", "h100"])
def test_dense_layers_are_compute_bound(chip):
    e = estimate(chip, Layer.conv(256, 28, 28, 256, 3, pad=1), batch=32)
    assert e.utilisation > 0.3
    p = e.phases[0]
    if chip == "h100":
        # the H100's tile choice (128 x 128 fills its 132 SMs better than 256 x 128) moves the
        # operands through L2 at its 9 TB/s upper bound slower than its tensor cores need:
        # L2-bound, never HBM-bound
        assert p.terms["hbm_s"].value < p.terms["l2_s"].value
    else:
        assert e.bound == "compute"


@pytest.mark.parametrize("chip", ["v100", "a100-40gb", "h100"])
def test_depthwise_is_memory_bound_on_gpus(chip):
    e = estimate(chip, Layer.conv(256, 28, 28, 256, 3, pad=1, g=256), batch=32)
    assert e.bound == "memory"
    assert e.utilisation < 0.05


def test_ipu_advantage_grows_as_groups_shrink_for_the_stated_reasons():
    ratios = {}
    for cg in (256, 64, 16, 4, 1):
        layer = Layer.conv(256, 28, 28, 256, 3, pad=1, g=256 // cg)
        ipu, gpu = estimate(MK1, layer, batch=32), estimate(V100, layer, batch=32)
        ratios[cg] = gpu.time_s / ipu.time_s
        assert ipu.memory_level == "sram"  # the IPU reads from SRAM throughout
    assert ratios[1] > ratios[256] and ratios[16] > ratios[256]
    # reasons: the GPU loses tensor cores below 8 channels/group and becomes memory-bound,
    # while the IPU stays compute-bound on data in SRAM
    small = Layer.conv(256, 28, 28, 256, 3, pad=1, g=64)
    assert estimate(V100, small, batch=32).unit == "CUDA cores"
    assert estimate(V100, small.with_(g=256), batch=32).bound == "memory"
    assert estimate(MK1, small.with_(g=256), batch=32).bound == "compute"


# ---- training, other layers, output -----------------------------------------------------
@pytest.mark.parametrize("chip", ["ipu-mk1", "v100", "host"])
def test_training_costs_three_phases(chip):
    layer = conv(16, c=128, hw=14)
    inf, tr = estimate(chip, layer, batch=8), estimate(chip, layer, batch=8, train=True)
    assert [p.name for p in tr.phases] == ["forward", "backward_data", "backward_weights"]
    assert tr.flops == 3 * inf.flops
    assert tr.time_s == pytest.approx(sum(p.time_s for p in tr.phases))
    assert tr.phase("forward").time_s == pytest.approx(inf.time_s, rel=0.05)
    assert tr.activation_bytes_kept == layer.input_bytes("fp16", 8)
    assert inf.activation_bytes_kept == 0


@pytest.mark.parametrize(
    "layer",
    [
        Layer.pool(64, 56, 56, "max", 3, stride=2, pad=1),
        Layer.pool(1280, 7, 7, "global_avg"),
        Layer.norm(64, 56, 56),
        Layer.act(64, 56, 56, "silu"),
        Layer.add(64, 56, 56),
        Layer.se(96, 56, 56, 4),
        Layer.linear(2048, 1000),
    ],
    ids=lambda layer: layer.describe(),
)
@pytest.mark.parametrize("chip", ["ipu-mk1", "v100", "a100-40gb", "host"])
@pytest.mark.parametrize("train", [False, True])
def test_non_conv_layers_are_costed(layer, chip, train):
    e = estimate(chip, layer, batch=4, train=train)
    if chip == "host" and not train and layer.kind in (LayerKind.NORM, LayerKind.ACT):
        # the fused session (host.toml fused_epilogues): batch norm folded into the
        # convolution, SiLU applied in its write: no memory pass of their own
        assert "fused" in e.phases[0].terms and e.bytes == 0
        assert (e.time_s > 0) == (layer.kind is LayerKind.ACT)
        return
    assert e.time_s > 0 and e.bytes > 0
    assert e.phases[0].name == "forward"
    assert e.flops == 4 * layer.flops * len([p for p in e.phases if p.flops]) or not layer.macs
    json.dumps(e.to_dict())


def test_to_dict_has_the_contract_keys():
    d = estimate("ipu-mk1", conv(4), batch=2, train=True).to_dict()
    for key in ("time_s", "flops", "bytes", "bytes_by_level", "arithmetic_intensity", "achieved_flop_s",
                "bandwidth_b_s", "utilisation", "bound", "terms", "phases"):
        assert key in d
    assert d["bound"] in ("compute", "memory", "exchange", "overhead")
    assert d["flops_counts"] == "2 x MACs"
    assert [p["name"] for p in d["phases"]] == ["forward", "backward_data", "backward_weights"]


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="batch"):
        estimate("v100", conv(4), batch=0)
    with pytest.raises(ValueError, match="dtype"):
        estimate("v100", conv(4), dtype="int8")
    with pytest.raises(TypeError, match="layer"):
        estimate("v100", "conv")
    with pytest.raises(ValueError, match="not a GPU"):
        gpu_model.cost(MK1, passes(conv(4), 1, "fp16", False)[0], "fp16", l2_resident=False)


# ---- any valid layer ------------------------------------------------------------------------
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def conv_layers(draw):
    g = draw(st.sampled_from([1, 2, 3, 4, 8, 16]))
    c = g * draw(st.integers(1, 24))
    k = g * draw(st.integers(1, 24))
    r = draw(st.integers(1, 7))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 2))
    pad = draw(st.integers(0, 3))
    h = draw(st.integers(dilation * (r - 1) + 1, 64))
    return Layer.conv(c, h, h, k, r, stride=stride, pad=pad, dilation=dilation, g=g)


@settings(max_examples=60, deadline=None)
@given(layer=conv_layers(), batch=st.integers(1, 64), dtype=st.sampled_from(["fp16", "fp32"]), train=st.booleans(),
       chip=st.sampled_from(["ipu-mk1", "ipu-mk2", "ipu-bow", "v100", "a100-40gb", "h100", "host"]))
def test_any_conv_gets_a_finite_consistent_estimate(layer, batch, dtype, train, chip):
    e = estimate(chip, layer, batch=batch, dtype=dtype, train=train)
    assert 0 < e.time_s < 10 and e.bound in ("compute", "memory", "exchange", "overhead")
    assert e.flops == batch * layer.flops * (3 if train else 1)
    assert e.time_s == pytest.approx(sum(p.time_s for p in e.phases))
    for p in e.phases:
        assert all(t.value >= 0 for t in p.terms.values())
        # the pass can't take less than its slowest bound category
        assert p.time_s >= max(p.time_by_bound.values()) * (1 - 1e-9)
    assert 0 <= e.utilisation <= 1
    json.dumps(e.to_dict())


def test_memoised_estimates_equal_fresh_ones_and_terms_build_lazily():
    """estimate() memoises pure sub-results (passes per layer, phases per spec and pass) and
    builds the terms' explanations on first read: none of it may change a number."""
    import ipuexplore.models as models_pkg
    from ipuexplore.models import cpu, gpu, ipu
    from ipuexplore.models.result import LazyTerms

    layer = Layer.conv(96, 14, 14, 96, 3, pad=1, g=8)
    chips = [load_chip(c) for c in ("ipu-mk1", "v100", "a100-40gb")]
    first = [estimate(c, layer, batch=4, train=True).to_dict() for c in chips]
    again = [estimate(c, layer, batch=4, train=True) for c in chips]
    for f in (models_pkg._layer_work, gpu._cost, ipu._cost, cpu._cost):
        f.cache_clear()
    fresh = [estimate(c, layer, batch=4, train=True).to_dict() for c in chips]
    assert first == fresh == [e.to_dict() for e in again]
    e = again[0]
    assert isinstance(e.terms, LazyTerms) and isinstance(e.phases[0].terms, LazyTerms)
    assert dict(e.terms) == {k: e.terms[k] for k in e.terms} and len(e.terms) == len(list(e.terms))
    assert e.terms["compute_time_s"].unit == "s" and "vertex" in e.phases[0].terms
    # a chip with another spec gets its own phases, not the cached ones of a similar chip
    big = Layer.conv(512, 56, 56, 512, 3, pad=1, g=512)  # HBM-bound: 1555 vs 2039 GB/s
    assert estimate("a100-40gb", big, batch=32).time_s > estimate("a100-80gb", big, batch=32).time_s


def test_cli_layer_why_prints_the_terms_that_explain_a_group_size_step(capsys):
    """`ipuexplore layer --why` shows the terms behind the sweep's steps: at 2 channels per
    group the V100 leaves its direct depthwise kernel for an implicit GEMM that re-reads
    the input once per kernel tap through L2, while the Mk1 keeps its HMAC vertex."""
    from ipuexplore.cli import main

    assert main(["layer", "--channels", "256", "--size", "14", "--batch", "16", "--group-size", "2", "--why"]) == 0
    out = capsys.readouterr().out
    assert "ipu-mk1 forward:" in out and "v100 forward:" in out
    assert "HMAC" in out and "once per kernel tap (9)" in out and "no tensor cores" in out
    for term in ("vertex", "plan", "sync_s", "l2_s", "launch_s", "sm_fill"):
        assert f"  {term} " in out


def test_depthwise_bw_efficiency_is_an_optional_sourced_gpu_field():
    """A spec that leaves the depthwise rates out streams depthwise kernels like any other;
    the shipped V100 sets them from a cuDNN measurement (0.43 forward, 0.34 backward), the
    what-if spec from pytorch/pytorch#18631 (0.24), and only depthwise passes change."""
    from pathlib import Path

    from ipuexplore.hardware import load_chip_file

    assert V100.spec.depthwise_bw_efficiency == 0.43 and V100.figures["depthwise_bw_efficiency"].tag == "U"
    assert V100.spec.depthwise_grad_bw_efficiency == 0.34
    plain = replace(V100, id="plain", spec=replace(V100.spec, depthwise_bw_efficiency=0.0, depthwise_grad_bw_efficiency=0.0,
                                                   depthwise_gb_s_per_sm=0.0, depthwise_grad_gb_s_per_sm=0.0))
    what_if = load_chip_file(Path(__file__).resolve().parents[2] / "docs/hw-examples/v100-pytorch-native-depthwise.toml")
    assert what_if.spec.depthwise_bw_efficiency == 0.24 and what_if.figures["depthwise_bw_efficiency"].tag == "U"
    dw = Layer.conv(256, 14, 14, 256, 3, pad=1, g=256)
    p = estimate(what_if, dw, batch=16).phase("forward")
    assert p.terms["depthwise_s"].value == pytest.approx(dw.min_bytes("fp16", 16) / (900e9 * 0.24))
    assert "depthwise_bw_efficiency" in p.terms["depthwise_s"].why
    grouped = dw.with_(g=64)
    assert estimate(what_if, grouped, batch=16).time_s == estimate(plain, grouped, batch=16).time_s
    assert estimate(what_if, dw, batch=16).time_s > 3 * estimate(plain, dw, batch=16).time_s
    # backward passes use the backward rate where a spec gives one, else the forward's
    train = estimate(V100, dw, batch=64, train=True).phase("backward_data")
    assert train.terms["depthwise_s"].value == pytest.approx(dw.min_bytes("fp16", 64) / (80 * 3.80e9))  # 0.338 < 0.34
    assert estimate(what_if, dw, batch=64, train=True).phase("backward_data").terms["depthwise_s"].value == pytest.approx(
        dw.min_bytes("fp16", 64) / (900e9 * 0.24))


def test_gpu_takes_the_fastest_of_cudnns_tile_shapes():
    # dense 256 -> 256 3x3 on 14x14, batch 64: m = 12544, n = 256. 256 x 128 tiles give 98
    # blocks, 2 waves on 80 SMs (0.61 fill); 128 x 64 tiles give 392 blocks in 5 waves (0.98):
    # an autotuner runs the faster kernel, and the model takes the fastest shape
    layer = Layer.conv(256, 14, 14, 256, 3, pad=1)
    p = estimate(V100, layer, batch=64).phase("forward")
    assert "in 128x64 tiles" in p.terms["shape_fill"].why
    assert p.terms["sm_fill"].value == pytest.approx(392 / 400)
    work = passes(layer, 64, "fp16", False)[0]
    times = [gpu_model._tile_shape(V100.spec, work, 2, work.min_bytes - work.a_bytes, 125e12 * 0.66, True, m, n, False)[0]
             for m, n in gpu_model.TILE_SHAPES]
    assert p.time_s == pytest.approx(min(times)) and min(times) < times[0]
