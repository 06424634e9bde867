"""A norm layer's training program on an IPU (models.ipu_norm), against hand counts."""

import pytest

from ipuexplore.hardware import load_chip
from ipuexplore.models import ipu_norm


def test_program_hand_computed_on_bow():
    s = load_chip("ipu-bow").spec  # 1,472 tiles, 4 halves per cycle, 500-cycle sync, 4 B/cycle exchange
    clock = s.clock_ghz * 1e9
    elems = s.tiles * 4 * 10  # 10 cycles per pass on every tile
    prog = ipu_norm.training_program(s, elems, 16, "fp16")
    # 4 forward + 8 backward passes of 10 cycles, 2 small sets of 1 cycle, 14 syncs
    assert prog.passes_s == pytest.approx((12 * 10 + 2 * 1 + 14 * 500) / clock)
    assert prog.passes_sync_s == pytest.approx(14 * 500 / clock)
    # 3 reductions: two inputs read (2 x 10 cycles), 2 x 16 fp32 partials at 4 B/cycle, 2 syncs
    assert prog.reductions_s == pytest.approx(3 * (20 + 32 + 1000) / clock)
    # recomputation: the 4 forward passes with their syncs (statistics cached)
    assert prog.recompute_s == pytest.approx(4 * 510 / clock)
    assert prog.compute_sets == 20


def test_program_grows_with_elements_and_keeps_its_syncs():
    s = load_chip("ipu-bow").spec
    small = ipu_norm.training_program(s, 1, 1, "fp16")
    big = ipu_norm.training_program(s, s.tiles * 4 * 1000, 1, "fp16")
    assert small.passes_sync_s == big.passes_sync_s
    assert big.passes_s - small.passes_s == pytest.approx(12 * 999 / (s.clock_ghz * 1e9))
    fp32 = ipu_norm.training_program(s, s.tiles * 4 * 1000, 1, "fp32")
    assert fp32.passes_s > big.passes_s  # 2 floats per cycle, not 4 halves


def test_program_refuses_empty_layers():
    s = load_chip("ipu-bow").spec
    with pytest.raises(ValueError, match="elems"):
        ipu_norm.training_program(s, 0, 4, "fp16")
