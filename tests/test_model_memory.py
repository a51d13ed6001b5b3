"""Loading a model file without holding its weights twice (fastinfer._wire, _import.MappedWeights):
the large raw_data of the main graph's initializers is cut out of what protobuf parses and copied by
the core straight from the memory-mapped file. Outputs must equal the in-memory path's and ORT's,
odd files must fall back or fail cleanly, and the peak RSS of a session's creation must stay near
one copy of the weights."""

from __future__ import annotations

import json
import mmap
import os
import subprocess
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from fastinfer import _wire
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

R = np.random.default_rng(5)


@pytest.fixture
def map_small_files(monkeypatch):
    """The small models here take the mapped path too (files under 1 MiB are parsed whole)."""
    import fastinfer._import as imp
    monkeypatch.setattr(imp, "_MAP_FROM_BYTES", 0)


def weights_model(k: int = 64, n: int = 96, vocab: int = 50) -> onnx.ModelProto:
    """MatMul by a packed weight, Add of a constant read as it is, a Gather from an embedding by
    int64 indices stored as an initializer, a float64 constant cast in, and a tiny shape constant
    that stays in the proto."""
    inits = [numpy_helper.from_array(R.standard_normal((k, n)).astype(np.float32), "W"),
             numpy_helper.from_array(R.standard_normal((n,)).astype(np.float32), "B"),
             numpy_helper.from_array(R.standard_normal((vocab, n)).astype(np.float32), "E"),
             numpy_helper.from_array(R.integers(0, vocab, 1500).astype(np.int64), "idx"),
             numpy_helper.from_array(R.standard_normal((3, n)), "D"),
             numpy_helper.from_array(np.array([-1, n], np.int64), "shape")]
    nodes = [helper.make_node("MatMul", ["x", "W"], ["m"]),
             helper.make_node("Add", ["m", "B"], ["a"]),
             helper.make_node("Gather", ["E", "idx"], ["g"]),
             helper.make_node("ReduceMean", ["g"], ["gm"], axes=[0], keepdims=0),
             helper.make_node("Cast", ["D"], ["d"], to=TensorProto.FLOAT),
             helper.make_node("ReduceMean", ["d"], ["ds"], axes=[0], keepdims=0),
             helper.make_node("Add", ["a", "gm"], ["a2"]),
             helper.make_node("Add", ["a2", "ds"], ["a3"]),
             helper.make_node("Reshape", ["a3", "shape"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_split_model_cuts_large_raw_data_and_points_at_it(tmp_path):
    model = weights_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    stripped, slices = _wire.split_model(mm)
    small = onnx.load_from_string(stripped)
    assert len(stripped) < 4096 < os.path.getsize(path)
    assert [t.name for t in small.graph.initializer] == [t.name for t in model.graph.initializer]
    for t, t_small, s in zip(model.graph.initializer, small.graph.initializer, slices):
        assert list(t_small.dims) == list(t.dims) and t_small.data_type == t.data_type
        if len(t.raw_data) >= _wire.MIN_CUT_BYTES:
            assert not t_small.HasField("raw_data")
            assert mm[s.offset:s.offset + s.nbytes] == t.raw_data
        else:
            assert s is None and t_small.raw_data == t.raw_data
    assert [n.op_type for n in small.graph.node] == [n.op_type for n in model.graph.node]
    mm.close()


def test_path_bytes_and_proto_give_identical_outputs(tmp_path, map_small_files):
    model = weights_model()
    path = tmp_path / "m.onnx"
    onnx.save(model, path)
    import fastinfer._import as imp
    proto, _, mapped = imp.load_model(str(path))
    assert mapped is not None and not proto.graph.initializer[0].HasField("raw_data")
    mapped.close()
    x = R.standard_normal((3, 64)).astype(np.float32)
    want = run_ort(model, {"x": x})[0]
    from_path = fastinfer.Session(str(path)).run(x)
    data = model.SerializeToString()
    _, _, in_bytes = imp.load_model(data)  # bytes are walked too: the weights viewed in them
    assert in_bytes is not None
    from_bytes = fastinfer.Session(data).run(x)
    np.testing.assert_array_equal(fastinfer.Session(bytearray(data)).run(x), from_bytes)
    np.testing.assert_array_equal(fastinfer.Session(memoryview(data)).run(x), from_bytes)
    from_proto = fastinfer.Session(model).run(x)
    np.testing.assert_array_equal(from_path, from_bytes)
    np.testing.assert_array_equal(from_path, from_proto)
    np.testing.assert_allclose(from_path, want, rtol=1e-4, atol=1e-4)
    assert fastinfer.Session(str(path), optimize=False).run(x).shape == want.shape


def test_unusual_structure_falls_back_to_protobuf(tmp_path, map_small_files):
    model = weights_model()
    data = model.SerializeToString()
    # A second graph field: protobuf merges the two (here: one more output name), _wire declines.
    extra = onnx.GraphProto()
    extra.output.extend([helper.make_tensor_value_info("m", TensorProto.FLOAT, None)])
    doubled = data + b"\x3a" + _wire._enc_varint(len(extra.SerializeToString())) + extra.SerializeToString()
    path = tmp_path / "doubled.onnx"
    path.write_bytes(doubled)
    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    assert _wire.split_model(mm) is None
    mm.close()
    x = R.standard_normal((3, 64)).astype(np.float32)
    outs = fastinfer.Session(str(path)).run(None, {"x": x})
    assert len(outs) == 2
    np.testing.assert_allclose(outs[0], fastinfer.Session(model).run(x), rtol=0, atol=0)


def test_truncated_or_inconsistent_files_raise_invalid_model(tmp_path, map_small_files):
    model = weights_model()
    data = model.SerializeToString()
    for cut in (len(data) // 2, len(data) - 3, 7):
        path = tmp_path / f"cut{cut}.onnx"
        path.write_bytes(data[:cut])
        with pytest.raises(fastinfer.InvalidModel):
            fastinfer.Session(str(path))
    bad = onnx.ModelProto()
    bad.CopyFrom(model)
    bad.graph.initializer[0].dims[0] = 65  # raw_data holds 64 rows
    path = tmp_path / "dims.onnx"
    onnx.save(bad, path)
    with pytest.raises(fastinfer.InvalidModel, match="bytes"):
        fastinfer.Session(str(path))
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(fastinfer.InvalidModel):
        fastinfer.Session(str(empty))


_PEAK_CHILD = r"""
import gc, json, sys
import numpy as np
import fastinfer

def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

spec = json.loads(sys.argv[1])
fastinfer.Session(spec["tiny"])  # the library's one-time set-up is not the session's cost
gc.collect()
open("/proc/self/clear_refs", "w").write("5")
before = kb("VmRSS")
sess = fastinfer.Session(spec["model"], threads=1, optimize=spec["optimize"])
peak, retained = kb("VmHWM") - before, kb("VmRSS") - before
y = sess.run(np.ones(spec["x"], np.float32))
print(json.dumps({"peak_mb": peak / 1024, "retained_mb": retained / 1024, "sum": float(np.sum(y))}))
"""


def creation_memory(tmp_path, model: onnx.ModelProto, x_shape: list[int], optimize: bool = True) -> dict:
    """Peak and retained RSS growth (MB) over one session's creation from a file, in a fresh process."""
    path, tiny = tmp_path / "big.onnx", tmp_path / "tiny.onnx"
    onnx.save(model, path)
    onnx.save(weights_model(), tiny)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(fastinfer.__file__)),
                                         env.get("PYTHONPATH", "")])
    spec = {"model": str(path), "tiny": str(tiny), "x": x_shape, "optimize": optimize}
    p = subprocess.run([sys.executable, "-c", _PEAK_CHILD, json.dumps(spec)], capture_output=True, text=True,
                       env=env, timeout=120, check=True)
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert np.isfinite(res["sum"])
    return res


def one_op_model(op: str, w: np.ndarray, x_shape: list[int], **attrs) -> onnx.ModelProto:
    """Y = op(X, W) with W a large initializer."""
    g = helper.make_graph([helper.make_node(op, ["x", "W"], ["y"], **attrs)], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, x_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "W")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def big_model(k: int, n: int) -> onnx.ModelProto:
    """Y = X W1 W2 + C: two packed weights and one constant read as it is (3 x k*n floats)."""
    inits = [numpy_helper.from_array(R.standard_normal((k, n)).astype(np.float32) / 32, "W1"),
             numpy_helper.from_array(R.standard_normal((n, k)).astype(np.float32) / 32, "W2"),
             numpy_helper.from_array(R.standard_normal((n, k)).astype(np.float32), "C")]
    nodes = [helper.make_node("MatMul", ["x", "W1"], ["h"]), helper.make_node("MatMul", ["h", "W2"], ["m"]),
             helper.make_node("ReduceMean", ["C"], ["c"], axes=[0], keepdims=0),
             helper.make_node("Add", ["m", "c"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


needs_clear_refs = pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                                      reason="needs Linux's VmHWM reset")


@needs_clear_refs
def test_session_creation_peak_holds_the_weights_about_once(tmp_path):
    k, n = 512, 8192  # 16 MiB per weight, 48 MiB in all
    res = creation_memory(tmp_path, big_model(k, n), [2, k], optimize=False)
    weights_mb = 3 * k * n * 4 / 2**20
    # Before the mapped import the peak was the file's bytes plus the parsed proto plus the core's
    # copies (3x); one copy, packed or not, plus a layer in flight is what is needed.
    assert res["peak_mb"] < 1.5 * weights_mb, res
    assert res["retained_mb"] < 1.2 * weights_mb, res


@needs_clear_refs
@pytest.mark.parametrize("op", ["MatMul", "Gemm", "Conv"])
def test_packed_weight_is_not_kept_twice(tmp_path, op):
    """MatMul, Gemm (B transposed) and NCHW Conv pack a constant W at creation and say they never
    read it again (reads_constant_input), so the graph drops its copy: one copy stays, not two."""
    if op == "Conv":  # a 1x1 conv, kept NCHW (no graph passes)
        w = R.standard_normal((2048, 2048, 1, 1)).astype(np.float32)
        model, x = one_op_model("Conv", w, [1, 2048, 3, 5]), [1, 2048, 3, 5]
    elif op == "Gemm":
        w = R.standard_normal((2048, 2048)).astype(np.float32)
        model, x = one_op_model("Gemm", w, [3, 2048], transB=1), [3, 2048]
    else:
        w = R.standard_normal((2048, 2048)).astype(np.float32)
        model, x = one_op_model("MatMul", w, [3, 2048]), [3, 2048]
    res = creation_memory(tmp_path, model, x, optimize=False)
    weights_mb = w.nbytes / 2**20
    assert res["retained_mb"] < 1.4 * weights_mb, res


def generated_weight_model(k: int, n: int) -> onnx.ModelProto:
    """Y = X Reshape(ConstantOfShape([k*n]))^T (Gemm, transB): a weight the model computes, as the
    light models the onnx package ships make theirs."""
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["flat"],
                              value=numpy_helper.from_array(np.array([0.0078125], np.float32))),
             helper.make_node("Reshape", ["flat", "wshape"], ["W"]),
             helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)]
    inits = [numpy_helper.from_array(np.array([k * n], np.int64), "shape"),
             numpy_helper.from_array(np.array([n, k], np.int64), "wshape")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@needs_clear_refs
def test_folded_weight_is_packed_and_freed(tmp_path):
    """A ConstantOfShape weight reshaped for a Gemm is folded at creation (through the Reshape) and
    packed; the folded tensor is then freed, not kept in the output buffer cache: one copy stays."""
    k, n = 1024, 4096  # 16 MiB
    model = generated_weight_model(k, n)
    sess = fastinfer.Session(model)
    assert [d["op_type"] for d in sess._describe_nodes()] == ["Gemm"]
    np.testing.assert_allclose(sess.run(None, {"x": np.ones((2, k), np.float32)})[0], np.full((2, n), 0.0078125 * k, np.float32),
                               rtol=1e-5)
    res = creation_memory(tmp_path, model, [2, k])
    weights_mb = k * n * 4 / 2**20
    assert res["retained_mb"] < 1.3 * weights_mb, res


@needs_clear_refs
def test_folded_gemm_weight_is_not_held_twice_at_creation(tmp_path):
    """A ConstantOfShape weight [n, k] of a transposed Gemm (n a multiple of the GEMM's nr) is
    packed in its own memory: session creation never holds it twice."""
    k, n = 1024, 4096  # 16 MiB
    nodes = [helper.make_node("ConstantOfShape", ["shape"], ["W"],
                              value=numpy_helper.from_array(np.array([0.0078125], np.float32))),
             helper.make_node("Gemm", ["x", "W"], ["y"], transB=1)]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(np.array([n, k], np.int64), "shape")])
    res = creation_memory(tmp_path, helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8),
                          [2, k])
    weights_mb = k * n * 4 / 2**20
    assert res["peak_mb"] < 1.3 * weights_mb, res
    assert res["retained_mb"] < 1.3 * weights_mb, res


