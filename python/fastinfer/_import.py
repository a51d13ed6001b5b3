"""ONNX import: reads a ModelProto (from a path, bytes or an object) and hands its graph to the
core once, as a fastinfer._core.Graph. Nothing here runs at inference time."""

from __future__ import annotations

import math
import mmap
import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from . import _core, _wire, errors
from ._dtypes import numpy_dtype, to_core
from ._functions import expand_functions
from .errors import InvalidModel, ModelNotFound

ModelLike = Any  # str | os.PathLike | bytes | onnx.ModelProto


class MappedWeights:
    """Initializer data that _wire cut out of a memory-mapped model file (or of the model's bytes
    given by the caller): ``array(i, t)`` views initializer i's bytes there, ``drop(i)`` lets a
    mapping's pages go once the core has copied them, so the file's pages and the core's copies
    are never all resident at once."""

    def __init__(self, mm: mmap.mmap | bytes | bytearray, slices: list[_wire.RawSlice | None]):
        self._mm = mm
        self._slices = slices

    def array(self, i: int, t: onnx.TensorProto) -> np.ndarray | None:
        """Initializer i (``t``, its proto without the data) viewed in the mapping, or None when
        its data stayed in the proto."""
        s = self._slices[i] if i < len(self._slices) else None
        if s is None:
            return None
        if any(d < 0 for d in t.dims):
            raise InvalidModel(f"tensor '{t.name}' has a negative dimension in {list(t.dims)}")
        count = int(np.prod(t.dims, dtype=np.int64))
        if s.nbytes != count * s.dtype.itemsize:
            raise InvalidModel(f"tensor '{t.name}' holds {s.nbytes} bytes, its dims {list(t.dims)} need "
                               f"{count * s.dtype.itemsize}")
        # May be unaligned: the core copies it with memcpy (no aligned copy here first).
        return np.frombuffer(self._mm, dtype=s.dtype, count=count, offset=s.offset).reshape(tuple(t.dims))

    def drop(self, i: int) -> None:
        """Removes initializer i's pages from this process (they stay in the page cache)."""
        s = self._slices[i] if i < len(self._slices) else None
        if s is None or not hasattr(self._mm, "madvise"):
            return
        page = mmap.PAGESIZE
        start = s.offset // page * page
        self._mm.madvise(mmap.MADV_DONTNEED, start, min(len(self._mm), s.offset + s.nbytes) - start)

    def close(self) -> None:
        """Unmaps the file (views still alive keep it mapped until they go)."""
        close = getattr(self._mm, "close", None)  # bytes have nothing to close
        try:
            if close is not None:
                close()
        except BufferError:
            pass


def load_model(model: ModelLike) -> tuple[onnx.ModelProto, str, MappedWeights | None]:
    """Returns (ModelProto without external data loaded, base directory for external data, the
    main graph's initializer data cut out of a mapped file or None). For a path, large raw_data is
    left in the file (see _wire) and the ModelProto holds the rest."""
    if isinstance(model, onnx.ModelProto):
        return model, "", None
    if isinstance(model, (bytes, bytearray, memoryview)):
        data = model if isinstance(model, (bytes, bytearray)) else bytes(model)
        try:
            split = _wire.split_model(data) if len(data) >= _MAP_FROM_BYTES else None
            if split is not None:  # the large weights are viewed in the caller's buffer, not parsed again
                return onnx.load_from_string(split[0]), "", MappedWeights(data, split[1])
            return onnx.load_from_string(bytes(data)), "", None
        except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends become InvalidModel
            raise InvalidModel(f"the bytes are not a valid ONNX model: {e}") from None
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        if not os.path.exists(path):
            raise ModelNotFound(f"model file not found: {path}")
        if os.path.isdir(path):
            raise InvalidModel(f"{path} is a directory, not an ONNX model file")
        base_dir = os.path.dirname(os.path.abspath(path))
        weights = None
        try:
            weights = _map_model(path)
            if weights is not None:
                stripped, mapped = weights
                return onnx.load_from_string(stripped), base_dir, mapped
            return onnx.load(path, load_external_data=False), base_dir, None
        except Exception as e:  # noqa: BLE001 - any parse failure of the file is an InvalidModel
            if weights is not None:
                weights[1].close()
            raise InvalidModel(f"{path} is not a valid ONNX model: {e}") from None
    raise TypeError(f"expected a path, bytes or onnx.ModelProto, got {type(model).__name__}")


# Files smaller than this are parsed by protobuf whole: holding them twice costs little, and
# walking a small model of many nodes and no large weights (the light models) would be wasted.
_MAP_FROM_BYTES = 1 << 20


