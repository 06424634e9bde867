"""A convolution's plan within poplibs' availableMemoryProportion of tile memory, hand-computed."""

import math

import pytest

from ipuexplore.layers import Layer
from ipuexplore.models import Pins, estimate
from ipuexplore.models.ipu_plan import plan

# one tile, 1 B/cycle exchange, 1 MAC/cycle: 2 output-channel units of 100 MACs each, 10 B of
# inputs, 100 B of weights, 10 half partial sums. Whole: 10 + 100 B received + 20 B of partials
# = 130 B of temporaries, 200 + 110 = 310 cycles. In two serial steps: each 10 + 50 + 10 = 70 B,
# 100 + 60 = 160 cycles; 320 cycles, 120 B received, 2 x 2 supersteps in all.
ARGS = (1, 1, 1.0, 1.0, 1, 1, 2, 1, 100.0, 1.0, 10, 100, 10)


def test_a_plan_within_the_bound_is_the_unbounded_plan():
    p = plan(*ARGS, partial_bytes=2, tile_bytes=1000, memory_proportion=0.13)
    assert (p.serial, p.cycles, p.exchange_in_bytes_per_tile, p.supersteps, p.temp_limit_bytes) == (1, 310, 110, 2, 130)
    assert plan(*ARGS, partial_bytes=2).cycles == 310  # no bound given


def test_over_the_bound_the_output_channels_run_in_serial_steps():
    p = plan(*ARGS, partial_bytes=2, tile_bytes=1000, memory_proportion=0.1)
    assert (p.serial, p.cycles, p.compute_cycles, p.exchange_in_bytes_per_tile, p.supersteps) == (2, 320, 200, 120, 4)
    assert p.temp_limit_bytes == 100


def test_when_nothing_fits_the_bound_doubles_then_is_dropped():
    # 50 B: neither fits; 100 B: the two serial steps do (poplibs' minimizeMemory doubles it)
    p = plan(*ARGS, partial_bytes=2, tile_bytes=1000, memory_proportion=0.05)
    assert (p.serial, p.temp_limit_bytes) == (2, 100)
    # a 30 B tile: 18, 36 B fail, 72 B passes twice the tile: planned without a bound
    p = plan(*ARGS, partial_bytes=2, tile_bytes=30, memory_proportion=0.6)
    assert (p.serial, p.cycles, p.temp_limit_bytes) == (1, 310, math.inf)


def test_a_small_proportion_serialises_a_big_layer_and_costs_time():
    layer = Layer.conv(3, 224, 224, 64, 7, stride=2, pad=3)
    loose = estimate("ipu-bow", layer, batch=20, train=True)
    tight = estimate("ipu-bow", layer, batch=20, train=True, pins=Pins(available_memory_proportion=0.05))
    assert tight.time_s > loose.time_s
    assert "serial steps" in tight.phases[0].terms["plan"].why
    assert "serial steps" not in loose.phases[0].terms["plan"].why


@pytest.mark.parametrize("bad", [0, 1.5, -0.1, "0.2", True])
def test_the_proportion_is_checked(bad):
    with pytest.raises(ValueError, match="--available-memory-proportion must be a number in"):
        Pins(available_memory_proportion=bad).check(1, 1, 1, "ipu")


def test_cli_refuses_a_bad_proportion(capsys):
    from ipuexplore.cli import main
    assert main(["layer", "--chips", "ipu-bow", "--available-memory-proportion", "lots"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == "ipuexplore: error: --available-memory-proportion must be a number in (0, 1], got 'lots'"
