"""`ipuexplore layer` and `ipuexplore sweep`: one convolution on several chips, scripted.

    ipuexplore layer --channels 256 --size 14 --kernel 3 --group-size 4 --batch 8
    ipuexplore layer ... --json        # one object; "chips" maps id -> estimate
    ipuexplore sweep --channels 256 --size 14 --csv   # every valid group size

Numbers are parsed here rather than by argparse so that a bad value gets one line naming
the option (and exit status 2 from the CLI frame).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys

from ipuexplore.formatting import seconds, si
from ipuexplore.hardware import DEFAULT_PAIR, Chip, load_chip
from ipuexplore.layers import Layer
from ipuexplore.models import Estimate, Pins, estimate
from ipuexplore.models.sweep import BATCHES, group_sweep, group_variants

from .vocabulary import ipu_over_gpu_speedup, mode_keys, throughput_ratios

DEFAULT_CHIPS = ",".join(DEFAULT_PAIR)
JSON_KEYS = ("time_s", "flops", "bytes", "arithmetic_intensity", "achieved_flop_s", "bandwidth_b_s", "bound")


def register(subparsers) -> None:
    layer = subparsers.add_parser(
        "layer",
        help="model one convolution on IPUs and GPUs",
        description="Estimate one convolution layer on each chip: time, FLOP/s (FLOPs = 2 x MACs), "
        "bytes, arithmetic intensity and what bounds it.",
    )
    _add_layer_options(layer)
    layer.add_argument("--json", action="store_true", help="print one JSON object")
    layer.add_argument("--why", action="store_true",
                       help="also print every model term of each phase: its value and why it has it")
    layer.add_argument("--trace", default=None, metavar="FILE",
                       help="run the layer once on the host engine (float32; with --train all three "
                       "passes; --workers N) and write its supersteps as a Chrome trace (Perfetto, chrome://tracing)")
    layer.add_argument("--measure", action="store_true",
                       help="also run the layer on this machine's engine (direct and gemm, fp32; --train: all "
                            "three passes), median of 5 runs after a warm-up")
    layer.add_argument("--peer", default=None, metavar="{torch}", help="--measure: also time PyTorch's conv2d")
    layer.add_argument("--workers", default=None, metavar="N", help="--measure: engine workers (default: all cores)")
    layer.set_defaults(func=run_layer)

    sweep = subparsers.add_parser(
        "sweep",
        help="model a convolution over every valid group size, or a layer or network over batch sizes",
        description="--over group-size (the default): the layer at every group count that divides both "
        "channel counts, from dense to depthwise. --over batch: the layer (or --net NAME) at each batch "
        "size: one step's time, the latency an image sees, and images per second on each chip.",
    )
    _add_layer_options(sweep)
    sweep.add_argument("--over", default="group-size", metavar="{group-size,batch}",
                       help="what to sweep (default group-size)")
    sweep.add_argument("--net", default=None, metavar="NAME", help="sweep a network (see `ipuexplore net --list`) over batch")
    sweep.add_argument("--batches", default=None, metavar="LIST",
                       help="--over batch: comma-separated batch sizes (default " + ",".join(map(str, BATCHES)) + ")")
    out = sweep.add_mutually_exclusive_group()
    out.add_argument("--csv", action="store_true", help="print CSV")
    out.add_argument("--json", action="store_true", help="print one JSON object")
    out.add_argument("--plot", action="store_true", help="--over batch: draw throughput against latency in the terminal")
    sweep.set_defaults(func=run_sweep, batch=None)  # None: not given (--over batch refuses it)


def add_plan_options(p: argparse.ArgumentParser) -> None:
    """--replicas, --micro-batch, --pipeline-stages: pin what the planner would choose."""
    p.add_argument("--replicas", default=None, metavar="N", help="data-parallel replicas, dividing --batch into equal shares (default: the planner's choice)")
    p.add_argument("--micro-batch", default=None, metavar="N", help="images per replica at a time, dividing each replica's share (default: the planner's choice)")
    p.add_argument("--pipeline-stages", default=None, metavar="N", help="IPUs each replica is pipelined over (default: the planner's choice)")
    p.add_argument("--recompute", action="store_true", default=None,
                   help="recompute the forward pass in the backward pass (IPUs, --train; default: the planner's choice)")
    p.add_argument("--partials", default=None, metavar="{half,float}",
                   help="IPU convolutions' partial sums (poplibs' partialsType; default half, as Graphcore's configs set it; "
                        "float halves the Mk2/Bow AMP rate); other chips ignore it")
    p.add_argument("--available-memory-proportion", default=None, metavar="X",
                   help="IPU convolutions' share of tile memory for temporaries, in (0, 1] (poplibs' "
                        "availableMemoryProportion; default 0.6; Graphcore's configs set 0.14-0.6); other chips ignore it")


def plan_pins(args: argparse.Namespace) -> Pins:
    """The pins the options give, each checked for a whole number >= 1."""
    values = {}
    for option in ("replicas", "micro_batch", "pipeline_stages"):
        raw = getattr(args, option, None)
        values[option] = None if raw is None else parse_int(raw, "--" + option.replace("_", "-"))
    amp = getattr(args, "available_memory_proportion", None)
    if amp is not None:
        try:
            amp = float(str(amp).strip())
        except ValueError:
            raise ValueError(f"--available-memory-proportion must be a number in (0, 1], got {amp!r}") from None
    return Pins(**values, recompute=getattr(args, "recompute", None), optimizer=getattr(args, "optimizer", None),
                partials=getattr(args, "partials", None), available_memory_proportion=amp)


def _add_layer_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--batch", default="1", help="batch size, the global batch on a system (default 1)")
    p.add_argument("--channels", default="256", help="input channels c (default 256)")
    p.add_argument("--out-channels", default=None, help="output channels k (default: = channels)")
    p.add_argument("--size", default="14", help="input size: H or HxW (default 14)")
    p.add_argument("--kernel", default="3", help="kernel size: R or RxS (default 3)")
    p.add_argument("--stride", default="1", help="stride (default 1)")
    p.add_argument("--padding", default=None, help="padding (default: dilation x (kernel-1)/2, 'same' for odd kernels)")
    p.add_argument("--dilation", default="1", help="dilation (default 1)")
    p.add_argument("--groups", default=None, help="number of groups g (default 1: dense; sweep: --over batch only)")
    p.add_argument("--group-size", default=None, help="channels per group c/g (alternative to --groups)")
    p.add_argument("--dtype", default="fp16", metavar="{fp16,fp32}", help="data type (default fp16)")
    p.add_argument("--train", action="store_true", help="training: forward + backward-data + backward-weights")
    p.add_argument("--chips", default=DEFAULT_CHIPS, help=f"comma-separated chip or system ids, see `ipuexplore chips` (default {DEFAULT_CHIPS})")
    p.add_argument("--hw-file", action="append", default=[], metavar="PATH", help="also model the chip in this TOML spec (repeatable)")
    add_plan_options(p)


# ---- parsing --------------------------------------------------------------------------
def parse_int(value, option: str, minimum: int = 1) -> int:
    """A whole number >= minimum for `option`, or one ValueError naming it."""
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"{option} must be an integer, got {value!r}") from None
    if number < minimum:
        raise ValueError(f"{option} must be >= {minimum}, got {number}")
    return number


def parse_workers(value, option: str = "--workers") -> int:
    """An engine worker count for `option`: 1 to the engine's maximum."""
    from ipuexplore.engine.pool import MAX_WORKERS

    number = parse_int(value, option)
    if number > MAX_WORKERS:
        raise ValueError(f"{option} must be <= {MAX_WORKERS}, got {number}")
    return number


