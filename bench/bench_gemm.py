"""fp32 GEMM (MatMul with a constant B), fastinfer vs ONNX Runtime in one process.

    PYTHONPATH=python python bench/bench_gemm.py [--runs 30] [--threads 1] [--shapes 1024x1024x1024,...]
    PYTHONPATH=python python bench/bench_gemm.py --tiles        # every microkernel, no Python overhead
    PYTHONPATH=python python bench/bench_gemm.py --threads 2 --gap-ms 2  # one call after 2 ms idle
    PYTHONPATH=python python -m pytest bench/bench_gemm.py --benchmark-only [--benchmark-timer time.thread_time]

Both run a one-node model MatMul(A[M, K], B[K, N]) with B an initializer (both pack it once);
runs are interleaved and the medians compared. ORT gets intra_op_num_threads=threads and
session.intra_op.allow_spinning=0. With one thread both run on the calling thread, so the time is
that thread's CPU time (robust on a shared machine); with more it is wall-clock time.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import fastinfer
import numpy as np
import onnxruntime as ort
import pytest
from fastinfer import _core
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peak import measured_peak

# (M, K, N): square, odd, skinny and transformer (batch-1 and sequence-128) shapes.
SHAPES = [
    (64, 64, 64), (127, 127, 127), (256, 256, 256), (511, 511, 511), (1024, 1024, 1024), (2048, 2048, 2048),
    (64, 1024, 1024), (1024, 64, 1024), (1024, 1024, 64), (4096, 256, 64), (33, 4096, 65),
    (1, 768, 768), (1, 768, 3072), (1, 3072, 768), (4, 768, 768), (8, 768, 3072),
    (128, 768, 768), (128, 768, 3072), (128, 3072, 768),
]


def model(m: int, k: int, n: int) -> bytes:
    """MatMul(A[m, k], B[k, n]) with B a constant initializer."""
    b = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32)
    node = helper.make_node("MatMul", ["a", "b"], ["y"])
    g = helper.make_graph([node], "mm", [helper.make_tensor_value_info("a", TensorProto.FLOAT, [m, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(b, "b")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8).SerializeToString()


def sessions(m: int, k: int, n: int, threads: int):
    """(fastinfer run, ORT run, feeds) for one shape."""
    data = model(m, k, n)
    fi = fastinfer.Session(data, threads=threads)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    ox = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])
    feeds = {"a": np.random.default_rng(1).standard_normal((m, k)).astype(np.float32)}
    return (lambda: fi.run(None, feeds)), (lambda: ox.run(None, feeds)), feeds


def clock(threads: int):
    """The timer: the calling thread's CPU time for one thread, else wall-clock."""
    return time.thread_time if threads == 1 else time.perf_counter


def compare(m: int, k: int, n: int, threads: int, runs: int, gap_ms: float = 0.0) -> tuple[float, float]:
    """Median seconds per run of fastinfer and ORT, interleaved. With gap_ms, each sample is one call
    after an idle gap of that many ms (no call right after one of the same runtime's own)."""
    run_fi, run_ort, _ = sessions(m, k, n, threads)
    now = clock(threads)
    flops = 2.0 * m * n * k
    inner = 1 if gap_ms > 0 else max(1, int(2e8 / (flops * threads)))  # ~2 ms of work per sample at 100 GFLOP/s
    for f in (run_fi, run_ort):
        for _ in range(3):
            f()
    t_fi, t_ort = [], []
    for _ in range(runs):
        for f, out in ((run_fi, t_fi), (run_ort, t_ort)):
            if gap_ms > 0:
                time.sleep(gap_ms / 1e3)
            t0 = now()
            for _ in range(inner):
                f()
            out.append((now() - t0) / inner)
    return statistics.median(t_fi), statistics.median(t_ort)


def tiles(shapes, threads: int, runs: int, peak: float) -> None:
    """GFLOP/s of every supported microkernel on each shape (B packed beforehand)."""
    names = [k["name"] for k in _core.kernels.list_kernels("f32_gemm") if k["supported"] and k["isa"] != "ref"]
    print("shape (MxKxN)   " + " ".join(f"{n.replace('f32_gemm_', ''):>14s}" for n in names))
    for m, k, n in shapes:
        res = {name: [] for name in names}
        for _ in range(3):
            for name in names:
                res[name].append(min(_core.kernels.f32_gemm_time(name, m, n, k, threads=threads, runs=runs // 3 + 1)))
        print(f"{m}x{k}x{n:<10d}" + " ".join(f"{2 * m * n * k / statistics.median(res[x]) * 1e-9:14.1f}"
                                             for x in names))
    print(f"(GFLOP/s; peak {peak:.1f} per core)")


def main() -> None:
    """Prints the fastinfer vs ORT table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--shapes", default="", help="comma-separated MxKxN")
    ap.add_argument("--tiles", action="store_true", help="every microkernel instead of fastinfer vs ORT")
    ap.add_argument("--gap-ms", type=float, default=0.0,
                    help="one call per sample after this idle gap (default: blocks of back-to-back calls)")
    args = ap.parse_args()
    shapes = [tuple(int(x) for x in s.split("x")) for s in args.shapes.split(",")] if args.shapes else SHAPES
    peak = measured_peak() * args.threads
    if args.tiles:
        tiles(shapes, args.threads, args.runs, peak)
        return
    print(f"threads {args.threads}, peak {peak:.1f} GFLOP/s, medians of {args.runs} interleaved runs "
          f"({'thread CPU time' if args.threads == 1 else 'wall-clock'}"
          f"{f', one call after {args.gap_ms:g} ms idle' if args.gap_ms > 0 else ''})")
    print(f"{'M x K x N':>18s} {'fastinfer':>10s} {'ORT':>8s} {'fi %peak':>9s} {'ORT %peak':>9s} {'fi/ORT':>7s}  (time ratio: below 1 = fastinfer faster)")
    for m, k, n in shapes:
        t_fi, t_ort = compare(m, k, n, args.threads, args.runs, args.gap_ms)
        g_fi, g_ort = 2 * m * n * k / t_fi * 1e-9, 2 * m * n * k / t_ort * 1e-9
        print(f"{m:>6d}x{k:>5d}x{n:<5d} {g_fi:10.1f} {g_ort:8.1f} {100 * g_fi / peak:8.1f}% {100 * g_ort / peak:8.1f}% "
              f"{t_fi / t_ort:7.2f}", flush=True)


BENCH_SHAPES = [(1024, 1024, 1024), (64, 1024, 1024), (1, 768, 768), (1, 768, 3072), (128, 768, 768),
                (128, 768, 3072)]


@pytest.mark.parametrize("engine", ["fastinfer", "ort"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("shape", BENCH_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_matmul(benchmark, peak, shape, threads, engine):
    """MatMul with a constant B; records GFLOP/s and % of the measured peak in extra_info."""
    m, k, n = shape
    run_fi, run_ort, _ = sessions(m, k, n, threads)
    benchmark.pedantic(run_fi if engine == "fastinfer" else run_ort, rounds=20, iterations=1, warmup_rounds=3)
    gflops = 2 * m * n * k / benchmark.stats.stats.median * 1e-9
    benchmark.extra_info["gflops"] = round(gflops, 1)
    benchmark.extra_info["pct_peak"] = round(100 * gflops / (peak * threads), 1)
    print(f"\n{engine} {m}x{k}x{n} t{threads}: {gflops:.1f} GFLOP/s, {100 * gflops / (peak * threads):.1f}% of peak")


if __name__ == "__main__":
    main()
