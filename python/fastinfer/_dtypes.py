"""Element types: numpy dtype <-> ONNX TensorProto code, and the ONNX type strings."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from . import errors
from .errors import InvalidArgument

STRING = 8

_CODE_TO_NP: dict[int, np.dtype] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.uint8),
    3: np.dtype(np.int8),
    4: np.dtype(np.uint16),
    5: np.dtype(np.int16),
    6: np.dtype(np.int32),
    7: np.dtype(np.int64),
    8: np.dtype(object),
    9: np.dtype(np.bool_),
    10: np.dtype(np.float16),
    11: np.dtype(np.float64),
    12: np.dtype(np.uint32),
    13: np.dtype(np.uint64),
    14: np.dtype(np.complex64),
    15: np.dtype(np.complex128),
    16: np.dtype(ml_dtypes.bfloat16),
    17: np.dtype(ml_dtypes.float8_e4m3fn),
    18: np.dtype(ml_dtypes.float8_e4m3fnuz),
    19: np.dtype(ml_dtypes.float8_e5m2),
    20: np.dtype(ml_dtypes.float8_e5m2fnuz),
    21: np.dtype(ml_dtypes.uint4),
    22: np.dtype(ml_dtypes.int4),
    23: np.dtype(ml_dtypes.float4_e2m1fn),
}
_NP_TO_CODE = {v: k for k, v in _CODE_TO_NP.items() if k != STRING}
# Types numpy has no native kind for travel to the core as raw unsigned views of equal width.
_RAW_VIEW = {16: np.uint16, 17: np.uint8, 18: np.uint8, 19: np.uint8, 20: np.uint8, 21: np.uint8,
             22: np.uint8, 23: np.uint8}

# ONNX types newer than opset 23 that ml_dtypes can hold but the core does not support yet.
_NOT_YET = {"int2": "INT2", "uint2": "UINT2", "float8_e8m0fnu": "FLOAT8E8M0", "float6_e2m3fn": "FLOAT6E2M3",
            "float6_e3m2fn": "FLOAT6E3M2"}

_NAMES = {
    1: "float", 2: "uint8", 3: "int8", 4: "uint16", 5: "int16", 6: "int32", 7: "int64", 8: "string",
    9: "bool", 10: "float16", 11: "double", 12: "uint32", 13: "uint64", 14: "complex64",
    15: "complex128", 16: "bfloat16", 17: "float8e4m3fn", 18: "float8e4m3fnuz", 19: "float8e5m2",
    20: "float8e5m2fnuz", 21: "uint4", 22: "int4", 23: "float4e2m1",
}


def type_string(code: int) -> str:
    """ONNX Runtime's spelling of a tensor type: ``tensor(float)``."""
    return f"tensor({_NAMES.get(code, 'undefined')})"


def numpy_dtype(code: int) -> np.dtype:
    try:
        return _CODE_TO_NP[code]
    except KeyError:
        raise InvalidArgument(f"element type code {code} is not supported") from None


def code_of(arr: np.ndarray) -> int:
    dt = arr.dtype
    if dt.kind in "OUS":
        return STRING
    code = _NP_TO_CODE.get(dt)
    if code is None:
        if dt.name in _NOT_YET:
            raise errors.NotImplemented(f"element type {dt.name} (ONNX {_NOT_YET[dt.name]}) is not supported yet")
        raise InvalidArgument(f"numpy dtype {dt} has no ONNX element type")
    return code


def to_core(arr: np.ndarray, code: int) -> tuple[int, np.ndarray]:
    """The (code, contiguous array) pair the core takes; strings as an object array."""
    if code == STRING:
        return code, np.asarray(arr, dtype=object)
    arr = np.require(arr, requirements=["C", "A"])  # contiguous, element-aligned; 0-d stays 0-d
    raw = _RAW_VIEW.get(code)
    return code, (arr.view(raw) if raw is not None else arr)


def from_core(code: int, arr: np.ndarray) -> np.ndarray:
    """Views a raw array coming back from the core with its real dtype."""
    if code in _RAW_VIEW:
        return arr.view(_CODE_TO_NP[code])
    return arr
