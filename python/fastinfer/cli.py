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

    i = sub.add_parser("inspect", help="operators, parameters, inputs and outputs of a model")
    i.add_argument("model", help="an .onnx file")
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


def cmd_inspect(path: str) -> int:
    """``fastinfer inspect``: op counts by type, parameter count, inputs and outputs."""
    import numpy as np
    import onnx

    from .bench import graph_inputs
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:  # noqa: BLE001 - reported to the user
        print(f"fastinfer inspect: cannot read {path}: {e}", file=sys.stderr)
        return 2
    g = model.graph
    params = sum(int(np.prod(t.dims)) for t in g.initializer)
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in model.opset_import)
    print(f"{path}: IR {model.ir_version}, opsets {opsets}, producer {model.producer_name or '?'}")
    print(f"nodes: {len(g.node)}; initializers: {len(g.initializer)}; parameters: {params:,}")
    for name, elem, dims in graph_inputs(model):
        shape = "x".join("?" if d is None else str(d) for d in dims)
        print(f"input  {name}: {onnx.TensorProto.DataType.Name(elem) if elem else '?'} [{shape}]")
    for o in g.output:
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                for d in o.type.tensor_type.shape.dim]
        elem = o.type.tensor_type.elem_type
        print(f"output {o.name}: {onnx.TensorProto.DataType.Name(elem) if elem else '?'} "
              f"[{'x'.join(map(str, dims))}]")
    counts = Counter((n.domain or "", n.op_type) for n in g.node)
    try:
        from . import supported_ops
        have = set(supported_ops())
    except ImportError:
        have = None
    print("operators:")
    for (domain, op), n in counts.most_common():
        mark = "" if have is None or (domain, op) in have else "   (no fastinfer kernel)"
        print(f"  {(domain + '.' if domain else '') + op:<32} {n:>5}{mark}")
    _print_node_shapes(model)
    return 0


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


def _print_node_shapes(model) -> None:
    """Prints each node's inferred output types and shapes (when the model loads)."""
    from ._import import import_model
    try:
        graph, _ = import_model(model)
    except Exception as e:  # noqa: BLE001 - reported to the user
        print(f"output shapes: not available ({type(e).__name__}: {str(e).splitlines()[0][:200]})")
        return
    print("output shapes (inferred):")
    for name, op, outs in graph.node_output_types():
        text = ", ".join(f"{o['name']}: {_shape_text(o)}" for o in outs)
        print(f"  {name} ({op}): {text}")


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
        return cmd_inspect(args.model)
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
