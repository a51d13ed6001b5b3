"""If, Loop and Scan against onnxruntime: subgraphs with outer-scope captures, nesting, zero
trips, scan axes and directions, opset 8 Scan with sequence_lens, and bad runtime inputs."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper
from op_helpers import assert_close, rng, run_fastinfer, run_ort

F = TensorProto.FLOAT


def vi(name: str, elem: int = F, shape=None):
    """A value_info with an optional shape."""
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, opset: int = 17, inits=()):
    """A model of the given top-level nodes."""
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)


def check(m, feeds):
    """Runs both runtimes and compares every output."""
    ours = run_fastinfer(m, feeds)
    ref = run_ort(m, feeds)
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert_close(a, b, what=f"output {i}")
    return ours


def if_model(opset: int = 17):
    """If whose branches read outer values and yield different shapes."""
    then_g = helper.make_graph([helper.make_node("Add", ["x", "y"], ["t"])], "then", [], [vi("t")])
    else_g = helper.make_graph([helper.make_node("Identity", ["z"], ["e"])], "else", [], [vi("e")])
    node = helper.make_node("If", ["c"], ["out"], then_branch=then_g, else_branch=else_g)
    return model([node], [vi("c", TensorProto.BOOL, []), vi("x"), vi("y"), vi("z")], [vi("out")], opset)


@pytest.mark.parametrize("cond", [True, False])
@pytest.mark.parametrize("opset", [11, 13, 17])
def test_if_branches(cond, opset):
    r = rng(1)
    feeds = {"c": np.array(cond), "x": r.standard_normal((3, 7)).astype(np.float32),
             "y": r.standard_normal((3, 7)).astype(np.float32), "z": r.standard_normal((17,)).astype(np.float32)}
    out = check(if_model(opset), feeds)
    assert out[0].shape == ((3, 7) if cond else (17,))


def test_if_bad_condition():
    m = if_model()
    x = np.ones((2,), np.float32)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"c": np.array([True, False]), "x": x, "y": x, "z": x})


def loop_body(extra_nodes=(), scan=True):
    """Body (i, cond, v) -> (cond, v + x, [v + x]) with x from the outer scope."""
    nodes = [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
             helper.make_node("Add", ["v_in", "x"], ["v_out"])] + list(extra_nodes)
    outs = [vi("cond_out", TensorProto.BOOL, []), vi("v_out")]
    if scan:
        nodes.append(helper.make_node("Identity", ["v_out"], ["s_out"]))
        outs.append(vi("s_out"))
    return helper.make_graph(nodes, "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []),
                                             vi("v_in")], outs)


@pytest.mark.parametrize("trips", [0, 1, 3, 7])
def test_loop_trip_count_and_scan_output(trips):
    node = helper.make_node("Loop", ["M", "cond", "v0"], ["v", "s"], body=loop_body())
    m = model([node], [vi("M", TensorProto.INT64, []), vi("cond", TensorProto.BOOL, []), vi("v0", F, [2, 3]),
                       vi("x", F, [2, 3])], [vi("v"), vi("s")])
    r = rng(2)
    feeds = {"M": np.array(trips, np.int64), "cond": np.array(True), "v0": r.standard_normal((2, 3)).astype(np.float32),
             "x": r.standard_normal((2, 3)).astype(np.float32)}
    ours = run_fastinfer(m, feeds)
    ref = run_ort(m, feeds)
    assert_close(ours[0], ref[0])
    assert_close(ours[1], ref[1])  # zero trips: shape (0,) as ORT gives for an unshaped body output
    assert ours[1].shape[0] == trips


def test_loop_cond_false_initially_and_optional_m():
    node = helper.make_node("Loop", ["", "cond", "v0"], ["v"], body=loop_body(scan=False))
    m = model([node], [vi("cond", TensorProto.BOOL, []), vi("v0", F, [4]), vi("x", F, [4])], [vi("v")])
    feeds = {"cond": np.array(False), "v0": np.arange(4, dtype=np.float32), "x": np.ones(4, np.float32)}
    check(m, feeds)


def test_loop_cond_from_outer_scope_stops():
    """No M: the body's condition output is an outer value (false), so the loop runs once."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["stop"], ["cond_out"]), helper.make_node("Add", ["v_in", "x"], ["v_out"])],
        "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("v_in")],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out")])
    node = helper.make_node("Loop", ["", "cond", "v0"], ["v"], body=body)
    m = model([node], [vi("cond", TensorProto.BOOL, []), vi("stop", TensorProto.BOOL, []), vi("v0", F, [3]),
                       vi("x", F, [3])], [vi("v")])
    feeds = {"cond": np.array(True), "stop": np.array(False), "v0": np.zeros(3, np.float32),
             "x": np.arange(3, dtype=np.float32)}
    out = check(m, feeds)
    np.testing.assert_array_equal(out[0], feeds["x"])