def _pair(value, option: str, minimum: int = 1) -> tuple[int, int]:
    parts = str(value).lower().split("x")
    if "" in parts or len(parts) > 2:
        raise ValueError(f"{option} must be N or NxM, got {value!r}")
    if len(parts) == 1:
        n = parse_int(parts[0], option, minimum)
        return (n, n)
    if len(parts) == 2:
        return (parse_int(parts[0], option, minimum), parse_int(parts[1], option, minimum))
    raise ValueError(f"{option} must be N or NxM, got {value!r}")


def build_layer(args: argparse.Namespace, groups: int | None = None) -> Layer:
    """The conv layer the options describe (``groups`` overrides --groups/--group-size)."""
    c = parse_int(args.channels, "--channels")
    k = c if args.out_channels is None else parse_int(args.out_channels, "--out-channels")
    h, w = _pair(args.size, "--size")
    r, s = _pair(args.kernel, "--kernel")
    stride = _pair(args.stride, "--stride")
    dilation = _pair(args.dilation, "--dilation")
    if args.padding is None:
        pad = (dilation[0] * (r - 1) // 2, dilation[1] * (s - 1) // 2)
    else:
        pad = _pair(args.padding, "--padding", minimum=0)
    if groups is None:
        g_opt, size_opt = getattr(args, "groups", None), getattr(args, "group_size", None)
        if g_opt is not None and size_opt is not None:
            raise ValueError("give either --groups or --group-size, not both")
        if size_opt is not None:
            size = parse_int(size_opt, "--group-size")
            if c % size:
                raise ValueError(f"--group-size {size} must divide --channels {c}")
            groups = c // size
        else:
            groups = 1 if g_opt is None else parse_int(g_opt, "--groups")
    if c % groups or k % groups:
        raise ValueError(f"--groups {groups} must divide both --channels {c} and --out-channels {k}")
    return Layer.conv(c, h, w, k, (r, s), stride=stride, pad=pad, dilation=dilation, g=groups)


def load_chips(args: argparse.Namespace) -> list[Chip]:
    ids = [x.strip() for x in str(args.chips).split(",") if x.strip()]
    if not ids and not args.hw_file:
        raise ValueError("--chips is empty")
    chips = [load_chip(i) for i in ids] + [load_chip(path if path.endswith(".toml") or "/" in path else "./" + path) for path in args.hw_file]
    seen: set[str] = set()
    for chip in chips:
        if chip.id in seen:
            raise ValueError(f"chip {chip.id!r} given twice (--chips / --hw-file)")
        seen.add(chip.id)
    return chips


def _check_pins(pins: Pins, batch: int, chips: list[Chip]) -> None:
    """Every pin checked against every chip before anything is costed."""
    for chip in chips:
        pins.check(batch, chip.devices, 1, chip.family)


def _common(args: argparse.Namespace) -> tuple[int, str]:
    batch = 1 if args.batch is None else parse_int(args.batch, "--batch")
    if args.dtype not in ("fp16", "fp32"):
        raise ValueError(f"--dtype must be fp16 or fp32, got {args.dtype!r}")
    return batch, args.dtype


def ratios(estimates: dict[str, Estimate], chips: list[Chip]) -> dict[str, float]:
    """IPU speed-up over each GPU: time on the GPU / time on the IPU."""
    return ipu_over_gpu_speedup({c.id: estimates[c.id].time_s for c in chips}, {c.id: c.family for c in chips})


def _layer_dict(layer: Layer) -> dict:
    return {
        "describe": layer.describe(),
        "c": layer.c, "k": layer.k, "h": layer.h, "w": layer.w, "p": layer.p, "q": layer.q,
        "r": layer.r, "s": layer.s, "g": layer.g, "group_size": layer.channels_per_group,
        "stride": list(layer.stride), "pad": list(layer.pad), "dilation": list(layer.dilation),
        "macs_per_image": layer.macs, "flops_per_image": layer.flops, "flops_counts": "2 x MACs",
        "params": layer.params,
    }


# ---- layer ----------------------------------------------------------------------------
def run_layer(args: argparse.Namespace, out=None) -> int:
    out = out or sys.stdout
    batch, dtype = _common(args)
    layer = build_layer(args)
    pins = plan_pins(args)
    chips = load_chips(args)
    _check_pins(pins, batch, chips)
    ests = {c.id: estimate(c, layer, batch=batch, dtype=dtype, train=args.train, pins=pins) for c in chips}
    measured = _measured(args, layer, batch)
    if args.trace:
        _write_trace(args, layer, batch)
    if args.json:
        baseline, relative = throughput_ratios({cid: e.time_s for cid, e in ests.items()})
        doc = {
            **mode_keys(args.train), "layer": _layer_dict(layer), "batch": batch, "dtype": dtype,
            "baseline": baseline,
            "chips": {cid: {**e.to_dict(), "throughput_ratio": relative[cid]} for cid, e in ests.items()},
            "ipu_over_gpu_speedup": ratios(ests, chips),
        }
        if measured is not None:
            doc["measured"] = measured
        json.dump(doc, out, indent=2)
        out.write("\n")
        return 0
    mode = "training (fwd + bwd-data + bwd-weights)" if args.train else "inference"
    out.write(f"{layer.describe()}  batch {batch}, {dtype}, {mode}\n")
    out.write(f"work: {si(ests[chips[0].id].flops, 'FLOP')} (FLOPs = 2 x MACs), {layer.params:,} params\n\n")
    header = ("chip", "time", "TFLOP/s", "util", "bytes", "FLOP/B", "GB/s", "bound", "unit", "data in")
    rows = [
        (
            cid, seconds(e.time_s), f"{e.achieved_flop_s / 1e12:.2f}", f"{e.utilisation * 100:.0f}%",
            si(e.bytes, "B"), f"{e.arithmetic_intensity:.1f}", f"{e.bandwidth_b_s / 1e9:.0f}",
            e.bound, e.unit, e.memory_level + ("" if e.fits else " (does not fit)"),
        )
        for cid, e in ests.items()
    ]
    out.write(_table(header, rows))
    if measured is not None:
        workers = next(iter(measured.values()))["workers"]
        out.write(f"\nmeasured on this host (fp32, {workers} workers, {'fwd + bwd-data + bwd-weights' if args.train else 'forward'}, "
                  "median of 5 runs after a warm-up):\n")
        from .measure import table_rows

        out.write(_table(("source", "time", "TFLOP/s", "GB/s", "kernel"), table_rows(measured)))
    plans = [(cid, e.plan) for cid, e in ests.items() if e.plan is not None and
             (e.plan.ipus > 1 or e.plan.gradient_accumulation > 1)]
    if plans:
        out.write("\nplans (batch over replicas; pieces run one after another):\n")
        for cid, plan in plans:
            out.write(f"  {cid}: {plan.describe()}\n")
    if args.train:
        # a network's layers reading only the images skip backward_data (work.input_gradient_skipped)
        out.write("\nphases (each costed on its own; backward_data kept: a stand-alone layer's input may be an "
                  "activation, while in `net` the layers reading the images skip it):\n")
        for cid, e in ests.items():
            parts = ", ".join(f"{p.name} {seconds(p.time_s)} ({p.bound}, {p.unit})" for p in e.phases)
            out.write(f"  {cid}: {parts}; activations kept {si(e.activation_bytes_kept, 'B')}\n")
    if getattr(args, "why", False):
        out.write(_why(ests))
    for pair, ratio in ratios(ests, chips).items():
        ipu, gpu = pair.split("/")
        # "0.07x slower" reads as almost as fast: a slower IPU's factor is IPU time / GPU time
        factor = ratio if ratio >= 1 else 1 / ratio
        out.write(f"\n{ipu} vs {gpu}: {factor:.2f}x {'faster' if ratio >= 1 else 'slower'} on the IPU (GPU time / IPU time = {ratio:.3g})")
    out.write("\n")
    return 0


def _write_trace(args: argparse.Namespace, layer: Layer, batch: int) -> None:
    """--trace FILE: the layer's run on the host engine as a Chrome trace; a note on stderr."""
    from ipuexplore.engine.trace import trace_layer, write_chrome_trace

    workers = getattr(args, "workers", None)  # --workers N, where the command has it
    try:
        trace = trace_layer(layer, batch, train=args.train,
                            workers=None if workers is None else parse_workers(workers))
    except MemoryError as exc:
        raise ValueError(f"--trace: the engine cannot run this layer: {exc}") from None
    try:
        write_chrome_trace(args.trace, trace)
    except OSError as exc:
        raise ValueError(f"--trace: cannot write {args.trace}: {exc.strerror or exc}") from None
    sys.stderr.write(f"ipuexplore: trace of {len(trace.events)} spans on {trace.workers} workers "
                     f"written to {args.trace}\n")


def _measured(args: argparse.Namespace, layer: Layer, batch: int) -> dict | None:
    """The engine's measurement when --measure asks for it (options checked first)."""
    workers = None if args.workers is None else parse_workers(args.workers)
    if args.peer not in (None, "torch"):
        raise ValueError(f"--peer must be torch, got {args.peer!r}")
    if not args.measure:
        if args.peer is not None or (workers is not None and not args.trace):
            raise ValueError("--peer and --workers go with --measure (--workers also with --trace)")
        return None
    from .measure import measure

    return measure(layer, batch, train=args.train, workers=workers, peer=args.peer)


def _why(ests: dict[str, Estimate]) -> str:
    """Each chip's phases with their terms: what the model charged and why."""
    lines = []
    for cid, e in ests.items():
        for name in ("serialised_pieces", "gradient_accumulation_s", "weight_update_s", "allreduce_s"):
            if name in e.terms:
                t = e.terms[name]
                value = seconds(t.value) if t.unit == "s" else f"{t.value:.4g} {t.unit}"
                lines.append(f"\n{cid} {name}: {value}  {t.why}")
        for p in e.phases:
            piece = ""  # a step phase (weight update, all-reduce) has no terms: its own is printed above
            if p.terms and "serialised_pieces" in e.terms:
                piece = " (the terms are one serial piece's)"
            elif p.terms and e.plan is not None and (e.plan.replicas > 1 or e.plan.gradient_accumulation > 1):
                piece = f" (the terms are one chip's, for one micro-batch of {e.plan.micro_batch})"
            lines.append(f"\n{cid} {p.name}: {seconds(p.time_s)}, {p.bound}-bound, {p.unit}, data in {p.memory_level}{piece}")
            for name, t in p.terms.items():
                value = seconds(t.value) if t.unit == "s" else f"{t.value:.4g} {t.unit}"
                lines.append(f"  {name:<18} {value:<22} {t.why}")
    return "\n".join(lines) + "\n"


# ---- sweep ----------------------------------------------------------------------------
def sweep_rows(args: argparse.Namespace) -> tuple[Layer, list[Chip], list[dict]]:
    batch, dtype = _common(args)
    # models.sweep.group_sweep costs the planner's own plan: a pin would be silently ignored
    if plan_pins(args) != Pins():
        raise ValueError("--replicas, --micro-batch, --pipeline-stages, --recompute, --partials and --available-memory-proportion go with --over batch "
                         "(the group-size sweep uses the planner's own plan)")
    base = build_layer(args, groups=1)
    chips = load_chips(args)
    rows = []
    for point in group_sweep(group_variants(base), chips, batch=batch, dtype=dtype, train=args.train):
        for chip_id, why in point.errors.items():
            raise ValueError(f"{chip_id} at group size {point.channels_per_group}: {why}")
        rows.append({"groups": point.groups, "group_size": point.channels_per_group,
                     "layer": point.layer.describe(), "estimates": point.estimates,
                     "ratios": ratios(point.estimates, chips)})
    return base, chips, rows


def run_sweep(args: argparse.Namespace, out=None) -> int:
    out = out or sys.stdout
    if args.over not in ("group-size", "batch"):
        raise ValueError(f"--over must be group-size or batch, got {args.over!r}")
    if args.over == "batch":
        from .sweep_batch import run_batch_sweep

        if args.batch is not None:
            raise ValueError(f"--batch {args.batch} does not go with --over batch: list the sizes with --batches")
        return run_batch_sweep(args, out)
    for option, value in (("--net", args.net), ("--batches", args.batches), ("--plot", args.plot or None),
                          ("--groups", args.groups), ("--group-size", args.group_size)):
        if value is not None:
            raise ValueError(f"{option} goes with --over batch")
    base, chips, rows = sweep_rows(args)
    if args.json:
        doc = {
            **mode_keys(args.train), "layer": _layer_dict(base), "batch": _common(args)[0],
            "dtype": args.dtype,
            "rows": [
                {"groups": r["groups"], "group_size": r["group_size"], "layer": r["layer"],
                 "chips": {cid: {k: e.to_dict()[k] for k in JSON_KEYS + ("utilisation", "unit", "memory_level", "fits")}
                           for cid, e in r["estimates"].items()},
                 "ipu_over_gpu_speedup": r["ratios"]}
                for r in rows
            ],
        }
        json.dump(doc, out, indent=2)
        out.write("\n")
        return 0
    pair_names = list(rows[0]["ratios"]) if rows else []
    if args.csv:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["groups", "group_size"]
        for c in chips:
            header += [f"{c.id}_{k}" for k in JSON_KEYS] + [f"{c.id}_unit"]
        header += [f"speedup_{p.replace('/', '_over_')}" for p in pair_names]
        writer.writerow(header)
        for r in rows:
            line = [r["groups"], r["group_size"]]
            for c in chips:
                e = r["estimates"][c.id]
                line += [repr(getattr(e, k)) if isinstance(getattr(e, k), float) else getattr(e, k) for k in JSON_KEYS] + [e.unit]
            line += [repr(r["ratios"][p]) for p in pair_names]
            writer.writerow(line)
        out.write(buf.getvalue())
        return 0
    mode = "training" if args.train else "inference"
    out.write(f"sweep of {base.describe()} over group sizes, batch {args.batch}, {args.dtype}, {mode}\n")
    out.write("TFLOP/s counts FLOPs as 2 x MACs; bound: c=compute m=memory x=exchange o=overhead\n\n")
    header = ["c/g", "groups"]
    for c in chips:
        header += [f"{c.id} time", "TFLOP/s", "b"]
    header += [f"{p} speedup" for p in pair_names]
    table = []
    for r in rows:
        line = [str(r["group_size"]), str(r["groups"])]
        for c in chips:
            e = r["estimates"][c.id]
            line += [seconds(e.time_s), f"{e.achieved_flop_s / 1e12:.2f}", e.bound[0]]
        line += [f"{r['ratios'][p]:.2f}x" for p in pair_names]
        table.append(tuple(line))
    out.write(_table(tuple(header), table))
    return 0


# ---- formatting -----------------------------------------------------------------------
def _table(header: tuple, rows: list[tuple]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() for r in (header, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines) + "\n"

