#!/usr/bin/env python3
"""Measure torch kernels on an NVIDIA GPU and compare them with the model, sweep by sweep.

    python scripts/calibrate_gpu.py                          # every sweep, writes docs/calibration/
    python scripts/calibrate_gpu.py --sweep depthwise        # one sweep
    python scripts/calibrate_gpu.py --model-only             # no GPU needed: the model's side only

Sweeps (``--sweep``, default all):

- ``conv``: 3x3 stride-1 convolutions of the engine benchmarks' shapes A/B/C (tests/benchmarks/test_conv_bench.py) at every
  channels-per-group value that divides the channels, forward.
- ``depthwise``: EfficientNet's depthwise shapes (3x3 and 5x5, stride 1 and 2), forward and
  forward + backward: the achieved fraction of DRAM bandwidth is what the spec fields
  ``depthwise_bw_efficiency`` / ``depthwise_grad_bw_efficiency`` hold, and the achieved GB/s
  over the GPU's SMs what ``depthwise_gb_s_per_sm`` / ``depthwise_grad_gb_s_per_sm`` hold
  (run it on two GPUs with different bandwidth per SM to test the per-SM carry-over).
- ``elementwise``: batch norm (inference and training), SiLU, a residual add and a
  squeeze-excite block at EfficientNet-B0 sizes, forward and forward + backward: their achieved
  bandwidth against the model's streaming rate (``hbm_efficiency``). The SiLU here runs out of
  place (its input is a leaf, which cannot change in place), while the model's training SiLU
  counts autograd's clone of the in-place SiLU NVIDIA's EfficientNet runs: expect the model's
  forward + backward to be 2 tensor passes of 5 heavier there.
- ``grouped1x1``: 1x1 convolutions at equal FLOPs as the groups grow (channels x2 per groups
  x4, and ShuffleNet V2's Table 2 channels at 56x56, batch 1, fp32): the slowdown per group.
- ``network``: whole networks (EfficientNet-B0, ResNet-50 at batch 64, 128, 256) run as NVIDIA's
  DeepLearningExamples validation step runs them (fp32 weights under ``torch.no_grad()`` and
  autocast, channels_last, one ``torch.cuda.synchronize()`` per batch, wall clock per batch:
  the host's dispatch included) against the model's inference step; written to
  ``calibration-<gpu>-networks.{csv,md}`` with the measured time per image and per batch
  (slope and intercept of the two largest batches): NVIDIA's published steps carry ~2 ms per
  batch the model does not explain (docs/validation.md). Where the model spec says the loader
  normalises on the GPU (``input_normalise_on_gpu``), each batch starts as uint8 images made
  float and normalised there, as NVIDIA's loader does. ``--idle-ms`` leaves the GPU idle that
  long before each timed batch, as a loader-bound run does: run it at 0 and at ~50 to see
  whether waking an idle GPU costs a fixed time per batch.

Each timing is the median of ``--repeats`` runs (CUDA events, channels_last, cuDNN benchmark
mode, fp16 by default) after warm-up. ``calibration-<gpu>.{csv,md}`` get measured vs modeled
time, TFLOP/s (FLOPs = 2 x MACs) and, for memory-bound layers, the achieved GB/s of the
model's compulsory bytes as a fraction of the chip's DRAM peak. The GPU's name, driver, torch
and cuDNN versions head the markdown. A few hundred timings of a few ms each: minutes.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT))

from ipuexplore.hardware import Chip, load_chip  # noqa: E402
from ipuexplore.layers import Layer  # noqa: E402
from ipuexplore.models import estimate  # noqa: E402

# (name, batch, channels, size): the engine benchmarks' shapes, so CPU and GPU tables line up
SHAPES = (("A", 8, 256, 14), ("B", 8, 128, 28), ("C", 32, 64, 56))
GROUP_SIZES = (1, 2, 4, 8, 16, 32, 64, None)  # None: dense
# EfficientNet-B0's spatial stages at 224 px: (expanded channels, input size, kernel, stride)
B0_DEPTHWISE = ((96, 112, 3, 2), (144, 56, 3, 1), (144, 56, 5, 2), (240, 28, 5, 1), (480, 14, 3, 1),
                (672, 14, 5, 1), (672, 14, 5, 2), (1152, 7, 5, 1))
B0_TENSORS = ((32, 112), (96, 112), (144, 56), (240, 28), (480, 14), (1152, 7))  # (channels, size)
SWEEP_BATCH = 128  # EfficientNet-B0 training's per-GPU batch on a V100 (NVIDIA DeepLearningExamples)
EQUAL_FLOPS_1X1 = ((1, 128), (4, 256), (16, 512), (64, 1024))  # (groups, channels): c^2/g constant
SHUFFLENET_V2_1X1 = ((1, 128), (2, 180), (4, 256), (8, 360))  # ShuffleNet V2 Table 2, x1 column
SWEEPS = ("conv", "depthwise", "elementwise", "grouped1x1", "network")
LAYER_SWEEPS = SWEEPS[:-1]
NETWORKS = (("efficientnet_b0", (64, 128, 256)), ("resnet50", (64, 128, 256)))
NETWORK_COLUMNS = ("network", "batch", "dtype", "measured_s", "modeled_s", "model_error")
COLUMNS = ("sweep", "shape", "layer", "batch", "train", "dtype", "channels", "size", "group_size", "groups",
           "gflop", "mbytes", "measured_s", "modeled_s", "measured_tflop_s", "modeled_tflop_s",
           "measured_gb_s", "measured_bw_fraction", "model_error", "model_bound", "model_unit")


@dataclass(frozen=True)
class Case:
    shape: str
    batch: int
    layer: Layer
    train: bool = False
    sweep: str = "conv"
    dtype: str | None = None  # None: the run's --dtype


def cases(shapes=SHAPES) -> list[Case]:
    out = []
    for name, batch, c, size in shapes:
        for cg in GROUP_SIZES:
            cg = c if cg is None else cg
            if cg > c or c % cg:
                continue
            if any(x.shape == name and x.layer.channels_per_group == cg for x in out):
                continue  # dense already listed (e.g. 64 channels, 64 per group)
            out.append(Case(name, batch, Layer.conv(c, size, size, c, 3, pad=1, g=c // cg)))
    return out


def depthwise_cases(batch: int = SWEEP_BATCH) -> list[Case]:
    out = []
    for c, size, k, stride in B0_DEPTHWISE:
        layer = Layer.conv(c, size, size, c, k, stride=stride, pad=k // 2, g=c)
        out += [Case(f"dw{k}x{k}/{stride}", batch, layer, train, "depthwise") for train in (False, True)]
    return out


def elementwise_cases(batch: int = SWEEP_BATCH) -> list[Case]:
    out = []
    for c, size in B0_TENSORS:
        for name, layer in (("bn", Layer.norm(c, size, size)), ("silu", Layer.act(c, size, size, "silu")),
                            ("add", Layer.add(c, size, size)), ("se", Layer.se(c, size, size, max(8, c // 24)))):
            out += [Case(name, batch, layer, train, "elementwise") for train in (False, True)]
    return out


def grouped_1x1_cases() -> list[Case]:
    out = [Case("equal-flops", 32, Layer.conv(c, 28, 28, c, 1, g=g), False, "grouped1x1") for g, c in EQUAL_FLOPS_1X1]
    out += [Case("shufflenet-v2", 1, Layer.conv(c, 56, 56, c, 1, g=g), False, "grouped1x1", "fp32")
            for g, c in SHUFFLENET_V2_1X1]
    return out


def sweep_cases(sweep: str) -> list[Case]:
    return {"conv": cases, "depthwise": depthwise_cases, "elementwise": elementwise_cases,
            "grouped1x1": grouped_1x1_cases}[sweep]()


def pick_chip(gpu_name: str, memory_gb: float) -> str:
    """The spec (shipped id, or a path under docs/hw-examples) for the GPU torch reports."""
    name = gpu_name.upper()
    if "H200" in name:  # not shipped: the sourced user spec in docs/hw-examples
        return str(ROOT / "docs" / "hw-examples" / "h200.toml")
    for card in ("RTX 4090", "RTX 3090"):  # GeForce cards: the sourced user specs
        if card in name:
            return str(ROOT / "docs" / "hw-examples" / f"{card.replace(' ', '').lower()}.toml")
    if "H100" in name:
        return "h100"
    if "A100" in name:
        return "a100-80gb" if memory_gb > 50 else "a100-40gb"
    if "V100" in name:
        return "v100"
    raise ValueError(f"no shipped spec for GPU {gpu_name!r}: pass --chip or --hw-file")


def row(case: Case, chip: Chip, dtype: str, measured_s: float | None) -> dict:
    dtype = case.dtype or dtype
    est = estimate(chip, case.layer, batch=case.batch, dtype=dtype, train=case.train)
    flops, nbytes = est.flops, est.bytes
    peak_b_s = chip.spec.hbm_bw_gb_s * 1e9
    return {
        "sweep": case.sweep, "shape": case.shape, "layer": case.layer.describe(), "batch": case.batch,
        "train": case.train, "dtype": dtype, "channels": case.layer.c, "size": case.layer.h,
        "group_size": case.layer.channels_per_group, "groups": case.layer.g, "gflop": flops / 1e9,
        "mbytes": nbytes / 1e6, "measured_s": measured_s, "modeled_s": est.time_s,
        "measured_tflop_s": flops / measured_s / 1e12 if measured_s and flops else None,
        "modeled_tflop_s": flops / est.time_s / 1e12,
        "measured_gb_s": nbytes / measured_s / 1e9 if measured_s else None,
        "measured_bw_fraction": nbytes / measured_s / peak_b_s if measured_s else None,
        "model_error": (est.time_s - measured_s) / measured_s if measured_s else None,
        "model_bound": est.bound, "model_unit": est.unit,
    }


def measure(case: Case, dtype: str, repeats: int, device: str = "cuda") -> float:
    """Median time in seconds of the case's forward (and backward, when training) pass
    (CUDA events on a GPU; wall clock on "cpu", which the tests use to exercise everything
    but the events)."""
    import time

    import torch

    cuda = device.startswith("cuda")
    torch.backends.cudnn.benchmark = True
    run = _runner(case, case.dtype or dtype, device)
    for _ in range(5):  # autotune + warm up
        run()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            run()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end) / 1e3)
        else:
            t0 = time.perf_counter()
            run()
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _runner(case: Case, dtype: str, device: str):
    """A closure running the case once in torch (forward, plus backward when training)."""
    import torch
    import torch.nn.functional as F

    from ipuexplore.layers import LayerKind

    tdtype = torch.float16 if dtype == "fp16" else torch.float32
    layer, n, train = case.layer, case.batch, case.train

    def tensor(*shape, last=True):
        t = torch.randn(*shape, device=device, dtype=tdtype)
        t = t.to(memory_format=torch.channels_last) if last and len(shape) == 4 else t
        return t.requires_grad_(train)

    x = tensor(n, layer.c, layer.h, layer.w)
    params: list = [x]
    if layer.kind in (LayerKind.CONV, LayerKind.LINEAR):
        w = tensor(layer.k, layer.channels_per_group, layer.r, layer.s)
        params.append(w)
        fwd = lambda: F.conv2d(x, w, None, layer.stride, layer.pad[0], layer.dilation, layer.g)  # noqa: E731
    elif layer.kind is LayerKind.NORM:
        weight, bias = tensor(layer.c, last=False), tensor(layer.c, last=False)
        params += [weight, bias]
        mean = torch.zeros(layer.c, device=device, dtype=torch.float32)
        var = torch.ones(layer.c, device=device, dtype=torch.float32)
        fwd = lambda: F.batch_norm(x, mean, var, weight, bias, training=train)  # noqa: E731
    elif layer.kind is LayerKind.ACT:
        fwd = lambda: {"silu": F.silu, "relu": F.relu, "sigmoid": torch.sigmoid}[layer.op](x)  # noqa: E731
    elif layer.kind is LayerKind.ADD:
        y = tensor(n, layer.c, layer.h, layer.w)
        params.append(y)
        fwd = lambda: x + y  # noqa: E731
    elif layer.kind is LayerKind.SE:
        w1, b1 = tensor(layer.se_c, layer.c, 1, 1), tensor(layer.se_c, last=False)
        w2, b2 = tensor(layer.c, layer.se_c, 1, 1), tensor(layer.c, last=False)
        params += [w1, b1, w2, b2]

        def fwd():
            s = F.silu(F.conv2d(x.mean((2, 3), keepdim=True), w1, b1))
            return x * torch.sigmoid(F.conv2d(s, w2, b2))
    else:
        raise ValueError(f"calibrate_gpu: no torch runner for layer kind {layer.kind.value!r}")

    if not train:
        def run():
            with torch.no_grad():
                return fwd()
        return run
    grad = None

    def run_train():
        nonlocal grad
        for p in params:
            p.grad = None
        out = fwd()
        if grad is None:
            grad = torch.ones_like(out)
        out.backward(grad)
    return run_train


def network_runner(layers, batch: int, dtype: str, device: str, normalise: bool = False):
    """A closure running a network's forward pass once as NVIDIA's validation step does:
    fp32 weights, autocast to fp16 (``dtype`` "fp16", CUDA only), no autograd, channels_last
    input; ``normalise``: the input starts as uint8 images made fp32 and normalised in place
    (NVIDIA's PrefetchedWrapper). Layers read their producers' outputs by name (the builders'
    ``inputs``)."""
    import torch
    import torch.nn.functional as F

    from ipuexplore.layers import LayerKind

    def param(*shape):
        return torch.randn(*shape, device=device) * 0.01

    acts = {"relu": F.relu, "relu6": F.relu6, "silu": F.silu, "sigmoid": torch.sigmoid, "hardswish": F.hardswish}

    def op(l):
        """The torch function of one layer, reading its inputs' tensors."""
        if l.kind is LayerKind.CONV:
            w, b = param(l.k, l.channels_per_group, l.r, l.s), param(l.k) if l.bias else None
            top, bottom, left, right = l.pad
            if (top, left) == (bottom, right):
                return lambda x: F.conv2d(x, w, b, l.stride, (top, left), l.dilation, l.g)
            return lambda x: F.conv2d(F.pad(x, (left, right, top, bottom)), w, b, l.stride, 0, l.dilation, l.g)
        if l.kind is LayerKind.NORM:
            mean, var, weight, bias = param(l.c), param(l.c).abs() + 1, param(l.c) + 1, param(l.c)
            return lambda x: F.batch_norm(x, mean, var, weight, bias, training=False)
        if l.kind is LayerKind.ACT:
            return acts[l.op]
        if l.kind is LayerKind.ADD:
            return lambda a, b: a + b
        if l.kind is LayerKind.POOL:
            if l.op == "global_avg":
                return lambda x: F.adaptive_avg_pool2d(x, 1)
            pool = F.max_pool2d if l.op == "max" else F.avg_pool2d
            return lambda x: pool(x, (l.r, l.s), l.stride, (l.pad[0], l.pad[2]))
        if l.kind is LayerKind.LINEAR:
            w, b = param(l.k, l.c), param(l.k) if l.bias else None
            return lambda x: F.linear(x.flatten(1), w, b)
        if l.kind is LayerKind.SE:
            w1, b1, w2, b2 = param(l.se_c, l.c, 1, 1), param(l.se_c), param(l.c, l.se_c, 1, 1), param(l.c)
            act = acts[l.op or "silu"]
            return lambda x: x * torch.sigmoid(F.conv2d(act(F.conv2d(x.mean((2, 3), keepdim=True), w1, b1)), w2, b2))
        raise ValueError(f"calibrate_gpu: no torch op for layer kind {l.kind.value!r}")

    ops = [(l.name, l.inputs, op(l)) for l in layers]
    first = layers[0]
    shape = (batch, first.c, first.h, first.w)
    if normalise:
        images = torch.randint(0, 256, shape, dtype=torch.uint8, device=device).contiguous(memory_format=torch.channels_last)
        mean, std = torch.full((1, first.c, 1, 1), 120.0, device=device), torch.full((1, first.c, 1, 1), 60.0, device=device)
    else:
        x = torch.randn(*shape, device=device).to(memory_format=torch.channels_last)
    autocast = dtype == "fp16" and device.startswith("cuda")

    def run():
        with torch.no_grad(), torch.autocast("cuda", enabled=autocast):
            inp = images.float().sub_(mean).div_(std) if normalise else x
            out = {name: inp for name in first.inputs}
            for name, inputs, f in ops:
                out[name] = f(*(out[i] for i in inputs))
            return out[ops[-1][0]]
    return run


def measure_network(layers, batch: int, dtype: str, repeats: int, device: str = "cuda", normalise: bool = False,
                    idle_s: float = 0.0) -> float:
    """Median wall time of one synchronised batch (the host's dispatch included, as in
    NVIDIA's published latencies), each after ``idle_s`` of an idle GPU (not timed)."""
    import time

    import torch

    torch.backends.cudnn.benchmark = True
    run = network_runner(layers, batch, dtype, device, normalise)
    sync = torch.cuda.synchronize if device.startswith("cuda") else (lambda: None)
    times = []
    for i in range(repeats + 3):  # the first batches autotune and warm up
        time.sleep(idle_s)
        t0 = time.perf_counter()
        run()
        sync()
        if i >= 3:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def network_rows(chip: Chip, dtype: str, repeats: int | None, networks_list=NETWORKS, idle_s: float = 0.0) -> list[dict]:
    """Measured (``repeats`` None: not measured) vs modeled inference steps, the input made as
    the spec's loader makes it."""
    from ipuexplore import networks

    rows = []
    for name, batches in networks_list:
        net = networks.build(name)
        for batch in batches:
            modeled = networks.analyse(net, [chip], batch=batch, dtype=dtype).totals[chip.id].time_s
            measured = None if repeats is None else measure_network(
                net.layers, batch, dtype, repeats, normalise=bool(chip.spec.input_normalise_on_gpu), idle_s=idle_s)
            rows.append({"network": name, "batch": batch, "dtype": dtype, "measured_s": measured, "modeled_s": modeled,
                         "model_error": (modeled - measured) / measured if measured else None})
    return rows


def per_batch_fit(rows: list[dict], key: str) -> dict[str, tuple[float, float]]:
    """Per network: (seconds per image, seconds per batch) through its two largest batches."""
    fits = {}
    for name in dict.fromkeys(r["network"] for r in rows):
        pts = sorted((r for r in rows if r["network"] == name and r[key]), key=lambda r: r["batch"])[-2:]
        if len(pts) == 2 and pts[1]["batch"] > pts[0]["batch"]:
            (a, b) = pts
            slope = (b[key] - a[key]) / (b["batch"] - a["batch"])
            fits[name] = (slope, b[key] - slope * b["batch"])
    return fits


def write_networks(rows: list[dict], out_dir: Path, stem: str, header: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / f"{stem}-networks.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=NETWORK_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    ms = lambda v: "-" if v is None else f"{v * 1e3:.2f} ms"  # noqa: E731
    lines = [header, "", "| network | batch | measured | modeled | error |", "|---|---|---|---|---|"]
    lines += [f"| {r['network']} | {r['batch']} | {ms(r['measured_s'])} | {ms(r['modeled_s'])} | "
              + ("-" if r["model_error"] is None else f"{r['model_error'] * 100:+.0f}%") + " |" for r in rows]
    lines += ["", "Per image and per batch, through the two largest batches:", ""]
    for key in ("measured_s", "modeled_s"):
        for name, (slope, intercept) in per_batch_fit(rows, key).items():
            lines.append(f"- {name}, {key[:-2]}: {slope * 1e3:.4f} ms per image + {intercept * 1e3:.2f} ms per batch")
    md = out_dir / f"{stem}-networks.md"
    md.write_text("\n".join(lines) + "\n")
    return md


def write(rows: list[dict], out_dir: Path, stem: str, header: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    lines = [header, "", "| sweep | layer | batch | mode | c/g | measured | modeled | error | meas. TFLOP/s | meas. GB/s (of peak) | model bound / unit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        frac = "-" if r["measured_bw_fraction"] is None else f"{r['measured_gb_s']:.0f} ({r['measured_bw_fraction']:.2f})"
        lines.append(
            f"| {r['sweep']} {r['shape']} | {r['layer']} | {r['batch']} | {'train' if r['train'] else 'fwd'} {r['dtype']} | "
            f"{r['group_size']} | {fmt(r['measured_s'] and r['measured_s'] * 1e6, '.1f')}{'' if r['measured_s'] is None else ' us'} | {r['modeled_s'] * 1e6:.1f} us | "
            f"{fmt(r['model_error'] and r['model_error'] * 100, '+.0f')}{'' if r['model_error'] is None else '%'} | "
            f"{fmt(r['measured_tflop_s'], '.2f')} | {frac} | {r['model_bound']} / {r['model_unit']} |"
        )
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dtype", default="fp16", choices=("fp16", "fp32"))
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--chip", default=None, help="model spec id (default: from the GPU's name)")
    p.add_argument("--hw-file", default=None, help="model spec file instead of a shipped id")
    p.add_argument("--out-dir", default=str(ROOT / "docs" / "calibration"))
    p.add_argument("--model-only", action="store_true", help="skip measuring (no GPU needed)")
    p.add_argument("--sweep", action="append", choices=SWEEPS, help="a sweep to run (repeatable; default: all)")
    p.add_argument("--idle-ms", type=float, default=0.0, help="network sweep: idle GPU time before each timed batch")
    args = p.parse_args(argv)

    gpu_name, header_bits = "model-only", []
    if not args.model_only:
        try:
            import torch
        except ImportError:
            print("calibrate_gpu: torch is not installed (use --model-only)", file=sys.stderr)
            return 2
        if not torch.cuda.is_available():
            print("calibrate_gpu: no CUDA GPU visible to torch (use --model-only)", file=sys.stderr)
            return 2
        props = torch.cuda.get_device_properties(0)
        gpu_name = props.name
        header_bits = [f"GPU: {props.name}, {props.total_memory / 2**30:.0f} GiB, {props.multi_processor_count} SMs",
                       f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}"]
        chip_id = args.hw_file or args.chip or pick_chip(props.name, props.total_memory / 1e9)
    else:
        chip_id = args.hw_file or args.chip or "v100"
    chip = load_chip(chip_id)
    rows = []
    sweeps = args.sweep or SWEEPS
    for sweep in (s for s in sweeps if s in LAYER_SWEEPS):
        for case in sweep_cases(sweep):
            measured = None if args.model_only else measure(case, args.dtype, args.repeats)
            rows.append(row(case, chip, args.dtype, measured))
            if not args.model_only:
                r = rows[-1]
                print(f"{sweep:11s} {r['layer']:40s} {'train' if case.train else 'fwd':5s} "
                      f"measured {r['measured_s'] * 1e6:9.1f} us  modeled {r['modeled_s'] * 1e6:9.1f} us")
    stem = "calibration-" + "".join(ch if ch.isalnum() else "-" for ch in gpu_name.lower()).strip("-")
    header = "\n".join([f"# Calibration: torch kernels vs the {chip.id} model ({args.dtype} unless a row says, channels_last)", ""]
                       + [f"- {b}" for b in header_bits + [f"model spec: {chip.id} ({chip.name})",
                                                           "FLOPs = 2 x MACs; error = (modeled - measured) / measured"]])
    if rows or "network" not in sweeps:
        csv_path, md_path = write(rows, Path(args.out_dir), stem, header)
        print(f"wrote {csv_path} and {md_path}")
    if "network" in sweeps:
        net_rows = network_rows(chip, args.dtype, None if args.model_only else args.repeats, idle_s=args.idle_ms / 1e3)
        header += f"\n- network sweep: {args.idle_ms:g} ms idle before each timed batch"
        print(f"wrote {write_networks(net_rows, Path(args.out_dir), stem, header)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
