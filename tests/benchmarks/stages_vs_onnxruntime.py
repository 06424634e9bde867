"""Where a network's time goes, stage by stage: HostSession (2 workers, each step timed on its
own, `HostSession.profile(by="step")`) against ONNX Runtime's per-node profile (2 intra-op
threads) on torchvision's model exported to ONNX (opset 17), medians of RUNS (default 15).
Rows are the model's modules one level under the top (MobileNetV2's features.N, ResNet-50's
layer1.0, ...), so each row compares the same layers in both runtimes.

    python tests/benchmarks/stages_vs_onnxruntime.py mobilenet_v2 4

(torchvision whose compiled ops do not match this torch: set TORCHVISION_SHIM_DIR to the
folder of torchvision_models.py, as for the session bench.)
"""
import collections, os, re, sys, tempfile, time
import numpy as np
import onnxruntime as ort
import torch
from ipuexplore.networks import HostSession
from ort_profile import node_runs
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tests/: peers.py
from peers import import_torchvision  # noqa: E402
torchvision = import_torchvision()
RUNS = int(os.environ.get("RUNS", 15)); THREADS = 2; TMP = tempfile.mkdtemp()
name, batch = sys.argv[1], int(sys.argv[2])


def stage(tensor: str) -> str:
    """'/features/features.2/conv/conv.0/...' -> 'features.2'; a top-level node -> its name."""
    parts = [p for p in tensor.split("/") if p]
    return parts[1] if len(parts) > 2 else re.sub(r"_output_\d+.*$|_kernel_time$", "", parts[-1] if parts else tensor)


torch.manual_seed(0)
model = getattr(torchvision.models, name)(weights=None).eval()
path = os.path.join(TMP, f"{name}.onnx")
torch.onnx.export(model, torch.randn(batch, 3, 224, 224), path, opset_version=17, dynamo=False)
x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224), dtype=np.float32)

options = ort.SessionOptions(); options.intra_op_num_threads = THREADS; options.inter_op_num_threads = 1
options.enable_profiling = True; options.profile_file_prefix = os.path.join(TMP, "ort")
session = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
feed = {session.get_inputs()[0].name: x}
for _ in range(RUNS + 1):
    session.run(None, feed)
ort_ms = collections.defaultdict(list)
for run in node_runs(session, RUNS + 1)[1:]:  # run 0: the warm-up
    totals = collections.defaultdict(float)
    for e in run:
        totals[stage(e["name"])] += e["dur"] / 1e3
    for key, value in totals.items():
        ort_ms[key].append(value)

del session  # its intra-op threads spin on after a run and would take the session's cores
time.sleep(0.2)
with HostSession(path, batch, workers=THREADS) as host:
    ours = collections.defaultdict(float)
    for tensor, seconds in host.profile(x, runs=RUNS, by="step").items():
        ours[stage(tensor)] += seconds * 1e3
total_ours = total_ort = 0.0
for key in list(dict.fromkeys([*ours, *ort_ms])):
    a, b = ours.get(key, 0.0), float(np.median(ort_ms[key])) if key in ort_ms else 0.0
    total_ours, total_ort = total_ours + a, total_ort + b
    print(f"{name} b{batch} {key:<14} session {a:7.3f} ms  ort {b:7.3f} ms  ort/session {b / a if a else 0:5.2f}")
print(f"TOTAL {name} b{batch}: session {total_ours:.2f} ms ort {total_ort:.2f} ms  ort/session {total_ort / total_ours:.2f}")
