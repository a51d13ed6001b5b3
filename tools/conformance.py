#!/usr/bin/env python
"""ONNX backend node conformance: runs every case of
onnx.backend.test.case.node.collect_testcases(None) through fastinfer and prints the pass rate
and the failures grouped by operator.

    python tools/conformance.py                 # all cases, summary
    python tools/conformance.py --op Conv,Gemm  # only cases whose graph uses these ops
    python tools/conformance.py -v              # every failure with its reason
"""

from __future__ import annotations

import argparse
import collections
import os
import sys
import warnings

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(_ROOT, "tests"))
# A developer build (tools/dev_build.sh) lives in python/fastinfer; otherwise use the installed package.
if any(f.startswith("_core") for f in os.listdir(os.path.join(_ROOT, "python", "fastinfer"))):
    sys.path.insert(0, os.path.join(_ROOT, "python"))


def case_op(case) -> str:
    """The operator a case is about: the node type the case name starts with, else the last node."""
    types = [n.op_type for n in case.model.graph.node]
    short = case.name[len("test_"):].replace("_", "").lower()
    for t in sorted(set(types), key=len, reverse=True):
        if short.startswith(t.lower()):
            return t
    return types[-1] if types else "?"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--op", default="", help="comma-separated op types to restrict to")
    ap.add_argument("-k", default="", help="substring of the case name")
    ap.add_argument("-v", "--verbose", action="store_true")
    args = ap.parse_args(argv)

    warnings.filterwarnings("ignore")
    import onnx.backend.test.case.node as node_cases
    from conformance_cases import run_case

    ops = {o for o in args.op.split(",") if o}
    cases = node_cases.collect_testcases(None)
    results = collections.Counter()
    by_op: dict[str, list[tuple[str, str, str]]] = collections.defaultdict(list)
    total = 0
    for case in cases:
        op = case_op(case)
        if ops and not ops & {n.op_type for n in case.model.graph.node}:
            continue
        if args.k and args.k not in case.name:
            continue
        total += 1
        status, reason = run_case(case)
        results[status] += 1
        if status != "pass":
            by_op[op].append((case.name, status, reason))
    passed = results["pass"]
    print(f"cases: {total}  passed: {passed}  ({100.0 * passed / max(total, 1):.1f}%)  "
          f"unsupported: {results['unsupported']}  wrong: {results['wrong']}  error: {results['error']}")
    for op in sorted(by_op, key=lambda o: -len(by_op[o])):
        fails = by_op[op]
        kinds = collections.Counter(s for _, s, _ in fails)
        print(f"  {op:28s} {len(fails):4d}  " + " ".join(f"{k}={v}" for k, v in sorted(kinds.items())))
        if args.verbose:
            for name, status, reason in fails:
                print(f"      {name}: {status}: {reason[:300]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
