"""`ipuexplore net NAME`: a whole network through the models (and, with --run, through the engine)."""

from __future__ import annotations

import csv
import json
import os
import sys

from ipuexplore.formatting import seconds, si
from ipuexplore.hardware import DEFAULT_PAIR, load_chip

from .layer import add_plan_options, parse_int, parse_workers, plan_pins
from .progress import progress_bar
from .vocabulary import SCHEMA_VERSION, ipu_over_gpu_speedup

DEFAULT_CHIPS = ",".join(DEFAULT_PAIR)


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "net",
        help="model a whole network (ResNet, ResNeXt, EfficientNet, MobileNetV2 or an .onnx file) on chips",
        description="Model a whole network layer by layer on each chip. Counts are per image; "
        "FLOPs = 2 x MACs. Times are for one step at --batch.",
    )
    p.add_argument("name", metavar="NAME", nargs="?", help="network name (see --list) or path to an .onnx model")
    p.add_argument("--list", action="store_true", help="list the network names and exit")
    p.add_argument("--batch", default="1", help="images per step, global for a system (default 1)")
    p.add_argument("--res", type=int, default=None, help="input resolution (default: the network's own)")
    p.add_argument("--chips", default=DEFAULT_CHIPS, help=f"comma-separated chip or system ids (see `ipuexplore chips`) or spec paths (default {DEFAULT_CHIPS})")
    p.add_argument("--hw-file", action="append", default=[], metavar="PATH", help="add a chip spec file (repeatable)")
    p.add_argument("--dtype", choices=("fp16", "fp32"), default="fp16", help="data type (default fp16)")
    p.add_argument("--train", action="store_true", help="a training step (fwd + bwd + weight update, all-reduce on systems)")
    p.add_argument("--group-size", type=int, default=None, metavar="N",
                   help="channels per group in every block's spatial conv; block widths re-chosen to keep MACs")
    p.add_argument("--width", type=float, default=1.0, help="channel width multiplier (default 1.0)")
    p.add_argument("--layers", action="store_true", help="show the per-layer table (and add it to --json)")
    p.add_argument("--why", action="store_true", help="print each chip's plan, memory and every step term with why")
    add_plan_options(p)
    p.add_argument("--optimizer", default=None, metavar="{momentum,lars,rmsprop}",
                   help="--train: the weight update's optimizer (default momentum; lars on IPUs as Graphcore's "
                        "MLPerf configs, rmsprop on GPUs as NVIDIA's EfficientNet configs)")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--csv", action="store_true", help="print the per-layer table as CSV")
    out.add_argument("--plot", default=None, metavar="{roofline}",
                     help="draw every layer on each chip's roofline in the terminal (intensity vs achieved FLOP/s)")
    p.add_argument("--run", action="store_true",
                   help="also run the forward pass on this machine (C engine, random weights) next to the host model")
    p.add_argument("--workers", default=None, metavar="N", help="engine workers for --run (default: all cores)")
    p.add_argument("--check", action="store_true",
                   help="with --run on an .onnx model: compare the fused session's output with ONNX Runtime's "
                        "and print the largest difference relative to the largest logit")
    p.set_defaults(func=run)


# networks.build's parameters the options set (--res, --group-size, --width), with their defaults
_BUILD_OPTIONS = (("res", None), ("group_size", None), ("width", 1.0))


def _option(param: str) -> str:
    return "--" + param.replace("_", "-")


def load_network(args):
    from ipuexplore import networks

    name = args.name
    if _is_onnx(name):
        for param, default in _BUILD_OPTIONS:
            if getattr(args, param) != default:
                raise ValueError(f"{_option(param)} cannot be applied to an ONNX model ({name})")
        return networks.load_onnx(name)
    if name not in networks.list_networks():
        raise ValueError(f"unknown network {name!r}: see `ipuexplore net --list` for the names "
                         "(an ONNX model is a path ending in .onnx)")
    try:
        return networks.build(name, **{param: getattr(args, param) for param, _ in _BUILD_OPTIONS})
    except ValueError as exc:  # the builder names its parameters ("width must be ..."): name the options
        text = str(exc)
        for param, _ in _BUILD_OPTIONS:
            if text.startswith(f"{param} "):
                raise ValueError(_option(param) + text[len(param):]) from None
        raise


def _is_onnx(name: str) -> bool:
    return name.endswith(".onnx") or os.sep in name


