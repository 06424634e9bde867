"""The one group-size sweep (ipuexplore sweep and the explorer's charts)."""

from __future__ import annotations

import pytest

from ipuexplore.layers import Layer
from ipuexplore.models import estimate
from ipuexplore.models.sweep import group_sweep, group_variants


def test_variants_run_from_depthwise_to_dense_at_fixed_channels():
    layers = group_variants(Layer.conv(12, 7, 7, 18, 3, pad=1, g=3))
    assert [lyr.g for lyr in layers] == [6, 3, 2, 1]  # divisors of both 12 and 18, most groups first
    assert {(lyr.c, lyr.k) for lyr in layers} == {(12, 18)}
    assert [lyr.channels_per_group for lyr in layers] == [2, 4, 6, 12]


def test_each_point_holds_each_chips_estimate():
    layers = group_variants(Layer.conv(16, 14, 14, 16, 3, pad=1))
    points = group_sweep(layers, ["ipu-mk1", "v100"], batch=4, dtype="fp16", train=True)
    assert [p.channels_per_group for p in points] == [1, 2, 4, 8, 16]
    for p in points:
        assert not p.errors
        assert p.estimates["v100"] == estimate("v100", p.layer, batch=4, dtype="fp16", train=True)


def test_a_rejected_argument_is_kept_per_chip_not_raised():
    points = group_sweep([Layer.conv(8, 7, 7, 8, 3, pad=1)], ["v100"], dtype="fp64")
    assert not points[0].estimates and "dtype" in points[0].errors["v100"]


def test_an_unknown_chip_is_an_error():
    with pytest.raises(ValueError, match="unknown chip"):
        group_sweep([Layer.conv(8, 7, 7, 8, 3, pad=1)], ["tpu-v9"])
