"""The vmath-backed float32 ops (activations, Softmax/LogSoftmax, LayerNormalization) against ONNX
Runtime's in one process: one-node models, 1 and 2 threads, ORT spinning off, interleaved runs,
medians of wall time and of process CPU time (the CPU-time ratio is the steadier one on a loaded
machine; with 2 threads it sums both threads' work).

    PYTHONPATH=python python bench/bench_vmath.py [reps]      # markdown table
    PYTHONPATH=python python -m pytest bench/bench_vmath.py --benchmark-only   # pytest-benchmark
"""

from __future__ import annotations

import sys
import time

import fastinfer
import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

M1 = (1, 1 << 20)  # 1M floats
FFN = (128, 3072)  # BERT-base FFN activations, batch 1
ROWS = (8 * 128, 768)  # BERT-base hidden states, batch 8
ATTN = (8 * 12 * 128, 128)  # attention scores, batch 8, 12 heads, 128 tokens

# (label, op, shape, attrs, opset)
CASES = [
    ("Exp", "Exp", M1, {}, 13),
    ("Sigmoid", "Sigmoid", M1, {}, 13),
    ("Tanh", "Tanh", M1, {}, 13),
    ("Erf", "Erf", M1, {}, 13),
    ("Gelu", "Gelu", M1, {}, 20),
    ("Gelu tanh", "Gelu", M1, {"approximate": "tanh"}, 20),
    ("HardSwish", "HardSwish", M1, {}, 14),
    ("Elu", "Elu", M1, {}, 13),
    ("Mish", "Mish", M1, {}, 18),
    ("Gelu", "Gelu", FFN, {}, 20),
    ("Sigmoid", "Sigmoid", FFN, {}, 13),
    ("Tanh", "Tanh", FFN, {}, 13),
    ("Softmax", "Softmax", FFN, {}, 13),
    ("Softmax", "Softmax", ATTN, {}, 13),
    ("LogSoftmax", "LogSoftmax", ATTN, {}, 13),
    ("Softmax axis=0", "Softmax", (128, 768), {"axis": 0}, 13),
    ("LayerNorm", "LayerNormalization", ROWS, {"epsilon": 1e-12}, 17),
    ("LayerNorm", "LayerNormalization", FFN, {"epsilon": 1e-12}, 17),
]


def model(op: str, shape, attrs: dict, opset: int) -> bytes:
    """One float32 node over input x (LayerNormalization gets scale and bias initializers)."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    inputs, inits = ["x"], []
    if op == "LayerNormalization":
        g = np.random.default_rng(1)
        inits = [numpy_helper.from_array(g.standard_normal(shape[-1]).astype(np.float32), "s"),
                 numpy_helper.from_array(g.standard_normal(shape[-1]).astype(np.float32), "b")]
        inputs += ["s", "b"]
    graph = helper.make_graph([helper.make_node(op, inputs, ["y"], **attrs)], "g", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8).SerializeToString()


def sessions(case, threads: int):
    """(fastinfer run, ORT run, feed) for a case."""
    _, op, shape, attrs, opset = case
    m = model(op, shape, attrs, opset)
    feed = {"x": (np.random.default_rng(0).standard_normal(shape) * 3).astype(np.float32)}
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    o = ort.InferenceSession(m, so, providers=["CPUExecutionProvider"])
    f = fastinfer.Session(m, threads=threads)
    return (lambda: f.run(None, feed)), (lambda: o.run(None, feed)), feed


def timed(fn) -> tuple[float, float]:
    """(wall, process CPU) seconds for one call."""
    t, c = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main(reps: int = 30) -> None:
    """Prints a markdown table of median ms and the fastinfer/ORT ratio, 1 and 2 threads."""
    print("| op | shape | threads | fastinfer ms | ORT ms | fastinfer/ORT | CPU fastinfer/ORT |")
    print("|---|---|---|---|---|---|---|")
    for case in CASES:
        for threads in (1, 2):
            f, o, _ = sessions(case, threads)
            a, b = f()[0], o()[0]
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
            for _ in range(3):
                f(), o()
            tf, to = [], []
            for _ in range(reps):
                tf.append(timed(f))
                to.append(timed(o))
            (mf, cf), (mo, co) = np.median(tf, axis=0) * 1e3, np.median(to, axis=0) * 1e3
            shape = "x".join(map(str, case[2]))
            print(f"| {case[0]} | {shape} | {threads} | {mf:.3f} | {mo:.3f} | {mf / mo:.2f} | {cf / co:.2f} |",
                  flush=True)


@pytest.mark.parametrize("runtime", ["fastinfer", "ort"])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{'x'.join(map(str, c[2]))}" for c in CASES])
def test_bench(benchmark, case, threads, runtime):
    """pytest-benchmark: one op on one runtime."""
    f, o, _ = sessions(case, threads)
    benchmark(f if runtime == "fastinfer" else o)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30)
