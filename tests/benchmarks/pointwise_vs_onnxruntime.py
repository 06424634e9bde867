"""Pointwise (1x1) layers on two workers against ONNX Runtime on two intra-op threads, the way a
session runs them: the engine's Conv2d on a 2-worker pool, ORT's one-node Conv model, both
timed by wall clock in this process, runs interleaved (engine, ORT, engine, ...), median of
RUNS (default 15) per layer; the engine's per-worker counters (busy = exchange + compute,
wait at the barrier, blocks) from its last run say how the layer was split. Outputs are checked
against ORT's.

    python tests/benchmarks/pointwise_vs_onnxruntime.py mobilenet_v2,efficientnet_b0 1,4
"""
import collections
import os
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

import ipuexplore.networks as nets
from ipuexplore.engine.conv import Conv2d
from ipuexplore.engine.pool import Pool

RUNS = int(os.environ.get("RUNS", 15))
WORKERS = int(os.environ.get("WORKERS", 2))


def pointwise_layers(name):
    """Distinct 1x1 dense layers of a built-in network with how often each occurs."""
    seen = collections.OrderedDict()
    for layer in nets.build(name).layers:
        if getattr(layer, "kind", None) == "conv" and layer.g == 1 and (layer.r, layer.s) == (1, 1):
            seen.setdefault((layer.c, layer.h, layer.w, layer.k, tuple(layer.stride)), [layer, 0])[1] += 1
    return list(seen.values())


def ort_session(w, b, x, stride, path):
    xi = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))
    yi = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], kernel_shape=[1, 1], strides=list(stride))
    graph = helper.make_graph([node], "g", [xi], [yi], [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = WORKERS
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def race(layer, batch, pool, rng, path):
    w = (rng.standard_normal((layer.k, layer.c, 1, 1), dtype=np.float32) / np.sqrt(layer.c)).astype(np.float32)
    b = (rng.standard_normal(layer.k, dtype=np.float32) * 0.1).astype(np.float32)
    x = rng.standard_normal((batch, layer.c, layer.h, layer.w), dtype=np.float32)
    conv = Conv2d(w, b, x.shape, layer.stride, 0, pool=pool)
    out = np.empty(conv.output_shape, np.float32)
    sess = ort_session(w, b, x, layer.stride, path)
    feed = {"x": x}
    for _ in range(3):  # warm both
        conv.run(x, out, pool=pool)
        sess.run(None, feed)
    eng, onx = [], []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        conv.run(x, out, pool=pool)
        t1 = time.perf_counter()
        sess.run(None, feed)
        t2 = time.perf_counter()
        eng.append(t1 - t0)
        onx.append(t2 - t1)
    ref = sess.run(None, feed)[0]
    assert np.abs(ref - out).max() <= 1e-4 * (np.abs(ref).max() + 1)
    st = pool.last_stats
    busy = (st.exchange_ns + st.compute_ns) / 1e3
    return 1e3 * float(np.median(eng)), 1e3 * float(np.median(onx)), st, busy


def main():
    pool = Pool(WORKERS)
    rng = np.random.default_rng(0)
    path = os.path.join(tempfile.mkdtemp(), "m.onnx")
    print(f"load average {os.getloadavg()[0]:.2f}, {WORKERS} workers/threads, median of {RUNS}")
    for name in sys.argv[1].split(","):
        for batch in [int(v) for v in sys.argv[2].split(",")]:
            tot_e = tot_o = 0.0
            for layer, count in pointwise_layers(name):
                e, o, st, busy = race(layer, batch, pool, rng, path)
                tot_e += e * count
                tot_o += o * count
                print(f"{name} b{batch} {layer.c:4d}->{layer.k:4d} {layer.h:3d}x{layer.w:<3d} x{count}: "
                      f"eng {e:7.3f} ort {o:7.3f} ms ort/eng {o / e:5.2f} | blocks {st.supersteps.tolist()} "
                      f"busy {np.round(busy).astype(int).tolist()} us wait {np.round(st.wait_ns / 1e3).astype(int).tolist()} us",
                      flush=True)
            print(f"TOTAL {name} b{batch}: eng {tot_e:.2f} ms ort {tot_o:.2f} ms ort/eng {tot_o / tot_e:.2f}", flush=True)


if __name__ == "__main__":
    main()
