"""The host input-pipeline ceiling of GPU systems whose runs load images on the CPU
(models.netplan._input_pipeline): hand-computed on a small case, never a speed-up."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ipuexplore import networks
from ipuexplore.hardware import load_chip
from ipuexplore.layers import Layer
from ipuexplore.models import netplan

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "hw-examples"


def _with_loader(chip_id: str, **loader):
    chip = load_chip(chip_id)
    return replace(chip, system=replace(chip.system, **loader))


def _tiny():
    return [Layer.conv(8, 8, 8, 8, 3, pad=1, name="c0"), Layer.conv(8, 8, 8, 8, 3, pad=1, name="c1")]


def test_ceiling_hand_computed():
    # 8 GPUs x 2 workers = 16 workers on 12 hardware threads: 12 run at once, 100 img/s each,
    # 1,200 img/s; 240 images take 0.2 s, far longer than the tiny network's step
    chip = _with_loader("dgx-a100", host_threads=12, loader_workers_per_device=2, loader_img_s_per_core=100.0)
    free = _with_loader("dgx-a100", loader_workers_per_device=0)
    step = netplan.network_step(chip, _tiny(), 240, "fp16", True)
    unbound = netplan.network_step(free, _tiny(), 240, "fp16", True)
    term = step.terms["input_pipeline_s"]
    assert unbound.terms["input_pipeline_s"].value == 0
    assert unbound.time_s < 0.2
    assert term.value == pytest.approx(0.2 - unbound.time_s)
    assert step.time_s == pytest.approx(0.2)
    assert "12 loader workers (2 per device, capped by the host's 12 hardware threads) x 100 img/s per core = 1,200 img/s" in term.why
    assert sum(step.time_by_bound.values()) == pytest.approx(step.time_s)


def test_workers_below_the_threads_all_run():
    chip = _with_loader("dgx-a100", host_threads=256, loader_workers_per_device=2, loader_img_s_per_core=100.0)
    step = netplan.network_step(chip, _tiny(), 160, "fp16", True)
    assert step.time_s == pytest.approx(160 / (16 * 100))
    assert "16 loader workers (2 per device) x 100 img/s" in step.terms["input_pipeline_s"].why


@pytest.mark.parametrize("chip", ["dgx-1-v100", "dgx-a100", str(EXAMPLES / "dgx-1-v100-autoaugment.toml"),
                                  str(EXAMPLES / "dgx-a100-autoaugment.toml")])
@pytest.mark.parametrize("name,batch", [("resnet50", 2048), ("efficientnet_b0", 1024), ("efficientnet_b0", 64)])
def test_the_ceiling_never_speeds_a_step_up(chip, name, batch):
    loaded = load_chip(chip)
    free = replace(loaded, system=replace(loaded.system, loader_workers_per_device=0))
    net = networks.build(name)
    step = networks.analyse(net, [loaded], batch=batch, train=True).totals[loaded.id].step
    without = networks.analyse(net, [free], batch=batch, train=True).totals[free.id].step
    ceiling = min(loaded.system.loader_workers_per_device * 8, loaded.system.host_threads) * loaded.system.loader_img_s_per_core
    assert step.time_s >= without.time_s
    assert step.time_s == pytest.approx(max(without.time_s, batch / ceiling))


def test_inference_single_gpus_and_dali_systems_pay_nothing():
    net = networks.build("efficientnet_b0")
    for chip, train in (("dgx-a100", False), ("a100-80gb", True), ("dgx-a100-mlperf", True), ("dgx-h100", True)):
        step = networks.analyse(net, [chip], batch=256, train=train).totals[chip].step
        assert step.terms["input_pipeline_s"].value == 0, chip


def test_nvidia_efficientnet_loader_binds_the_8_gpu_runs():
    # 64 workers (8 per V100) on the DGX-1's 80 threads, 128 (16 per A100) on the DGX A100's
    # 256, at 126 img/s each: 8,064 and 16,128 img/s, below the GPUs' own rates
    for spec, batch, rate in (("dgx-1-v100-autoaugment.toml", 1024, 64 * 126), ("dgx-a100-autoaugment.toml", 2048, 128 * 126)):
        chip = load_chip(str(EXAMPLES / spec))
        step = networks.analyse(networks.build("efficientnet_b0"), [chip], batch=batch, train=True).totals[chip.id].step
        assert step.terms["input_pipeline_s"].value > 0
        assert batch / step.time_s == pytest.approx(rate)


def test_loader_fields_are_validated():
    from ipuexplore.hardware import parse_chip

    text = (EXAMPLES / "dgx-a100-autoaugment.toml").read_text()
    bad = text.replace("loader_workers_per_device = { value = 16", "loader_workers_per_device = { value = -1")
    with pytest.raises(ValueError, match="loader_workers_per_device"):
        parse_chip(bad, "bad.toml", load_chip)


def test_loader_workers_without_a_rate_are_refused():
    # workers with no images/s per core would divide by zero when a step is costed
    from ipuexplore.hardware import parse_chip

    lines = (EXAMPLES / "dgx-a100-autoaugment.toml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.startswith("loader_img_s_per_core"))
    with pytest.raises(ValueError, match="missing field figures.loader_img_s_per_core"):
        parse_chip(text, "bad.toml", load_chip)
