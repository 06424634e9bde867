"""`ipuexplore sweep --over batch`: the latency/throughput trade of a layer or a network.

    ipuexplore sweep --over batch --channels 256 --group-size 8
    ipuexplore sweep --over batch --net resnext50_32x4d --chips ipu-mk2,a100-40gb --plot

Each batch size is one step: its time is the latency every image in it sees, and batch /
time is the throughput. A larger batch fills the chip better (throughput up) at the price
of a longer step (latency up); the sweep shows where each chip pays what.
"""

from __future__ import annotations

import argparse
import csv
import json
import re

from ipuexplore.formatting import seconds, si
from ipuexplore.models.sweep import BATCHES, BatchCost, BatchPoint, batch_sweep, layer_batch_costs

from .layer import _common, _table, build_layer, load_chips, parse_int, plan_pins
from .vocabulary import mode_keys

FIELDS = ("time_s", "latency_s", "throughput_img_s", "bound")


def parse_batches(value: str | None) -> list[int]:
    if value is None:
        return list(BATCHES)
    batches = [parse_int(part, "--batches") for part in str(value).split(",") if part.strip()]
    if not batches:
        raise ValueError(f"--batches must list batch sizes, got {value!r}")
    return sorted(set(batches))


def _network_costs(args: argparse.Namespace, chips):
    from ipuexplore import networks

    if args.net not in networks.list_networks():
        raise ValueError(f"unknown network {args.net!r} for --net: see `ipuexplore net --list`")
    network = networks.build(args.net)
    pins = plan_pins(args)

    def cost(batch: int):
        a = networks.analyse(network, chips, batch=batch, dtype=args.dtype, train=args.train, pins=pins)
        out = {}
        for chip_id, t in a.totals.items():
            bound = max(t.time_by_bound.items(), key=lambda kv: kv[1])[0] if t.time_by_bound else ""
            out[chip_id] = BatchCost(t.time_s, t.time_s, t.throughput_img_s, bound)
        return out, {}

    return network.name, cost


def sweep_points(args: argparse.Namespace) -> tuple[str, list, list[BatchPoint]]:
    """(what was swept, chips, points); a chip that cannot run a batch stops the sweep."""
    _batch, dtype = _common(args)
    batches = parse_batches(args.batches)
    chips = load_chips(args)
    if args.net is not None:
        what, cost = _network_costs(args, chips)
    else:
        layer = build_layer(args)
        what, cost = layer.describe(), layer_batch_costs(layer, chips, dtype=dtype, train=args.train,
                                                          pins=plan_pins(args))
    points = batch_sweep(cost, batches)
    for point in points:
        for chip_id, why in point.errors.items():
            raise ValueError(f"{chip_id} at batch {point.batch}: {why}")
    return what, chips, points


def run_batch_sweep(args: argparse.Namespace, out) -> int:
    what, chips, points = sweep_points(args)
    mode = "training" if args.train else "inference"
    if args.json:
        doc = {**mode_keys(args.train), "sweep": "batch", "of": what, "dtype": args.dtype,
               "rows": [{"batch": p.batch, "chips": {cid: c.to_dict() for cid, c in p.chips.items()}}
                        for p in points]}
        json.dump(doc, out, indent=2)
        out.write("\n")
    elif args.csv:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["batch"] + [f"{c.id}_{f}" for c in chips for f in FIELDS])
        for p in points:
            writer.writerow([p.batch] + [repr(v) if isinstance(v, float) else v
                                         for c in chips for v in (getattr(p.chips[c.id], f) for f in FIELDS)])
    elif args.plot:
        out.write(plot(points, [c.id for c in chips], f"{what}, {args.dtype} {mode}",
                       color=hasattr(out, "isatty") and out.isatty()) + "\n")
    else:
        out.write(f"sweep of {what} over batch sizes, {args.dtype}, {mode}\n")
        out.write("latency = one step's time (every image in the batch waits for it); img/s = batch / step\n\n")
        header = ["batch"]
        for c in chips:
            header += [f"{c.id} latency", "img/s"]
        rows = [tuple([str(p.batch)] + [cell for c in chips for cell in
                                         (seconds(p.chips[c.id].latency_s), si(p.chips[c.id].throughput_img_s))])
                for p in points]
        out.write(_table(tuple(header), rows))
    return 0


COLORS = ("blue", "red", "green", "magenta", "cyan", "orange")


def plot(points: list[BatchPoint], chip_ids: list[str], title: str, width: int | None = None,
         height: int | None = None, color: bool = False) -> str:
    """Throughput against latency, one line per chip, one point per batch (log-log), as text
    (ANSI colours only with color=True: a pipe or a file gets plain characters)."""
    from .net_plot import new_figure

    plt = new_figure()
    if not color:
        plt.theme("clear")
    plt.plotsize(width or 100, height or 30)
    for chip_id, colour in zip(chip_ids, COLORS * 4):
        xs = [p.chips[chip_id].latency_s * 1e3 for p in points if chip_id in p.chips]
        ys = [p.chips[chip_id].throughput_img_s for p in points if chip_id in p.chips]
        plt.plot(xs, ys, label=chip_id, marker="braille", color=colour)
        plt.scatter(xs, ys, marker="●", color=colour)
    plt.xscale("log")
    plt.yscale("log")
    plt.xlabel("latency per step (ms)")
    plt.ylabel("images/s")
    plt.title(f"throughput vs latency, batch {points[0].batch}..{points[-1].batch}")
    text = plt.build()
    heading = f"{title}: one point per batch\n"
    return heading + (text if color else re.sub(r"\x1b\[[0-9;]*m", "", text))
