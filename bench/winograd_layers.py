"""ResNet-50's 3x3 stride-1 Conv layers: fastinfer with Winograd F(4,3) / F(6,3) / off against ONNX
Runtime's Conv on the same shapes, in one process, interleaved runs, medians.

    PYTHONPATH=python python bench/winograd_layers.py [--runs 20] [--threads 1 2] [--batch 1 8]
    PYTHONPATH=python python bench/winograd_layers.py --model bench/.cache/resnet50-*.onnx  # whole model
    PYTHONPATH=python python bench/winograd_layers.py --crossover --cpu-time  # Winograd vs im2col sweep

ONNX Runtime gets intra_op_num_threads=threads and session.intra_op.allow_spinning=0. GFLOP/s are
effective: direct-convolution FLOPs (2 * N * M * C * 9 * H * W) over the median time. Each layer
is Conv + bias + Relu (the Relu fused by both runtimes), as in ResNet-50 after BN folding.
"""

from __future__ import annotations

import argparse
import time

import fastinfer
import numpy as np
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# (name, C = M, H = W)
LAYERS = [("c64_56x56", 64, 56), ("c128_28x28", 128, 28), ("c256_14x14", 256, 14), ("c512_7x7", 512, 7)]
MODES = [("wino4", "4"), ("wino6", "6"), ("off", "0")]


