"""The Python API: fastinfer.Session, the ONNX Runtime-shaped InferenceSession, metadata, thread
pools, external data, exotic element types and the per-shape plan cache."""

from __future__ import annotations

import os

import fastinfer
import ml_dtypes
import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

F = TensorProto.FLOAT


def vi(name, shape, elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def identity_model(elem=F, shape=("N", 3), opset=21):
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "ident", [vi("x", shape, elem)],
                          [vi("y", shape, elem)])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def two_out_model():
    """c = a + b, d = c + c, e = Identity(a); a and b are [batch, 3]."""
    nodes = [helper.make_node("Add", ["a", "b"], ["c"]), helper.make_node("Add", ["c", "c"], ["d"]),
             helper.make_node("Identity", ["a"], ["e"])]
    g = helper.make_graph(nodes, "two", [vi("a", ["batch", 3]), vi("b", ["batch", 3])],
                          [vi("c", ["batch", 3]), vi("d", ["batch", 3]), vi("e", None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="fi-tests",
                          doc_string="a model for tests", domain="org.example", model_version=7)
    m.graph.doc_string = "the graph"
    helper.set_model_props(m, {"author": "me", "license": "MIT"})
    return m


A = np.arange(6, dtype=np.float32).reshape(2, 3)
B = np.array([[10, 20, 30], [40, 50, 60]], np.float32)


# ---- construction ----

@pytest.mark.parametrize("source", ["path", "pathlike", "bytes", "bytearray", "proto"])
def test_session_sources(tmp_path, source):
    m = identity_model()
    p = tmp_path / "m.onnx"
    onnx.save(m, str(p))
    arg = {"path": str(p), "pathlike": p, "bytes": m.SerializeToString(),
           "bytearray": bytearray(m.SerializeToString()), "proto": m}[source]
    np.testing.assert_array_equal(fastinfer.Session(arg).run(A), A)


def test_proto_is_not_modified():
    m = two_out_model()
    before = m.SerializeToString()
    fastinfer.Session(m).run(None, {"a": A, "b": B})
    assert m.SerializeToString() == before


# ---- run() forms ----

def test_run_single_in_single_out():
    s = fastinfer.Session(identity_model())
    y = s.run(A)
    assert isinstance(y, np.ndarray)
    np.testing.assert_array_equal(y, A)
    # A Python float list is float64, which the model does not take.
    with pytest.raises(fastinfer.InvalidArgument, match="double"):
        s.run([[1.0, 2.0, 3.0]])


def test_run_single_input_several_outputs_returns_list():
    m = two_out_model()
    m.graph.initializer.append(numpy_helper.from_array(B, "b"))
    s = fastinfer.Session(m)  # b now has a default: one required input
    assert [i.name for i in s.get_inputs()] == ["a"]
    outs = s.run(A)
    assert isinstance(outs, list) and len(outs) == 3
    np.testing.assert_array_equal(outs[0], A + B)
    # Feeding an input that has an initializer overrides it.
    np.testing.assert_array_equal(s.run(None, {"a": A, "b": B * 0})[0], A)


def test_run_none_feed():
    s = fastinfer.Session(two_out_model())
    c, d, e = s.run(None, {"a": A, "b": B})
    np.testing.assert_array_equal(c, A + B)
    np.testing.assert_array_equal(d, 2 * (A + B))
    np.testing.assert_array_equal(e, A)


def test_run_with_feed_dict_only():
    s = fastinfer.Session(two_out_model())
    outs = s.run({"a": A, "b": B})
    assert len(outs) == 3


def test_output_name_selection():
    s = fastinfer.Session(two_out_model())
    d, c = s.run(["d", "c"], {"a": A, "b": B})
    np.testing.assert_array_equal(c, A + B)
    np.testing.assert_array_equal(d, 2 * (A + B))
    (e,) = s.run(("e",), {"a": A, "b": B})
    np.testing.assert_array_equal(e, A)


def test_outputs_are_fresh_arrays():
    s = fastinfer.Session(identity_model())
    x = A.copy()
    y1 = s.run(x)
    y1[...] = -1  # writing to an output touches neither the input nor later outputs
    np.testing.assert_array_equal(x, A)
    y2 = s.run(x)
    np.testing.assert_array_equal(y2, A)
    assert not np.shares_memory(y1, y2)


def test_non_contiguous_and_unaligned_inputs():
    s = fastinfer.Session(two_out_model())
    big = np.arange(24, dtype=np.float32).reshape(4, 6)
    a = big[::2, ::2]  # strided view
    c = s.run(["c"], {"a": a, "b": B})[0]
    np.testing.assert_array_equal(c, a + B)
    raw = np.zeros(6 * 4 + 1, np.uint8)
    un = raw[1:].view(np.float32).reshape(2, 3)  # misaligned by one byte
    un[...] = A
    np.testing.assert_array_equal(s.run(["c"], {"a": un, "b": B})[0], A + B)


def test_empty_batch():
    s = fastinfer.Session(two_out_model())
    c, d, e = s.run(None, {"a": np.zeros((0, 3), np.float32), "b": B[:0]})
    assert c.shape == d.shape == e.shape == (0, 3)


# ---- ORT-compatible API ----

def test_inference_session_like_onnxruntime():
    opts = fastinfer.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.add_session_config_entry("session.x", "1")
    assert opts.get_session_config_entry("session.x") == "1"
    s = fastinfer.InferenceSession(two_out_model().SerializeToString(), opts,
                                   providers=["CPUExecutionProvider"])
    assert s.threads == 2
    assert s.get_providers() == ["CPUExecutionProvider"]
    outs = s.run(None, {"a": A, "b": B})
    assert isinstance(outs, list) and len(outs) == 3
    np.testing.assert_array_equal(s.run(["d"], {"a": A, "b": B})[0], 2 * (A + B))
    assert fastinfer.get_available_providers() == ["CPUExecutionProvider"]


def test_inference_session_matches_onnxruntime_metadata():
    ort = pytest.importorskip("onnxruntime")
    m = two_out_model().SerializeToString()
    ours = fastinfer.InferenceSession(m)
    ref = ort.InferenceSession(m, providers=["CPUExecutionProvider"])
    # Output "e" declares no shape: ONNX Runtime reports the one its shape inference finds.
    for a, b in zip(ours.get_inputs() + ours.get_outputs()[:2], ref.get_inputs() + ref.get_outputs()[:2]):
        assert (a.name, a.type) == (b.name, b.type)
        assert a.shape == (b.shape if b.shape is not None else [])
    mo, mr = ours.get_modelmeta(), ref.get_modelmeta()
    for f in ["producer_name", "graph_name", "domain", "description", "graph_description", "version",
              "custom_metadata_map"]:
        assert getattr(mo, f) == getattr(mr, f), f


def test_get_inputs_outputs():
    s = fastinfer.Session(two_out_model())
    ins = s.get_inputs()
    assert [(i.name, i.type, i.shape) for i in ins] == [("a", "tensor(float)", ["batch", 3]),
                                                        ("b", "tensor(float)", ["batch", 3])]
    outs = s.get_outputs()
    assert [o.name for o in outs] == ["c", "d", "e"]
    assert outs[0].shape == ["batch", 3]
    assert isinstance(outs[0].shape[0], str) and isinstance(outs[0].shape[1], int)
    assert "NodeArg" in repr(ins[0])


def test_unnamed_dynamic_dims_are_none():
    x = vi("x", [None, 3])
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [vi("y", None)])
    s = fastinfer.Session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    assert s.get_inputs()[0].shape == [None, 3]


def test_get_modelmeta():
    meta = fastinfer.Session(two_out_model()).get_modelmeta()
    assert meta.producer_name == "fi-tests"
    assert meta.graph_name == "two"
    assert meta.domain == "org.example"
    assert meta.description == "a model for tests"
    assert meta.graph_description == "the graph"
    assert meta.version == 7
    assert meta.custom_metadata_map == {"author": "me", "license": "MIT"}


# ---- threads ----

def test_threads_argument():
    assert fastinfer.Session(identity_model(), threads=1).threads == 1
    assert fastinfer.Session(identity_model(), threads=3).threads == 3
    assert fastinfer.Session(identity_model()).threads >= 1


def test_shared_thread_pool():
    pool = fastinfer.ThreadPool(3)
    assert pool.num_threads == 3
    s1 = fastinfer.Session(two_out_model(), pool=pool)
    s2 = fastinfer.Session(identity_model(), pool=pool)
    assert s1.threads == s2.threads == 3
    big = np.random.default_rng(0).standard_normal((4096, 3)).astype(np.float32)
    for _ in range(3):
        np.testing.assert_array_equal(s1.run(["c"], {"a": big, "b": big})[0], big + big)
        np.testing.assert_array_equal(s2.run(big), big)
    del s1  # the pool outlives the sessions using it
    np.testing.assert_array_equal(s2.run(big), big)


# ---- external data ----

def _external_model(tmp_path, name="model.onnx"):
    rng = np.random.default_rng(1)
    w = rng.standard_normal((64, 32)).astype(np.float32)
    v = rng.standard_normal((64, 32)).astype(np.float32)
    nodes = [helper.make_node("Add", ["x", "w"], ["t"]), helper.make_node("Add", ["t", "v"], ["y"])]
    g = helper.make_graph(nodes, "ext", [vi("x", [64, 32])], [vi("y", [64, 32])],
                          [numpy_helper.from_array(w, "w"), numpy_helper.from_array(v, "v")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / name
    onnx.save(m, str(path), save_as_external_data=True, all_tensors_to_one_file=True,
              location=name + ".data", size_threshold=0)
    return path, (w, v)


def test_external_data_model(tmp_path):
    path, (w, v) = _external_model(tmp_path)
    assert os.path.exists(str(path) + ".data")
    assert os.path.getsize(path) < 64 * 32 * 4  # the weights really are outside
    x = np.ones((64, 32), np.float32)
    np.testing.assert_array_equal(fastinfer.Session(str(path)).run(x), (x + w) + v)


def test_external_data_model_from_other_cwd(tmp_path, monkeypatch):
    path, (w, v) = _external_model(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    x = np.zeros((64, 32), np.float32)
    np.testing.assert_array_equal(fastinfer.Session(os.path.relpath(path)).run(x), w + v)


def test_external_data_in_subdirectory(tmp_path):
    rng = np.random.default_rng(2)
    w = rng.standard_normal((3,)).astype(np.float32)
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "sub", [vi("x", [3])], [vi("y", [3])],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "weights").mkdir()
    onnx.save(m, str(tmp_path / "m.onnx"), save_as_external_data=True, location="weights/w.bin", size_threshold=0)
    assert (tmp_path / "weights" / "w.bin").exists()
    np.testing.assert_array_equal(fastinfer.Session(str(tmp_path / "m.onnx")).run(np.zeros(3, np.float32)), w)


# ---- element types through Identity ----

EXOTIC = [
    (TensorProto.BFLOAT16, ml_dtypes.bfloat16),
    (TensorProto.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn),
    (TensorProto.FLOAT8E4M3FNUZ, ml_dtypes.float8_e4m3fnuz),
    (TensorProto.FLOAT8E5M2, ml_dtypes.float8_e5m2),
    (TensorProto.FLOAT8E5M2FNUZ, ml_dtypes.float8_e5m2fnuz),
    (TensorProto.INT4, ml_dtypes.int4),
    (TensorProto.UINT4, ml_dtypes.uint4),
    (TensorProto.FLOAT16, np.float16),
    (TensorProto.DOUBLE, np.float64),
    (TensorProto.BOOL, np.bool_),
    (TensorProto.INT8, np.int8),
    (TensorProto.UINT64, np.uint64),
    (TensorProto.COMPLEX64, np.complex64),
]


@pytest.mark.parametrize("code,dtype", EXOTIC, ids=[TensorProto.DataType.Name(c) for c, _ in EXOTIC])
def test_identity_round_trip(code, dtype):
    s = fastinfer.Session(identity_model(code))
    x = np.array([[0, 1, -1], [2, 0.5, 3], [-2, 4, 1]], np.float32)
    if np.dtype(dtype).kind == "u" or dtype == ml_dtypes.uint4:
        x = np.abs(x)
    x = x.astype(dtype)
    y = s.run(x)
    assert y.dtype == np.dtype(dtype)
    assert y.shape == x.shape
    np.testing.assert_array_equal(y.view(np.uint8) if y.dtype.itemsize == 1 else y, x.view(np.uint8) if
                                  x.dtype.itemsize == 1 else x)


def test_strings_round_trip():
    s = fastinfer.Session(identity_model(TensorProto.STRING))
    x = np.array([["a", "", "héllo"], ["x" * 1000, "\u4e2d\u6587", "z"]], dtype=object)
    y = s.run(x)
    assert y.shape == (2, 3)
    assert [str(v) for v in y.ravel()] == list(x.ravel())
    # numpy unicode arrays are accepted as strings too
    y = s.run(np.array([["a", "b", "c"]]))
    assert [str(v) for v in y.ravel()] == ["a", "b", "c"]


def test_float8_initializer_round_trip():
    vals = np.array([0.5, -1.0, 448.0, 0.0], np.float32).astype(ml_dtypes.float8_e4m3fn)
    t = numpy_helper.from_array(vals.astype(np.float32), "c")
    t = helper.make_tensor("c", TensorProto.FLOAT8E4M3FN, [4], vals.astype(np.float32).tolist())
    g = helper.make_graph([helper.make_node("Identity", ["c"], ["y"])], "g", [],
                          [vi("y", [4], TensorProto.FLOAT8E4M3FN)], [t])
    y = fastinfer.Session(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])).run(None, {})[0]
    assert y.dtype == ml_dtypes.float8_e4m3fn
    np.testing.assert_array_equal(y.astype(np.float32), vals.astype(np.float32))


# ---- plan cache across shapes ----

def test_plan_cache_with_changing_shapes():
    m = two_out_model()
    rng = np.random.default_rng(3)
    shapes = [(2, 3), (17, 3), (2, 3), (1, 3), (17, 3), (0, 3), (2, 3)]
    feeds = [{"a": rng.standard_normal(s).astype(np.float32), "b": rng.standard_normal(s).astype(np.float32)}
             for s in shapes]
    shared = fastinfer.Session(m)
    got = [shared.run(None, f) for f in feeds]
    for f, outs in zip(feeds, got):
        ref = fastinfer.Session(m).run(None, f)  # a fresh session sees only this shape
        for a, b in zip(outs, ref):
            assert a.shape == b.shape
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(outs[0], f["a"] + f["b"])