def run(args) -> int:
    from ipuexplore import networks

    if args.list:
        print("\n".join(networks.list_networks()))
        return 0
    if not args.name:
        raise ValueError("NAME is required: a network name (see `ipuexplore net --list`) or an .onnx path")
    if args.run and args.csv:
        raise ValueError("--run has no CSV form (the CSV is the model's per-layer table): use --json "
                         "or the readable output")
    if args.check and not (args.run and _is_onnx(args.name)):
        raise ValueError("--check compares the session with ONNX Runtime: it needs --run and an .onnx model")
    args.batch = parse_int(args.batch, "--batch")
    if args.workers is not None:
        if not args.run:
            raise ValueError("--workers sets the engine's workers for --run: add --run or leave it out")
        args.workers = parse_workers(args.workers)
    if args.plot not in (None, "roofline"):
        raise ValueError(f"--plot must be roofline, got {args.plot!r}")
    if args.plot and args.run:
        raise ValueError("--plot draws the models: leave out --run")
    if args.optimizer is not None and not args.train:
        raise ValueError(f"--optimizer {args.optimizer} is the weight update's: it goes with --train")
    network = load_network(args)
    chips = [c.strip() for c in args.chips.split(",") if c.strip()] + list(args.hw_file)
    pins = plan_pins(args)
    analysis = networks.analyse(network, chips, batch=args.batch, dtype=args.dtype, train=args.train, pins=pins)
    session = host = None
    if args.run:
        check_run_memory(network, args.batch)
        # The session first: a model it refuses (an op, a batch) fails before the longer layer-by-layer run.
        session = _session_run(network, args)
        layer_run = _host_run(network, args)
        measured = _measured_host()
        host = layer_run, _host_models(network, args, session, measured)
        if "host" in chips:  # the runs were on this machine: the host row on its measured peaks too
            chips = [measured if chip == "host" else chip for chip in chips]
            analysis = networks.analyse(network, chips, batch=args.batch, dtype=args.dtype, train=args.train,
                                        pins=pins)
    if args.json:
        out = {"schema": SCHEMA_VERSION, **analysis.to_dict(layers=args.layers)}
        out["ipu_over_gpu_speedup"] = ipu_over_gpu_speedup(
            {cid: t.time_s for cid, t in analysis.totals.items()},
            {cid: load_chip(spec).family for cid, spec in zip(analysis.chips, chips)})
        if host is not None:
            out["host_run"] = _host_dict(*host)
            out["session"] = session
        json.dump(out, sys.stdout, indent=2)
        print()
    elif args.csv:
        _write_csv(analysis, sys.stdout)
    elif args.plot:
        from .net_plot import roofline_plot

        print(roofline_plot(analysis, color=sys.stdout.isatty()))
    else:
        _print_summary(analysis)
        if args.why:
            _print_why(analysis)
        if args.layers:
            _print_layers(analysis)
        if host is not None:
            _print_host(*host, show_layers=args.layers)
            _print_session(session)
    return 0


# ---- human-readable output --------------------------------------------------------------
def _print_summary(a) -> None:
    net = a.network
    mode = "training" if a.train else "inference"
    print(f"{net.name}  {net.input_shape[1]}x{net.input_shape[2]}  batch {a.batch}  {a.dtype}  {mode}  "
          f"({len(net.layers)} layers)")
    print(f"per image: params {net.params:,}   MACs {si(net.macs)}   FLOPs {si(net.flops)} (2 x MACs)")
    print(f"activations at batch {a.batch}: peak {si(a.peak_activation_bytes, 'B')} (inference), "
          f"{si(a.stored_activation_bytes, 'B')} kept for the backward pass")
    if a.unsupported:
        ops = ", ".join(f"{op} x{n}" for op, n in a.unsupported)
        print(f"unsupported ONNX ops (not modeled, input passed through): {ops}")
    print()
    plans = {chip: _plan_cell(t.step.plan) if t.step is not None else "" for chip, t in a.totals.items()}
    width = max([4] + [len(p) for p in plans.values()])
    chip_width = max([12] + [len(chip) for chip in a.totals])
    print(f"{'chip':<{chip_width}} {'step':>10} {'img/s':>10} {'vs ' + a.baseline:>14}  {'plan':<{width}}  time by bound")
    for chip, t in a.totals.items():
        share = sorted(t.time_by_bound.items(), key=lambda kv: -kv[1])
        bounds = ", ".join(f"{b} {s / t.time_s:.0%}" for b, s in share if t.time_s > 0 and s / t.time_s >= 0.01)
        ratio = t.train_throughput_ratio if a.train else t.throughput_ratio
        print(f"{chip:<{chip_width}} {seconds(t.time_s):>10} {si(t.throughput_img_s):>10} {ratio:>13.3g}x  {plans[chip]:<{width}}  {bounds}")
    what = "training step (forward, backward, weight update, all-reduce)" if a.train else "inference step"
    print(f"(step = one {what} at the global batch; img/s = batch / step; plan = replicas x pipeline "
          "stages, micro-batch x micro-batches per step; --why explains each)")


