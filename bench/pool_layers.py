"""Pooling (and Add+Relu) layers single-threaded: fastinfer vs ONNX Runtime in one process,
interleaved runs, medians.

    PYTHONPATH=python python bench/pool_layers.py      # or with fastinfer installed
"""

from __future__ import annotations

import sys
import time

import fastinfer
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

CASES = [
    ("MaxPool 3x3s2p1", "MaxPool", (1, 64, 112, 112), {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    ("MaxPool 2x2s2", "MaxPool", (1, 64, 56, 56), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("AvgPool 3x3s1p1", "AveragePool", (1, 192, 28, 28), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    ("AvgPool 2x2s2", "AveragePool", (1, 64, 56, 56), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    ("GlobalAvgPool", "GlobalAveragePool", (1, 2048, 7, 7), {}),
    ("GlobalAvgPool", "GlobalAveragePool", (8, 2048, 7, 7), {}),
    ("Add+Relu", "AddRelu", (1, 256, 56, 56), {}),
]


def model(op, shape, attrs):
    """One-node (or Add+Relu) float32 model over input x of `shape`."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    if op == "AddRelu":
        z = helper.make_tensor_value_info("z", TensorProto.FLOAT, list(shape))
        nodes = [helper.make_node("Add", ["x", "z"], ["s"]), helper.make_node("Relu", ["s"], ["y"])]
        inputs = [x, z]
    else:
        nodes = [helper.make_node(op, ["x"], ["y"], **attrs)]
        inputs = [x]
    g = helper.make_graph(nodes, "g", inputs, [y])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def main(reps: int = 50) -> None:
    """Print a markdown table of median times in ms."""
    print("| case | shape | fastinfer ms | ORT ms | ratio |")
    print("|---|---|---|---|---|")
    for name, op, shape, attrs in CASES:
        m = model(op, shape, attrs)
        feed = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
        if op == "AddRelu":
            feed["z"] = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so_sess = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
        fi_sess = fastinfer.Session(m, threads=1)
        a = fi_sess.run(None, feed)[0]
        b = so_sess.run(None, feed)[0]
        if "--nocheck" not in sys.argv:
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
        tf, to = [], []
        for _ in range(reps):
            t = time.perf_counter()
            fi_sess.run(None, feed)
            tf.append(time.perf_counter() - t)
            t = time.perf_counter()
            so_sess.run(None, feed)
            to.append(time.perf_counter() - t)
        f, o = np.median(tf) * 1e3, np.median(to) * 1e3
        print(f"| {name} | {list(shape)} | {f:.3f} | {o:.3f} | {f / o:.2f} |", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 and sys.argv[1].isdigit() else 50)