def test_body_condition_stops_counted_loop():
    """With M and no cond input, a false condition from the body still ends the loop (as ORT does)."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["stop"], ["cond_out"]), helper.make_node("Add", ["v_in", "x"], ["v_out"])],
        "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("v_in")],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out")])
    node = helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)
    m = model([node], [vi("M", TensorProto.INT64, []), vi("stop", TensorProto.BOOL, []), vi("v0", F, [3]),
                       vi("x", F, [3])], [vi("v")])
    for stop in (True, False):
        feeds = {"M": np.array(5, np.int64), "stop": np.array(stop), "v0": np.zeros(3, np.float32),
                 "x": np.ones(3, np.float32)}
        out = check(m, feeds)
        np.testing.assert_array_equal(out[0], np.full(3, 5.0 if stop else 1.0, np.float32))


def test_nested_loops_with_if_inside():
    """Outer Loop (M1 trips) runs an inner Loop (M2 trips) and an If on an outer-scope flag."""
    inner = helper.make_node("Loop", ["M2", "cond_in", "v_in"], ["w"], body=loop_body(scan=False))
    then_g = helper.make_graph([helper.make_node("Add", ["w", "x"], ["t"])], "then", [], [vi("t")])
    else_g = helper.make_graph([helper.make_node("Identity", ["w"], ["e"])], "else", [], [vi("e")])
    iff = helper.make_node("If", ["flag"], ["v_out"], then_branch=then_g, else_branch=else_g)
    body = helper.make_graph(
        [inner, iff, helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Identity", ["v_out"], ["s_out"])],
        "outer_body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("v_in")],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out"), vi("s_out")])
    node = helper.make_node("Loop", ["M1", "", "v0"], ["v", "s"], body=body)
    m = model([node], [vi("M1", TensorProto.INT64, []), vi("M2", TensorProto.INT64, []),
                       vi("flag", TensorProto.BOOL, []), vi("v0", F, [5]), vi("x", F, [5])], [vi("v"), vi("s")])
    r = rng(3)
    for flag in (True, False):
        feeds = {"M1": np.array(3, np.int64), "M2": np.array(2, np.int64), "flag": np.array(flag),
                 "v0": r.standard_normal(5).astype(np.float32), "x": r.standard_normal(5).astype(np.float32)}
        ours = check(m, feeds)
        for a, b in zip(ours, run_fastinfer(m, feeds, threads=4)):
            np.testing.assert_array_equal(a, b)


def test_loop_strings_and_iteration_number():
    """Loop-carried strings and the iteration counter as a scan output."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["v_in"], ["v_out"]),
         helper.make_node("Identity", ["i"], ["s_out"])],
        "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("v_in", TensorProto.STRING)],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out", TensorProto.STRING), vi("s_out", TensorProto.INT64)])
    node = helper.make_node("Loop", ["M", "", "v0"], ["v", "s"], body=body)
    m = model([node], [vi("M", TensorProto.INT64, []), vi("v0", TensorProto.STRING, [2])],
              [vi("v", TensorProto.STRING), vi("s", TensorProto.INT64)])
    out = run_fastinfer(m, {"M": np.array(4, np.int64), "v0": np.array(["a", "bc"], dtype=object)})
    assert list(out[0]) == ["a", "bc"]
    np.testing.assert_array_equal(out[1], np.arange(4))


def test_loop_bad_trip_count_type():
    node = helper.make_node("Loop", ["M", "", "v0"], ["v"], body=loop_body(scan=False))
    m = model([node], [vi("M", F, []), vi("v0", F, [2]), vi("x", F, [2])], [vi("v")])
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"M": np.array(2.0, np.float32), "v0": np.zeros(2, np.float32), "x": np.ones(2, np.float32)})


def scan_body():
    """(sum, x_t) -> (sum + x_t, sum + x_t)."""
    return helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]), helper.make_node("Identity", ["s_out"], ["y_t"])],
        "body", [vi("s_in"), vi("x_t")], [vi("s_out"), vi("y_t")])


@pytest.mark.parametrize("in_axis,in_dir,out_axis,out_dir", [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0),
                                                             (1, 1, 1, 1), (-1, 0, -1, 1), (2, 0, 2, 0)])
def test_scan_axes_and_directions(in_axis, in_dir, out_axis, out_dir):
    shape = [3, 7, 2]
    elem = list(shape)
    del elem[in_axis]
    node = helper.make_node("Scan", ["init", "x"], ["final", "ys"], body=scan_body(), num_scan_inputs=1,
                            scan_input_axes=[in_axis], scan_input_directions=[in_dir],
                            scan_output_axes=[out_axis], scan_output_directions=[out_dir])
    m = model([node], [vi("init", F, elem), vi("x", F, shape)], [vi("final"), vi("ys")], opset=16)
    r = rng(4)
    check(m, {"init": r.standard_normal(elem).astype(np.float32), "x": r.standard_normal(shape).astype(np.float32)})


