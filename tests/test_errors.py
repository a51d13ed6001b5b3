"""Every bad input raises the right fastinfer.Error subclass, with a message that names the node,
operator or value and the reason. Cases that reach the C++ core with malformed graphs or data run
in a subprocess too, so that a crash fails the test instead of killing pytest."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from child_env import child_env
from onnx import TensorProto, helper, numpy_helper
from onnx.external_data_helper import set_external_data

F = TensorProto.FLOAT


def vi(name, shape=(2, 3), elem=F):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inputs, outputs, inits=(), opset=17, extra_opsets=(), **kw):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits))
    imports = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, v) for d, v in extra_opsets]
    return helper.make_model(g, opset_imports=imports, **kw)


def identity_model(shape=(2, 3), elem=F):
    return model([helper.make_node("Identity", ["x"], ["y"], name="id0")], [vi("x", shape, elem)],
                 [vi("y", shape, elem)])


def add_model():
    return model([helper.make_node("Add", ["a", "b"], ["c"], name="add0")], [vi("a"), vi("b")], [vi("c")])


X = np.zeros((2, 3), np.float32)


# ---- files and bytes ----

def test_missing_file(tmp_path):
    with pytest.raises(fastinfer.ModelNotFound, match="not found"):
        fastinfer.Session(str(tmp_path / "nope.onnx"))
    # ModelNotFound is also a FileNotFoundError, as callers of open() expect.
    with pytest.raises(FileNotFoundError):
        fastinfer.Session(tmp_path / "nope.onnx")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(fastinfer.InvalidModel, match="directory"):
        fastinfer.Session(str(tmp_path))


@pytest.mark.parametrize("cut", [0.3, 0.5, 0.9])
def test_truncated_bytes(tmp_path, cut):
    data = add_model().SerializeToString()
    part = data[: int(len(data) * cut)]
    with pytest.raises(fastinfer.InvalidModel):
        fastinfer.Session(part)
    p = tmp_path / "t.onnx"
    p.write_bytes(part)
    with pytest.raises(fastinfer.InvalidModel, match="t.onnx"):
        fastinfer.Session(str(p))


@pytest.mark.parametrize("data", [b"\xff" * 64, b"not a model at all", b"\x0a\xff\xff\xff\xff\x0f"])
def test_corrupt_bytes(data):
    with pytest.raises(fastinfer.InvalidModel):
        fastinfer.Session(data)


def test_empty_file_has_no_graph(tmp_path):
    p = tmp_path / "empty.onnx"
    p.write_bytes(b"")
    with pytest.raises(fastinfer.InvalidModel, match="no graph"):
        fastinfer.Session(str(p))


def test_not_a_model_type():
    with pytest.raises(TypeError):
        fastinfer.Session(12345)


# ---- operators ----

def test_unsupported_ops_are_all_listed_with_nodes():
    nodes = [helper.make_node("NoSuchOpA", ["x"], ["t1"], name="first_bad"),
             helper.make_node("NoSuchOpB", ["t1"], ["t2"], name="second_bad"),
             helper.make_node("NoSuchOpA", ["t2"], ["t3"], name="third_bad"),
             helper.make_node("Thing", ["t3"], ["y"], name="custom_bad", domain="com.example")]
    m = model(nodes, [vi("x")], [vi("y")], extra_opsets=[("com.example", 1)])
    with pytest.raises(fastinfer.NotImplemented) as ei:
        fastinfer.Session(m)
    msg = str(ei.value)
    for part in ["NoSuchOpA", "NoSuchOpB", "com.example.Thing", "first_bad", "second_bad", "third_bad",
                 "custom_bad"]:
        assert part in msg, (part, msg)


def test_domain_not_imported():
    m = model([helper.make_node("Thing", ["x"], ["y"], name="n", domain="com.other")], [vi("x")], [vi("y")])
    with pytest.raises(fastinfer.NotImplemented, match="com.other"):
        fastinfer.Session(m)


def test_non_tensor_graph_input():
    seq = helper.make_tensor_sequence_value_info("s", F, None)
    m = model([helper.make_node("Identity", ["s"], ["y"])], [seq], [vi("y")])
    with pytest.raises(fastinfer.NotImplemented, match="sequence"):
        fastinfer.Session(m)


# ---- feeds ----

def test_unknown_input_name():
    s = fastinfer.Session(identity_model())
    with pytest.raises(fastinfer.InvalidArgument, match="unknown input name 'nope'"):
        s.run(None, {"x": X, "nope": X})


def test_missing_input():
    s = fastinfer.Session(add_model())
    with pytest.raises(fastinfer.InvalidArgument, match="'b' was not given"):
        s.run(None, {"a": X})


def test_run_single_array_on_multi_input_model():
    with pytest.raises(fastinfer.InvalidArgument, match="exactly one input"):
        fastinfer.Session(add_model()).run(X)


def test_wrong_dtype():
    s = fastinfer.Session(identity_model())
    with pytest.raises(fastinfer.InvalidArgument, match=r"'x'.*float.*int64|'x'.*int64.*float"):
        s.run(None, {"x": X.astype(np.int64)})


def test_strings_for_numbers_and_numbers_for_strings():
    with pytest.raises(fastinfer.InvalidArgument, match="'x'"):
        fastinfer.Session(identity_model()).run(None, {"x": np.array([["a", "b", "c"]] * 2)})
    s = fastinfer.Session(identity_model(elem=TensorProto.STRING))
    with pytest.raises(fastinfer.InvalidArgument, match="expects strings"):
        s.run(None, {"x": X})


def test_unsupported_numpy_dtype():
    s = fastinfer.Session(identity_model())
    with pytest.raises(fastinfer.InvalidArgument):
        s.run(None, {"x": np.zeros((2, 3), dtype="datetime64[s]")})


def test_wrong_rank():
    s = fastinfer.Session(identity_model())
    with pytest.raises(fastinfer.InvalidArgument, match=r"'x' has rank 3"):
        s.run(None, {"x": np.zeros((2, 3, 1), np.float32)})


def test_wrong_fixed_dimension():
    s = fastinfer.Session(identity_model())
    with pytest.raises(fastinfer.InvalidArgument, match=r"'x'.*dimension 1 should be 3"):
        s.run(None, {"x": np.zeros((2, 4), np.float32)})


def test_symbolic_dimension_accepts_any_size():
    s = fastinfer.Session(identity_model(shape=("N", 3)))
    for n in (0, 1, 5):
        assert s.run(np.zeros((n, 3), np.float32)).shape == (n, 3)


def test_unknown_output_name():
    s = fastinfer.Session(identity_model())
    with pytest.raises(fastinfer.InvalidArgument, match="unknown output name 'z'"):
        s.run(["z"], {"x": X})


def test_feed_not_a_dict():
    s = fastinfer.Session(add_model())
    with pytest.raises(fastinfer.InvalidArgument):
        s.run(None, [X, X])


def test_bad_thread_counts():
    with pytest.raises(fastinfer.InvalidArgument):
        fastinfer.Session(identity_model(), threads=0)
    with pytest.raises(fastinfer.InvalidArgument):
        fastinfer.ThreadPool(0)


def test_unsupported_provider():
    with pytest.raises(fastinfer.InvalidArgument, match="CPU"):
        fastinfer.InferenceSession(identity_model().SerializeToString(), providers=["CUDAExecutionProvider"])


# ---- malformed graphs (loaded and run in a child process) ----

def _dangling():
    return model([helper.make_node("Add", ["x", "ghost"], ["y"], name="adder")], [vi("x")], [vi("y")])


def _duplicate_outputs():
    nodes = [helper.make_node("Identity", ["x"], ["t"], name="n1"), helper.make_node("Identity", ["x"], ["t"], name="n2"),
             helper.make_node("Identity", ["t"], ["y"], name="n3")]
    return model(nodes, [vi("x")], [vi("y")])


def _output_shadows_input():
    return model([helper.make_node("Identity", ["x"], ["x"], name="self_id")], [vi("x")], [vi("x")])


def _cycle():
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="cyc_a"), helper.make_node("Identity", ["a"], ["b"], name="cyc_b"),
             helper.make_node("Identity", ["a"], ["y"], name="out")]
    return model(nodes, [vi("x")], [vi("y")])


def _self_loop():
    return model([helper.make_node("Add", ["x", "t"], ["t"], name="selfie"), helper.make_node("Identity", ["t"], ["y"])],
                 [vi("x")], [vi("y")])


def _output_not_produced():
    return model([helper.make_node("Identity", ["x"], ["y"])], [vi("x")], [vi("y"), vi("zzz")])


def _input_twice():
    return model([helper.make_node("Identity", ["x"], ["y"])], [vi("x"), vi("x")], [vi("y")])


def _no_graph():
    m = onnx.ModelProto()
    m.ir_version = 8
    m.opset_import.append(helper.make_opsetid("", 17))
    return m


def _ref_attr_outside_function():
    n = helper.make_node("Identity", ["x"], ["y"], name="refnode")
    n.attribute.append(helper.make_attribute_ref("alpha", onnx.AttributeProto.FLOAT, ref_attr_name="beta"))
    return model([n], [vi("x")], [vi("y")])


def _undefined_attribute_type():
    n = helper.make_node("Identity", ["x"], ["y"], name="undef_attr")
    a = n.attribute.add()
    a.name = "nothing"
    return model([n], [vi("x")], [vi("y")])


def _bad_tensor_attribute():
    t = TensorProto(name="v", data_type=F, dims=[4, 4], float_data=[1.0, 2.0])  # 16 declared, 2 given
    n = helper.make_node("Constant", [], ["y"], name="const_bad", value=t)
    return model([n], [], [vi("y", (4, 4))])


def _initializer_size_mismatch():
    t = numpy_helper.from_array(np.zeros(6, np.float32), "w")
    t.dims[:] = [1000, 1000]
    return model([helper.make_node("Add", ["x", "w"], ["y"], name="add_w")], [vi("x")], [vi("y")], inits=[t])


def _initializer_huge_dims():
    t = TensorProto(name="w", data_type=F, dims=[1 << 40, 1 << 40])
    return model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x")], [vi("y")], inits=[t])


def _initializer_negative_dims():
    t = TensorProto(name="w", data_type=F, dims=[-3, 2])
    t.raw_data = b""
    return model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x")], [vi("y")], inits=[t])


def _initializer_bad_type():
    t = TensorProto(name="w", data_type=77, dims=[2])
    t.raw_data = b"\0" * 8
    return model([helper.make_node("Add", ["x", "w"], ["y"])], [vi("x")], [vi("y")], inits=[t])


def _sparse_out_of_range():
    values = numpy_helper.from_array(np.ones(2, np.float32), "w")
    indices = numpy_helper.from_array(np.array([1, 500], np.int64))
    sp = helper.make_sparse_tensor(values, indices, [2, 3])
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [vi("x")], [vi("y")],
                          sparse_initializer=[sp])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _input_negative_dims():
    x = vi("x")
    x.type.tensor_type.shape.dim[0].dim_value = -5
    return model([helper.make_node("Identity", ["x"], ["y"])], [x], [vi("y", None)])


def _subgraph_dangling():
    then_g = helper.make_graph([helper.make_node("Identity", ["nowhere"], ["t"], name="inner")], "then", [],
                               [vi("t")])
    else_g = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [], [vi("e")])
    n = helper.make_node("If", ["c"], ["y"], name="branch", then_branch=then_g, else_branch=else_g)
    return model([n], [vi("c", [], TensorProto.BOOL), vi("x")], [vi("y")])


# (name, builder, exception class name, regex the message must match)
GRAPH_CASES = [
    ("dangling_input", _dangling, "InvalidModel", r"adder.*'ghost'"),
    ("duplicate_outputs", _duplicate_outputs, "InvalidModel", r"'t' is already defined"),
    ("output_shadows_input", _output_shadows_input, "InvalidModel", r"self_id.*'x'"),
    ("cycle", _cycle, "InvalidModel", r"cycle|cyc_"),
    ("self_loop", _self_loop, "InvalidModel", r"selfie"),
    ("output_not_produced", _output_not_produced, "InvalidModel", r"'zzz'"),
    ("input_declared_twice", _input_twice, "InvalidModel", r"'x'.*twice"),
    ("no_graph", _no_graph, "InvalidModel", r"no graph"),
    ("ref_attr_outside_function", _ref_attr_outside_function, "InvalidModel", r"refnode.*alpha"),
    ("undefined_attribute_type", _undefined_attribute_type, "Error", r"undef_attr.*nothing"),
    ("bad_tensor_attribute", _bad_tensor_attribute, "InvalidModel", r"'v'"),
    ("initializer_size_mismatch", _initializer_size_mismatch, "InvalidModel", r"'w'"),
    ("initializer_huge_dims", _initializer_huge_dims, "Error", r"'w'"),
    ("initializer_negative_dims", _initializer_negative_dims, "InvalidModel", r"'w'"),
    ("initializer_bad_type", _initializer_bad_type, "Error", r"'w'|77"),
    ("sparse_index_out_of_range", _sparse_out_of_range, "InvalidModel", r"'w'"),
    ("input_negative_dims", _input_negative_dims, "InvalidModel", r"'x'"),
    ("subgraph_dangling", _subgraph_dangling, "InvalidModel", r"nowhere"),
]


_CHILD = r"""
import json, sys
import numpy as np
import fastinfer
results = []
for path in sys.argv[1:]:
    print(json.dumps({"start": path}), flush=True)
    try:
        sess = fastinfer.Session(path)
        feed = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape] or [],
                                 np.bool_ if "bool" in i.type else np.float32) for i in sess.get_inputs()}
        sess.run(None, feed)
        out = {"path": path, "exc": None}
    except fastinfer.Error as e:
        out = {"path": path, "exc": type(e).__name__, "msg": str(e)}
    except BaseException as e:
        out = {"path": path, "exc": "other:" + type(e).__name__, "msg": str(e)}
    print(json.dumps(out), flush=True)
