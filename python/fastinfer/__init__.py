"""fastinfer: a fast ONNX inference runtime with its own C++ kernels.

    import fastinfer
    sess = fastinfer.Session("model.onnx")
    y = sess.run(x)
"""

from . import _core
from .errors import Error, InvalidArgument, InvalidModel, ModelNotFound, NotImplemented, RuntimeError
from .session import InferenceSession, ModelMetadata, NodeArg, Session, SessionOptions, ThreadPool

__version__ = "0.1.0"


def cpu_info() -> dict:
    """The CPU's brand, its SIMD features and the kernel ISA tier in use."""
    return dict(_core.cpu_info())


def supported_ops() -> list[tuple[str, str]]:
    """(domain, op_type) of every operator with a kernel."""
    return [tuple(x) for x in _core.supported_ops()]


def get_available_providers() -> list[str]:
    return ["CPUExecutionProvider"]


__all__ = [
    "Error",
    "InferenceSession",
    "InvalidArgument",
    "InvalidModel",
    "ModelMetadata",
    "ModelNotFound",
    "NodeArg",
    "NotImplemented",
    "RuntimeError",
    "Session",
    "SessionOptions",
    "ThreadPool",
    "cpu_info",
    "get_available_providers",
    "supported_ops",
]