def test_scan_two_inputs_differing_lengths_rejected():
    body = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["y"])], "body", [vi("a", F, [3]), vi("b", F, [3])], [vi("y", F, [3])])
    node = helper.make_node("Scan", ["x1", "x2"], ["ys"], body=body, num_scan_inputs=2)
    m = model([node], [vi("x1", F, None), vi("x2", F, None)], [vi("ys")], opset=16)
    r = rng(5)
    x1 = r.standard_normal((4, 3)).astype(np.float32)
    check(m, {"x1": x1, "x2": r.standard_normal((4, 3)).astype(np.float32)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"x1": x1, "x2": np.zeros((5, 3), np.float32)})


@pytest.mark.parametrize("lens", [None, [3, 1, 0]])
@pytest.mark.parametrize("direction", [0, 1])
def test_scan_opset8_batch_and_sequence_lens(lens, direction):
    names = ["" if lens is None else "lens", "init", "x"]
    node = helper.make_node("Scan", names, ["final", "ys"], body=scan_body(), num_scan_inputs=1,
                            directions=[direction])
    inputs = [vi("init", F, [3, 2]), vi("x", F, [3, 4, 2])]
    if lens is not None:
        inputs.insert(0, vi("lens", TensorProto.INT32, [3]))
    m = model([node], inputs, [vi("final"), vi("ys")], opset=8)
    r = rng(6)
    feeds = {"init": r.standard_normal((3, 2)).astype(np.float32), "x": r.standard_normal((3, 4, 2)).astype(np.float32)}
    if lens is not None:
        feeds["lens"] = np.array(lens, np.int32)
        ours = run_fastinfer(m, feeds)
        x, s = feeds["x"], feeds["init"].copy()
        for b, n in enumerate(lens):  # reference by hand: ORT rejects zero lengths
            steps = range(n - 1, -1, -1) if direction else range(n)
            for k, t in enumerate(steps):  # outputs are in iteration order
                s[b] += x[b, t]
                assert_close(ours[1][b, k], s[b])
            assert not ours[1][b, n:].any()
        assert_close(ours[0], s)
    else:
        check(m, feeds)


def test_concurrent_runs_of_one_session():
    """Several Python threads run one session with a Loop + Scan model at once."""
    from concurrent.futures import ThreadPoolExecutor

    inner = helper.make_node("Scan", ["v_in", "xs"], ["w", "ys"], body=scan_body(), num_scan_inputs=1)
    body = helper.make_graph(
        [inner, helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Identity", ["w"], ["v_out"])],
        "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("v_in", F, [2])],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out", F, [2])])
    node = helper.make_node("Loop", ["M", "", "v0"], ["v"], body=body)
    m = model([node], [vi("M", TensorProto.INT64, []), vi("v0", F, [2]), vi("xs", F, [5, 2])], [vi("v")], opset=16)
    sess = fastinfer.Session(m.SerializeToString(), threads=2)
    r = rng(7)
    feeds = [{"M": np.array(k, np.int64), "v0": r.standard_normal(2).astype(np.float32),
              "xs": r.standard_normal((5, 2)).astype(np.float32)} for k in range(8)]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda f: sess.run(None, f)[0], feeds * 3))
    for f, g in zip(feeds * 3, got):
        assert_close(g, run_ort(m, f)[0])


def test_scan_outputs_changing_shape_rejected():
    """A scan output whose shape differs between iterations is a runtime error, for Loop and Scan."""
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), helper.make_node("Add", ["v_in", "x"], ["v_out"]),
         helper.make_node("Identity", ["v_in"], ["s_out"])],
        "body", [vi("i", TensorProto.INT64, []), vi("cond_in", TensorProto.BOOL, []), vi("v_in")],
        [vi("cond_out", TensorProto.BOOL, []), vi("v_out"), vi("s_out")])
    node = helper.make_node("Loop", ["M", "", "v0"], ["v", "s"], body=body)
    m = model([node], [vi("M", TensorProto.INT64, []), vi("v0", F, None), vi("x", F, [3])], [vi("v"), vi("s")])
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"M": np.array(2, np.int64), "v0": np.array(1.0, np.float32), "x": np.ones(3, np.float32)})
    sbody = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]), helper.make_node("Identity", ["s_in"], ["y_t"])],
        "body", [vi("s_in"), vi("x_t")], [vi("s_out"), vi("y_t")])
    node = helper.make_node("Scan", ["init", "xs"], ["final", "ys"], body=sbody, num_scan_inputs=1)
    m = model([node], [vi("init", F, None), vi("xs", F, [4, 2])], [vi("final"), vi("ys")], opset=16)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, {"init": np.array(0.0, np.float32), "xs": np.ones((4, 2), np.float32)})
