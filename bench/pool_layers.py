"""Pooling layers of the benchmark CNNs: fastinfer vs ONNX Runtime in one process, interleaved runs, medians.

    PYTHONPATH=python python bench/pool_layers.py [--threads 1 2] [--batch 1 8] [--layout nchw nhwc] [--reps 40]

The shapes are the pools of light_inception_v1/v2, light_resnet50, light_densenet121, light_squeezenet and the
torch exports (ResNet-50, Inception v1, DenseNet-121, SqueezeNet, MobileNetV2, YOLOv8n's SPPF). The NCHW column
runs the ONNX op; the NHWC column runs fastinfer's ai.fastinfer Nhwc* op on channels-last data (as inside a
channels-last region) against ORT's NCHW op on the same shape, the layer-level stand-in for ORT's own NCHWc
pools. ORT gets intra_op_num_threads=threads and session.intra_op.allow_spinning=0.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's idle BLAS threads would spin beside the runs
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper

os.environ.setdefault("FASTINFER_LAYOUT", "nchw")
import fastinfer

M, A, G = "MaxPool", "AveragePool", "GlobalAveragePool"
# (op, C, H, W, kernel, stride, pads (t, l, b, r), ceil_mode, count_include_pad)
LAYERS = [
    (M, 64, 112, 112, 3, 2, (1, 1, 1, 1), 0, 0),  # ResNet-50, DenseNet stem
    (M, 64, 112, 112, 3, 2, (0, 0, 1, 1), 0, 0),  # inception_v2
    (M, 64, 112, 112, 3, 2, (0, 0, 0, 0), 1, 0),  # inception_v1 torch
    (M, 192, 56, 56, 3, 2, (0, 0, 1, 1), 0, 0),
    (M, 64, 111, 111, 3, 2, (0, 0, 0, 0), 1, 0),  # squeezenet
    (M, 128, 55, 55, 3, 2, (0, 0, 0, 0), 1, 0),
    (M, 256, 27, 27, 3, 2, (0, 0, 0, 0), 1, 0),
    (M, 480, 28, 28, 3, 2, (0, 0, 0, 0), 1, 0),
    (M, 192, 28, 28, 3, 1, (1, 1, 1, 1), 1, 0),
    (M, 512, 14, 14, 3, 1, (1, 1, 1, 1), 1, 0),
    (M, 832, 14, 14, 2, 2, (0, 0, 0, 0), 1, 0),
    (M, 832, 7, 7, 3, 1, (1, 1, 1, 1), 1, 0),
    (M, 576, 14, 14, 3, 2, (0, 0, 1, 1), 0, 0),
    (M, 1024, 7, 7, 3, 1, (1, 1, 1, 1), 0, 0),
    (M, 128, 20, 20, 5, 1, (2, 2, 2, 2), 0, 0),  # YOLOv8n SPPF
    (A, 192, 28, 28, 3, 1, (1, 1, 1, 1), 0, 0),  # inception_v2
    (A, 576, 14, 14, 3, 1, (1, 1, 1, 1), 0, 0),
    (A, 1024, 7, 7, 3, 1, (1, 1, 1, 1), 0, 0),
    (A, 1024, 7, 7, 7, 1, (0, 0, 0, 0), 0, 0),
    (A, 128, 56, 56, 2, 2, (0, 0, 0, 0), 0, 1),  # DenseNet transitions
    (A, 256, 28, 28, 2, 2, (0, 0, 0, 0), 0, 1),
    (A, 512, 14, 14, 2, 2, (0, 0, 0, 0), 0, 1),
    (G, 1024, 7, 7, 0, 0, (0, 0, 0, 0), 0, 0),
    (G, 2048, 7, 7, 0, 0, (0, 0, 0, 0), 0, 0),
    (G, 1000, 13, 13, 0, 0, (0, 0, 0, 0), 0, 0),
]


def attrs_of(layer) -> dict:
    """The ONNX attributes of a layer."""
    op, _, _, _, k, s, p, ceil, cip = layer
    if op == G:
        return {}
    a = {"kernel_shape": [k, k], "strides": [s, s], "pads": list(p), "ceil_mode": ceil}
    if op == A:
        a["count_include_pad"] = cip
    return a


def model(layer, shape, nhwc: bool) -> bytes:
    """One pool node (ONNX, or ai.fastinfer Nhwc*) over float32 x of `shape`."""
    op = ("Nhwc" + layer[0]) if nhwc else layer[0]
    node = helper.make_node(op, ["x"], ["y"], domain="ai.fastinfer" if nhwc else "", **attrs_of(layer))
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    ops = [helper.make_opsetid("", 17), helper.make_opsetid("ai.fastinfer", 1)]
    return helper.make_model(g, opset_imports=ops, ir_version=8).SerializeToString()


def ort_session(m: bytes, threads: int) -> ort.InferenceSession:
    """ONNX Runtime session, `threads` intra-op threads, no spinning."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])


def measure(layer, batch: int, threads: int, nhwc: bool, reps: int) -> tuple[float, float, float, float]:
    """Median and minimum ms of fastinfer and ORT, interleaved; checks the results agree."""
    _, c, h, w = layer[:4]
    x = np.random.default_rng(0).standard_normal((batch, c, h, w)).astype(np.float32)
    o_sess = ort_session(model(layer, x.shape, False), threads)
    xf = np.ascontiguousarray(x.transpose(0, 2, 3, 1)) if nhwc else x
    f_sess = fastinfer.Session(model(layer, xf.shape, nhwc), threads=threads)
    a = f_sess.run(None, {"x": xf})[0]
    b = o_sess.run(None, {"x": x})[0]
    if nhwc:
        a = a.transpose(0, 3, 1, 2)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    tf, to = [], []
    for _ in range(reps):
        t = time.perf_counter()
        f_sess.run(None, {"x": xf})
        tf.append(time.perf_counter() - t)
        t = time.perf_counter()
        o_sess.run(None, {"x": x})
        to.append(time.perf_counter() - t)
    return float(np.median(tf) * 1e3), float(np.median(to) * 1e3), min(tf) * 1e3, min(to) * 1e3


def main() -> None:
    """Print a markdown table of median times and fastinfer/ORT ratios (of medians, and of minimums: the
    shared machine preempts runs)."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--layout", nargs="+", default=["nchw", "nhwc"])
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--only", default="", help="substring of the layer name to keep")
    args = ap.parse_args()
    print("| layer | layout | N | thr | fastinfer ms | ORT ms | ratio | min ratio |")
    print("|---|---|---|---|---|---|---|---|")
    ratios = {}
    for layer in LAYERS:
        op, c, h, w, k, s, p, ceil, _ = layer
        name = f"{op} {c}x{h}x{w}" + ("" if op == G else f" k{k}s{s}p{''.join(map(str, p))}c{ceil}")
        if args.only and args.only not in name:
            continue
        for layout in args.layout:
            for batch in args.batch:
                for thr in args.threads:
                    reps = max(10, args.reps // batch)
                    f, o, fmin, omin = measure(layer, batch, thr, layout == "nhwc", reps)
                    ratios.setdefault((layout, batch, thr), []).append((f / o, fmin / omin))
                    print(f"| {name} | {layout} | {batch} | {thr} | {f:.3f} | {o:.3f} | {f / o:.2f} | {fmin / omin:.2f} |",
                          flush=True)
    for key, r in sorted(ratios.items()):
        med, mins = np.exp(np.mean(np.log(np.array(r)), axis=0))
        print(f"geomean ratio {key}: {med:.2f} (of minimums {mins:.2f})")


if __name__ == "__main__":
    main()
