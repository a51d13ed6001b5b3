"""Checks static shape inference against real runs on the ONNX backend node suite.

For every case, every node output becomes a graph output; the model is run on the case's
inputs and each value's runtime dtype and shape must agree with what inference said (known
dims equal, rank equal). Prints each disagreement.

    PYTHONPATH=python python tools/check_shape_inference.py [-k substring]
"""

from __future__ import annotations

import argparse
import os
import sys
import warnings

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))


CHECKED = [0]


def _check_case(case) -> list[str]:
    import fastinfer
    import onnx
    from conformance_cases import _as_array
    from fastinfer._import import import_model

    model = onnx.ModelProto()
    model.CopyFrom(case.model)
    g = model.graph
    have = {o.name for o in g.output}
    for n in g.node:
        for o in n.output:
            if o and o not in have:
                g.output.add().name = o
                have.add(o)
    try:
        graph, _ = import_model(model)
        sess = fastinfer.Session(model, threads=1)
    except Exception:  # noqa: BLE001 - unsupported models are not this tool's business
        return []
    inferred = {}
    for _, op, outs in graph.node_output_types():
        for o in outs:
            inferred[o["name"]] = (op, o)
    init_names = {t.name for t in g.initializer}
    input_names = [i.name for i in g.input if i.name not in init_names]
    problems = []
    for inputs, _ in case.data_sets[:1]:
        feed = {}
        for name, x in zip(input_names, inputs):
            arr = _as_array(x)
            if arr is None:
                return []
            feed[name] = arr
        try:
            got = sess.run(None, feed)
        except Exception:  # noqa: BLE001
            return []
        for out, arr in zip(g.output, got):
            if out.name not in inferred or not hasattr(arr, "shape"):
                continue
            op, info = inferred[out.name]
            CHECKED[0] += 1
            code = fastinfer._dtypes.code_of(arr) if arr.dtype.kind not in "OUS" else 8
            if info["dtype"] and info["dtype"] != code:
                problems.append(f"{case.name}: {out.name} ({op}): dtype {info['dtype']} vs runtime {code}")
            if not info["has_shape"]:
                continue
            dims = info["dims"]
            if len(dims) != arr.ndim or any(d >= 0 and d != s for d, s in zip(dims, arr.shape)):
                shown = [d if d >= 0 else p for d, p in zip(dims, info["dim_params"])]
                problems.append(f"{case.name}: {out.name} ({op}): inferred {shown} vs runtime {list(arr.shape)}")
    return problems


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-k", default="", help="substring of the case name")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    import onnx.backend.test.case.node as node_cases

    n_bad = 0
    for case in node_cases.collect_testcases(None):
        if args.k and args.k not in case.name:
            continue
        for p in _check_case(case):
            n_bad += 1
            print(p)
    print(f"values checked: {CHECKED[0]}; disagreements: {n_bad}")
    return 1 if n_bad else 0


if __name__ == "__main__":
    sys.exit(main())
