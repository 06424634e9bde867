"""The partial-sum type of an IPU convolution (poplibs' partialsType), hand-computed."""

import pytest

from ipuexplore.hardware import load_chip
from ipuexplore.layers import Layer
from ipuexplore.models import Pins, estimate, ipu
from ipuexplore.models.ipu_elementwise import cast_cycles
from ipuexplore.models.ipu_conv_program import reduce_cycles
from ipuexplore.models.ipu_plan import plan
from ipuexplore.models.work import passes

MK1, MK2, BOW = (load_chip(c) for c in ("ipu-mk1", "ipu-mk2", "ipu-bow"))


@pytest.mark.parametrize("chip, half, float_", [
    (MK1, (8, 32), (8, 32)),  # IPU1: 8 conv units either way
    (MK2, (16, 64), (8, 32)),  # IPU2: fp32 partials leave 8 of the 16 units
    (BOW, (16, 64), (8, 32)),
])
def test_amp_units_by_partials(chip, half, float_):
    assert ipu.amp_units(chip.spec, "fp16", "half") == half
    assert ipu.amp_units(chip.spec, "fp16", "float") == float_
    # fp32 inputs: the float AMP whatever the pin
    assert ipu.amp_units(chip.spec, "fp32", "half") == ((4, 8) if chip is MK1 else (8, 16))


def test_partial_bytes():
    assert ipu.partial_bytes("fp16", "half") == 2
    assert ipu.partial_bytes("fp16", "float") == 4
    assert ipu.partial_bytes("fp32", "half") == 4  # float training ignores half partials


def test_the_amp_vertex_rate_halves_on_mk2_with_float_partials():
    work = passes(Layer.conv(64, 14, 14, 64, 3, pad=1), 1, "fp16", False)[0]
    rate = {p: ipu.vertex_candidates(MK2.spec, work, "fp16", p)[0] for p in ("half", "float")}
    assert rate["half"][:2] == ("AMP", 64.0)
    assert rate["float"][:2] == ("AMP", 32.0)
    assert ipu.vertex_candidates(MK1.spec, work, "fp16", "float")[0][:2] == ("AMP", 32.0)


def test_float_partials_without_a_split_reduction_pay_a_cast_compute_set():
    # depthwise 3x3, 64 channels, 56x56, batch 1 on the Mk1: no split reduction in either plan.
    # The cast of 64 x 56 x 56 = 200,704 floats over 1216 tiles: 166 per tile, 28 per worker,
    # 7 vectors of 4 at 2 cycles; a worker 37 + 14 = 51 cycles, x 6 workers + 12 = 318 cycles,
    # plus its compute set's sync, 500 cycles: 818 cycles at 1.6 GHz.
    assert cast_cycles(MK1.spec, 64 * 56 * 56) == 318
    layer = Layer.conv(64, 56, 56, 64, 3, pad=1, g=64)
    half = estimate(MK1, layer, batch=1)
    float_ = estimate(MK1, layer, batch=1, pins=Pins(partials="float"))
    assert float_.time_s - half.time_s == pytest.approx(818 / 1.6e9, rel=1e-9)
    assert "float partials (4 B), cast to half" in float_.phases[0].terms["plan"].why
    assert "half partials (2 B)" in half.phases[0].terms["plan"].why


def test_a_split_reduction_moves_partials_of_their_own_size():
    # 4 tiles of 1 worker, 1 B/cycle exchange: splitting the reduction 4 ways costs 1000 cycles
    # of MACs per tile, 10 partials received (20 B half, 40 B float) and one reduce vertex of
    # depth 4 over the tile's 2.5 outputs, one loop: 32 + 3 x 4 + 8 (half) or 6 (float) cycles;
    # against 2000 cycles split 2 ways and 4000 on one tile: both plans split it 4 ways
    for pb, loop in ((2, 8), (4, 6)):
        p = plan(4, 1, 1.0, 1.0, 1, 1, 1, 4, 1000.0, 1.0, 0, 0, 10, partial_bytes=pb)
        assert (p.cp, p.reduction_bytes_per_tile, p.reduce_cycles) == (4, 10 * pb, 32 + 12 + loop)
        assert p.cycles == 1000 + 10 * pb + 32 + 12 + loop


@pytest.mark.parametrize("depth, loops", [
    (4, [1]),  # one stage of depth 4 (below 16: poplin's getNumReduceStages)
    (16, [1, 1]), (27, [1, 1]), (64, [1, 1]),  # two stages of 4, 6, 8: their first reduces 4, 6, 8 outputs
    (125, [4, 1, 1]),  # three stages of 5: 25 outputs (4 loops of 8), then 5, then 1
    (27 * 27, [11, 2, 1]),  # three of 9: 81, 9, 1 outputs
])
def test_reduce_stages_share_the_depth(depth, loops):
    # one final output on a tile of one worker; each stage 32 + (3 x its depth + 8) per loop of 8
    per_stage = {4: 4, 16: 4, 27: 6, 64: 8, 125: 5, 729: 9}[depth]
    assert reduce_cycles(1, depth, 2, 1) == sum(32 + (3 * per_stage + 8) * n for n in loops)


def test_partials_pin_is_checked_and_named_in_the_network_plan():
    with pytest.raises(ValueError, match="--partials must be one of half, float"):
        Pins(partials="quarter").check(1, 1, 1, "ipu")
    Pins(partials="float").check(1, 1, 1, "gpu")  # other chips ignore it
    from ipuexplore import networks
    a = networks.analyse(networks.build("resnet50"), ["ipu-mk2"], batch=4, pins=Pins(partials="float"))
    b = networks.analyse(networks.build("resnet50"), ["ipu-mk2"], batch=4)
    why_f = a.to_dict()["chips"]["ipu-mk2"]
    assert a.totals["ipu-mk2"].time_s > 1.3 * b.totals["ipu-mk2"].time_s  # the AMP at half rate
    assert "float conv partial sums" in str(why_f)
