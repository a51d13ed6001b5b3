"""Executor and memory plan: steady-state runs allocate only their outputs, plans are cached
per input-shape signature, and results do not depend on which plan served them."""

import fastinfer
import numpy as np
from fastinfer import _core
from onnx import TensorProto, helper, numpy_helper


def _chain_model(n_adds: int = 6):
    """x -> Add(w) -> Identity -> Add(w) ... : intermediates that the planner places in the arena."""
    nodes, prev = [], "x"
    for i in range(n_adds):
        nodes.append(helper.make_node("Add", [prev, "w"], [f"a{i}"]))
        nodes.append(helper.make_node("Identity", [f"a{i}"], [f"i{i}"]))
        prev = f"i{i}"
    nodes.append(helper.make_node("Add", [prev, prev], ["y"]))
    g = helper.make_graph(
        nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.full((1, 16), 0.5, np.float32), "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _expected(x, n_adds=6):
    return (x + 0.5 * n_adds) * 2


def test_steady_state_run_allocates_only_outputs():
    sess = fastinfer.Session(_chain_model(), threads=1)
    x = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    sess.run(x)  # traces and plans
    sess.run(x)
    before = _core.testing.buffer_allocation_count()
    y = sess.run(x)
    after = _core.testing.buffer_allocation_count()
    np.testing.assert_allclose(y, _expected(x), rtol=1e-6)
    assert after - before == 1, f"a planned run made {after - before} heap allocations, expected 1 (the output)"


def test_first_call_at_a_new_shape_reuses_dead_buffers():
    # The trace (the first call with a new shape) hands a dead value's buffer to a later value of
    # about its size: a chain of 12 same-sized intermediates maps a few buffers, not 12; the
    # numbers match the planned runs'.
    sess = fastinfer.Session(_chain_model(12), threads=1)
    x = np.random.default_rng(2).standard_normal((4096, 16)).astype(np.float32)
    before = _core.testing.buffer_allocation_count()
    first = sess.run(x)
    traced = _core.testing.buffer_allocation_count() - before
    np.testing.assert_allclose(first, _expected(x, 12), rtol=1e-6)
    assert traced <= 4, f"the trace made {traced} allocations for 12 intermediates and 1 output"
    np.testing.assert_array_equal(sess.run(x), first)
    x2 = np.random.default_rng(3).standard_normal((3000, 16)).astype(np.float32)
    np.testing.assert_allclose(sess.run(x2), _expected(x2, 12), rtol=1e-6)  # a second shape traces too


def test_plan_per_shape_signature_gives_same_results():
    sess = fastinfer.Session(_chain_model(), threads=1)
    r = np.random.default_rng(1)
    for n in [1, 5, 1, 3, 5, 5, 1]:
        x = r.standard_normal((n, 16)).astype(np.float32)
        np.testing.assert_allclose(sess.run(x), _expected(x), rtol=1e-6)


def test_outputs_are_independent_of_later_runs():
    sess = fastinfer.Session(_chain_model(), threads=1)
    x1 = np.ones((2, 16), np.float32)
    y1 = sess.run(x1)
    keep = y1.copy()
    sess.run(np.zeros((2, 16), np.float32))
    np.testing.assert_array_equal(y1, keep)


def _unary_chain_model():
    nodes = [helper.make_node("Add", ["x", "w"], ["a"]),
             helper.make_node("Sigmoid", ["a"], ["b"]),
             helper.make_node("Neg", ["b"], ["c"]),
             helper.make_node("Tanh", ["c"], ["d"]),
             helper.make_node("Abs", ["d"], ["e"]),
             helper.make_node("Add", ["e", "e"], ["y"])]
    g = helper.make_graph(
        nodes, "unary", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1024])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.full((1, 1024), 0.25, np.float32), "w")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def test_unary_chain_runs_in_place():
    """Sigmoid -> Neg -> Tanh -> Abs each take their input's memory: the arena holds one buffer."""
    sess = fastinfer.Session(_unary_chain_model(), threads=1)
    x = np.random.default_rng(3).standard_normal((8, 1024)).astype(np.float32)
    expected = 2 * np.abs(np.tanh(-1 / (1 + np.exp(-(x + 0.25)))))
    for _ in range(3):  # trace, then planned runs
        np.testing.assert_allclose(sess.run(x), expected, rtol=1e-6, atol=1e-6)
    assert sess._sess.cached_plans() == 1
    assert sess._sess.planned_arena_bytes() == 8 * 1024 * 4


def test_large_outputs_are_recycled_without_aliasing_live_ones():
    # A graph output of 4 MB: freed ones go to the buffer cache and come back on the next run
    # (no page faults on fresh memory), but never while the caller still holds them.
    rows = 1 << 16
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "w"], ["y"])], "big",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(np.full((1, 16), 0.5, np.float32), "w")])
    sess = fastinfer.Session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), threads=1)
    r = np.random.default_rng(3)
    xs = [r.standard_normal((rows, 16)).astype(np.float32) for _ in range(3)]
    held = [sess.run(x) for x in xs]  # all alive at once: three distinct buffers
    for x, y in zip(xs, held):
        np.testing.assert_array_equal(y, x + np.float32(0.5))
    assert len({y.__array_interface__["data"][0] for y in held}) == 3
    before = _core.testing.buffer_cache_bytes()
    del held, y
    assert _core.testing.buffer_cache_bytes() >= before + 3 * rows * 16 * 4
    for x in xs:  # reuse: the results are still right
        np.testing.assert_array_equal(sess.run(x), x + np.float32(0.5))
