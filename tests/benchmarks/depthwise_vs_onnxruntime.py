"""Depthwise layers against ONNX Runtime, layer by layer, the way a session runs them: the engine's
Conv2d on a two-worker pool against a one-node ONNX model (Conv, or with EPILOGUE=silu the
Conv -> Sigmoid -> Mul -> GlobalAveragePool of a squeeze-excite block, which the engine runs as
one call with SiLU and channel sums in its write) on two intra-op threads, same process,
interleaved: REPS (default 7) rounds of ~20 ms of calls each; prints each side's median of the
rounds' mean call time and its best single call (the one a loaded machine disturbs least), for
every distinct depthwise layer of the given built-in networks. Outputs checked against ONNX
Runtime's.

    python tests/benchmarks/depthwise_vs_onnxruntime.py mobilenet_v2,efficientnet_b0 1,4
    EPILOGUE=silu python tests/benchmarks/depthwise_vs_onnxruntime.py efficientnet_b0 1
"""
import os, sys, time
import numpy as np
import onnxruntime as ort
from onnx import helper, TensorProto, numpy_helper
import ipuexplore.networks as nets
from ipuexplore.engine.conv import Conv2d
from ipuexplore.engine.pool import Pool

REPS = int(os.environ.get("REPS", 7))
SILU = os.environ.get("EPILOGUE", "plain") == "silu"


def depthwise_layers(name):
    seen = {}
    for L in nets.build(name).layers:
        if getattr(L, "kind", None) == "conv" and L.g == L.c > 1 and L.k == L.c:
            seen.setdefault((L.c, L.h, L.w, L.r, L.stride, L.pad), L)
    return list(seen.values())


def ort_session(L, batch, w, b):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, L.c, L.h, L.w])
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["y"], group=L.c, kernel_shape=[L.r, L.s], strides=list(L.stride),
                              pads=[L.pad[0], L.pad[2], L.pad[1], L.pad[3]])]
    outs = ["y"]
    if SILU:
        nodes += [helper.make_node("Sigmoid", ["y"], ["sg"]), helper.make_node("Mul", ["y", "sg"], ["z"]),
                  helper.make_node("GlobalAveragePool", ["z"], ["gap"])]
        outs = ["z", "gap"]
    g = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs],
                          initializer=[numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    o = ort.SessionOptions()
    o.intra_op_num_threads, o.inter_op_num_threads = 2, 1
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    return ort.InferenceSession(model.SerializeToString(), o, providers=["CPUExecutionProvider"])


def timed(f, n):
    """(mean, best single call) of n calls, in ms."""
    best, t0 = float("inf"), time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        f()
        best = min(best, time.perf_counter() - t)
    return (time.perf_counter() - t0) / n * 1e3, best * 1e3


def main(names, batches):
    pool = Pool(2)
    for batch in batches:
        for name in names:
            for L in depthwise_layers(name):
                rng = np.random.default_rng(0)
                w = rng.standard_normal((L.c, 1, L.r, L.s)).astype(np.float32)
                b = rng.standard_normal(L.c).astype(np.float32)
                x = rng.standard_normal((batch, L.c, L.h, L.w)).astype(np.float32)
                conv = Conv2d(w, b, x.shape, L.stride, L.pad, 1, L.c, pool=pool)
                out, sums = np.empty(conv.output_shape, np.float32), np.empty((batch, L.c), np.float32)
                engine = (lambda: conv.run_fused(x, out, activation="silu", channel_sums=sums)) if SILU else (lambda: conv.run(x, out))
                sess = ort_session(L, batch, w, b)
                runtime = lambda: sess.run(None, {"x": x})
                engine()
                want = runtime()
                assert np.allclose(out, want[0], rtol=1e-3, atol=1e-3)
                if SILU:
                    assert np.allclose(sums / (out.shape[2] * out.shape[3]), want[1].reshape(batch, L.c), rtol=1e-3, atol=1e-3)
                n = max(5, int(20 / max(timed(engine, 3)[0], 1e-3)))
                e, o = [], []
                for _ in range(REPS):
                    e.append(timed(engine, n))
                    o.append(timed(runtime, n))
                me, mo = np.median([t[0] for t in e]), np.median([t[0] for t in o])
                be, bo = min(t[1] for t in e), min(t[1] for t in o)
                print(f"{name:16s} b{batch} c{L.c:<5d} {L.h:>3d}x{L.w:<3d} {L.r}x{L.s} s{L.stride[0]}  "
                      f"median ms engine {me:7.3f} ort {mo:7.3f} (x{mo / me:4.2f})  best {be:7.3f} {bo:7.3f} (x{bo / be:4.2f})",
                      flush=True)


if __name__ == "__main__":
    main(sys.argv[1].split(","), [int(v) for v in (sys.argv[2] if len(sys.argv) > 2 else "1").split(",")])