def _plan_cell(plan) -> str:
    """The plan in a table cell: replicas x stages, micro-batch x accumulation, recomputation."""
    cell = f"{plan.replicas} x {plan.pipeline_stages}, mb {plan.micro_batch} x {plan.gradient_accumulation}"
    if plan.recompute:
        cell += ", recompute"
    if not plan.fits:
        cell += ", does not fit"
    return cell


def _print_why(a) -> None:
    """Each chip's plan, its memory per chip and every step term with why it has its value."""
    for chip, t in a.totals.items():
        step = t.step
        print(f"\n{chip}: {step.why}")
        mem = ", ".join(f"{k} {si(v, 'B')}" for k, v in step.memory_bytes.items())
        print(f"  memory per chip: {mem} (capacity {si(step.capacity_bytes, 'B')})")
        for name, term in step.terms.items():
            if term.value == 0 and name.startswith("pipeline_"):
                continue  # no pipeline: nothing to say
            value = seconds(term.value) if term.unit == "s" else f"{term.value:.4g} {term.unit}"
            print(f"  {name:<22} {value:>10}  {term.why}")


def _print_layers(a) -> None:
    print()
    chips = list(a.totals)
    head = f"{'layer':<24} {'shape':<40} {'g':>5} {'MFLOP':>9} {'params':>9} {'act':>9} {'AI':>7}"
    for chip in chips:
        head += f" {chip + ' time':>14} {'bound':<8}"
    print(head)
    for row in a.rows:
        line = (f"{row.name[:24]:<24} {row.shape[:40]:<40} {row.groups:>5} {row.flops / 1e6:>9.2f} {row.params:>9,} "
                f"{si(row.activation_bytes, 'B'):>9} {row.arithmetic_intensity:>7.1f}")
        for chip in chips:
            cost = row.costs[chip]
            line += f" {seconds(cost.time_s):>14} {cost.bound:<8}"
        print(line)


def _write_csv(a, stream) -> None:
    chips = list(a.totals)
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(["name", "kind", "shape", "groups", "flops_per_image", "params", "activation_bytes",
                     "arithmetic_intensity"] + [f"{chip}_{field}" for chip in chips for field in ("time_s", "bound")])
    for row in a.rows:
        cells = [row.name, row.kind, row.shape, row.groups, row.flops, row.params, row.activation_bytes,
                 f"{row.arithmetic_intensity:.6g}"]
        for chip in chips:
            cells += [f"{row.costs[chip].time_s:.6g}", row.costs[chip].bound]
        writer.writerow(cells)


# ---- host run -----------------------------------------------------------------------------
def run_memory_bytes(network, batch: int) -> int:
    """Bytes a host run of `network` at `batch` holds at its peak (fp32): the activation
    buffers as the run keeps them (reused by shape once their last reader has run, never
    returned), the input, two temporaries the size of the largest output (element-wise
    layers in numpy) and the weights twice (as given, and packed by the engine)."""
    import math

    last_use = network.last_use
    live: dict[tuple, int] = {}
    most: dict[tuple, int] = {}
    shape_of = {}
    for index, layer in enumerate(network.layers):
        shape = tuple(layer.out_shape)
        shape_of[layer.name] = shape
        live[shape] = live.get(shape, 0) + 1
        most[shape] = max(most.get(shape, 0), live[shape])
        for name in set(layer.inputs):
            if last_use.get(name) == index and name in shape_of:
                live[shape_of[name]] -= 1
    per_image = sum(count * math.prod(shape) for shape, count in most.items())
    largest = max((math.prod(layer.out_shape) for layer in network.layers), default=0)
    per_image += math.prod(network.input_shape) + 2 * largest
    return 4 * (batch * per_image + 2 * network.params)


