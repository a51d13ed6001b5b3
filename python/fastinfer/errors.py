"""The exceptions fastinfer raises. Every failure of loading or running a model is a
:class:`fastinfer.Error`; the message names the node, the operator and the reason."""

import builtins


class Error(Exception):
    """Base class of every fastinfer error."""


class InvalidModel(Error, ValueError):
    """The model file or graph is malformed: bad protobuf, dangling names, bad attributes."""


class InvalidArgument(Error, ValueError):
    """A call was given something wrong: unknown input name, wrong dtype, rank or shape."""


class ModelNotFound(InvalidArgument, FileNotFoundError):
    """The model path does not exist."""


class NotImplemented(Error, NotImplementedError):
    """The model uses an operator, type or attribute fastinfer does not support yet."""


class RuntimeError(Error, builtins.RuntimeError):
    """A kernel failed while running (out of memory, inconsistent data)."""


__all__ = ["Error", "InvalidArgument", "InvalidModel", "ModelNotFound", "NotImplemented", "RuntimeError"]
