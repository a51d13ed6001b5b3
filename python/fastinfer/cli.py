"""The ``fastinfer`` command: ``bench``, ``info``, ``inspect`` and ``--version``."""

from __future__ import annotations

import argparse
import importlib.metadata
import sys
from collections import Counter
from collections.abc import Sequence


def _positive(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 1:
        raise argparse.ArgumentTypeError(f"{v} must be at least 1")
    return v


def _non_negative(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"{v} must be at least 0")
    return v


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``fastinfer`` command."""
    from . import __version__
    p = argparse.ArgumentParser(prog="fastinfer", description="fastinfer: a fast ONNX inference runtime.")
    p.add_argument("--version", action="version", version=f"fastinfer {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    b = sub.add_parser("bench", help="benchmark a model against ONNX Runtime",
                       description="Runs fastinfer and ONNX Runtime interleaved on the same model and inputs "
                                   "for each (batch, threads) pair and prints one table.")
    b.add_argument("model", nargs="?", default=None,
                   help="an .onnx file or a built-in model's name (default: the built-in resnet_mini)")
    b.add_argument("--batch", type=_positive, nargs="+", default=[1], metavar="N",
                   help="batch sizes for the symbolic first dimension (default: 1)")
    b.add_argument("--threads", type=_positive, nargs="+", default=[1], metavar="T",
                   help="thread counts for both runtimes (default: 1)")
    b.add_argument("--runs", type=_positive, default=30, help="timed runs per configuration (default: 30)")
    b.add_argument("--warmup", type=_non_negative, default=5, help="untimed runs first (default: 5)")
    b.add_argument("--shape", action="append", metavar="NAME=D1xD2", help="an input's full shape, e.g. "
                   "input_ids=1x128 (repeatable; overrides --batch for that input)")
    b.add_argument("--dim", action="append", metavar="DIM=V", help="a symbolic dimension's value, "
                   "e.g. sequence=128 (repeatable)")
    b.add_argument("--compare", choices=["onnxruntime", "none"], default="onnxruntime",
                   help="the runtime to compare with (default: onnxruntime)")
    b.add_argument("--no-memory", action="store_true",
                   help="skip the peak-memory measurement (one subprocess per runtime and configuration)")
    b.add_argument("--name", metavar="LABEL", help="the model's name in the table (default: the file's)")
    b.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    b.add_argument("--markdown", action="store_true", help="print the table in Markdown")
    b.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default: 0)")
    b.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    b.add_argument("--profile", action="store_true",
                   help="then profile fastinfer per node on the first (batch, threads) pair and print the top nodes")

    sub.add_parser("info", help="CPU, ISA, versions and the supported operators")

    i = sub.add_parser("inspect", help="a model's operators and parameters, and its graph after the passes",
                       description="Prints the model's inputs, outputs and operator counts, then the graph "
                                   "as fastinfer runs it (after its graph passes): each node with its "
                                   "kernel, layout, output shapes and estimated FLOPs, and the totals.")
    i.add_argument("model", help="an .onnx file")
    i.add_argument("--dim", action="append", metavar="DIM=V", help="give a symbolic dimension a size, "
                   "e.g. batch=1 (repeatable): shapes and FLOPs then count it")
    i.add_argument("--no-optimize", action="store_true", help="show the graph without the graph passes")
    i.add_argument("--json", action="store_true", help="print everything as one JSON object instead")
    return p


def cmd_info() -> int:
    """``fastinfer info``."""
    import platform

    import numpy as np
    import onnx

    from . import __version__, cpu_info, models, supported_ops
    info = cpu_info()
    feats = [k for k in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16")
             if info.get(k)]
    ops = supported_ops()
    domains = Counter(d or "ai.onnx" for d, _ in ops)
    try:  # the version only: the runtime itself is never imported outside the bench
        ort = importlib.metadata.version("onnxruntime")
    except importlib.metadata.PackageNotFoundError:
        ort = 'not installed (pip install "fastinfer[bench]")'
    print(f"fastinfer {__version__}")
    print(f"CPU: {info.get('brand', '').strip() or 'unknown'}")
    print(f"CPU features: {', '.join(feats) or 'none of AVX2/AVX-512'}")
    print(f"kernel ISA in use: {info.get('isa')} (FASTINFER_ISA=ref|avx2|avx512 caps it)")
    print(f"supported operators: {len(ops)} ("
          + ", ".join(f"{d}: {n}" for d, n in sorted(domains.items())) + ")")
    print(f"built-in models: {', '.join(models.list_models())}")
    print(f"Python {platform.python_version()}, numpy {np.__version__}, onnx {onnx.__version__}, "
          f"onnxruntime {ort}")
    return 0


def cmd_inspect(path: str, dims: Sequence[str] | None = None, optimize: bool = True,
                as_json: bool = False) -> int:
    """``fastinfer inspect``: the model's summary, then its graph after the passes."""
    import json

    import numpy as np
    import onnx

    from .bench import graph_inputs, parse_dim
    try:
        model = onnx.load(path, load_external_data=False)
        fixed = dict(parse_dim(d) for d in dims or [])
    except Exception as e:  # noqa: BLE001 - reported to the user
        print(f"fastinfer inspect: cannot read {path}: {e}", file=sys.stderr)
        return 2
    g = model.graph
    params = sum(int(np.prod(t.dims)) for t in g.initializer)
    opsets = [(o.domain or "ai.onnx", o.version) for o in model.opset_import]
    inputs = [(name, elem, dims_) for name, elem, dims_ in graph_inputs(model)]
    outputs = [(o.name, o.type.tensor_type.elem_type,
                [d.dim_value if d.HasField("dim_value") else (d.dim_param or None)
                 for d in o.type.tensor_type.shape.dim]) for o in g.output]
    counts = Counter((n.domain or "", n.op_type) for n in g.node)
    nodes, error = _nodes_after_passes(path, fixed, optimize)
    if as_json:
        report = {
            "model": path, "ir_version": model.ir_version, "producer": model.producer_name,
            "opsets": {d: v for d, v in opsets}, "nodes_in_model": len(g.node),
            "initializers": len(g.initializer), "parameters": params,
            "inputs": [{"name": n, "dtype": e, "dims": d} for n, e, d in inputs],
            "outputs": [{"name": n, "dtype": e, "dims": d} for n, e, d in outputs],
            "operators": [{"domain": d, "op_type": op, "count": c} for (d, op), c in counts.most_common()],
            "optimized": optimize, "error": error, "nodes": nodes,
            "total_flops": _total_flops(nodes) if nodes is not None else None,
        }
        print(json.dumps(report, indent=1))
        return 0
    print(f"{path}: IR {model.ir_version}, opsets {', '.join(f'{d} {v}' for d, v in opsets)}, "
          f"producer {model.producer_name or '?'}")
    print(f"nodes: {len(g.node)}; initializers: {len(g.initializer)}; parameters: {params:,}")
    for name, elem, dims_ in inputs:
        shape = "x".join("?" if d is None else str(d) for d in dims_)
        print(f"input  {name}: {onnx.TensorProto.DataType.Name(elem) if elem else '?'} [{shape}]")
    for name, elem, dims_ in outputs:
        print(f"output {name}: {onnx.TensorProto.DataType.Name(elem) if elem else '?'} "
              f"[{'x'.join('?' if d is None else str(d) for d in dims_)}]")
    try:
        from . import supported_ops
        have = set(supported_ops())
    except ImportError:
        have = None
    print("operators:")
    for (domain, op), n in counts.most_common():
        mark = "" if have is None or (domain, op) in have else "   (no fastinfer kernel)"
        print(f"  {(domain + '.' if domain else '') + op:<32} {n:>5}{mark}")
    if nodes is None:
        print(f"graph after passes: not available ({error})")
        return 0
    _print_nodes(nodes, optimize)
    return 0


def _nodes_after_passes(path: str, fixed: dict, optimize: bool) -> tuple[list[dict] | None, str | None]:
    """The session's node descriptions (``Session._describe_nodes``), or None and the reason."""
    import onnx

    from .session import Session
    try:
        model = onnx.load(path)
        for inp in model.graph.input:
            for d in inp.type.tensor_type.shape.dim:
                if d.HasField("dim_param") and d.dim_param in fixed:
                    d.dim_value = fixed[d.dim_param]
        return Session(model, threads=1, optimize=optimize)._describe_nodes(), None
    except Exception as e:  # noqa: BLE001 - reported to the user
        return None, f"{type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''}"


def _total_flops(nodes: list[dict]) -> dict:
    """Sum of the nodes' FLOPs estimates, and how many nodes had none."""
    known = [n["flops"] for n in nodes if n["flops"] >= 0]
    return {"flops": float(sum(known)), "nodes_unknown": len(nodes) - len(known)}


def _flops_text(f: float) -> str:
    if f < 0:
        return "?"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if f >= scale:
            return f"{f / scale:.2f}{unit}"
    return f"{f:.0f}"


def _print_nodes(nodes: list[dict], optimize: bool) -> None:
    """One line per node after the passes, then the totals."""
    print(f"graph {'after passes' if optimize else 'without passes'}: {len(nodes)} nodes")
    print(f"  {'#':>4}  {'node':<28} {'op':<22} {'kernel':<40} {'layout':<7} {'FLOPs':>9}  outputs")
    for k, n in enumerate(nodes):
        op = (n["domain"] + "." if n["domain"] else "") + n["op_type"]
        outs = ", ".join(_shape_text(o) for o in n["outputs"])
        print(f"  {k:>4}  {n['name'][:28]:<28} {op[:22]:<22} {n['kernel'][:40]:<40} "
              f"{(n['layout'] or 'NCHW'):<7} {_flops_text(n['flops']):>9}  {outs}")
    tot = _total_flops(nodes)
    unknown = f" ({tot['nodes_unknown']} nodes with unknown shapes not counted)" if tot["nodes_unknown"] else ""
    print(f"total: {len(nodes)} nodes, {_flops_text(tot['flops'])}FLOPs per run{unknown}")


def _shape_text(info: dict) -> str:
    """``FLOAT [Nx3x224x224]`` for an inferred type dict of the core (``?`` where unknown)."""
    import onnx
    try:
        elem = onnx.TensorProto.DataType.Name(info["dtype"]) if info["dtype"] else "?"
    except ValueError:
        elem = "?"
    if not info["has_shape"]:
        return f"{elem} [?]"
    dims = [str(d) if d >= 0 else (p or "?") for d, p in zip(info["dims"], info["dim_params"])]
    return f"{elem} [{'x'.join(dims)}]"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``fastinfer`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "bench":
        from .bench import run_cli
        return run_cli(args)
    if args.command == "info":
        return cmd_info()
    if args.command == "inspect":
        return cmd_inspect(args.model, args.dim, optimize=not args.no_optimize, as_json=args.json)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
