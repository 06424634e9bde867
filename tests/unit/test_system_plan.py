"""Systems, the whole-network step plan, collectives and the plan's CLI options."""

import json
import subprocess
import sys

import pytest

from ipuexplore.hardware import SYSTEM_IDS, listing, load_chip, parse_chip
from ipuexplore.layers import Layer
from ipuexplore.models import PLAN_KEYS, Pins, device_estimate, estimate
from ipuexplore.models import gpu_kernels, netplan
from ipuexplore.models.collectives import allreduce_s, ring_allreduce_s

MK1 = load_chip("ipu-mk1")


def _system_toml(**drop) -> str:
    figures = dict(devices=8, devices_per_node=4, intra_node_link_gb_s=50, inter_node_link_gb_s=25,
                   host_link_gb_s=12.5, collective_step_latency_us=2)
    for k in drop:
        figures.pop(k)
    body = "\n".join(f"{k} = {v}" for k, v in figures.items())
    return f'schema = 1\nid = "my-sys"\nname = "Mine"\nfamily = "system"\nchip = "ipu-bow"\n[figures]\n{body}\n'


def test_systems_load_as_their_device_with_a_topology_and_are_listed():
    ids = dict(listing())
    for sid in SYSTEM_IDS:
        chip = load_chip(sid)
        assert chip.system is not None and chip.devices == chip.system.devices > 1
        assert chip.family == load_chip(chip.device).family and chip.spec == load_chip(chip.device).spec
        assert ids[sid]
    assert load_chip("bow-pod256").system.nodes == 4
    assert MK1.devices == 1 and MK1.system is None


@pytest.mark.parametrize("field", ["devices_per_node", "intra_node_link_gb_s", "host_link_gb_s", "collective_step_latency_us"])
def test_system_missing_a_topology_field_names_it(field):
    with pytest.raises(ValueError, match=f"missing field figures.{field} \\(system topology\\)"):
        parse_chip(_system_toml(**{field: True}), "mine.toml", load_chip)


def test_system_of_several_nodes_needs_the_inter_node_link():
    with pytest.raises(ValueError, match="inter_node_link_gb_s"):
        parse_chip(_system_toml(inter_node_link_gb_s=True), "mine.toml", load_chip)
    chip = parse_chip(_system_toml(), "mine.toml", load_chip)
    assert chip.system.nodes == 2 and chip.device == "ipu-bow"


def test_ring_allreduce_is_its_formula():
    # 2 (p-1)/p x bytes / bw + 2 (p-1) x latency
    assert ring_allreduce_s(1e9, 4, 50, 2e-6) == pytest.approx(2 * 3 / 4 * 1e9 / 50e9 + 2 * 3 * 2e-6)
    assert ring_allreduce_s(1e9, 1, 50, 2e-6) == 0.0


def test_hierarchical_allreduce_adds_the_ring_across_nodes():
    system = parse_chip(_system_toml(), "mine.toml", load_chip).system
    inside = ring_allreduce_s(1e8, 4, 50, 2e-6)
    across = ring_allreduce_s(1e8, 2, 25, 2e-6)
    assert allreduce_s(1e8, 8, system) == pytest.approx(inside + across)
    assert allreduce_s(1e8, 4, system) == pytest.approx(inside)
    assert allreduce_s(1e8, 1, system) == 0.0


def _chain(n: int, c: int = 64, hw: int = 56) -> list[Layer]:
    return [Layer.conv(c, hw, hw, c, 3, pad=1, name=f"c{i}") for i in range(n)]


def test_a_network_that_fits_runs_everything_resident():
    step = netplan.network_step(MK1, _chain(4), 2, "fp16", True)
    assert step.plan == netplan.Plan(1, 1, 1, 2, 1, False, True)
    layers = [device_estimate(MK1, l, 2, "fp16", True).time_s for l in _chain(4)]
    assert step.terms["layers_s"].value == pytest.approx(sum(layers))
    # weights 4 x 73,728 B; gradients and momentum the same; activations kept: the inputs
    mem = step.memory_bytes
    assert mem["weights"] == mem["gradients"] == mem["optimizer_state"] == 4 * 64 * 64 * 9 * 2
    assert mem["activations"] == 4 * 64 * 56 * 56 * 2 * 2