"""


def run_isolated(paths: list[str], timeout: float = 120) -> dict[str, dict]:
    """Loads and runs each model file in a child Python; returns path -> {"exc", "msg"} with
    exc "crash:<returncode>" for the file the child died on. Continues after a crash."""
    results: dict[str, dict] = {}
    todo = list(paths)
    env = child_env()
    while todo:
        proc = subprocess.run([sys.executable, "-c", _CHILD, *todo], check=False, capture_output=True, text=True,
                              timeout=timeout, env=env)
        started = None
        for line in proc.stdout.splitlines():
            rec = json.loads(line)
            if "start" in rec:
                started = rec["start"]
            else:
                results[rec["path"]] = rec
                started = None
        if proc.returncode == 0:
            break
        if started is None:  # died outside a case (import): every remaining case fails
            for p in todo:
                results.setdefault(p, {"exc": f"crash:{proc.returncode}", "msg": proc.stderr[-2000:]})
            break
        results[started] = {"exc": f"crash:{proc.returncode}", "msg": proc.stderr[-2000:]}
        todo = todo[todo.index(started) + 1:]
    return results


@pytest.fixture(scope="module")
def isolated_results(tmp_path_factory):
    d = tmp_path_factory.mktemp("malformed")
    paths = {}
    for name, build, _, _ in GRAPH_CASES:
        p = d / f"{name}.onnx"
        p.write_bytes(build().SerializeToString())
        paths[name] = str(p)
    res = run_isolated(list(paths.values()))
    return {name: res.get(p, {"exc": "missing"}) for name, p in paths.items()}


@pytest.mark.parametrize("name,cls_name,pattern", [(c[0], c[2], c[3]) for c in GRAPH_CASES],
                         ids=[c[0] for c in GRAPH_CASES])
def test_malformed_graph(isolated_results, name, cls_name, pattern):
    """Loaded and run in a child process (a crash there fails only this case)."""
    r = isolated_results[name]
    assert r["exc"] is not None and not r["exc"].startswith(("crash", "other", "missing")), r
    assert issubclass(getattr(fastinfer, r["exc"]), getattr(fastinfer, cls_name)), r
    assert re.search(pattern, r["msg"]), f"message {r['msg']!r} does not match {pattern!r}"


# ---- attributes of the wrong type (checked by the kernels' OpInit) ----

ATTR_CASES = [
    ("Transpose", {"perm": [1.0, 0.0]}),
    ("Concat", {"axis": 0.5}),
    ("Cast", {"to": "float"}),
    ("Softmax", {"axis": "last"}),
]


@pytest.mark.parametrize("op,attrs", ATTR_CASES, ids=[c[0] for c in ATTR_CASES])
def test_attribute_of_wrong_type(op, attrs):
    m = model([helper.make_node(op, ["x"], ["y"], name="attr_node", **attrs)], [vi("x")], [vi("y", None)])
    with pytest.raises(fastinfer.InvalidModel, match=r"attr_node.*" + next(iter(attrs))):
        fastinfer.Session(m)


# ---- external data ----

def _external_model(tmp_path, location: str, write: bool = True):
    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = numpy_helper.from_array(w, "w")
    m = model([helper.make_node("Add", ["x", "w"], ["y"], name="add_ext")], [vi("x")], [vi("y")], inits=[t])
    init = m.graph.initializer[0]
    set_external_data(init, location=location)
    if write:
        target = os.path.normpath(os.path.join(tmp_path, location))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(init.raw_data)
    init.ClearField("raw_data")
    init.data_location = TensorProto.EXTERNAL
    path = tmp_path / "model.onnx"
    path.write_bytes(m.SerializeToString())
    return str(path), w


def test_external_data_ok(tmp_path):
    path, w = _external_model(tmp_path, "weights.bin")
    np.testing.assert_array_equal(fastinfer.Session(path).run(X), X + w)


def test_external_data_missing(tmp_path):
    path, _ = _external_model(tmp_path, "weights.bin", write=False)
    with pytest.raises(fastinfer.InvalidModel, match=r"'w'.*weights.bin"):
        fastinfer.Session(path)


@pytest.mark.parametrize("location", ["../outside.bin", "sub/../../outside.bin", "/etc/passwd"])
def test_external_data_escaping_model_dir(tmp_path, location):
    model_dir = tmp_path / "m"
    model_dir.mkdir()
    if not location.startswith("/"):
        (tmp_path / "outside.bin").write_bytes(np.zeros(6, np.float32).tobytes())
    path, _ = _external_model(model_dir, location, write=False)
    with pytest.raises(fastinfer.InvalidModel, match=r"'w'.*invalid external data location"):
        fastinfer.Session(path)


def test_external_data_from_bytes_needs_a_path(tmp_path):
    path, _ = _external_model(tmp_path, "weights.bin")
    with open(path, "rb") as f:
        data = f.read()
    with pytest.raises(fastinfer.InvalidModel, match="load the model from its path"):
        fastinfer.Session(data)


def test_external_data_file_too_short(tmp_path):
    path, _ = _external_model(tmp_path, "weights.bin")
    with open(tmp_path / "weights.bin", "wb") as f:
        f.write(b"\0" * 5)
    with pytest.raises(fastinfer.InvalidModel, match="'w'"):
        fastinfer.Session(path)


def test_external_data_offset_past_end(tmp_path):
    path, _ = _external_model(tmp_path, "weights.bin")
    m = onnx.load(path, load_external_data=False)
    init = m.graph.initializer[0]
    del init.external_data[:]
    for k, v in {"location": "weights.bin", "offset": str(1 << 20), "length": "24"}.items():
        init.external_data.add(key=k, value=v)
    with open(path, "wb") as f:
        f.write(m.SerializeToString())
    with pytest.raises(fastinfer.InvalidModel, match="'w'"):
        fastinfer.Session(path)