def folded_fc_model(k: int, n: int, w: np.ndarray) -> onnx.ModelProto:
    """Y = Relu(X Wf^T) with Wf = W + W folded at creation (a heap constant only the Gemm reads)."""
    nodes = [helper.make_node("Add", ["W", "W"], ["Wf"]),
             helper.make_node("Gemm", ["x", "Wf"], ["g"], transB=1),
             helper.make_node("Relu", ["g"], ["y"])]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          [numpy_helper.from_array(w, "W")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


@pytest.mark.parametrize("n", [64, 96, 1000])  # 1000: not a multiple of the GEMM's nr, packed as usual
def test_folded_gemm_weight_packed_in_place_is_right(n):
    """A folded transposed Gemm weight only the Gemm reads is packed in its own memory; the result
    is ORT's, on every run, and sessions on the same model (the initializer itself) stay right."""
    k = 77
    w = R.standard_normal((n, k)).astype(np.float32)
    model = folded_fc_model(k, n, w)
    x = R.standard_normal((3, k)).astype(np.float32)
    want = run_ort(model, {"x": x})[0]
    for _ in range(2):
        sess = fastinfer.Session(model)
        for _ in range(2):
            np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-5)


def test_gemm_weight_read_twice_is_not_packed_in_place(tmp_path, map_small_files):
    """A weight two Gemms read is never overwritten by the first one's packing (a mutated in-place
    packing leaves this right). The model comes from a file whose bytes are mapped: initializers
    are copied into the core's own buffers, so even a direct one read once may be packed in place."""
    k, n = 64, 96
    w = R.standard_normal((n, k)).astype(np.float32)
    x = R.standard_normal((3, k)).astype(np.float32)
    for two_readers in (True, False):
        nodes = [helper.make_node("Gemm", ["x", "W"], ["g1"], transB=1)]
        if two_readers:
            nodes += [helper.make_node("Gemm", ["x", "W"], ["g2"], transB=1, alpha=0.5),
                      helper.make_node("Add", ["g1", "g2"], ["y"])]
        else:
            nodes += [helper.make_node("Relu", ["g1"], ["y"])]
        g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "W")])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
        path = tmp_path / f"m{int(two_readers)}.onnx"
        onnx.save(model, path)
        want = run_ort(model, {"x": x})[0]
        for _ in range(2):
            np.testing.assert_allclose(fastinfer.Session(str(path)).run(None, {"x": x})[0], want, rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(numpy_helper.to_array(onnx.load(path).graph.initializer[0]), w)


_RUN_CHILD = r"""
import gc, json, sys
import numpy as np
import fastinfer
from onnx import TensorProto, helper

def kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

# A chain of elementwise ops on 8 MiB tensors: the trace run gives each its own buffer.
n = 12
nodes = [helper.make_node("Relu" if i % 2 else "Neg", [f"t{i}"], [f"t{i + 1}"]) for i in range(n)]
nodes += [helper.make_node("ReduceSum", [f"t{n}"], ["y"], keepdims=0)]
g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("t0", TensorProto.FLOAT, [1024, 2048])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
x = np.ones((1024, 2048), np.float32)
sess = fastinfer.Session(model, threads=1, optimize=False)
gc.collect()
before = kb("VmRSS")
for _ in range(3):
    sess.run(x)
print(json.dumps({"grown_mb": (kb("VmRSS") - before) / 1024, "arena_mb": sess._sess.planned_arena_bytes() / 2**20}))
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_trace_buffers_are_not_kept_beside_the_arena():
    """After the first run (the trace) the freed per-value buffers go back to the OS, so the
    process holds the planned arena, not the arena plus the trace's buffers."""
    p = subprocess.run([sys.executable, "-c", _RUN_CHILD], capture_output=True, text=True, timeout=120, check=True,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                           [os.path.dirname(os.path.dirname(fastinfer.__file__)), os.environ.get("PYTHONPATH", "")])))
    res = json.loads(p.stdout.strip().splitlines()[-1])
    assert res["arena_mb"] > 0
    assert res["grown_mb"] < res["arena_mb"] + 10, res