def _map_model(path: str) -> tuple[bytes, MappedWeights] | None:
    """The model's bytes without its large initializer data and that data mapped, or None (a
    small, empty or unusual file: onnx.load reads it)."""
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0 or size < _MAP_FROM_BYTES:
            return None
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    split = _wire.split_model(mm)
    if split is None:
        mm.close()
        return None
    return split[0], MappedWeights(mm, split[1])


def _external_path(t: onnx.TensorProto, base_dir: str) -> str:
    info = {e.key: e.value for e in t.external_data}
    loc = info.get("location", "")
    if not base_dir:
        raise InvalidModel(
            f"initializer '{t.name}' keeps its data in external file '{loc}': load the model from its path"
        )
    if not loc or os.path.isabs(loc) or ".." in loc.replace("\\", "/").split("/"):
        raise InvalidModel(f"initializer '{t.name}' has an invalid external data location '{loc}'")
    path = os.path.join(base_dir, loc)
    if not os.path.isfile(path):
        raise InvalidModel(f"initializer '{t.name}': external data file '{loc}' not found next to the model")
    return path


# Element types whose external bytes are laid out as numpy lays them out (not 4-bit, not strings).
_MAPPABLE = {1, 2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20}


def _map_external(t: onnx.TensorProto, path: str) -> np.ndarray:
    """The external data of t, memory-mapped read-only (no copy; the core copies it once)."""
    info = {e.key: e.value for e in t.external_data}
    dtype = numpy_dtype(t.data_type)
    count = int(np.prod([int(d) for d in t.dims], dtype=object)) if len(t.dims) else 1
    nbytes = count * dtype.itemsize
    try:
        offset = int(info.get("offset") or 0)
        length = int(info["length"]) if info.get("length") else nbytes
    except ValueError:
        raise InvalidModel(f"tensor '{t.name}' has a malformed external data offset or length") from None
    size = os.path.getsize(path)
    if offset < 0 or length != nbytes or offset + nbytes > size:
        raise InvalidModel(f"tensor '{t.name}': external data needs {nbytes} bytes at offset {offset} of "
                           f"'{info.get('location')}' ({size} bytes, length field {length})")
    if nbytes == 0:
        return np.zeros(tuple(t.dims), dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=offset, shape=tuple(int(d) for d in t.dims))


# Element types whose raw_data is the numpy array's bytes as they are (little-endian hosts).
_RAW_DTYPES = {onnx.TensorProto.FLOAT: np.dtype("<f4"), onnx.TensorProto.DOUBLE: np.dtype("<f8"),
               onnx.TensorProto.INT64: np.dtype("<i8"), onnx.TensorProto.INT32: np.dtype("<i4"),
               onnx.TensorProto.INT8: np.dtype("i1"), onnx.TensorProto.UINT8: np.dtype("u1")}


# Element types whose values, when not in raw_data, are in a repeated field of the same type.
_TYPED_FIELDS = {onnx.TensorProto.FLOAT: ("float_data", np.float32), onnx.TensorProto.DOUBLE: ("double_data", np.float64),
                 onnx.TensorProto.INT64: ("int64_data", np.int64), onnx.TensorProto.INT32: ("int32_data", np.int32)}


def tensor_to_numpy(t: onnx.TensorProto, base_dir: str) -> np.ndarray:
    dims = tuple(t.dims)
    if any(d < 0 for d in dims):
        raise InvalidModel(f"tensor '{t.name}' has a negative dimension in {list(dims)}")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        path = _external_path(t, base_dir)  # validates the location before anything reads it
        if t.data_type in _MAPPABLE:
            return _map_external(t, path)
    fast = _RAW_DTYPES.get(t.data_type)
    if fast is not None and t.HasField("raw_data") and sys.byteorder == "little":
        raw = t.raw_data
        count = math.prod(dims)
        if len(raw) != count * fast.itemsize:
            raise InvalidModel(f"tensor '{t.name}' holds {len(raw)} bytes, its dims {list(dims)} need "
                               f"{count * fast.itemsize}")
        return np.frombuffer(raw, dtype=fast).reshape(dims)  # a view: the core copies it once
    typed = _TYPED_FIELDS.get(t.data_type)
    if typed is not None and t.data_location != onnx.TensorProto.EXTERNAL and not t.HasField("raw_data"):
        # numpy_helper.to_array's result for these types, without its per-call overhead (models
        # such as the light ones hold hundreds of small attribute tensors).
        field, dtype = typed
        values = getattr(t, field)
        count = math.prod(dims)
        if len(values) != count:
            raise InvalidModel(f"tensor '{t.name}' holds {len(values)} values, its dims {list(dims)} need {count}")
        return np.array(values, dtype=dtype).reshape(dims)
    try:
        arr = numpy_helper.to_array(t, base_dir=base_dir)
    except Exception as e:  # noqa: BLE001 - onnx raises various types for malformed tensors
        raise InvalidModel(f"tensor '{t.name}' cannot be read: {e}") from None
    if arr.shape != tuple(t.dims):
        raise InvalidModel(f"tensor '{t.name}' holds {arr.size} elements in shape {arr.shape}, "
                           f"its dims are {list(t.dims)}")
    return arr


