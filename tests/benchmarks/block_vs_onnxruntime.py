"""Per core, a whole MobileNet inverted-residual block: 1x1 expand + ReLU6, depthwise 3x3 +
ReLU6, 1x1 projection (+ the input added back where the shapes allow), as an ONNX graph of
random weights run by HostSession (one worker) and by ONNX Runtime (one intra-op thread, which
computes on the calling thread), alternating run by run in one process; thread CPU time of
each run, so a busy host's other work is left out. Prints the minimum and median of RUNS
(default 30) and ONNX Runtime's time over the session's; outputs checked against each other.
Each block is CIN,EXPANSION,COUT,SIZE,STRIDE,BATCH (MobileNetV2's 14x14 block: 64,6,64,14,1,4).

    OPENBLAS_NUM_THREADS=1 python tests/benchmarks/block_vs_onnxruntime.py 64,6,64,14,1,4 160,6,160,7,1,4
"""
import os
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from ipuexplore.networks.session import HostSession

RUNS = int(os.environ.get("RUNS", 30))


def block_model(cin, expansion, cout, size, stride, batch, rng) -> str:
    """The block as an ONNX file (opset 17); returns its path."""
    nodes, inits = [], [numpy_helper.from_array(np.array(0, np.float32), "lo"),
                        numpy_helper.from_array(np.array(6, np.float32), "hi")]

    def conv(name, x, c, k, r, s, groups, relu6):
        w = (rng.standard_normal((k, c // groups, r, r)) / np.sqrt(c // groups * r * r)).astype(np.float32)
        inits.extend([numpy_helper.from_array(w, name + "_w"),
                      numpy_helper.from_array((rng.standard_normal(k) * 0.1).astype(np.float32), name + "_b")])
        nodes.append(helper.make_node("Conv", [x, name + "_w", name + "_b"], [name], kernel_shape=[r, r],
                                      strides=[s, s], pads=[r // 2] * 4, group=groups))
        if not relu6:
            return name
        nodes.append(helper.make_node("Clip", [name, "lo", "hi"], [name + "_relu6"]))
        return name + "_relu6"

    mid = cin * expansion
    x = conv("expand", "x", cin, mid, 1, 1, 1, True) if expansion > 1 else "x"
    x = conv("depthwise", x, mid, mid, 3, stride, mid, True)
    out = conv("project", x, mid, cout, 1, 1, 1, False)
    if stride == 1 and cin == cout:
        nodes.append(helper.make_node("Add", [out, "x"], ["y"]))
        out = "y"
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, cin, size, size])],
                              [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], inits)
    path = os.path.join(tempfile.mkdtemp(), "block.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def main(specs: list[str]) -> None:
    rng = np.random.default_rng(0)
    for spec in specs:
        cin, expansion, cout, size, stride, batch = (int(v) for v in spec.split(","))
        path = block_model(cin, expansion, cout, size, stride, batch, rng)
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        reference = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
        x = rng.standard_normal((batch, cin, size, size)).astype(np.float32)
        with HostSession(path, batch, workers=1) as session:
            want, got = reference.run(None, {"x": x})[0], session.run(x)
            assert np.abs(want - got).max() <= 1e-4 * (np.abs(want).max() + 1), spec
            times = {"session": [], "onnxruntime": []}
            for _ in range(RUNS):
                for key, run in (("session", lambda: session.run(x)), ("onnxruntime", lambda: reference.run(None, {"x": x}))):
                    start = time.thread_time()
                    run()
                    times[key].append(time.thread_time() - start)
        lo = {key: min(v) * 1e3 for key, v in times.items()}
        med = {key: float(np.median(v)) * 1e3 for key, v in times.items()}
        print(f"{spec:20s} session {lo['session']:.3f} / {med['session']:.3f} ms  onnxruntime {lo['onnxruntime']:.3f} / "
              f"{med['onnxruntime']:.3f} ms (min / median)  ort/session {lo['onnxruntime'] / lo['session']:.2f} / "
              f"{med['onnxruntime'] / med['session']:.2f}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["64,6,64,14,1,4", "96,6,96,14,1,4", "160,6,160,7,1,4", "32,6,32,28,1,4"])
