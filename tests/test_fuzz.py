"""Fuzzing the loader and the kernels' input checks: random byte flips of a valid serialized model
(fixed seed). Each mutant must load and run, or raise a fastinfer.Error; never crash, hang or
raise anything else. The mutants run in a child process, so a crash fails the test (naming the
mutant, which is saved for reproduction) instead of killing pytest."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from child_env import child_env
from onnx import TensorProto, helper, numpy_helper

N_MUTANTS = 400
SEED = 1234


def base_model() -> bytes:
    """A small model touching initializers, attributes, shapes, indices and a subgraph."""
    f = TensorProto.FLOAT
    inits = [numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w"),
             numpy_helper.from_array(np.array([3, 2], np.int64), "shape"),
             numpy_helper.from_array(np.array([0, 2, 1], np.int64), "idx"),
             numpy_helper.from_array(np.array([0.5], np.float32), "half")]
    then_g = helper.make_graph([helper.make_node("Identity", ["a"], ["t_out"])], "then", [],
                               [helper.make_tensor_value_info("t_out", f, [2, 3])])
    else_g = helper.make_graph([helper.make_node("Add", ["a", "w"], ["e_out"])], "else", [],
                               [helper.make_tensor_value_info("e_out", f, [2, 3])])
    nodes = [
        helper.make_node("Add", ["x", "w"], ["a"], name="add"),
        helper.make_node("If", ["c"], ["b"], name="if", then_branch=then_g, else_branch=else_g),
        helper.make_node("Transpose", ["b"], ["bt"], name="tr", perm=[1, 0]),
        helper.make_node("Reshape", ["bt", "shape"], ["r"], name="reshape"),
        helper.make_node("Gather", ["r", "idx"], ["g"], name="gather", axis=0),
        helper.make_node("Mul", ["g", "half"], ["m"], name="mul"),
        helper.make_node("Concat", ["m", "g"], ["y"], name="concat", axis=1),
        helper.make_node("Identity", ["a"], ["z"], name="id"),
    ]
    g = helper.make_graph(nodes, "fuzz", [helper.make_tensor_value_info("x", f, ["N", 3]),
                                          helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", f, [3, 4]),
                           helper.make_tensor_value_info("z", f, [2, 3])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], producer_name="fuzz")
    return m.SerializeToString()


def simple_model() -> bytes:
    """Identity and Add only, with an initializer and a symbolic dimension."""
    f = TensorProto.FLOAT
    w = numpy_helper.from_array(np.arange(6, dtype=np.float32).reshape(2, 3), "w")
    nodes = [helper.make_node("Add", ["x", "w"], ["a"], name="add"),
             helper.make_node("Identity", ["a"], ["y"], name="id")]
    g = helper.make_graph(nodes, "fuzz_simple", [helper.make_tensor_value_info("x", f, ["N", 3])],
                          [helper.make_tensor_value_info("y", f, ["N", 3])], [w])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


BASES = {"simple": simple_model, "rich": base_model}


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    buf = bytearray(data)
    kind = rng.integers(0, 10)
    if kind == 0:  # truncate
        return bytes(buf[: int(rng.integers(1, len(buf)))])
    if kind == 1:  # one byte set to an extreme value (lengths, varints, enum codes)
        buf[int(rng.integers(0, len(buf)))] = int(rng.choice([0x00, 0x7F, 0x80, 0xFF]))
        return bytes(buf)
    for _ in range(int(rng.integers(1, 5))):  # flip bits
        buf[int(rng.integers(0, len(buf)))] ^= 1 << int(rng.integers(0, 8))
    return bytes(buf)


_CHILD = r"""
import json, sys
import numpy as np
import pytest
import fastinfer
from fastinfer import _dtypes

CODES = {_dtypes.type_string(c): c for c in range(1, 24)}

def feed_for(arg):
    code = CODES.get(arg.type)
    if code is None:
        return None
    shape = [d if isinstance(d, int) else 1 for d in arg.shape]
    if any(d < 0 for d in shape) or int(np.prod(shape)) > 100000:
        return None
    if code == _dtypes.STRING:
        return np.full(shape, "s", dtype=object)
    return np.ones(shape, dtype=_dtypes.numpy_dtype(code))

for path in sys.argv[1:]:
    print(json.dumps({"start": path}), flush=True)
    res = {"path": path, "exc": None}
    try:
        sess = fastinfer.Session(path, threads=1)
        feed = {a.name: feed_for(a) for a in sess.get_inputs()}
        if all(v is not None for v in feed.values()):
            sess.run(None, feed)
    except fastinfer.Error as e:
        res = {"path": path, "exc": type(e).__name__}
    except BaseException as e:
        res = {"path": path, "exc": "other:" + type(e).__name__, "msg": str(e)[:500]}
    print(json.dumps(res), flush=True)
"""


def run_isolated(paths: list[str], timeout: float = 300) -> dict[str, dict]:
    """path -> result of loading and running it in a child Python; a crash or hang on one path is
    recorded for it and the child restarts after it."""
    results: dict[str, dict] = {}
    todo = list(paths)
    env = child_env()
    while todo:
        started, lines, rc, err = None, [], 0, ""
        try:
            proc = subprocess.run([sys.executable, "-c", _CHILD, *todo], check=False, capture_output=True,
                                  text=True, timeout=timeout, env=env)
            lines, rc, err = proc.stdout.splitlines(), proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as e:
            out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            lines, rc, err = out.splitlines(), "timeout", ""
        for line in lines:
            rec = json.loads(line)
            if "start" in rec:
                started = rec["start"]
            else:
                results[rec["path"]] = rec
                started = None
        if rc == 0:
            break
        if started is None:
            for p in todo:
                results.setdefault(p, {"exc": f"crash:{rc}", "msg": err[-2000:]})
            break
        results[started] = {"exc": f"crash:{rc}", "msg": err[-2000:]}
        todo = todo[todo.index(started) + 1:]
    return results


@pytest.mark.parametrize("base", list(BASES))
def test_base_model_is_valid(base):
    import onnx

    onnx.checker.check_model(onnx.load_from_string(BASES[base]()), full_check=True)


@pytest.mark.parametrize("base", list(BASES))
def test_mutated_models_never_crash(tmp_path, base):
    data = BASES[base]()
    rng = np.random.default_rng(SEED)
    paths = []
    for i in range(N_MUTANTS):
        p = tmp_path / f"mutant_{i:04d}.onnx"
        p.write_bytes(mutate(data, rng))
        paths.append(str(p))
    results = run_isolated(paths)
    errors = {"Error", "InvalidModel", "InvalidArgument", "ModelNotFound", "NotImplemented", "RuntimeError"}
    bad = {os.path.basename(p): r for p, r in results.items() if r["exc"] is not None and r["exc"] not in errors}
    missing = [os.path.basename(p) for p in paths if p not in results]
    assert not bad and not missing, (f"mutants in {tmp_path} that crashed, hung or raised a non-fastinfer "
                                     f"error: {bad}; never finished: {missing[:10]}")
    # The fuzzing is not vacuous: some mutants fail to load and some still work.
    kinds = [r["exc"] for r in results.values()]
    assert kinds.count(None) > 0 and len(kinds) - kinds.count(None) > 0