def _type_info(tp: onnx.TypeProto, what: str) -> tuple[int, bool, list[int], list[str]]:
    kind = tp.WhichOneof("value")
    if kind is None:
        return 0, False, [], []
    if kind != "tensor_type":
        raise errors.NotImplemented(f"{what} has type {kind.replace('_type', '')}; only tensors are supported")
    tt = tp.tensor_type
    if not tt.HasField("shape"):
        return tt.elem_type, False, [], []
    dims, params = [], []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            if d.dim_value < 0:
                raise InvalidModel(f"{what} has a negative dimension {d.dim_value}")
            dims.append(int(d.dim_value))
            params.append("")
        else:
            dims.append(-1)
            params.append(d.dim_param)
    return tt.elem_type, True, dims, params


def _attribute(a: onnx.AttributeProto, base_dir: str, node: str) -> tuple[str, int, Any]:
    A = onnx.AttributeProto
    if a.ref_attr_name:
        raise InvalidModel(f"node '{node}': attribute '{a.name}' refers to '{a.ref_attr_name}' outside a function")
    t = a.type
    if t == A.FLOAT:
        return a.name, t, a.f
    if t == A.INT:
        return a.name, t, a.i
    if t == A.STRING:
        return a.name, t, a.s
    if t == A.TENSOR:
        return a.name, t, to_core(tensor_to_numpy(a.t, base_dir), a.t.data_type)
    if t == A.GRAPH:
        return a.name, t, build_graph(a.g, base_dir, None)
    if t == A.FLOATS:
        return a.name, t, list(a.floats)
    if t == A.INTS:
        return a.name, t, list(a.ints)
    if t == A.STRINGS:
        return a.name, t, list(a.strings)
    if t == A.TENSORS:
        return a.name, t, [to_core(tensor_to_numpy(x, base_dir), x.data_type) for x in a.tensors]
    if t == A.GRAPHS:
        return a.name, t, [build_graph(g, base_dir, None) for g in a.graphs]
    if t == A.SPARSE_TENSOR:
        raise errors.NotImplemented(f"node '{node}': sparse tensor attribute '{a.name}' is not supported")
    raise errors.NotImplemented(f"node '{node}': attribute '{a.name}' has unsupported type {t}")


def _sparse_to_dense(sp: onnx.SparseTensorProto, base_dir: str) -> tuple[str, np.ndarray, int]:
    name = sp.values.name
    values = tensor_to_numpy(sp.values, base_dir)
    idx = tensor_to_numpy(sp.indices, base_dir)
    dims = tuple(sp.dims)
    if any(d < 0 for d in dims) or idx.dtype.kind not in "iu":
        raise InvalidModel(f"sparse initializer '{name}' has invalid dims {list(dims)} or indices")
    idx = idx.astype(np.int64)
    size = int(np.prod(dims)) if dims else 1
    try:
        if idx.ndim == 2:
            idx = np.ravel_multi_index(idx.T, dims)
        idx = idx.reshape(-1)
        if idx.size != values.size or (idx.size and (idx.min() < 0 or idx.max() >= size)):
            raise ValueError("indices out of range or not one per value")
        dense = np.zeros(size, dtype=values.dtype)
        dense[idx] = values.reshape(-1)
    except (ValueError, IndexError, MemoryError) as e:
        raise InvalidModel(f"sparse initializer '{name}': {e}") from None
    return name, dense.reshape(dims), sp.values.data_type


def _text(v: Any, what: str) -> str:
    """A name from the model; protobuf hands back bytes for strings that are not valid UTF-8."""
    if isinstance(v, str):
        return v
    raise InvalidModel(f"{what} is not valid UTF-8: {bytes(v)[:80]!r}")