def test_a_network_too_big_for_its_activations_recomputes():
    # 16 layers of 128 x 112 x 112: 3.2 MB kept per layer and image; batch 7 keeps 360 MB > 304 MiB
    layers = _chain(16, c=128, hw=112)
    step = netplan.network_step(MK1, layers, 7, "fp16", True, pins=Pins(micro_batch=7))
    assert step.plan.recompute and step.plan.fits
    fwd = sum(device_estimate(MK1, l, 7, "fp16", False).time_s for l in layers)
    assert step.terms["recompute_s"].value == pytest.approx(fwd)
    # kept: the stage input + sqrt(16) = 4 checkpoints + the longest segment's 4 layers
    per_image = 128 * 112 * 112 * 2
    assert step.memory_bytes["activations"] == (1 + 4 + 4) * per_image * 7


def test_two_pipeline_stages_pay_their_bubble_and_copies():
    chip = load_chip("ipu-c2")
    layers = _chain(8)
    step = netplan.network_step(chip, layers, 8, "fp16", True, pins=Pins(replicas=1, micro_batch=1, pipeline_stages=2))
    assert step.plan.pipeline_stages == 2 and step.plan.gradient_accumulation == 8 and step.plan.ipus == 2
    per_layer = step.terms["layers_s"].value / 8 / 8  # identical layers, 8 micro-batches
    copy = 2 * 64 * 56 * 56 * 2 / 64e9 + MK1.spec.sync_cycles / 1.6e9  # activations fwd + grads bwd
    norm = 0.0
    # each micro-batch adds each layer's gradients into their accumulators (models.ipu_optimizer)
    accumulate = step.terms["gradient_accumulation_s"].value / 8 / 8
    stage = 4 * (per_layer + accumulate) + copy + norm
    assert step.terms["pipeline_bubble_s"].value == pytest.approx((2 - 1) * stage)
    assert step.time_s == pytest.approx((8 + 2 - 1) * stage + step.terms["weight_update_s"].value
                                        + step.terms["host_io_s"].value)


@pytest.mark.parametrize("name", ["resnet50", "efficientnet_b0"])
def test_a_pipelined_step_is_its_terms(name):
    # the stages run at once: the step is the layers' terms shared over the stages, plus the
    # pipeline's own terms and the step's, and nothing else
    from ipuexplore import networks

    step = networks.analyse(networks.build(name), ["ipu-c2"], batch=64, train=True).totals["ipu-c2"].step
    t = {k: v.value for k, v in step.terms.items()}
    stages = step.plan.pipeline_stages
    assert stages == 2
    assert step.time_s == pytest.approx(
        (t["layers_s"] + t["recompute_s"] + t["norm_reduction_s"] + t["gradient_accumulation_s"]) / stages + t["pipeline_imbalance_s"]
        + t["pipeline_copy_s"] + t["pipeline_bubble_s"] + t["weight_update_s"] + t["allreduce_s"] + t["host_io_s"])
    assert min(t.values()) >= 0
    assert sum(step.time_by_bound.values()) == pytest.approx(step.time_s)


def test_gpu_system_host_io_counts_only_beyond_the_overlapped_step():
    # a tiny network fed 224x224 8-bit images: the DGX A100's host uplinks (4 x PCIe Gen4 x16)
    # take longer than the GPUs' work, and the step waits for the excess
    chip = load_chip("dgx-a100")
    step = netplan.network_step(chip, _chain(1, c=8, hw=8), 64, "fp16", False, image_elems=3 * 224 * 224)
    io_s = 64 * 3 * 224 * 224 / (chip.system.host_link_gb_s * 1e9)
    assert step.terms["host_io_s"].value > 0
    assert step.time_s == pytest.approx(io_s)
    single = netplan.network_step(load_chip("a100-80gb"), _chain(1, c=8, hw=8), 8, "fp16", False, image_elems=3 * 224 * 224)
    assert single.terms["host_io_s"].value == 0


