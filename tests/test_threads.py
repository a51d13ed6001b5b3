"""One Session run from 8 Python threads at once gives bit-identical results to serial runs
(the GIL is released while a run is in the core; kernels' compute() is const and thread-safe)."""

from __future__ import annotations

import threading
import time

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT
N_THREADS = 8
ROUNDS = 12


def add_chain_model():
    """y = ((a + b) + a) + ... over 12 nodes, z = Identity(t6): inputs [N, 257]."""
    nodes, prev = [], "a"
    for i in range(12):
        out = f"t{i}"
        nodes.append(helper.make_node("Add", [prev, "b" if i % 2 else "a"], [out], name=f"add{i}"))
        prev = out
    nodes.append(helper.make_node("Identity", [prev], ["y"]))
    nodes.append(helper.make_node("Identity", ["t6"], ["z"]))
    g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("a", F, ["N", 257]),
                                           helper.make_tensor_value_info("b", F, ["N", 257])],
                          [helper.make_tensor_value_info("y", F, ["N", 257]),
                           helper.make_tensor_value_info("z", F, ["N", 257])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def small_cnn_model():
    """Conv -> Relu -> MaxPool -> Flatten -> Gemm -> Softmax, with a LayerNormalization side
    output: kernels that use the intra-op thread pool."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal((8, 3, 3, 3)).astype(np.float32), "cw"),
             numpy_helper.from_array(rng.standard_normal(8).astype(np.float32), "cb"),
             numpy_helper.from_array(rng.standard_normal((10, 8 * 8 * 8)).astype(np.float32) * 0.05, "gw"),
             numpy_helper.from_array(rng.standard_normal(10).astype(np.float32), "gb"),
             numpy_helper.from_array(np.ones(10, np.float32), "ls"),
             numpy_helper.from_array(np.zeros(10, np.float32), "lb")]
    nodes = [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("Flatten", ["p"], ["f"]),
             helper.make_node("Gemm", ["f", "gw", "gb"], ["g"], transB=1),
             helper.make_node("Softmax", ["g"], ["y"], axis=-1),
             helper.make_node("LayerNormalization", ["g", "ls", "lb"], ["ln"], axis=-1)]
    g = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", F, ["N", 3, 16, 16])],
                          [helper.make_tensor_value_info("y", F, ["N", 10]),
                           helper.make_tensor_value_info("ln", F, ["N", 10])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _feeds(kind: str) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(42)
    out = []
    for i in range(6):
        n = [1, 3, 7, 2, 17, 5][i]
        if kind == "chain":
            out.append({"a": rng.standard_normal((n * 16, 257)).astype(np.float32),
                        "b": rng.standard_normal((n * 16, 257)).astype(np.float32)})
        else:
            out.append({"x": rng.standard_normal((n, 3, 16, 16)).astype(np.float32)})
    return out


def _hammer(sess: fastinfer.Session, feeds: list[dict], expected: list[list[bytes]]) -> list[str]:
    """Runs feeds from N_THREADS threads (each in its own order, all shapes mixed); returns the
    mismatches or exceptions seen."""
    errors: list[str] = []
    barrier = threading.Barrier(N_THREADS)
    lock = threading.Lock()

    def worker(tid: int) -> None:
        try:
            barrier.wait()
            for r in range(ROUNDS):
                k = (tid + r * 5) % len(feeds)
                outs = sess.run(None, feeds[k])
                got = [o.tobytes() for o in outs]
                if got != expected[k]:
                    with lock:
                        errors.append(f"thread {tid} round {r} feed {k}: results differ from the serial run")
        except Exception as e:  # noqa: BLE001 - reported to the test
            with lock:
                errors.append(f"thread {tid}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
    return errors


@pytest.mark.parametrize("intra_threads", [1, 2])
@pytest.mark.parametrize("kind", ["chain", "cnn"])
def test_concurrent_runs_match_serial(kind, intra_threads):
    model = add_chain_model() if kind == "chain" else small_cnn_model()
    feeds = _feeds(kind)
    serial = fastinfer.Session(model, threads=intra_threads)
    expected = [[o.tobytes() for o in serial.run(None, f)] for f in feeds]
    # A second serial pass agrees with the first (determinism, no state kept between runs).
    assert [[o.tobytes() for o in serial.run(None, f)] for f in feeds] == expected
    shared = fastinfer.Session(model, threads=intra_threads)
    errors = _hammer(shared, feeds, expected)
    assert not errors, errors[:5]
    # And the session used serially first keeps working when hammered too.
    errors = _hammer(serial, feeds, expected)
    assert not errors, errors[:5]


def test_concurrent_sessions_sharing_a_pool():
    pool = fastinfer.ThreadPool(2)
    model = add_chain_model()
    feeds = _feeds("chain")
    sessions = [fastinfer.Session(model, pool=pool) for _ in range(3)]
    expected = [[o.tobytes() for o in sessions[0].run(None, f)] for f in feeds]
    results: list[str] = []

    def worker(i: int) -> None:
        try:
            results.extend(_hammer(sessions[i], feeds, expected))
        except Exception as e:  # noqa: BLE001 - reported to the test
            results.append(f"session {i}: {type(e).__name__}: {e}")

    ts = [threading.Thread(target=worker, args=(i,)) for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=240)
    assert not any(t.is_alive() for t in ts), "a thread hung"
    assert not results, results[:5]


@pytest.mark.parametrize("spin", ["0", "1"])
def test_workers_sleep_between_runs(spin):
    """Workers never spin by default; with session.intra_op.allow_spinning = 1 a worker waits
    briefly with pause instructions for the next node's job within a run. Either way, once the run
    returns they sleep: the process uses (next to) no CPU while the session sits idle, and the
    results do not depend on the setting."""
    rng = np.random.default_rng(1)
    b = numpy_helper.from_array(rng.standard_normal((256, 256)).astype(np.float32), "b")
    nodes = [helper.make_node("MatMul", ["a", "b"], ["t"]), helper.make_node("Relu", ["t"], ["r"]),
             helper.make_node("MatMul", ["r", "b"], ["y"])]
    g = helper.make_graph(nodes, "mm", [helper.make_tensor_value_info("a", F, [256, 256])],
                          [helper.make_tensor_value_info("y", F, [256, 256])], [b])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    sess = fastinfer.Session(model, threads=2, config={"session.intra_op.allow_spinning": spin})
    a = rng.standard_normal((256, 256)).astype(np.float32)
    for _ in range(5):
        y = sess.run(None, {"a": a})[0]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    time.sleep(0.5)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    # A worker spinning through the sleep would use about `wall` of CPU. (The reference below
    # comes after: numpy's BLAS threads spin a while after a product.)
    assert cpu < 0.2 * wall, f"{cpu:.3f} s of CPU over {wall:.3f} s idle"
    np.testing.assert_array_equal(y, fastinfer.Session(model, threads=2).run(None, {"a": a})[0])
    w = numpy_helper.to_array(b).astype(np.float64)
    np.testing.assert_allclose(y, np.maximum(a @ w, 0) @ w, rtol=1e-4, atol=1e-2)


def test_allow_spinning_takes_0_or_1():
    with pytest.raises(fastinfer.InvalidArgument, match="allow_spinning"):
        fastinfer.Session(small_cnn_model(), threads=2, config={"session.intra_op.allow_spinning": "yes"})
