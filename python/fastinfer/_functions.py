"""Function expansion at import: a node whose operator fastinfer has no kernel for, but which
the model (local functions) or the ONNX standard defines as a function of other operators, is
replaced by that function's body. The kernels that then run are fastinfer's own.

Each such node (in the main graph and in If/Loop/Scan subgraphs) is expanded recursively: body
nodes that are functions themselves are expanded in turn. Bodies get fresh value and node names
(prefixed with the caller's node name); attribute references (``ref_attr_name``) take the caller's
attribute or the function's default. Context-dependent standard functions (Gelu, Attention, the
losses...) are built from the node and its input types, found by ONNX shape inference (on the
model for its own nodes, on the enclosing body for nodes inside a body). A standard operator
whose expansion still needs an operator without a kernel is left as it is, so that the error
names the operator the model uses."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import onnx
import onnx.defs
from onnx import AttributeProto, FunctionProto, GraphProto, NodeProto, TypeProto

from . import _core
from .errors import InvalidModel

# Nesting depth of function calls at which expansion gives up: a recursive function.
MAX_DEPTH = 32
# Initializers up to this many bytes keep their values in the model given to shape inference
# (shape tensors feed Reshape and friends); larger ones are passed as typed inputs only.
_INFERENCE_INIT_BYTES = 1 << 16

_supported: frozenset[tuple[str, str]] | None = None


def _supported_ops() -> frozenset[tuple[str, str]]:
    global _supported
    if _supported is None:
        _supported = frozenset((d, o) for d, o in _core.supported_ops())
    return _supported


class _Graph:
    """The main graph after expansion: the original initializers (not copied) and new nodes.
    It has the GraphProto fields that the importer reads."""

    def __init__(self, g: GraphProto, nodes: list[NodeProto]):
        self.name = g.name
        self.initializer = g.initializer
        self.sparse_initializer = g.sparse_initializer
        self.input = g.input
        self.output = g.output
        self.value_info = g.value_info
        self.node = nodes


def _subgraphs(node: NodeProto) -> Iterator[GraphProto]:
    for a in node.attribute:
        if a.type == AttributeProto.GRAPH:
            yield a.g
        elif a.type == AttributeProto.GRAPHS:
            yield from a.graphs


def _all_names(g: Any, out: set[str]) -> None:
    for t in g.initializer:
        out.add(t.name)
    for sp in g.sparse_initializer:
        out.add(sp.values.name)
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        out.add(vi.name)
    for n in g.node:
        out.update(n.input)
        out.update(n.output)
        out.add(n.name)
        for sg in _subgraphs(n):
            _all_names(sg, out)


def _version_candidates(versions: list[int], opset: int) -> list[int]:
    """Function body versions to try for a model at `opset`: the newest one not above it first,
    then older ones, then newer ones (accepted only when their operators mean the same)."""
    below = sorted((v for v in versions if v <= opset), reverse=True)
    above = sorted(v for v in versions if v > opset)
    return below + above


# Operators whose meaning changed at an opset without a change of inputs or attributes.
_SILENT_CHANGES = {"Softmax": 13, "LogSoftmax": 13, "Hardmax": 13}


def _node_compatible(n: NodeProto, body_opset: int, opset: int) -> bool:
    """Whether node n, written for body_opset, means the same when run at the model's opset: the
    same schema, or one whose inputs and attributes that n uses are still there, in place (ONNX adds
    inputs and attributes with defaults that keep the old behaviour; moving an attribute to an input,
    as ReduceMean-18 did, breaks it)."""
    try:
        a = onnx.defs.get_schema(n.op_type, body_opset, "")
        b = onnx.defs.get_schema(n.op_type, opset, "")
    except Exception:  # noqa: BLE001 - no schema at one of the opsets
        return False
    if a.since_version == b.since_version:
        return True
    change = _SILENT_CHANGES.get(n.op_type)
    if change is not None and (a.since_version < change) != (b.since_version < change):
        return False
    if any(x.name not in b.attributes for x in n.attribute):
        return False
    used = len(n.input)
    a_in, b_in = list(a.inputs), list(b.inputs)
    variadic = bool(b_in) and b_in[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic
    if used > len(b_in) and not variadic:
        return False
    for i in range(min(used, len(a_in), len(b_in))):
        if a_in[i].name != b_in[i].name:
            return False
    return len(n.output) <= len(b.outputs) or bool(b.outputs) and \
        b.outputs[-1].option == onnx.defs.OpSchema.FormalParameterOption.Variadic


def _nodes_compatible(nodes: Any, body_opset: int, opset: int) -> bool:
    for n in nodes:
        if n.domain in ("", "ai.onnx") and not _node_compatible(n, body_opset, opset):
            return False
        for sg in _subgraphs(n):
            if not _nodes_compatible(sg.node, body_opset, opset):
                return False
    return True


def _same_semantics(body: FunctionProto, opset: int) -> bool:
    """Whether the body, written for the opset in its opset_import, means the same at the model's
    opset (the core runs every node at the model's opset)."""
    body_opset = next((o.version for o in body.opset_import if o.domain in ("", "ai.onnx")), opset)
    return body_opset == opset or _nodes_compatible(body.node, body_opset, opset)


def _parse_function(data: bytes) -> FunctionProto | None:
    if not data:
        return None
    f = FunctionProto()
    f.ParseFromString(data)
    return f if len(f.node) or len(f.output) else None


class _Expander:
    def __init__(self, model: onnx.ModelProto, opsets: dict[str, int]):
        self.model = model
        self.opsets = opsets
        self.local: dict[tuple[str, str, str], FunctionProto] = {}
        for f in model.functions:
            self.local[(f.domain, f.name, getattr(f, "overload", ""))] = f
        self.supported = _supported_ops()
        self.names: set[str] | None = None
        self.counter = 0
        self.types: dict[str, TypeProto] | None = None

    # ---- which nodes expand ----
    def _local_function(self, n: NodeProto) -> FunctionProto | None:
        if not self.local:
            return None
        return self.local.get((n.domain, n.op_type, getattr(n, "overload", "")))

    def _standard(self, n: NodeProto) -> bool:
        if n.domain not in ("", "ai.onnx") or ("", n.op_type) in self.supported:
            return False
        opset = self.opsets.get("")
        if not opset:
            return False
        try:
            s = onnx.defs.get_schema(n.op_type, opset, "")
        except Exception:  # noqa: BLE001 - unknown operator: the core reports it
            return False
        return bool(s.has_function or s.has_context_dependent_function)

    def expandable(self, n: NodeProto) -> bool:
        return self._local_function(n) is not None or self._standard(n)

    def needed(self, g: Any) -> bool:
        for n in g.node:
            if self.expandable(n):
                return True
            if any(self.needed(sg) for sg in _subgraphs(n)):
                return True
        return False

    # ---- names ----
    def fresh(self, prefix: str, name: str) -> str:
        assert self.names is not None
        base = f"{prefix}/{name}" if prefix else name
        cand = base
        while cand in self.names:
            self.counter += 1
            cand = f"{base}_{self.counter}"
        self.names.add(cand)
        return cand

    # ---- the body of a node ----
    def body_of(self, n: NodeProto, types: Any) -> tuple[FunctionProto, dict[str, AttributeProto]] | None:
        """The function body to inline for node n and the default values of its attributes."""
        f = self._local_function(n)
        if f is not None:
            defaults = {a.name: a for a in f.attribute_proto}
            return f, defaults
        opset = self.opsets[""]
        s = onnx.defs.get_schema(n.op_type, opset, "")
        defaults = {}
        for name, attr in s.attributes.items():
            dv = attr.default_value
            if dv is not None and dv.type != AttributeProto.UNDEFINED:
                defaults[name] = dv
        body = None
        if s.has_function:
            for v in _version_candidates(list(s.function_opset_versions) or [s.since_version], opset):
                try:
                    cand = _parse_function(s.get_function_with_opset_version(v))
                except Exception:  # noqa: BLE001
                    cand = None
                if cand is not None and _same_semantics(cand, opset):
                    body = cand
                    break
        if body is None and s.has_context_dependent_function:
            type_map = types()
            empty = TypeProto()
            in_types = [type_map.get(x, empty).SerializeToString() if x else b"" for x in n.input]
            node_bytes = n.SerializeToString()
            for v in _version_candidates(list(s.context_dependent_function_opset_versions)
                                         or [s.since_version], opset):
                try:
                    cand = _parse_function(
                        s.get_context_dependent_function_with_opset_version(v, node_bytes, in_types))
                except Exception:  # noqa: BLE001 - the builder rejects the node or types
                    cand = None
                if cand is not None and _same_semantics(cand, opset):
                    body = cand
                    break
        if body is None:
            return None
        return body, defaults

    def model_types(self) -> dict[str, TypeProto]:
        """Types of the model's values (subgraphs included), inferred once, when first needed."""
        if self.types is None:
            self.types = self._infer_model_types()
        return self.types

    def _infer(self, graph: GraphProto) -> dict[str, TypeProto]:
        m = onnx.ModelProto()
        m.ir_version = max(self.model.ir_version, 4)
        m.graph.CopyFrom(graph)
        for d, v in self.opsets.items():
            m.opset_import.append(onnx.helper.make_opsetid(d, v))
        m.functions.extend(self.model.functions)
        types: dict[str, TypeProto] = {}
        try:
            inferred = onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False)
        except Exception:  # noqa: BLE001 - types stay unknown; builders may still cope
            inferred = m
        _collect_types(inferred.graph, types)
        return types

    def _infer_model_types(self) -> dict[str, TypeProto]:
        g = self.model.graph
        tmp = GraphProto()
        tmp.name = g.name or "main"
        tmp.input.extend(g.input)
        tmp.output.extend(g.output)
        tmp.value_info.extend(g.value_info)
        tmp.node.extend(g.node)
        declared = {vi.name for vi in g.input}
        for t in g.initializer:
            external = t.data_location == onnx.TensorProto.EXTERNAL
            if not external and t.ByteSize() <= _INFERENCE_INIT_BYTES:
                tmp.initializer.append(t)
            elif t.name not in declared:
                tmp.input.append(onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
        return self._infer(tmp)

    def _body_types(self, caller: NodeProto, outer: dict[str, TypeProto], nodes: list[NodeProto]) -> dict[str, TypeProto]:
        """Types of the values of an inlined body, from the types of the caller's inputs."""
        g = GraphProto()
        g.name = "body"
        for x in caller.input:
            if x and x in outer and x not in {vi.name for vi in g.input}:
                vi = g.input.add()
                vi.name = x
                vi.type.CopyFrom(outer[x])
        g.node.extend(nodes)
        for x in caller.output:
            if x:
                g.output.add().name = x
        types = dict(outer)
        types.update(self._infer(g))
        return types

    def leaves_supported(self, nodes: list[NodeProto]) -> bool:
        for n in nodes:
            d = "" if n.domain == "ai.onnx" else n.domain
            if (d, n.op_type) not in self.supported:
                return False
            for sg in _subgraphs(n):
                if not self.leaves_supported(list(sg.node)):
                    return False
        return True

    def expand_node(self, n: NodeProto, types: Any, depth: int) -> list[NodeProto] | None:
        """The fully expanded body of n, or None to keep n (no body, or a standard op whose body
        needs operators without kernels)."""
        if depth > MAX_DEPTH:
            raise InvalidModel(f"function expansion of node '{n.name or n.op_type}' ({n.op_type}) is nested "
                               f"more than {MAX_DEPTH} levels deep: a function calls itself")
        found = self.body_of(n, types)
        if found is None:
            return None
        body_nodes = self.inline(n, *found)
        inner = self.expand_nodes(body_nodes, lambda: self._body_types(n, types(), body_nodes), depth + 1)
        if self._local_function(n) is None and not self.leaves_supported(inner):
            return None
        return inner

    def inline(self, n: NodeProto, body: FunctionProto, defaults: dict[str, AttributeProto]) -> list[NodeProto]:
        prefix = n.name or f"{n.op_type}_{n.output[0] if n.output else ''}"
        for o in body.opset_import:
            d = "" if o.domain == "ai.onnx" else o.domain
            if d not in self.opsets:
                self.opsets[d] = int(o.version)
        rename: dict[str, str] = {"": ""}
        for i, formal in enumerate(body.input):
            rename[formal] = n.input[i] if i < len(n.input) else ""
        for i, formal in enumerate(body.output):
            actual = n.output[i] if i < len(n.output) else ""
            rename[formal] = actual if actual else self.fresh(prefix, formal)
        attrs = {a.name: a for a in n.attribute}

        def name_of(x: str) -> str:
            if x not in rename:
                rename[x] = self.fresh(prefix, x)
            return rename[x]

        out = []
        for i, bn in enumerate(body.node):
            nn = NodeProto()
            nn.CopyFrom(bn)
            nn.name = self.fresh(prefix, bn.name or f"{bn.op_type}_{i}")
            if nn.domain == "ai.onnx":
                nn.domain = ""
            _rewrite_node(nn, name_of, attrs, defaults)
            out.append(nn)
        return out

    def expand_nodes(self, nodes: Any, types: Any, depth: int) -> list[NodeProto]:
        """nodes with every expandable node replaced by its expansion; `types` is a callable giving
        the value types (computed only when a context-dependent function needs them)."""
        cache: list[dict[str, TypeProto]] = []

        def lazy_types() -> dict[str, TypeProto]:
            if not cache:
                cache.append(types())
            return cache[0]

        out: list[NodeProto] = []
        for n in nodes:
            if any(self.needed(sg) for sg in _subgraphs(n)):
                n = _copy(n)
                for a in n.attribute:
                    graphs = [a.g] if a.type == AttributeProto.GRAPH else list(a.graphs)
                    for sg in graphs:
                        new_nodes = self.expand_nodes(list(sg.node), lazy_types, depth)
                        del sg.node[:]
                        sg.node.extend(new_nodes)
            if self.expandable(n):
                expansion = self.expand_node(n, lazy_types, depth)
                if expansion is not None:
                    out.extend(expansion)
                    continue
            out.append(n)
        return out


def _copy(n: NodeProto) -> NodeProto:
    c = NodeProto()
    c.CopyFrom(n)
    return c


def _rewrite_node(n: NodeProto, name_of: Any, attrs: dict[str, AttributeProto],
                  defaults: dict[str, AttributeProto]) -> None:
    """Renames the values of a body node (and of its subgraphs) and resolves attribute references."""
    ins = [name_of(x) for x in n.input]
    outs = [name_of(x) for x in n.output]
    del n.input[:]
    n.input.extend(ins)
    del n.output[:]
    n.output.extend(outs)
    kept = []
    for a in n.attribute:
        if a.ref_attr_name:
            src = attrs.get(a.ref_attr_name)
            if src is None:
                src = defaults.get(a.ref_attr_name)
            if src is None:
                continue  # optional attribute the caller did not set: absent in the body too
            r = AttributeProto()
            r.CopyFrom(src)
            r.name = a.name
            kept.append(r)
            continue
        if a.type == AttributeProto.GRAPH:
            _rewrite_graph(a.g, name_of, attrs, defaults)
        elif a.type == AttributeProto.GRAPHS:
            for g in a.graphs:
                _rewrite_graph(g, name_of, attrs, defaults)
        kept.append(a)
    copies = []
    for a in kept:
        c = AttributeProto()
        c.CopyFrom(a)
        copies.append(c)
    del n.attribute[:]
    n.attribute.extend(copies)


def _rewrite_graph(g: GraphProto, name_of: Any, attrs: dict[str, AttributeProto],
                   defaults: dict[str, AttributeProto]) -> None:
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        vi.name = name_of(vi.name)
    for t in g.initializer:
        t.name = name_of(t.name)
    for sp in g.sparse_initializer:
        sp.values.name = name_of(sp.values.name)
    for n in g.node:
        _rewrite_node(n, name_of, attrs, defaults)


def _collect_types(g: GraphProto, out: dict[str, TypeProto]) -> None:
    for vi in list(g.input) + list(g.output) + list(g.value_info):
        if vi.type.WhichOneof("value") is not None:
            out[vi.name] = vi.type
    for t in g.initializer:
        out[t.name] = onnx.helper.make_tensor_type_proto(t.data_type, list(t.dims))
    for n in g.node:
        for sg in _subgraphs(n):
            _collect_types(sg, out)


def expand_functions(model: onnx.ModelProto, opsets: dict[str, int]) -> Any:
    """Returns the main graph with local and standard functions expanded where needed (the
    ModelProto's graph itself when nothing is to expand). Domains imported only by function bodies
    are added to `opsets`."""
    ex = _Expander(model, opsets)
    g = model.graph
    if not ex.needed(g):
        return g
    ex.names = set()
    _all_names(g, ex.names)
    for f in model.functions:
        ex.names.add(f.name)
    return _Graph(g, ex.expand_nodes(list(g.node), ex.model_types, 0))