def test_planner_pins_and_bad_values():
    net = _chain(4)
    with pytest.raises(ValueError, match="replicas must be an int >= 1, got 0"):
        netplan.network_step(load_chip("bow-pod16"), net, 32, "fp16", True, pins=Pins(replicas=0))
    with pytest.raises(ValueError, match="micro-batch 64 is larger than the batch 32"):
        netplan.network_step(load_chip("bow-pod16"), net, 32, "fp16", True, pins=Pins(micro_batch=64))
    with pytest.raises(ValueError, match="pipeline-stages 8 is more than the 4 layers to split"):
        netplan.network_step(load_chip("bow-pod16"), net, 32, "fp16", True, pins=Pins(pipeline_stages=8))
    with pytest.raises(ValueError, match="more than the 2 chips"):
        netplan.network_step(load_chip("ipu-c2"), net, 32, "fp16", True, pins=Pins(replicas=2, pipeline_stages=2))
    with pytest.raises(ValueError, match="replicas 3 does not divide the batch 32"):
        netplan.network_step(load_chip("bow-pod16"), net, 32, "fp16", True, pins=Pins(replicas=3))
    with pytest.raises(ValueError, match="micro-batch 3 does not divide the 16 images of each replica"):
        netplan.network_step(load_chip("bow-pod16"), net, 32, "fp16", True, pins=Pins(replicas=2, micro_batch=3))


@pytest.mark.parametrize("chip_id", ["bow-pod16", "dgx-a100", "ipu-c2"])
@pytest.mark.parametrize("batch", [20, 17])
def test_plan_splits_the_batch_exactly(chip_id, batch):
    # replicas x micro-batch x accumulation is the batch, never a rounded-up one: 20 images on a
    # Pod16 or a DGX go to 10 or 5 replicas (not 16 or 8 replicas of 2 or 3 = 32 or 24 images)
    chip = load_chip(chip_id)
    for train in (False, True):
        p = netplan.network_step(chip, _chain(4), batch, "fp16", train).plan
        assert p.replicas * p.micro_batch * p.gradient_accumulation == batch
        e = estimate(chip, Layer.conv(64, 56, 56, 64, 3, pad=1), batch=batch, dtype="fp16", train=train)
        q = e.plan
        assert q.replicas * q.micro_batch * q.gradient_accumulation == batch
    if batch == 20 and chip_id != "ipu-c2":
        assert p.replicas == {"bow-pod16": 10, "dgx-a100": 5}[chip_id]


def test_efficientnet_b0_training_on_mk1_has_no_cliff():
    from ipuexplore import networks

    b0 = networks.build("efficientnet_b0")
    t16, t32 = (networks.analyse(b0, ["ipu-mk1"], batch=b, train=True).totals["ipu-mk1"].time_s for b in (16, 32))
    assert 1.6 < t32 / t16 < 2.5


def test_system_layer_estimate_splits_the_global_batch():
    layer = Layer.conv(256, 14, 14, 256, 3, pad=1)
    pod = estimate("bow-pod16", layer, batch=64, train=True)
    one = estimate("ipu-bow", layer, batch=4, train=True)
    assert pod.plan.replicas == 16 and pod.plan.micro_batch == 4
    step = ("gradient_accumulation_s", "weight_update_s", "allreduce_s")
    assert pod.time_s == pytest.approx(one.time_s + sum(pod.terms[k].value for k in step))
    assert pod.flops == pytest.approx(16 * one.flops)
    # bytes, in all and per memory level, count every chip like the FLOPs
    assert pod.bytes == pytest.approx(16 * one.bytes)
    assert dict(pod.bytes_by_level) == pytest.approx({k: 16 * v for k, v in one.bytes_by_level.items()})