def check_run_memory(network, batch: int) -> None:
    """Refuse a --run that needs more than the engine's memory limit, before allocating."""
    from ipuexplore import engine

    need, limit = run_memory_bytes(network, batch), engine.get_memory_limit()
    if limit is not None and need > limit:
        per_image = run_memory_bytes(network, 2) - run_memory_bytes(network, 1)
        fits = max(0, (limit - run_memory_bytes(network, 0)) // max(1, per_image))
        raise ValueError(f"--run at --batch {batch} needs about {si(need, 'B')} of memory, over the engine's "
                         f"memory limit of {si(limit, 'B')}; a batch up to about {fits} fits")


def _host_run(network, args):
    from ipuexplore import networks

    with progress_bar(f"running {network.name} (warm-up + timed)") as bar:
        return networks.run_on_host(network, args.batch, workers=args.workers, warmup=True, progress=bar)


def _measured_host():
    """The host chip on this machine's peaks, the FMA peak measured again after the runs and
    the higher reading kept: on a shared VM one reading can be half the peak."""
    from ipuexplore import engine

    engine.host_peaks(refresh=True, keep_higher=True)
    return load_chip("host", measure_host=True)


def _host_models(network, args, session: dict, fused):
    """The host model (``fused``: the measured host chip) beside both runs: with fused
    epilogues beside the session (its model added to ``session``), every layer a pass of its
    own beside the layer-by-layer run (returned)."""
    from dataclasses import replace

    from ipuexplore import networks

    unfused = replace(fused, spec=replace(fused.spec, fused_epilogues=0))
    total = networks.analyse(network, [fused], batch=args.batch, dtype="fp32", train=False).totals["host"]
    session["model_time_s"] = total.latency_s
    session["model_images_per_s"] = total.throughput_img_s
    return networks.analyse(network, [unfused], batch=args.batch, dtype="fp32", train=False)


def _host_dict(result, model) -> dict:
    out = result.to_dict()
    out["model_time_s"] = model.totals["host"].latency_s
    out["model_images_per_s"] = model.totals["host"].throughput_img_s
    for entry, row in zip(out["layers"], model.rows):
        entry["model_time_s"] = row.costs["host"].time_s
    return out


def _print_host(result, model, *, show_layers: bool) -> None:
    modeled = model.totals["host"]
    print()
    print(f"host run ({result.workers} workers, fp32, random weights, batch {result.batch}, after a warm-up pass): "
          f"{result.images_per_s:.4g} img/s measured in {seconds(result.wall_s)}; "
          f"host model {modeled.throughput_img_s:.4g} img/s ({seconds(modeled.latency_s)}, every layer a pass)")
    rows = list(zip(result.layers, model.rows))
    if not show_layers:  # the ten layers that took longest
        rows = sorted(rows, key=lambda pair: -pair[0].time_s)[:10]
        print("slowest layers:")
    print(f"{'layer':<24} {'shape':<40} {'measured':>10} {'model':>10} {'GFLOP/s':>9}")
    for measured, row in rows:
        rate = measured.flops / measured.time_s / 1e9 if measured.time_s > 0 and measured.flops else 0.0
        print(f"{measured.name[:24]:<24} {row.shape[:40]:<40} {seconds(measured.time_s):>10} "
              f"{seconds(row.costs['host'].time_s):>10} {rate:>9.3g}")


def _session_run(network, args) -> dict:
    """The fused HostSession on the same batch: median of 5 timed runs after a warm-up; with
    --check, its output against ONNX Runtime's on the same input."""
    from ipuexplore.networks import session as sessions
    from ipuexplore.networks import session_check

    model = args.name if _is_onnx(args.name) else network
    with sessions.HostSession(model, args.batch, workers=args.workers) as session:
        out, x = session_check.measure(session, runs=5)
        out["weights"] = "onnx" if model is args.name else "random"
        if args.check:
            reference = session_check.onnxruntime_output(args.name, x, threads=session.workers)
            out["max_rel_diff"] = session_check.max_relative_difference(session.run(x), reference)
    return out


def _print_session(s: dict) -> None:
    print(f"fused session ({s['workers']} workers, fp32, {s['weights']} weights, batch {s['batch']}, "
          f"{s['layers']} layers in {s['steps']} steps, median of 5): {s['images_per_s']:.4g} img/s "
          f"({s['wall_s'] * 1e3:.3g} ms per batch); host model {s['model_images_per_s']:.4g} img/s "
          f"({seconds(s['model_time_s'])}, fused epilogues)")
    winograd = s.get("winograd", {})
    if any(winograd.values()):
        print(f"Winograd kernel on {sum(winograd.values())} of the {len(winograd)} dense 3x3 stride-1 convolutions "
              f"(measured faster at build; the host model costs them on the direct kernel)")
    from ipuexplore.networks.session_check import busy_shares

    share = busy_shares(s)
    if any(share.values()):
        print(f"engine steps one at a time, per batch: {si(s['bytes_in'], 'B')} into the tiles, "
              f"{si(s['bytes_out'], 'B')} written; the workers' time {100 * share['exchange_s']:.0f}% "
              f"exchange (copies into the tiles), {100 * share['compute_s']:.0f}% compute, "
              f"{100 * share['wait_s']:.0f}% waiting")
    if "max_rel_diff" in s:
        print(f"check against ONNX Runtime: largest difference {s['max_rel_diff']:.3g} of the largest logit")