def _check_names(g: Any) -> None:
    for t in g.initializer:
        _text(t.name, "an initializer name")
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        _text(vi.name, "a value name")
        if vi.type.WhichOneof("value") == "tensor_type":
            for d in vi.type.tensor_type.shape.dim:
                _text(d.dim_param, f"a dimension name of '{vi.name}'")
    for i, n in enumerate(g.node):
        if (isinstance(n.name, str) and isinstance(n.op_type, str) and isinstance(n.domain, str)
                and all(isinstance(x, str) for x in n.input) and all(isinstance(x, str) for x in n.output)
                and all(isinstance(a.name, str) for a in n.attribute)):
            continue  # the common case, without making the messages below
        name = _text(n.name, f"the name of node #{i}")
        where = f"node '{name or i}'"
        _text(n.op_type, f"the operator of {where}")
        _text(n.domain, f"the domain of {where}")
        for x in list(n.input) + list(n.output):
            _text(x, f"an input or output name of {where}")
        for a in n.attribute:
            _text(a.name, f"an attribute name of {where}")


def build_graph(g: onnx.GraphProto, base_dir: str, opsets: dict[str, int] | None,
                constant_initializers: bool = False, weights: MappedWeights | None = None) -> Any:
    """The core graph of ``g``. ``constant_initializers``: inputs that name an initializer are
    constants, not overridable inputs (models of IR version < 4, where every initializer must be
    listed as an input; ONNX Runtime treats them so too). ``weights``: the data of ``g``'s
    initializers that load_model left in the mapped file."""
    _check_names(g)
    cg = _core.Graph()
    cg.set_name(g.name if isinstance(g.name, str) else "")
    if opsets is not None:
        for domain, version in opsets.items():
            cg.set_opset(domain, version)
    for i, init in enumerate(g.initializer):
        mapped = weights.array(i, init) if weights is not None else None
        if mapped is not None:  # one of the types whose bytes the core takes as they are
            cg.add_initializer(init.name, init.data_type, mapped)
            del mapped
            weights.drop(i)
            continue
        code, arr = to_core(tensor_to_numpy(init, base_dir), init.data_type)
        cg.add_initializer(init.name, code, arr)
    for sp in g.sparse_initializer:
        name, dense, code = _sparse_to_dense(sp, base_dir)
        cg.add_initializer(name, *to_core(dense, code))
    init_names = {t.name for t in g.initializer} if constant_initializers else set()
    for vi in g.input:
        if vi.name in init_names:
            continue
        cg.add_input(vi.name, *_type_info(vi.type, f"graph input '{vi.name}'"))
    for vi in g.value_info:
        kind = vi.type.WhichOneof("value")
        if kind == "tensor_type":
            cg.add_value_info(vi.name, *_type_info(vi.type, vi.name))
    for vi in g.output:
        cg.add_output(vi.name, *_type_info(vi.type, f"graph output '{vi.name}'"))
    for n in g.node:
        attrs = [_attribute(a, base_dir, n.name or n.op_type) for a in n.attribute]
        cg.add_node(n.name, n.op_type, n.domain, list(n.input), list(n.output), attrs)
    return cg


def model_opsets(model: onnx.ModelProto) -> dict[str, int]:
    opsets: dict[str, int] = {}
    for o in model.opset_import:
        _text(o.domain, "an imported domain")
        opsets["" if o.domain == "ai.onnx" else o.domain] = int(o.version)
    if "" not in opsets and model.ir_version < 3:
        opsets[""] = 1
    return opsets


def import_model(model: ModelLike, optimize: bool = True, config: dict[str, str] | None = None,
                 read_proto: Callable[[onnx.ModelProto], Any] | None = None) -> tuple[Any, Any]:
    """Builds and prepares the core graph; returns (core graph, ``read_proto(proto)`` or None).
    ``optimize`` runs the core's graph passes (BatchNormalization folding, epilogue fusion);
    ``config`` holds session configuration entries that kernels read at creation. The ModelProto
    is let go before the kernels pack their weights (``read_proto`` takes what it needs first), so
    a model loaded from a file is not held in memory a third time."""
    proto, base_dir, weights = load_model(model)
    try:
        if not proto.HasField("graph"):
            raise InvalidModel("the model has no graph")
        opsets = model_opsets(proto)
        graph = expand_functions(proto, opsets)
        try:
            cg = build_graph(graph, base_dir, opsets, constant_initializers=proto.ir_version < 4, weights=weights)
        finally:
            if weights is not None:
                weights.close()
        extra = read_proto(proto) if read_proto is not None else None
        del graph, proto
        cg.set_optimize(bool(optimize))
        for key, value in (config or {}).items():
            cg.set_config_entry(key, value)
        cg.prepare()
    except UnicodeError as e:  # a core message quoting a name that is not UTF-8
        raise InvalidModel(f"the model contains text that is not valid UTF-8: {e}") from None
    return cg, extra
