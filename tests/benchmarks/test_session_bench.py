"""Whole networks: HostSession against ONNX Runtime and PyTorch eager, same process, same threads.

torchvision's ResNet-50, MobileNetV2 and EfficientNet-B0 (random weights; batch-norm statistics
perturbed so that folding them is not the identity) are exported to ONNX (opset 17) at each
batch. Each runtime gets 2 threads and runs 1 warm-up + 7 timed passes in a block of its own
(interleaving passes would let one runtime's spinning threads steal the next one's cores).
HostSession and ONNX Runtime take turns for ROUNDS such blocks each, and img/s come from each
one's median pass over its rounds: this host's speed moves by up to 2x from one minute to the
next (MobileNetV2's session read 5.1 and 9.5 ms ten minutes apart), so one block each measured
the moment as much as the runtime (the ratio swung 0.81x-1.08x in three runs of one hour).
PyTorch eager is timed once in NCHW and channels_last, the better one counts. ``extra_info``
has every runtime's img/s, the session's ratio to each, and the session's largest difference
from ONNX Runtime relative to the largest logit.

Timed: ``pytest tests/benchmarks/test_session_bench.py --benchmark-enable --benchmark-only``.
Untimed (the default) each case runs once and only the output check is asserted.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

pytest.importorskip("ipuexplore._ipx", reason="the C engine is not built")
pytest.importorskip("onnx", reason="the optional onnx package is not installed")
ort = pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
torch = pytest.importorskip("torch", reason="torch is not installed")

from ipuexplore.networks.session import HostSession  # noqa: E402
from ipuexplore.networks.session_check import max_relative_difference  # noqa: E402
from ort_profile import node_runs  # noqa: E402

THREADS = 2
RUNS = 7
ROUNDS = 3  # blocks of RUNS passes each, HostSession and ONNX Runtime taking turns
NETWORKS = ("mobilenet_v2", "efficientnet_b0", "resnet50")
BATCHES = (1, 4)
TOLERANCE = 1e-3  # of the largest logit


@pytest.fixture(scope="module")
def models(torchvision):
    built = {}
    for name in NETWORKS:
        torch.manual_seed(0)
        model = getattr(torchvision.models, name)(weights=None).eval()
        with torch.no_grad():
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):
                    module.running_mean.normal_(0, 0.1)
                    module.running_var.uniform_(0.5, 1.5)
        built[name] = model
    return built


@pytest.fixture(scope="module")
def onnx_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("session_bench")


def _export(model, name, batch, folder) -> str:
    path = str(folder / f"{name}_b{batch}.onnx")
    if not os.path.exists(path):
        torch.onnx.export(model, torch.randn(batch, 3, 224, 224), path, opset_version=17, dynamo=False)
    return path


def _times_s(fn, runs: int = RUNS) -> list[float]:
    fn()  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    time.sleep(0.2)  # let this runtime's threads stop spinning before the next one runs
    return times


def _median_s(fn, runs: int = RUNS) -> float:
    return float(np.median(_times_s(fn, runs)))


def _onnxruntime(path: str):
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def _onnxruntime_profile_ms(path: str, x: np.ndarray, folder, runs: int = 3) -> dict[str, float]:
    """ONNX Runtime's own profile (enable_profiling): milliseconds per run by op type, after a
    warm-up run. The fused op types (FusedConv, ...) say what its graph optimiser fused."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.enable_profiling = True
    options.profile_file_prefix = str(folder / "ort_profile")
    session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    for _ in range(runs + 1):
        session.run(None, feed)
    totals: dict[str, float] = {}
    for event in (e for run in node_runs(session, runs + 1)[1:] for e in run):  # skip the warm-up run
        op = _onnxruntime_kind(event.get("args", {}))
        totals[op] = totals.get(op, 0.0) + event["dur"] / 1e3 / runs
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def _onnxruntime_kind(args: dict) -> str:
    """A node's op type; convolutions by kind and kernel size from their input shapes, as
    HostSession.profile names them ("conv depthwise 3x3", "conv dense 1x1", ...)."""
    op = args.get("op_name", "?")
    shapes = [next(iter(t.values())) for t in args.get("input_type_shape", [])]
    if op not in ("Conv", "FusedConv") or len(shapes) < 2 or len(shapes[1]) != 4:
        return op
    c, (_, cpg, r, s) = shapes[0][1], shapes[1]
    kind = "depthwise" if cpg == 1 and c > 1 else "grouped" if cpg < c else "dense"
    return f"conv {kind} {r}x{s}"


