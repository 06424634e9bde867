"""A norm layer's training program on an IPU (models.ipu_norm), against hand counts."""

import pytest

from ipuexplore.hardware import load_chip
from ipuexplore.models import ipu_norm


def test_program_hand_computed_on_bow():
    s = load_chip("ipu-bow").spec  # 1,472 tiles, 6 workers, 4 halves per vector, 500-cycle sync, 4 B/cycle exchange
    clock = s.clock_ghz * 1e9
    elems = s.tiles * 4 * 6 * 10  # 10 vectors per worker on every tile
    prog = ipu_norm.training_program(s, elems, 16, "fp16")
    # popops' vertex: 6 workers x (26 prologue + 3 x 10 vectors) + 11 supervisor = 347 cycles;
    # a small set over 16 values: 6 x (26 + 3) + 11 = 185
    per_pass, small = 6 * (26 + 30) + 11, 6 * (26 + 3) + 11
    # 4 forward + 8 backward passes, 2 small sets, 14 syncs
    assert prog.passes_s == pytest.approx((12 * per_pass + 2 * small + 14 * 500) / clock)
    assert prog.passes_sync_s == pytest.approx(14 * 500 / clock)
    # 3 reductions: two inputs folded at 4 halves per cycle (2 x 60 cycles), 2 x 16 fp32
    # partials at 4 B/cycle, 2 syncs
    assert prog.reductions_s == pytest.approx(3 * (120 + 32 + 1000) / clock)
    # recomputation: the 4 forward passes with their syncs (statistics cached)
    assert prog.recompute_s == pytest.approx(4 * (per_pass + 500) / clock)
    assert prog.compute_sets == 20


def test_program_grows_with_elements_and_keeps_its_syncs():
    s = load_chip("ipu-bow").spec
    small = ipu_norm.training_program(s, 1, 1, "fp16")
    big = ipu_norm.training_program(s, s.tiles * 4 * 6 * 1000, 1, "fp16")
    assert small.passes_sync_s == big.passes_sync_s
    # 1,000 vectors per worker instead of 1: 3 x 999 worker cycles x 6 workers per pass
    assert big.passes_s - small.passes_s == pytest.approx(12 * 6 * 3 * 999 / (s.clock_ghz * 1e9))
    fp32 = ipu_norm.training_program(s, s.tiles * 4 * 6 * 1000, 1, "fp32")
    assert fp32.passes_s > big.passes_s  # 2 floats per vector, not 4 halves


def test_program_refuses_empty_layers():
    s = load_chip("ipu-bow").spec
    with pytest.raises(ValueError, match="elems"):
        ipu_norm.training_program(s, 0, 4, "fp16")
