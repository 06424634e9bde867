"""Kernel speed per core, free of the scheduling noise a shared VM puts on two-thread timings:
the engine's Conv2d on a one-worker pool (thread CPU time of the call) against ONNX Runtime's
Conv node on one intra-op thread (the kernel time its profile reports, so its NCHWc reorders
are left out), minimum of RUNS (default 30), for every distinct dense 1x1 and 3x3 layer of the
given built-in networks and their stems (ResNet's 7x7 too); outputs checked against ONNX Runtime's.

    python tests/benchmarks/core_vs_onnxruntime.py mobilenet_v2,efficientnet_b0,resnet50 1,4
"""
import os, sys, time, tempfile, collections
import numpy as np
import onnx, onnxruntime as ort
from onnx import helper, TensorProto, numpy_helper
import ipuexplore.networks as nets
from ipuexplore.engine.conv import Conv2d
from ipuexplore.engine.pool import Pool
from ort_profile import node_runs
RUNS = int(os.environ.get("RUNS", 30)); TMP = tempfile.mkdtemp()
def layers(name):
    seen = collections.OrderedDict()
    for L in nets.build(name).layers:
        if getattr(L, "kind", None) != "conv" or L.g != 1 or ((L.r, L.s) not in {(1, 1), (3, 3)} and L.c >= 8): continue
        seen.setdefault((L.c, L.h, L.w, L.k, L.r, L.s, L.stride, L.pad), [L, 0])[1] += 1
    return list(seen.values())
def ort_ms(L, batch, w, b, x):
    xi = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape)); y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[L.r, L.s], strides=list(L.stride), pads=[L.pad[0], L.pad[2], L.pad[1], L.pad[3]])
    g = helper.make_graph([node], "g", [xi], [y], [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    path = os.path.join(TMP, "m.onnx"); onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), path)
    o = ort.SessionOptions(); o.intra_op_num_threads = 1; o.inter_op_num_threads = 1; o.enable_profiling = True; o.profile_file_prefix = os.path.join(TMP, "p")
    s = ort.InferenceSession(path, o, providers=["CPUExecutionProvider"])
    for _ in range(RUNS + 1): s.run(None, {"x": x})
    d = [e["dur"] / 1e3 for run in node_runs(s, RUNS + 1)[1:] for e in run if e.get("args", {}).get("op_name") in ("Conv", "FusedConv")]
    return min(d), s
pool = Pool(1); rng = np.random.default_rng(0)
for name in sys.argv[1].split(","):
    for batch in [int(v) for v in sys.argv[2].split(",")]:
        tot = collections.defaultdict(lambda: [0.0, 0.0]); worst = []
        for L, count in layers(name):
            w = (rng.standard_normal((L.k, L.c, L.r, L.s), dtype=np.float32) / np.sqrt(L.c * L.r * L.s)).astype(np.float32)
            b = rng.standard_normal(L.k, dtype=np.float32) * 0.1; x = rng.standard_normal((batch, L.c, L.h, L.w), dtype=np.float32)
            conv = Conv2d(w, b, x.shape, L.stride, L.r // 2, pool=pool); out = np.empty(conv.output_shape, np.float32)
            e = 1e9
            for _ in range(RUNS):
                t0 = time.thread_time(); conv.run(x, out, pool=pool); e = min(e, time.thread_time() - t0)
            e *= 1e3; o, s = ort_ms(L, batch, w, b, x)
            ref = s.run(None, {"x": x})[0]; assert np.abs(ref - out).max() <= 1e-4 * (np.abs(ref).max() + 1)
            kind = f"{L.r}x{L.s}"; tot[kind][0] += e * count; tot[kind][1] += o * count
            print(f"{name} b{batch} {L.c:4d}->{L.k:4d} {L.h:3d} {kind}/{L.stride[0]} x{count}: eng {e:7.3f} ort {o:7.3f} ms  ort/eng {o/e:5.2f}", flush=True)
        for kind, (e, o) in tot.items(): print(f"TOTAL {name} b{batch} {kind}: eng {e:.2f} ms ort {o:.2f} ms  ort/eng {o/e:.2f}", flush=True)
