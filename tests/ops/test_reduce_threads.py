"""One session of each reduce-family op run from several Python threads at once: every run
must give the single-threaded answer (kernels are const and share nothing mutable)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import fastinfer
import numpy as np
import pytest
from op_helpers import make_model, rng

CASES = [
    ("ReduceSum", {"keepdims": 0}, 13, {"axes": np.array([1], np.int64)}, 1),
    ("ReduceLogSumExp", {}, 18, {"axes": np.array([0, 2], np.int64)}, 1),
    ("Softmax", {"axis": 1}, 13, {}, 1),
    ("TopK", {}, 11, {"k": np.array([4], np.int64)}, 2),
    ("LayerNormalization", {"axis": -1}, 17, {"s": np.ones(33, np.float32)}, 1),
    ("ArgMax", {"axis": 2}, 13, {}, 1),
    ("CumSum", {}, 14, {"axis": np.array(1, np.int64)}, 1),
]


@pytest.mark.parametrize("op,attrs,opset,inits,n_out", CASES)
def test_concurrent_runs(op, attrs, opset, inits, n_out):
    xs = [rng(i).standard_normal((5, 17, 33)).astype(np.float32) for i in range(8)]
    model = make_model(op, {"x": xs[0]}, attrs, n_out, opset, inits).SerializeToString()
    sess = fastinfer.Session(model, threads=2)
    want = [fastinfer.Session(model, threads=1).run(None, {"x": x}) for x in xs]
    with ThreadPoolExecutor(4) as ex:
        got = list(ex.map(lambda x: sess.run(None, {"x": x}), xs * 3))
    for i, outs in enumerate(got):
        for a, b in zip(outs, want[i % len(xs)]):
            np.testing.assert_array_equal(a, b)
