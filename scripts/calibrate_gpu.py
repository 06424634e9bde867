#!/usr/bin/env python3
"""Measure torch conv2d on an NVIDIA GPU across group sizes and compare with the model.

    python scripts/calibrate_gpu.py                    # measure + model, writes docs/calibration/
    python scripts/calibrate_gpu.py --model-only       # no GPU needed: the model's side only

For each layer shape (3x3, stride 1, pad 1, the engine benchmarks' shapes A/B/C from issue 3)
and each channels-per-group value that divides the channels, it times the forward pass
(channels_last, fp16 by default, cuDNN benchmark mode, CUDA events, median of repeats) and
writes ``calibration-<gpu>.csv`` and ``.md`` with measured vs modeled time and TFLOP/s
(FLOPs = 2 x MACs). The GPU's name, driver, torch and cuDNN versions head the markdown.
About 50 timings of a few ms each plus cuDNN autotuning: well under a few minutes.
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

# (name, batch, channels, size): issue 3's benchmark shapes, so CPU and GPU tables line up
SHAPES = (("A", 8, 256, 14), ("B", 8, 128, 28), ("C", 32, 64, 56))
GROUP_SIZES = (1, 2, 4, 8, 16, 32, 64, None)  # None: dense
COLUMNS = ("shape", "batch", "channels", "size", "group_size", "groups", "gflop", "measured_s",
           "modeled_s", "measured_tflop_s", "modeled_tflop_s", "model_error", "model_bound", "model_unit")


@dataclass(frozen=True)
class Case:
    shape: str
    batch: int
    layer: Layer


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


def pick_chip(gpu_name: str, memory_gb: float) -> str:
    """The spec (shipped id, or a path under docs/hw-examples) for the GPU torch reports."""
    name = gpu_name.upper()
    if "H200" in name:  # not shipped: the sourced user spec in docs/hw-examples
        return str(ROOT / "docs" / "hw-examples" / "h200.toml")
    if "H100" in name:
        return "h100"
    if "A100" in name:
        return "a100-80gb" if memory_gb > 50 else "a100-40gb"
    if "V100" in name:
        return "v100"
    raise ValueError(f"no shipped spec for GPU {gpu_name!r}: pass --chip or --hw-file")


def row(case: Case, chip: Chip, dtype: str, measured_s: float | None) -> dict:
    est = estimate(chip, case.layer, batch=case.batch, dtype=dtype)
    flops = est.flops
    result = {
        "shape": case.shape, "batch": case.batch, "channels": case.layer.c, "size": case.layer.h,
        "group_size": case.layer.channels_per_group, "groups": case.layer.g, "gflop": flops / 1e9,
        "measured_s": measured_s, "modeled_s": est.time_s,
        "measured_tflop_s": flops / measured_s / 1e12 if measured_s else None,
        "modeled_tflop_s": flops / est.time_s / 1e12,
        "model_error": (est.time_s - measured_s) / measured_s if measured_s else None,
        "model_bound": est.bound, "model_unit": est.unit,
    }
    return result


def measure(case: Case, dtype: str, repeats: int, device: str = "cuda") -> float:
    """Median forward time in seconds (CUDA events on a GPU; wall clock on "cpu", which
    the tests use to exercise everything but the events)."""
    import time

    import torch

    cuda = device.startswith("cuda")
    torch.backends.cudnn.benchmark = True
    tdtype = torch.float16 if dtype == "fp16" else torch.float32
    layer = case.layer
    x = torch.randn(case.batch, layer.c, layer.h, layer.w, device=device, dtype=tdtype)
    x = x.to(memory_format=torch.channels_last)
    w = torch.randn(layer.k, layer.channels_per_group, layer.r, layer.s, device=device, dtype=tdtype)
    w = w.to(memory_format=torch.channels_last)

    def run():
        return torch.nn.functional.conv2d(x, w, None, layer.stride, layer.pad[0], layer.dilation, layer.g)

    with torch.no_grad():
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


def write(rows: list[dict], out_dir: Path, stem: str, header: str) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    lines = [header, "", "| shape | c/g | groups | measured | modeled | meas. TFLOP/s | model TFLOP/s | error | model bound / unit |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['shape']} n={r['batch']} c={r['channels']} {r['size']}x{r['size']} | {r['group_size']} | {r['groups']} | "
            f"{fmt(r['measured_s'] and r['measured_s'] * 1e6, '.1f')} us | {r['modeled_s'] * 1e6:.1f} us | "
            f"{fmt(r['measured_tflop_s'], '.2f')} | {r['modeled_tflop_s']:.2f} | "
            f"{fmt(r['model_error'] and r['model_error'] * 100, '+.0f')}{'' if r['model_error'] is None else '%'} | "
            f"{r['model_bound']} / {r['model_unit']} |"
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
    for case in cases():
        measured = None if args.model_only else measure(case, args.dtype, args.repeats)
        rows.append(row(case, chip, args.dtype, measured))
        if not args.model_only:
            r = rows[-1]
            print(f"{case.shape} c/g={r['group_size']:<4} measured {r['measured_s'] * 1e6:9.1f} us  modeled {r['modeled_s'] * 1e6:9.1f} us")
    stem = "calibration-" + "".join(ch if ch.isalnum() else "-" for ch in gpu_name.lower()).strip("-")
    header = "\n".join([f"# Calibration: torch conv2d vs the {chip.id} model ({args.dtype}, forward, channels_last)", ""]
                       + [f"- {b}" for b in header_bits + [f"model spec: {chip.id} ({chip.name})",
                                                           "FLOPs = 2 x MACs; error = (modeled - measured) / measured"]])
    csv_path, md_path = write(rows, Path(args.out_dir), stem, header)
    print(f"wrote {csv_path} and {md_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
