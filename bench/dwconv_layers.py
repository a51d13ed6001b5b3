"""Depthwise Conv layers, fastinfer vs ONNX Runtime in one process, interleaved runs, medians.

    PYTHONPATH=python python bench/dwconv_layers.py [--runs 40] [--threads 1]

ONNX Runtime gets intra_op_num_threads=threads and session.intra_op.allow_spinning=0.
"""

from __future__ import annotations

import argparse
import time

import fastinfer
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# (name, C, H, W, k, stride, pad)
LAYERS = [
    ("c144_56x56_3x3s1", 144, 56, 56, 3, 1, 1),
    ("c144_112x112_3x3s2", 144, 112, 112, 3, 2, 1),
    ("c32_112x112_3x3s1", 32, 112, 112, 3, 1, 1),
    ("c384_14x14_3x3s1", 384, 14, 14, 3, 1, 1),
    ("c960_7x7_3x3s1", 960, 7, 7, 3, 1, 1),
    ("c240_28x28_5x5s1", 240, 28, 28, 5, 1, 2),
]


def model(c: int, h: int, w: int, k: int, s: int, p: int) -> bytes:
    """One depthwise Conv with constant weights and bias."""
    rng = np.random.default_rng(0)
    wt = rng.standard_normal((c, 1, k, k)).astype(np.float32)
    b = rng.standard_normal(c).astype(np.float32)
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], group=c, strides=[s, s], pads=[p] * 4, kernel_shape=[k, k])
    g = helper.make_graph([node], "dw", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c, h, w])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def main() -> None:
    """Prints one line per layer: median ms of each runtime and the ratio fastinfer / ORT."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    print(f"{'layer':22s} {'fastinfer ms':>12s} {'ORT ms':>9s} {'ratio':>6s} {'fi GFLOP/s':>10s}")
    for name, c, h, w, k, s, p in LAYERS:
        m = model(c, h, w, k, s, p)
        fi = fastinfer.Session(m, threads=args.threads)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
        rt = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
        x = np.random.default_rng(1).standard_normal((1, c, h, w)).astype(np.float32)
        feeds = {"x": x}
        a = fi.run(None, feeds)[0]
        b = rt.run(None, feeds)[0]
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
        tf, to = [], []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            fi.run(None, feeds)
            t1 = time.perf_counter()
            rt.run(None, feeds)
            t2 = time.perf_counter()
            tf.append(t1 - t0)
            to.append(t2 - t1)
        mf, mo = float(np.median(tf)), float(np.median(to))
        flops = 2.0 * c * a.shape[2] * a.shape[3] * k * k
        print(f"{name:22s} {mf * 1e3:12.3f} {mo * 1e3:9.3f} {mf / mo:6.2f} {flops / mf / 1e9:10.1f}")


if __name__ == "__main__":
    main()
