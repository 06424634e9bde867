"""Time a torchvision model before and after ipuexplore.torch.convert(groups_only=True).

    python scripts/bench_torch_convert.py --model mobilenet_v2 --batch 4 --threads 2 --runs 15

Inference, random weights, --res x --res images. The original runs in NCHW and in
channels_last; the converted model (autotuned: each layer runs the engine or PyTorch's kernel,
whichever it timed faster; with --forced also autotune=False, the engine everywhere) in both
too, once per engine worker count in --workers. Then how many layers chose the engine.
All variants run in this one process, interleaved round by round so a noisy neighbour hits
each alike; the table gives medians. torchvision's compiled ops need not load: name a module
that makes its model definitions importable with --preload.
"""

import argparse
import importlib
import statistics
import time

import torch


def interplay(runs: int, workers_list: list[int]) -> None:
    """How much each side's spinning threads slow the other: a MobileNetV2 depthwise layer
    on the engine (batch 4, 144 channels, 56x56) idle vs right after a PyTorch 1x1 conv, and
    the PyTorch conv idle vs right after the engine. Medians over runs."""
    import torch.nn.functional as F

    import ipuexplore.torch as ipt

    x = torch.randn(4, 144, 56, 56)
    w_dw, w_pw = torch.randn(144, 1, 3, 3), torch.randn(144, 144, 1, 1)

    def engine():
        torch.ops.ipuexplore.conv2d(x, w_dw, None, [1, 1], [1, 1], [1, 1], 144)

    def pointwise():
        F.conv2d(x, w_pw)

    def clock(fn, before=None):
        if before is None:
            time.sleep(0.02)  # every thread of both pools idle (asleep) first
        else:
            before()
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    with torch.inference_mode():
        for workers in workers_list:
            ipt.set_workers(workers)
            engine(), pointwise()  # pack, warm
            cases = {"engine idle": (engine, None), "engine after torch": (engine, pointwise),
                     "torch idle": (pointwise, None), "torch after engine": (pointwise, engine)}
            times = {name: [] for name in cases}
            for _ in range(runs):
                for name, (fn, before) in cases.items():
                    times[name].append(clock(fn, before))
            print(f"engine workers {workers}: " + ", ".join(
                f"{name} {statistics.median(t) * 1e3:.2f} ms" for name, t in times.items()))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="mobilenet_v2")
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--res", type=int, default=224)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--workers", default="1", help="engine worker counts to try (comma-separated)")
    ap.add_argument("--forced", action="store_true", help="also time convert(autotune=False): the engine everywhere")
    ap.add_argument("--preload", default=None, help="module to import before torchvision")
    ap.add_argument("--interplay", action="store_true", help="time one depthwise layer against a torch op instead")
    args = ap.parse_args()
    if args.interplay:
        torch.set_num_threads(args.threads)
        return interplay(args.runs, [int(w) for w in args.workers.split(",")])
    if args.preload:
        importlib.import_module(args.preload)
    import torchvision

    import ipuexplore.torch as ipt

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    build = getattr(torchvision.models, args.model)
    original = build().eval()
    kinds = {"torch": None, "autotuned": True, "engine": False}
    if not args.forced:
        del kinds["engine"]
    x = torch.randn(args.batch, 3, args.res, args.res)
    worker_counts = [int(w) for w in args.workers.split(",")]
    variants, autotuned = {}, []
    for layout, fmt in (("nchw", torch.contiguous_format), ("channels_last", torch.channels_last)):
        for kind, autotune in kinds.items():
            model = build().eval()  # one per layout: Module.to(memory_format=...) works in place
            model.load_state_dict(original.state_dict())
            model.to(memory_format=fmt)
            if autotune is not None:
                ipt.convert(model, groups_only=True, autotune=autotune)
            if autotune:
                autotuned.append(model)
            for w in [None] if autotune is None else worker_counts:
                label = kind if w is None else f"{kind} x{w}"
                variants[f"{label} {layout}"] = (model, x.contiguous(memory_format=fmt), w)
    times = {name: [] for name in variants}
    with torch.inference_mode():
        names = list(variants)
        for round_ in range(args.runs + 2):  # the first two rounds autotune, pack, warm caches and pools
            # each round starts one variant later, so no variant always follows the same one
            for name in names[round_ % len(names):] + names[:round_ % len(names)]:
                model, inp, workers = variants[name]
                ipt.set_workers(workers)
                t = time.perf_counter()
                model(inp)
                times[name].append(time.perf_counter() - t)
    med = {name: statistics.median(t[2:]) for name, t in times.items()}
    best_torch = min(v for k, v in med.items() if k.startswith("torch "))
    print(f"{args.model}, batch {args.batch}, {args.res}x{args.res}, {args.threads} torch threads, "
          f"median of {args.runs} interleaved runs; ratio = best torch time / this time")
    for name, t in med.items():
        print(f"{name:28s} {t * 1e3:8.1f} ms   {best_torch / t:5.2f}x")
    best_converted = min(v for k, v in med.items() if k.startswith("autotuned "))
    print(f"best autotuned / best torch: {best_torch / best_converted:.2f}x")
    # paired: the same round's times, so load that comes and goes hits both sides of a ratio
    for layout in ("nchw", "channels_last"):
        for name in med:
            if name.startswith("autotuned ") and name.endswith(" " + layout):
                pairs = [a / b for a, b in zip(times[f"torch {layout}"][2:], times[name][2:])]
                print(f"paired per round, torch {layout} / {name}: median {statistics.median(pairs):.2f}x")
    best = [min(r) / min(a) for r, a in zip(zip(*(times[k][2:] for k in med if k.startswith("torch "))),
                                              zip(*(times[k][2:] for k in med if k.startswith("autotuned "))))]
    print(f"paired per round, best torch / best autotuned: median {statistics.median(best):.2f}x")
    for model in autotuned:
        report_choices(model)


def report_choices(model) -> None:
    """How many converted layers chose the engine, per input memory format, and where the
    engine came closest (its median over PyTorch's)."""
    import ipuexplore.torch as ipt

    by_layout = {}
    for name, records in ipt.choices(model).items():
        for c in records:
            shape, strides = c.signature[0], c.signature[1]
            layout = "channels_last" if strides[1] == 1 and shape[1] > 1 else "nchw"
            by_layout.setdefault(layout, []).append((name, c))
    for layout, rows in by_layout.items():
        engine = [name for name, c in rows if c.path == "engine"]
        ratio = sorted((c.engine_over_torch, name) for name, c in rows)
        print(f"{layout}: {len(engine)} of {len(rows)} converted layers chose the engine"
              f"{' (' + ', '.join(engine) + ')' if engine else ''}; engine/torch time per layer "
              f"min {ratio[0][0]:.2f} ({ratio[0][1]}), median {statistics.median(r for r, _ in ratio):.2f}")

if __name__ == "__main__":
    main()