def test_layer_training_on_a_system_pays_the_network_step_s_update_and_all_reduce():
    layer = Layer.conv(256, 14, 14, 256, 3, pad=1)  # one weight tensor of 589,824 halves
    pod = estimate("bow-pod16", layer, batch=128, train=True, pins=Pins(micro_batch=4))
    one = estimate("ipu-bow", layer, batch=4, train=True)
    s, system = load_chip("ipu-bow").spec, load_chip("bow-pod16").system
    clock = s.clock_ghz * 1e9
    # popops' vertex over the 401 halves a tile holds (ceil(589,824 / 1,472)): 6 workers x
    # (26 + 3 x ceil(ceil(401 / 6) / 4) = 17 vectors) + 11 supervisor cycles, then a sync
    pass_sync = 6 * (26 + 3 * 17) + 11 + s.sync_cycles
    assert pod.plan.replicas == 16 and pod.plan.gradient_accumulation == 2
    assert pod.terms["gradient_accumulation_s"].value == pytest.approx(2 * pass_sync / clock)
    # momentum: the fused gradient preparation and momentum's two compute sets
    assert pod.terms["weight_update_s"].value == pytest.approx(3 * pass_sync / clock)
    # one ring over the Pod16's 16 IPUs: 2 x 15/16 of 1,179,648 B over IPU-Links, 30 steps
    ring = 2 * 15 / 16 * 589_824 * 2 / (system.intra_node_link_gb_s * 1e9) + 30 * system.collective_step_latency_us * 1e-6
    assert pod.terms["allreduce_s"].value == pytest.approx(ring)
    step = ("gradient_accumulation_s", "weight_update_s", "allreduce_s")
    assert pod.time_s == pytest.approx(2 * one.time_s + sum(pod.terms[k].value for k in step))
    # a DGX A100: fp32 master weights, gradient and momentum read, weights and momentum written
    # (20 B per parameter) at HBM bandwidth, and momentum's per-tensor ops
    dgx = estimate("dgx-a100", layer, batch=64, train=True)
    a = load_chip("dgx-a100").spec
    hbm = 589_824 * 20 / (a.hbm_bw_gb_s * 1e9 * a.hbm_efficiency)
    kernels, host_ops = gpu_kernels.optimizer_kernels("momentum")
    ops = max(kernels * a.launch_overhead_us, host_ops * a.host_op_us) * 1e-6
    assert dgx.terms["weight_update_s"].value == pytest.approx(hbm + ops)
    # inference has no step terms, nor has one chip's layer (pinned or not); a layer without
    # weights updates nothing
    assert "weight_update_s" not in estimate("bow-pod16", layer, batch=128).terms
    assert "weight_update_s" not in estimate("ipu-bow", layer, batch=16, train=True, pins=Pins(micro_batch=4)).terms
    pool = estimate("bow-pod16", Layer.pool(256, 14, 14, kernel=2, stride=2), batch=128, train=True)
    assert pool.terms["weight_update_s"].value == 0 and pool.terms["allreduce_s"].value == 0
    out = _cli("layer", "--train", "--chips", "bow-pod16", "--batch", "128", "--micro-batch", "4", "--why")
    assert out.returncode == 0, out.stderr
    for name in step:
        assert f"bow-pod16 {name}:" in out.stdout


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "ipuexplore", *args], capture_output=True, text=True)


def test_json_has_the_plan_for_every_chip():
    out = _cli("net", "resnet50", "--chips", "bow-pod16,v100", "--train", "--batch", "64", "--json")
    assert out.returncode == 0, out.stderr
    chips = json.loads(out.stdout)["chips"]
    for chip in chips.values():
        assert tuple(chip["plan"]) == PLAN_KEYS
        assert chip["throughput_img_s"] == pytest.approx(64 / chip["time_s"])
    for mode in ((), ("--train",)):
        out = _cli("layer", "--chips", "ipu-mk1,bow-pod16,v100,dgx-a100", "--batch", "16", "--json", *mode)
        assert out.returncode == 0, out.stderr
        for chip in json.loads(out.stdout)["chips"].values():
            assert tuple(chip["plan"]) == PLAN_KEYS
            assert chip["throughput_img_s"] == pytest.approx(16 / chip["time_s"])


def test_a_slower_ipu_is_said_slower_by_its_factor():
    out = _cli("layer", "--channels", "256", "--size", "224", "--batch", "16", "--chips", "ipu-mk1,dgx-a100")
    line = next(l for l in out.stdout.splitlines() if l.startswith("ipu-mk1 vs dgx-a100:"))
    factor = float(line.split(":")[1].split("x")[0])
    assert "slower" in line and factor > 1


