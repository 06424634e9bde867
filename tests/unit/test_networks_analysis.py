"""Whole-network analysis: totals are the sums of the rows, modes and ratios are consistent."""

import json

import pytest

from ipuexplore.hardware import list_chips
from ipuexplore.networks import analyse, build


@pytest.fixture(scope="module")
def b0():
    return build("efficientnet_b0")


def test_totals_are_sums_of_layer_rows(b0):
    a = analyse(b0, ["ipu-mk2", "v100"], batch=4, dtype="fp16")
    assert a.chips == ("ipu-mk2", "v100") and a.baseline == "v100"
    assert len(a.rows) == len(b0.layers)
    for chip, totals in a.totals.items():
        total = sum(row.costs[chip].time_s for row in a.rows)
        assert totals.time_s == pytest.approx(total, rel=1e-9)
        assert totals.latency_s == totals.time_s  # inference mode: the step is one batch's latency
        assert totals.throughput_img_s == pytest.approx(4 / total)
        assert sum(totals.time_by_bound.values()) == pytest.approx(total, rel=1e-9)
        assert totals.train_time_s > totals.latency_s
    assert a.totals["v100"].throughput_ratio == 1.0
    assert a.totals["ipu-mk2"].throughput_ratio == pytest.approx(
        a.totals["ipu-mk2"].throughput_img_s / a.totals["v100"].throughput_img_s)


def test_rows_describe_layers(b0):
    a = analyse(b0, ["v100"], batch=2, dtype="fp32")
    row = next(r for r in a.rows if r.name == "s2.0.dw.conv")
    layer = b0.layer("s2.0.dw.conv")
    assert (row.kind, row.groups, row.flops, row.params) == ("conv", layer.g, layer.flops, layer.params)
    assert row.activation_bytes == 2 * 4 * layer.output_elems
    assert row.arithmetic_intensity == pytest.approx(layer.arithmetic_intensity("fp32", 2))
    assert row.costs["v100"].bound in ("compute", "memory", "exchange", "overhead")


def test_training_rows_and_totals(b0):
    inference = analyse(b0, ["ipu-mk2", "v100"], batch=8, dtype="fp16")
    train = analyse(b0, ["ipu-mk2", "v100"], batch=8, dtype="fp16", train=True)
    for chip in ("ipu-mk2", "v100"):
        assert train.totals[chip].time_s == train.totals[chip].train_time_s
        assert train.totals[chip].train_time_s == pytest.approx(inference.totals[chip].train_time_s)
        # the rows are the layers' share of the step; the step adds its own terms on top
        terms = train.totals[chip].step.terms
        layers = sum(terms[k].value for k in ("layers_s", "recompute_s", "norm_reduction_s") if k in terms)
        assert sum(r.costs[chip].time_s for r in train.rows) == pytest.approx(layers)
        assert train.totals[chip].time_s >= layers
        assert train.totals[chip].throughput_img_s == pytest.approx(8 / train.totals[chip].time_s)
        assert train.totals[chip].train_throughput_img_s < inference.totals[chip].throughput_img_s


def test_depthwise_network_uses_the_gpu_worse_than_resnet50():
    # The source article's point: depthwise/grouped convs reach a lower share of a GPU's peak.
    def achieved_flop_s(name):
        net = build(name)
        a = analyse(net, ["v100"], batch=32, dtype="fp16")
        return 32 * net.flops / a.totals["v100"].latency_s

    assert achieved_flop_s("efficientnet_b0") < 0.5 * achieved_flop_s("resnet50")


def test_to_dict_is_json_with_issue_keys(b0):
    a = analyse(b0, list_chips(), batch=1)
    data = json.loads(json.dumps(a.to_dict()))
    assert (data["params"], data["macs"], data["flops"]) == (b0.params, b0.macs, 2 * b0.macs)
    assert set(data["chips"]) == set(list_chips())
    for chip in data["chips"].values():
        assert {"throughput_img_s", "latency_s", "time_s", "train_throughput_img_s"} <= set(chip)
    assert len(data["layers"]) == len(b0.layers)
    assert data["peak_activation_bytes"] == b0.peak_activation_bytes("fp16", 1)
    assert "layers" not in a.to_dict(layers=False)


@pytest.mark.parametrize(
    "kwargs, message",
    [({"chips": []}, "chips"), ({"chips": ["v100", "v100"]}, "chips"), ({"chips": ["tpu"]}, "chip"),
     ({"chips": ["v100"], "batch": 0}, "batch"), ({"chips": ["v100"], "dtype": "int8"}, "dtype")],
)
def test_bad_arguments_are_named(b0, kwargs, message):
    with pytest.raises(ValueError, match=message):
        analyse(b0, **kwargs)
