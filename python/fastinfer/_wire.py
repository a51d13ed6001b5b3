"""Reads an ONNX file without holding its weights twice.

``onnx.load`` reads the whole file into one bytes object and parses it into a ModelProto that
holds every initializer's ``raw_data`` again, and reading ``raw_data`` from the parsed proto makes
a third copy; the core then copies each weight once more. For a 440 MB BERT that is a peak of
twice the model while the session is made. Here the file is memory-mapped and walked at the
protobuf wire level: the main graph's large ``raw_data`` fields are cut out of the bytes that
protobuf parses (so the ModelProto is small) and each is later viewed straight from the mapping,
copied by the core, and its pages dropped from this process at once. Anything unusual in the
file (no single graph field, a repeated or odd ``raw_data``, a group) falls back to ``onnx.load``.
Model bytes given by the caller are walked the same way; their weights are viewed in place.
"""

from __future__ import annotations

import mmap
import sys
from dataclasses import dataclass

import numpy as np

# TensorProto data types whose raw_data is the numpy array's bytes as they are (little-endian);
# the same set as _import._RAW_DTYPES.
RAW_DTYPES = {1: np.dtype("<f4"), 11: np.dtype("<f8"), 7: np.dtype("<i8"), 6: np.dtype("<i4"),
              3: np.dtype("i1"), 2: np.dtype("u1")}
MIN_CUT_BYTES = 4096  # smaller raw_data stays in the proto: not worth a separate read

_MODEL_GRAPH = 7       # ModelProto.graph
_GRAPH_INITIALIZER = 5  # GraphProto.initializer
_TENSOR_DATA_TYPE = 2   # TensorProto.data_type
_TENSOR_RAW_DATA = 9    # TensorProto.raw_data
_TENSOR_DATA_LOCATION = 14  # TensorProto.data_location


Buffer = mmap.mmap | bytes | bytearray  # indexing gives ints, slicing gives bytes


class _Unusual(Exception):
    """The file is valid protobuf (maybe) but not in the shape this reader handles."""


def _varint(buf: Buffer, pos: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise _Unusual
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, pos
        shift += 7


def _fields(buf: Buffer, pos: int, end: int):
    """(field number, wire type, start of the field's key, start of its payload, end) per field;
    for length-delimited fields the payload is [start, end) without the length prefix."""
    while pos < end:
        key_at = pos
        key, pos = _varint(buf, pos, end)
        field, wt = key >> 3, key & 7
        if wt == 0:
            _, stop = _varint(buf, pos, end)
            yield field, wt, key_at, pos, stop
        elif wt == 1 or wt == 5:
            stop = pos + (8 if wt == 1 else 4)
            yield field, wt, key_at, pos, stop
        elif wt == 2:
            n, pos = _varint(buf, pos, end)
            stop = pos + n
            yield field, wt, key_at, pos, stop
        else:  # groups (3, 4) and invalid wire types
            raise _Unusual
        if stop > end:
            raise _Unusual
        pos = stop


def _enc_varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _len_field(field: int, payload: bytes) -> bytes:
    return _enc_varint(field << 3 | 2) + _enc_varint(len(payload)) + payload


@dataclass
class RawSlice:
    """Where an initializer's raw_data lies in the mapped file."""

    offset: int
    nbytes: int
    dtype: np.dtype


def _strip_tensor(buf: Buffer, start: int, end: int) -> tuple[bytes, RawSlice | None]:
    """The TensorProto at [start, end) with its raw_data cut out, and where that data is; the
    bytes unchanged and None when it is kept (small, external, another type, big-endian host)."""
    raw = None
    data_type = 0
    location = 0
    for field, wt, _key_at, pos, stop in _fields(buf, start, end):
        if field == _TENSOR_RAW_DATA and wt == 2:
            if raw is not None:
                raise _Unusual  # repeated raw_data: protobuf merges; leave it to protobuf
            raw = (_key_at, pos, stop)
        elif field == _TENSOR_DATA_TYPE and wt == 0:
            data_type = _varint(buf, pos, stop)[0]
        elif field == _TENSOR_DATA_LOCATION and wt == 0:
            location = _varint(buf, pos, stop)[0]
    dtype = RAW_DTYPES.get(data_type)
    if (raw is None or dtype is None or location != 0 or sys.byteorder != "little"
            or raw[2] - raw[1] < MIN_CUT_BYTES):
        return buf[start:end], None
    key_at, pos, stop = raw
    return buf[start:key_at] + buf[stop:end], RawSlice(pos, stop - pos, dtype)


def split_model(buf: Buffer) -> tuple[bytes, list[RawSlice | None]] | None:
    """The model's bytes with the main graph's large initializer data cut out, and per initializer
    (in file order) where its data lies; None when the file has an unusual structure."""
    try:
        end = len(buf)
        graphs = [f for f in _fields(buf, 0, end) if f[0] == _MODEL_GRAPH]
        if len(graphs) != 1 or graphs[0][1] != 2:
            return None
        _, _, g_key, g_start, g_end = graphs[0]
        pieces: list[bytes] = []
        slices: list[RawSlice | None] = []
        copied = g_start  # graph bytes before this offset are in pieces already
        for field, wt, key_at, pos, stop in _fields(buf, g_start, g_end):
            if field != _GRAPH_INITIALIZER or wt != 2:
                continue
            tensor, where = _strip_tensor(buf, pos, stop)
            slices.append(where)
            if where is None:
                continue
            pieces.append(buf[copied:key_at])
            pieces.append(_len_field(_GRAPH_INITIALIZER, tensor))
            copied = stop
        if not any(slices):
            return None
        pieces.append(buf[copied:g_end])
        graph = b"".join(pieces)
        return bytes(buf[0:g_key] + _len_field(_MODEL_GRAPH, graph) + buf[g_end:end]), slices
    except (_Unusual, IndexError):
        return None