def _torch_best_s(model, x: np.ndarray) -> tuple[float, str]:
    torch.set_num_threads(THREADS)
    best = (float("inf"), "")
    for layout in (torch.contiguous_format, torch.channels_last):
        m = model.to(memory_format=layout)
        xt = torch.from_numpy(x).contiguous(memory_format=layout)
        with torch.inference_mode():
            best = min(best, (_median_s(lambda: m(xt)), "channels_last" if layout is torch.channels_last else "NCHW"))
    model.to(memory_format=torch.contiguous_format)
    return best


@pytest.mark.parametrize("batch", BATCHES)
@pytest.mark.parametrize("name", NETWORKS)
@pytest.mark.benchmark(group="session")
def test_session_against_onnxruntime_and_torch(benchmark, models, onnx_dir, name, batch):
    path = _export(models[name], name, batch, onnx_dir)
    x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)
    reference = _onnxruntime(path)
    feed = {reference.get_inputs()[0].name: x}
    expected = reference.run(None, feed)[0]
    with HostSession(path, batch, workers=THREADS) as session:
        y = benchmark.pedantic(session.run, args=(x,), rounds=RUNS, warmup_rounds=1, iterations=1)
        diff = max_relative_difference(y, expected)
        benchmark.extra_info.update(network=name, batch=batch, threads=THREADS, max_rel_diff=diff,
                                    steps=len(session.steps), layers=len(session.network.layers))
        if benchmark.enabled:
            time.sleep(0.2)
            session_times, ort_times = list(benchmark.stats.stats.data), []
            for round_ in range(ROUNDS):
                if round_:
                    session_times += _times_s(lambda: session.run(x))
                ort_times += _times_s(lambda: reference.run(None, feed))
            session_s, ort_s = float(np.median(session_times)), float(np.median(ort_times))
            torch_s, layout = _torch_best_s(models[name], x)
            benchmark.extra_info.update(
                rounds=ROUNDS, session_img_s=batch / session_s, onnxruntime_img_s=batch / ort_s, torch_img_s=batch / torch_s,
                torch_layout=layout, ratio_vs_onnxruntime=ort_s / session_s, ratio_vs_torch=torch_s / session_s,
                session_profile_ms={k: v * 1e3 for k, v in session.profile(x, runs=3).items()},
                onnxruntime_profile_ms=_onnxruntime_profile_ms(path, x, onnx_dir))
    assert diff < TOLERANCE, f"{name} batch {batch}: output differs from ONNX Runtime by {diff:.2e} of the largest logit"


# ---- the README table: python tests/benchmarks/test_session_bench.py run1.json [run2.json ...] ----
TARGETS = {"mobilenet_v2": (1.0, 1.5), "efficientnet_b0": (1.0, 1.5), "resnet50": (0.9, None)}  # vs ORT, vs torch


def _table(paths: list[str]) -> str:
    """Medians over the runs of each case's img/s and of its ratios, and whether the targets hold."""
    import json

    cases: dict[tuple[str, int], list[dict]] = {}
    for path in paths:
        with open(path) as f:
            for bench in json.load(f)["benchmarks"]:
                info = bench["extra_info"]
                if "session_img_s" in info:
                    cases.setdefault((info["network"], info["batch"]), []).append(info)
    lines = ["| network | batch | HostSession img/s | ONNX Runtime img/s | PyTorch img/s (layout) | vs ORT | vs PyTorch "
             "| targets | max rel. diff |", "|---|---|---|---|---|---|---|---|---|"]
    for (name, batch), runs in sorted(cases.items(), key=lambda kv: (NETWORKS.index(kv[0][0]), kv[0][1])):
        med = {key: float(np.median([r[key] for r in runs])) for key in
               ("session_img_s", "onnxruntime_img_s", "torch_img_s", "ratio_vs_onnxruntime", "ratio_vs_torch", "max_rel_diff")}
        layouts = sorted({r["torch_layout"] for r in runs})
        want_ort, want_torch = TARGETS[name]
        met = [f"ORT {'met' if med['ratio_vs_onnxruntime'] >= want_ort else 'missed'} (>= {want_ort}x)"]
        if want_torch:
            met.append(f"PyTorch {'met' if med['ratio_vs_torch'] >= want_torch else 'missed'} (>= {want_torch}x)")
        lines.append(f"| {name} | {batch} | {med['session_img_s']:.1f} | {med['onnxruntime_img_s']:.1f} | "
                     f"{med['torch_img_s']:.1f} ({'/'.join(layouts)}) | {med['ratio_vs_onnxruntime']:.2f}x | "
                     f"{med['ratio_vs_torch']:.2f}x | {', '.join(met)} | {med['max_rel_diff']:.1e} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(_table(sys.argv[1:]))