def model(n: int, c: int, hw: int) -> bytes:
    """One 3x3 pad-1 Conv with constant He-initialised weights and bias, then Relu."""
    rng = np.random.default_rng(0)
    wt = (rng.standard_normal((c, c, 3, 3)) * np.sqrt(2.0 / (9 * c))).astype(np.float32)
    b = (rng.standard_normal(c) * 0.1).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1] * 4, kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["y"])]
    g = helper.make_graph(nodes, "conv3x3", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, c, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(wt, "w"), numpy_helper.from_array(b, "b")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


CLOCK = time.perf_counter


def interleaved(sessions, feeds: dict, runs: int) -> list[float]:
    """Median seconds of each session's run(None, feeds), the sessions run in turn `runs` times."""
    times = [[] for _ in sessions]
    for _ in range(runs):
        for i, s in enumerate(sessions):
            t0 = CLOCK()
            s.run(None, feeds)
            times[i].append(CLOCK() - t0)
    return [float(np.median(t)) for t in times]


def bench_model(path: str, batches: list[int], threads_list: list[int], runs: int) -> None:
    """A whole model (input [N, 3, 224, 224]): ORT against fastinfer with Winograd on and off."""
    print(f"{'model':10s} {'N':>2s} {'t':>2s} {'ORT ms':>8s} {'fi on ms':>9s} {'ratio':>5s} {'fi off ms':>9s} {'ratio':>5s}")
    for threads in threads_list:
        for n in batches:
            so = ort.SessionOptions()
            so.intra_op_num_threads = threads
            so.add_session_config_entry("session.intra_op.allow_spinning", "0")
            rt = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
            on = fastinfer.Session(path, threads=threads, config={"conv.winograd": "1"})
            off = fastinfer.Session(path, threads=threads, config={"conv.winograd": "0"})
            name = rt.get_inputs()[0].name
            feeds = {name: np.random.default_rng(0).standard_normal((n, 3, 224, 224)).astype(np.float32)}
            ref = rt.run(None, feeds)[0]
            for s in (on, off):
                got = s.run(None, feeds)[0]
                err = np.linalg.norm(got - ref) / np.linalg.norm(ref)
                assert err < 1e-4, err
            med = interleaved([rt, on, off], feeds, runs)
            print(f"{'model':10s} {n:2d} {threads:2d} {med[0] * 1e3:8.2f} {med[1] * 1e3:9.2f} {med[1] / med[0]:5.2f}"
                  f" {med[2] * 1e3:9.2f} {med[2] / med[0]:5.2f}", flush=True)


# (C = M, H = W, N) around the crossover: 3 to 512 channels, 4 to 196 output tiles.
CROSSOVER = [(3, 56, 1), (8, 56, 1), (16, 56, 1), (32, 56, 1), (16, 28, 1), (32, 28, 1), (32, 14, 1), (64, 14, 1),
             (128, 14, 1), (256, 14, 1), (64, 7, 1), (64, 7, 4), (128, 7, 2), (256, 7, 2), (256, 7, 4), (512, 7, 2),
             (512, 7, 4)]


def crossover(threads_list: list[int], runs: int) -> None:
    """fastinfer forced F(4,3) against its im2col path: where Winograd starts to pay."""
    print(f"{'C':>4s} {'HxW':>5s} {'N':>2s} {'t':>2s} {'tiles':>5s} {'wino ms':>8s} {'im2col ms':>9s} {'ratio':>5s}")
    for threads in threads_list:
        for c, hw, n in CROSSOVER:
            m = model(n, c, hw)
            sessions = [fastinfer.Session(m, threads=threads, config={"conv.winograd": v}) for v in ("4", "0")]
            x = np.maximum(np.random.default_rng(1).standard_normal((n, c, hw, hw)), 0).astype(np.float32)
            med = interleaved(sessions, {"x": x}, runs)
            tiles = n * ((hw + 3) // 4) ** 2
            print(f"{c:4d} {hw:2d}x{hw:<2d} {n:2d} {threads:2d} {tiles:5d} {med[0] * 1e3:8.3f} {med[1] * 1e3:9.3f}"
                  f" {med[0] / med[1]:5.2f}", flush=True)


def main() -> None:
    """Prints one line per layer, batch and thread count: median ms of ORT and of each fastinfer
    mode, the ratios fastinfer / ORT, and the effective GFLOP/s."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    ap.add_argument("--layers", nargs="*", default=None, help="layer names (default: all)")
    ap.add_argument("--model", default=None, help="an ONNX model file with input [N, 3, 224, 224] instead")
    ap.add_argument("--crossover", action="store_true", help="the Winograd / im2col sweep instead")
    ap.add_argument("--cpu-time", action="store_true",
                    help="time by process CPU time (robust on a loaded machine; meaningful for 1 thread)")
    args = ap.parse_args()
    if args.cpu_time:
        global CLOCK
        CLOCK = time.process_time
    if args.model:
        bench_model(args.model, args.batch, args.threads, args.runs)
        return
    if args.crossover:
        crossover(args.threads, args.runs)
        return
    head = f"{'layer':12s} {'N':>2s} {'t':>2s} {'ORT ms':>8s}"
    for name, _ in MODES:
        head += f" {name + ' ms':>9s} {'ratio':>5s}"
    print(head + "   GFLOP/s: ORT " + " ".join(n for n, _ in MODES))
    for threads in args.threads:
        for n in args.batch:
            for name, c, hw in LAYERS:
                if args.layers and name not in args.layers:
                    continue
                m = model(n, c, hw)
                so = ort.SessionOptions()
                so.intra_op_num_threads = threads
                so.add_session_config_entry("session.intra_op.allow_spinning", "0")
                rt = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
                sessions = [fastinfer.Session(m, threads=threads, config={"conv.winograd": v}) for _, v in MODES]
                x = np.maximum(np.random.default_rng(1).standard_normal((n, c, hw, hw)), 0).astype(np.float32)
                feeds = {"x": x}
                ref = rt.run(None, feeds)[0]
                for s in sessions:
                    got = s.run(None, feeds)[0]
                    err = np.linalg.norm(got - ref) / np.linalg.norm(ref)
                    assert err < 1e-4, err
                med = interleaved([rt, *sessions], feeds, args.runs)
                flops = 2.0 * n * c * c * 9 * hw * hw
                line = f"{name:12s} {n:2d} {threads:2d} {med[0] * 1e3:8.3f}"
                for mt in med[1:]:
                    line += f" {mt * 1e3:9.3f} {mt / med[0]:5.2f}"
                line += "   " + " ".join(f"{flops / t / 1e9:6.1f}" for t in med)
                print(line, flush=True)


if __name__ == "__main__":
    main()
