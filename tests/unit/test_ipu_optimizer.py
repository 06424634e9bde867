"""The weight update per tensor on an IPU (models.ipu_optimizer), hand-computed."""

import math

import pytest

from ipuexplore import networks
from ipuexplore.hardware import load_chip
from ipuexplore.layers import Layer, LayerKind
from ipuexplore.models import Pins, netplan
from ipuexplore.models.ipu_elementwise import pass_cycles
from ipuexplore.models.ipu_optimizer import layer_update, norm_cycles, tensors

BOW = load_chip("ipu-bow").spec
CLOCK = BOW.clock_ghz * 1e9
SYNC = BOW.sync_cycles


def _conv(c=64, k=64, bias=False):
    return Layer(LayerKind.CONV, c=c, h=14, w=14, k=k, r=3, s=3, pad=(1, 1), bias=bias)


def test_tensors_follow_the_skip_list():
    assert tensors(_conv(bias=True)) == ((64 * 64 * 9, True), (64, False))
    norm = Layer(LayerKind.NORM, c=32, h=7, w=7, k=32)
    assert tensors(norm) == ((32, False), (32, False))  # gamma and beta: LARS skips them


def test_momentum_is_three_compute_sets_per_tensor_and_accumulation_one_more():
    layer = _conv()
    passes = pass_cycles(BOW, 64 * 64 * 9, "fp16")
    u = layer_update(BOW, layer, "momentum", "fp16", accumulating=True)
    assert u.compute_sets == 3
    assert u.step_s == pytest.approx(3 * (passes + SYNC) / CLOCK)
    assert u.accumulate_s == pytest.approx((passes + SYNC) / CLOCK)
    assert layer_update(BOW, layer, "momentum", "fp16", accumulating=False).accumulate_s == 0


def test_lars_adds_two_norms_the_trust_ratio_and_the_scaled_gradient():
    layer = _conv()
    elems = 64 * 64 * 9
    passes = pass_cycles(BOW, elems, "fp16")  # 26 halves per tile: 6 x (26 + 3 x 2) + 11 = 203
    assert passes == 203
    norm, sets = norm_cycles(BOW, elems, 4)
    # 36,864 halves on 9,216 vector-holding shares: all 1472 tiles, fan-in above 2 sqrt(1472)
    assert sets == 3
    assert norm == pytest.approx(7 + 2 * math.ceil(math.sqrt(1472)) * (4 / 4 + 1 / 4) + 3 * SYNC)  # folds 7 cycles
    u = layer_update(BOW, layer, "lars", "fp16", accumulating=False)
    assert u.compute_sets == 3 + 2 * 3 + 2
    expected = 3 * (passes + SYNC) + 2 * norm + 2 * SYNC + passes
    assert u.step_s == pytest.approx(expected / CLOCK)


def test_a_small_tensor_reduces_straight_to_its_output():
    cycles, sets = norm_cycles(BOW, 64, 4)  # 16 tiles hold it: fan-in under 2 sqrt(tiles)
    assert sets == 2 and cycles == pytest.approx(1 + 16 * (1 + 0.25) + 2 * SYNC)


def test_unknown_optimizer_is_refused():
    with pytest.raises(ValueError, match="optimizer"):
        layer_update(BOW, _conv(), "adam", "fp16", False)
    layers = networks.build("resnet50").layers
    with pytest.raises(ValueError, match="optimizer"):
        netplan.network_step(load_chip("bow-pod16"), layers, 320, "fp16", True, pins=Pins(optimizer="adam"))


def test_lars_step_costs_more_than_momentum_and_accumulation_shows():
    chip = load_chip("bow-pod16")
    layers = networks.build("resnet50").layers
    pins = dict(replicas=16, micro_batch=20, pipeline_stages=1, recompute=True)
    mom = netplan.network_step(chip, layers, 16 * 20 * 2, "fp16", True, pins=Pins(**pins))
    lars = netplan.network_step(chip, layers, 16 * 20 * 2, "fp16", True, pins=Pins(**pins, optimizer="lars"))
    assert lars.terms["weight_update_s"].value > mom.terms["weight_update_s"].value
    assert "lars" in lars.terms["weight_update_s"].why
    assert lars.time_s - mom.time_s == pytest.approx(lars.terms["weight_update_s"].value - mom.terms["weight_update_s"].value)
    assert mom.terms["gradient_accumulation_s"].value > 0
