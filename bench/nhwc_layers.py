"""Conv layers of ResNet-50 and MobileNetV2: fastinfer's NCHW Conv vs its NHWC NhwcConv vs ONNX Runtime's
Conv on the same shapes, one process, interleaved runs, medians.

    PYTHONPATH=python python bench/nhwc_layers.py [--models resnet50 mobilenetv2] [--batch 1 8] [--runs 15]
    PYTHONPATH=python python bench/nhwc_layers.py --whole [--threads 1 2]   # whole models, pass on vs off

The layers are read from the torch exports (bench/models.py) after BatchNorm folding by ONNX shape inference;
identical shapes are measured once and weighted by how often they occur. Ratios are given for medians and,
as the shared machine preempts runs, for minimums too. ONNX Runtime gets
intra_op_num_threads=threads and session.intra_op.allow_spinning=0. The NHWC column times NhwcConv alone
(channels-last input and output, no reorders), as it runs inside a channels-last region.
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

os.environ["FASTINFER_LAYOUT"] = "nchw"  # the NCHW column must stay NCHW
import fastinfer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from models import model_path


def conv_layers(path: str) -> collections.Counter:
    """(C, H, W, M, k, stride, pad, group) of every 2-D Conv, counted."""
    m = onnx.shape_inference.infer_shapes(onnx.load(path))
    shapes = {}
    for vi in list(m.graph.value_info) + list(m.graph.input):
        shapes[vi.name] = [d.dim_value for d in vi.type.tensor_type.shape.dim]
    inits = {i.name: list(i.dims) for i in m.graph.initializer}
    out = collections.Counter()
    for n in m.graph.node:
        if n.op_type != "Conv":
            continue
        a = {x.name: helper.get_attribute_value(x) for x in n.attribute}
        _, c, h, w = shapes[n.input[0]]
        mm, _, k, _ = inits[n.input[1]]
        out[(c, h, w, mm, k, a.get("strides", [1, 1])[0], a.get("pads", [0] * 4)[0], a.get("group", 1))] += 1
    return out


def conv_model(layer: tuple, batch: int, nhwc: bool) -> bytes:
    """One Conv (NCHW) or ai.fastinfer NhwcConv with constant weights and bias."""
    c, h, w, m, k, s, p, g = layer
    rng = np.random.default_rng(0)
    wt = rng.standard_normal((m, c // g, k, k)).astype(np.float32) * 0.1
    b = rng.standard_normal(m).astype(np.float32)
    attrs = {"group": g, "strides": [s, s], "pads": [p] * 4, "kernel_shape": [k, k]}
    op, dom = ("NhwcConv", "ai.fastinfer") if nhwc else ("Conv", "")
    node = helper.make_node(op, ["x", "w", "b"], ["y"], domain=dom, **attrs)
    xs = [batch, h, w, c] if nhwc else [batch, c, h, w]
    gr = helper.make_graph([node], "conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, xs)],
                           [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                           [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    ops = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("ai.fastinfer", 1)] if nhwc else [])
    return helper.make_model(gr, opset_imports=ops, ir_version=8).SerializeToString()


def whole_models(args: argparse.Namespace) -> None:
    """Whole models: fastinfer with the layout pass (NHWC), without it (FASTINFER_LAYOUT=nchw) and ORT, one
    process, interleaved runs; medians and minimums."""
    print(f"{'model':12s} {'b':>2s} {'t':>2s} {'NHWC ms':>9s} {'NCHW ms':>9s} {'ORT ms':>9s} {'NHWC/ORT':>8s} "
          f"{'NCHW/ORT':>8s} {'min NHWC/ORT':>12s} {'min NCHW/ORT':>12s}")
    for name in args.models:
        path = model_path(name)
        for threads in args.threads_list:
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            os.environ.pop("FASTINFER_LAYOUT", None)
            nhwc = fastinfer.Session(path, threads=threads)
            os.environ["FASTINFER_LAYOUT"] = "nchw"
            nchw = fastinfer.Session(path, threads=threads)
            rt = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            inp = rt.get_inputs()[0].name
            for batch in args.batch:
                x = np.random.default_rng(0).standard_normal((batch, 3, 224, 224)).astype(np.float32)
                ref = rt.run(None, {inp: x})[0]
                for sess in (nhwc, nchw):
                    np.testing.assert_allclose(sess.run(None, {inp: x})[0], ref, rtol=1e-4, atol=1e-4)
                t = [[], [], []]
                for _ in range(args.runs):
                    for i, sess in enumerate((nhwc, nchw, rt)):
                        t0 = time.perf_counter()
                        sess.run(None, {inp: x})
                        t[i].append(time.perf_counter() - t0)
                med = [float(np.median(v)) for v in t]
                best = [float(np.min(v)) for v in t]
                print(f"{name:12s} {batch:2d} {threads:2d} {med[0] * 1e3:9.2f} {med[1] * 1e3:9.2f} {med[2] * 1e3:9.2f} "
                      f"{med[0] / med[2]:8.2f} {med[1] / med[2]:8.2f} {best[0] / best[2]:12.2f} "
                      f"{best[1] / best[2]:12.2f}", flush=True)


def main() -> None:
    """Prints one line per distinct layer and per-model weighted totals."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", default=["resnet50", "mobilenetv2"])
    ap.add_argument("--batch", nargs="+", type=int, default=[1, 8])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--whole", action="store_true", help="whole models, layout pass on vs off")
    ap.add_argument("--threads-list", type=int, nargs="+", default=[1, 2], help="with --whole")
    args = ap.parse_args()
    if args.whole:
        whole_models(args)
        return
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    for name in args.models:
        layers = conv_layers(model_path(name))
        for batch in args.batch:
            print(f"\n## {name} batch {batch}, {args.threads} thread(s), medians of {args.runs}")
            print(f"{'C H W -> M kxk/s g':32s} {'n':>3s} {'NCHW ms':>9s} {'NHWC ms':>9s} {'ORT ms':>9s} "
                  f"{'NCHW/ORT':>8s} {'NHWC/ORT':>8s} {'NHWC GF/s':>9s} {'min NCHW':>8s} {'min NHWC':>8s}")
            tot, tot_min = np.zeros(3), np.zeros(3)
            for layer, count in sorted(layers.items(), key=lambda kv: -kv[0][0] * kv[0][1] * kv[0][2] * kv[0][3]):
                c, h, w, m, k, s, _p, g = layer
                nchw = fastinfer.Session(conv_model(layer, batch, False), threads=args.threads)
                nhwc = fastinfer.Session(conv_model(layer, batch, True), threads=args.threads)
                rt = ort.InferenceSession(conv_model(layer, batch, False), so, providers=["CPUExecutionProvider"])
                x = np.random.default_rng(1).standard_normal((batch, c, h, w)).astype(np.float32)
                xt = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
                ya = nchw.run(None, {"x": x})[0]
                yb = nhwc.run(None, {"x": xt})[0].transpose(0, 3, 1, 2)
                yc = rt.run(None, {"x": x})[0]
                np.testing.assert_allclose(ya, yc, rtol=1e-3, atol=1e-3)
                np.testing.assert_allclose(yb, yc, rtol=1e-3, atol=1e-3)
                t = [[], [], []]
                # More runs for short layers: at least --runs, up to about 0.5 s per runtime.
                t0 = time.perf_counter()
                rt.run(None, {"x": x})
                runs = max(args.runs, min(200, int(0.5 / max(time.perf_counter() - t0, 1e-5))))
                for _ in range(runs):
                    for i, (sess, feed) in enumerate(((nchw, x), (nhwc, xt), (rt, x))):
                        t0 = time.perf_counter()
                        sess.run(None, {"x": feed})
                        t[i].append(time.perf_counter() - t0)
                med = np.array([float(np.median(v)) for v in t])
                best = np.array([float(np.min(v)) for v in t])
                tot += med * count
                tot_min += best * count
                flops = 2.0 * batch * m * ya.shape[2] * ya.shape[3] * (c // g) * k * k
                desc = f"{c} {h}x{w} -> {m} {k}x{k}/{s} g{g}"
                print(f"{desc:32s} {count:3d} {med[0] * 1e3:9.3f} {med[1] * 1e3:9.3f} {med[2] * 1e3:9.3f} "
                      f"{med[0] / med[2]:8.2f} {med[1] / med[2]:8.2f} {flops / med[1] / 1e9:9.1f} "
                      f"{best[0] / best[2]:8.2f} {best[1] / best[2]:8.2f}", flush=True)
            print(f"{'weighted total':32s} {'':3s} {tot[0] * 1e3:9.3f} {tot[1] * 1e3:9.3f} {tot[2] * 1e3:9.3f} "
                  f"{tot[0] / tot[2]:8.2f} {tot[1] / tot[2]:8.2f} {'':9s} {tot_min[0] / tot_min[2]:8.2f} "
                  f"{tot_min[1] / tot_min[2]:8.2f}")


if __name__ == "__main__":
    main()
