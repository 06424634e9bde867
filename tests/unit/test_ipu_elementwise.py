"""One element-wise compute set's vertex on an IPU tile (models.ipu_elementwise), hand-computed."""

import pytest

from ipuexplore.hardware import load_chip
from ipuexplore.models.ipu_elementwise import pass_cycles

BOW = load_chip("ipu-bow").spec  # 1,472 tiles, 6 workers


def test_a_half_pass_streams_four_thirds_of_a_half_per_cycle():
    elems = 1472 * 6 * 4 * 100  # 100 vectors per worker on every tile
    assert pass_cycles(BOW, elems, "fp16") == 6 * (26 + 3 * 100) + 11
    # twice the elements: 1,800 more cycles, i.e. 4/3 halves per tile cycle
    assert pass_cycles(BOW, 2 * elems, "fp16") - pass_cycles(BOW, elems, "fp16") == 6 * 3 * 100


def test_floats_take_two_per_vector_and_a_longer_prologue():
    elems = 1472 * 6 * 2 * 10
    assert pass_cycles(BOW, elems, "fp32") == 6 * (29 + 3 * 10) + 11


def test_a_tiny_pass_pays_the_vertex_not_the_elements():
    assert pass_cycles(BOW, 1, "fp16") == 6 * (26 + 3) + 11
    assert pass_cycles(BOW, 0, "fp16") == 0
    with pytest.raises(ValueError, match="elems"):
        pass_cycles(BOW, -1, "fp16")