def test_typed_field_tensors_read_as_numpy_helper_reads_them():
    """Tensors whose values are in float_data / double_data / int64_data / int32_data (not raw):
    the importer's direct path gives numpy_helper's arrays, and a count that does not match the
    dims is an InvalidModel."""
    from fastinfer._import import tensor_to_numpy
    cases = [(TensorProto.FLOAT, [2, 3], [0.5, -1, 2, 3.25, 0, 7]), (TensorProto.DOUBLE, [3], [1e300, -2, 0.1]),
             (TensorProto.INT64, [1, 2], [2**62, -5]), (TensorProto.INT32, [], [-7]), (TensorProto.FLOAT, [0, 4], [])]
    for dt, dims, vals in cases:
        t = helper.make_tensor("t", dt, dims, vals)
        assert not t.HasField("raw_data")
        got, want = tensor_to_numpy(t, ""), numpy_helper.to_array(t)
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got, want)
    bad = helper.make_tensor("t", TensorProto.FLOAT, [2, 2], [1.0, 2.0, 3.0, 4.0])
    del bad.float_data[-1]
    with pytest.raises(fastinfer.InvalidModel, match="3 values"):
        tensor_to_numpy(bad, "")


def test_corrupted_files_and_bytes_fail_cleanly(tmp_path, map_small_files):
    """Random byte flips, cuts and insertions in a model: the wire walk either hands a consistent
    model on or declines, and every failure is a fastinfer error, never another exception."""
    import random
    data = weights_model().SerializeToString()
    rnd = random.Random(3)
    x = np.ones((3, 64), np.float32)
    path = tmp_path / "fuzz.onnx"
    for i in range(120):
        d = bytearray(data)
        for _ in range(rnd.randint(1, 3)):
            pos, op = rnd.randrange(len(d)), rnd.random()
            if op < 0.6:
                d[pos] = rnd.randrange(256)
            elif op < 0.8:
                del d[pos:pos + rnd.randint(1, 40)]
            else:
                d[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 6)))
        path.write_bytes(d)
        for model in (str(path), bytes(d)):
            try:
                fastinfer.Session(model).run(x)
            except fastinfer.Error:
                pass