def test_system_file_missing_a_topology_field_is_one_line_exit_2(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(_system_toml(host_link_gb_s=True))
    out = _cli("layer", "--hw-file", str(path), "--chips", "ipu-bow")
    assert out.returncode == 2 and out.stdout == "" and out.stderr.count("\n") == 1
    assert "figures.host_link_gb_s" in out.stderr


@pytest.mark.parametrize("args, message", [
    (("net", "resnet50", "--chips", "bow-pod16", "--replicas", "0"), "--replicas must be >= 1, got 0"),
    (("net", "resnet50", "--chips", "bow-pod16", "--batch", "8", "--micro-batch", "16"), "--micro-batch 16 is larger than the batch 8"),
    (("net", "resnet50", "--chips", "ipu-c2", "--batch", "8", "--pipeline-stages", "4"), "more than the 2 chips"),
    (("layer", "--chips", "bow-pod16", "--pipeline-stages", "2"), "--pipeline-stages 2 is more than"),
    (("net", "resnet50", "--chips", "bow-pod16", "--batch", "16", "--replicas", "3"), "--replicas 3 does not divide the batch 16"),
    (("net", "resnet50", "--chips", "ipu-mk1", "--batch", "16", "--micro-batch", "3"), "--micro-batch 3 does not divide the batch 16"),
    (("sweep", "--chips", "bow-pod16", "--replicas", "0"), "--replicas must be >= 1, got 0"),
    (("sweep", "--chips", "bow-pod16", "--replicas", "4"), "go with --over batch"),
    (("net", "efficientnet_b0", "--chips", "bow-pod16", "--train", "--optimizer", "rmsprop"), "--optimizer rmsprop: RMSprop is modelled on GPUs only"),
    (("net", "efficientnet_b0", "--chips", "v100", "--optimizer", "rmsprop"), "--optimizer rmsprop is the weight update's: it goes with --train"),
    (("net", "efficientnet_b0", "--chips", "v100", "--train", "--optimizer", "adam"), "--optimizer must be one of momentum, lars, rmsprop, got 'adam'"),
    (("sweep", "--over", "batch", "--batch", "64"), "--batch 64 does not go with --over batch: list the sizes with --batches"),
])
def test_bad_plan_options_are_one_line_exit_2(args, message):
    out = _cli(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and message in out.stderr


def test_weights_too_big_for_one_ipu_are_pipelined_over_two():
    # four 8192 -> 8192 linear layers: 4 x 134 MB of fp16 weights = 537 MB > one Mk1's 319 MB;
    # a C2 card's two IPUs hold two layers each (268 MB) when pipelined, not as two replicas
    layers = [Layer.linear(8192, 8192, bias=False, name=f"fc{i}") for i in range(4)]
    step = netplan.network_step(load_chip("ipu-c2"), layers, 8, "fp16", False)
    assert step.plan == netplan.Plan(2, 1, 2, 8, 1, False, True)
    assert step.memory_bytes["weights"] == 2 * 8192 * 8192 * 2
    # one micro-batch through two stages: (1 + 2 - 1) x the slowest stage, half of it bubble
    assert step.terms["pipeline_bubble_s"].value == pytest.approx(step.time_s / 2, rel=0.05)
    one = netplan.network_step(MK1, layers, 8, "fp16", False)
    assert not one.plan.fits  # Mk1 has no streaming memory to fall back on


def test_pinned_replicas_leave_the_planner_only_stages_that_fit_the_system():
    step = netplan.network_step(load_chip("bow-pod16"), _chain(8), 64, "fp16", True,
                                pins=Pins(replicas=16, micro_batch=2, recompute=True))
    assert (step.plan.replicas, step.plan.pipeline_stages, step.plan.micro_batch) == (16, 1, 2)
    assert step.plan.recompute and step.plan.ipus == 16


def test_step_terms_hand_computed_host_io_weight_update_norm_reduction():
    layers = [Layer.conv(64, 56, 56, 64, 3, pad=1, name="c"), Layer.norm(64, 56, 56, name="bn")]
    s = MK1.spec
    step = netplan.network_step(MK1, layers, 4, "fp16", True, image_elems=3 * 224 * 224)
    # Mk1 (Poplar 1.x, no I/O tiles): 8-bit images over the host link, a phase of its own
    io = 4 * 3 * 224 * 224 / (s.streaming_bw_gb_s * 1e9)
    assert step.terms["host_io_s"].value == pytest.approx(io)
    # momentum per tensor (the conv's weights, the norm's scale and shift): a fused gradient
    # preparation and momentum's two element-wise compute sets, each with its sync; one
    # micro-batch, so nothing is accumulated
    # popops' vertex per tile (models.ipu_elementwise): the weights' 31 halves per tile take
    # 6 x (26 + 3 x 2) + 11 cycles, a 64-value vector 6 x (26 + 3) + 11
    passes = (6 * (26 + 3 * 2) + 11) + 2 * (6 * (26 + 3) + 11)
    assert step.terms["weight_update_s"].value == pytest.approx(3 * (passes + 3 * s.sync_cycles) / (s.clock_ghz * 1e9))
    assert step.terms["gradient_accumulation_s"].value == 0
    # batch norm: 3 reductions (statistics forward; statistics gradients and gamma/beta deltas
    # backward), each reading two tensors on every tile (4 x 64 x 56 x 56 halves over 1,216
    # tiles x 4 per cycle), 2 syncs, and 2 x 64 fp32 partials over one tile's exchange port
    clock = s.clock_ghz * 1e9
    per_pass = -(-4 * 64 * 56 * 56 // (s.tiles * 4))
    norm = 3 * (2 * per_pass + 2 * 64 * 4 / s.exchange_b_per_cycle_per_tile + 2 * s.sync_cycles) / clock
    assert step.terms["norm_reduction_s"].value == pytest.approx(norm * step.plan.gradient_accumulation)
    parts = ("layers_s", "recompute_s", "norm_reduction_s", "weight_update_s", "host_io_s")
    assert step.time_s == pytest.approx(sum(step.terms[k].value for k in parts))
    # Mk2/Bow overlap host I/O with compute (I/O tiles): only what exceeds the step counts
    bow_chip = load_chip("ipu-bow")
    bow = netplan.network_step(bow_chip, layers, 4, "fp16", True, image_elems=3 * 224 * 224)
    io_bow = 4 * 3 * 224 * 224 / (bow_chip.spec.streaming_bw_gb_s * 1e9)
    busy = sum(bow.terms[k].value for k in parts if k != "host_io_s")
    assert bow.terms["host_io_s"].value == pytest.approx(max(0.0, io_bow - busy))
    assert bow.time_s == pytest.approx(max(busy, io_bow))


def test_batch_norm_statistics_shared_across_replicas_add_two_all_reduces_per_norm_layer():
    # Graphcore's distributed batch norm (configs.yml BN_span: 2): each norm layer's statistics
    # and their gradients are also all-reduced across the 2 replicas sharing them
    layers = [Layer.conv(64, 56, 56, 64, 3, pad=1, name="c"), Layer.norm(64, 56, 56, name="bn")]
    chip = load_chip("bow-pod16")
    pins = dict(replicas=16, micro_batch=2, recompute=False)
    alone = netplan.network_step(chip, layers, 64, "fp16", True, pins=Pins(**pins))
    shared = netplan.network_step(chip, layers, 64, "fp16", True, pins=Pins(**pins, norm_span=2))
    sys_ = chip.system
    one = 2 * (64 * 8 / (sys_.intra_node_link_gb_s * 1e9)) / 2 + 2 * sys_.collective_step_latency_us * 1e-6
    extra = shared.terms["norm_reduction_s"].value - alone.terms["norm_reduction_s"].value
    assert extra == pytest.approx(2 * one * shared.plan.gradient_accumulation)
    assert shared.time_s == pytest.approx(alone.time_s + extra)
    with pytest.raises(ValueError, match="norm-span"):
        netplan.network_step(load_chip("dgx-a100"), layers, 64, "fp16", True, pins=Pins(norm_span=2))
    with pytest.raises(ValueError, match="norm-span"):
        netplan.network_step(chip, layers, 64, "fp16", True, pins=Pins(norm_span=0))


def _stemmed(n: int) -> list[Layer]:
    """A 3-channel stem reading the images, then ``n`` 64-channel layers, each reading the last."""
    layers = [Layer.conv(3, 56, 56, 64, 3, pad=1, name="stem", inputs=("input",))]
    for i in range(n):
        layers.append(Layer.conv(64, 56, 56, 64, 3, pad=1, name=f"c{i}", inputs=(layers[-1].name,)))
    return layers


def test_ipu_training_computes_no_gradient_for_the_images_hand_computed():
    # TensorFlow/PopART differentiate only towards the weights: the stem, reading only the
    # images, runs forward and backward-weights; every other layer its three passes
    layers = _stemmed(3)
    step = netplan.network_step(MK1, layers, 2, "fp16", True, pins=Pins(replicas=1, micro_batch=2))
    passes = [device_estimate(MK1, l, 2, "fp16", True) for l in layers]
    stem_bwd = passes[0].phase("backward_data").time_s
    assert stem_bwd > 0
    assert step.terms["layers_s"].value == pytest.approx(sum(e.time_s for e in passes) - stem_bwd, rel=1e-12)
    assert step.layer_time_s[0] == pytest.approx(passes[0].time_s - stem_bwd, rel=1e-12)
    assert step.layer_time_s[1] == pytest.approx(passes[1].time_s, rel=1e-12)
    assert "less the backward-data pass of stem" in step.terms["layers_s"].why
    assert sum(step.time_by_bound.values()) == pytest.approx(step.time_s)
    # its code: 2 passes for the stem, 3 for each other layer
    assert step.memory_bytes["code"] == (2 + 3 * 3) * netplan.CODE_BYTES_PER_PASS_PER_TILE * MK1.spec.tiles
    # inference has no backward pass; a chain with no named input skips nothing
    assert "backward-data" not in netplan.network_step(MK1, layers, 2, "fp16", False).terms["layers_s"].why
    unnamed = netplan.network_step(MK1, _chain(3), 2, "fp16", True, pins=Pins(replicas=1, micro_batch=2))
    assert "backward-data" not in unnamed.terms["layers_s"].why


def test_ipu_pipeline_stages_see_the_stem_without_its_backward_data():
    # on two stages the stem's stage is balanced by its cost less the skipped pass: the step
    # stays the sum of its terms
    chip = load_chip("ipu-c2")
    step = netplan.network_step(chip, _stemmed(7), 8, "fp16", True, pins=Pins(replicas=1, micro_batch=1, pipeline_stages=2))
    t = {k: v.value for k, v in step.terms.items()}
    assert step.time_s == pytest.approx(
        (t["layers_s"] + t["recompute_s"] + t["norm_reduction_s"] + t["gradient_accumulation_s"]) / 2 + t["pipeline_imbalance_s"]
        + t["pipeline_copy_s"] + t["pipeline_bubble_s"] + t["weight_update_s"] + t["allreduce_s"] + t["host_io_s"])
    full = sum(device_estimate(MK1, l, 1, "fp16", True).time_s for l in _stemmed(7))
    stem_bwd = device_estimate(MK1, _stemmed(0)[0], 1, "fp16", True).phase("backward_data").time_s
    assert t["layers_s"] == pytest.approx(8 * (full - stem_bwd), rel=1e-12)


def test_float_partials_hold_the_running_convolution_s_partial_sums_in_the_memory_plan():
    # 4 layers of 64 x 112 x 112 fp16: 1,605,632 B in and out per image. Half partials are
    # written as the output: temporaries (in + out) x 32 = 102.8 MB, and with 205.5 MB of kept
    # activations, 0.9 MB of weights/gradients/momentum and 3.7 MB of code micro-batch 32 fits
    # 304 MiB. Float partials are 4 B per output beside the 2-B output until the cast: 3 x
    # 1,605,632 x 32 = 154 MB would not fit, so the planner halves the micro-batch
    per_image = 64 * 112 * 112 * 2
    layers = _chain(4, hw=112)
    half = netplan.network_step(MK1, layers, 32, "fp16", True, pins=Pins(replicas=1, recompute=False))
    float_ = netplan.network_step(MK1, layers, 32, "fp16", True, pins=Pins(replicas=1, recompute=False, partials="float"))
    assert half.plan.micro_batch == 32 and half.memory_bytes["temporaries"] == 2 * per_image * 32
    assert float_.plan.micro_batch == 16 and float_.plan.gradient_accumulation == 2
    assert float_.memory_bytes["temporaries"] == 3 * per_image * 16
    assert sum(half.memory_bytes.values()) - half.memory_bytes["temporaries"] + 3 * per_image * 32 > MK1.spec.sram_total_bytes
    assert "held beside the output until cast" in float_.why and "held beside" not in half.why
    # fp32 data accumulates in float either way: the partials are the output's own width
    fp32 = [netplan.network_step(MK1, _chain(2), 2, "fp32", True, pins=Pins(replicas=1, partials=p)) for p in ("half", "float")]
    assert fp32[0].memory_bytes["temporaries"] == fp32[1].memory_bytes["temporaries"] == 2 * 64 * 56 * 56 * 4 * 2
