"""The compute sets and copies a convolution pass runs beside its vertices (models.ipu_conv_program)."""

import pytest

from ipuexplore.hardware import load_chip
from ipuexplore.layers import Layer, LayerKind
from ipuexplore.models import estimate
from ipuexplore.models.ipu_conv_program import rearrangement, reduce_stages
from ipuexplore.models.work import conv_passes

BOW = load_chip("ipu-bow")


@pytest.mark.parametrize("depth, stages", [(1, 0), (2, 1), (15, 1), (16, 2), (124, 2), (125, 3), (1472, 3)])
def test_reduce_stages_follow_poplins_thresholds(depth, stages):
    assert reduce_stages(depth) == stages


def test_reduce_stages_refuse_no_partials():
    with pytest.raises(ValueError, match="partials_depth"):
        reduce_stages(0)


def _conv(c, k, g, hw=28):
    return Layer(LayerKind.CONV, c=c, h=hw, w=hw, k=k, r=3, s=3, g=g, pad=(1, 1))


def test_backward_data_flips_weights_with_a_transpose_when_channels_are_grouped():
    fwd, bwd, wu = conv_passes(_conv(64, 64, 4), 2, "fp16", True)
    s = BOW.spec
    r = rearrangement(s, bwd, "fp16")
    w_bytes = 64 * 16 * 9 * 2  # k x c/g x r x s halves
    assert r.exchange_bytes == w_bytes
    assert r.supersteps == 2  # the transpose compute set and the copy
    assert r.transpose_cycles == -(-(w_bytes // 2) // (1472 * 4))
    assert rearrangement(s, fwd, "fp16").supersteps == 0


def test_depthwise_backward_data_is_a_copy_only():
    _, bwd, _ = conv_passes(_conv(32, 32, 32), 1, "fp16", True)
    r = rearrangement(BOW.spec, bwd, "fp16")
    assert r.supersteps == 1 and r.transpose_cycles == 0


def test_weight_gradient_regroups_activations_and_gradients():
    _, _, wu = conv_passes(_conv(64, 64, 1, hw=14), 4, "fp16", True)
    r = rearrangement(BOW.spec, wu, "fp16")
    acts = gradients = 4 * 64 * 14 * 14 * 2
    assert r.exchange_bytes == acts + gradients
    assert r.supersteps == 4
    per = -(-(acts // 2) // (1472 * 4))
    assert r.transpose_cycles == 2 * per


def test_training_passes_pay_their_rearrangements_in_the_estimate():
    layer = _conv(64, 64, 4)
    e = estimate(BOW, layer, batch=2, train=True)
    bwd = e.phase("backward_data")
    clock = BOW.spec.clock_ghz * 1e9
    steps = bwd.terms["plan"].value
    assert "weights flipped" in bwd.terms["plan"].why
    assert bwd.terms["sync_s"].value == pytest.approx(steps * BOW.spec.sync_cycles / clock)
    # inference is untouched by the training passes' programs
    inf = estimate(BOW, layer, batch=2)
    assert "operands used in their own layout" in inf.phases[0].terms["plan"].why
