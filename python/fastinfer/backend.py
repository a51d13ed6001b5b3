"""fastinfer as an ONNX backend (``onnx.backend.base.Backend``), so that the ONNX backend test
suite can run it::

    import onnx.backend.test
    import fastinfer.backend
    backend_test = onnx.backend.test.BackendTest(fastinfer.backend, __name__)
    globals().update(backend_test.test_cases)

or, one-off: ``fastinfer.backend.run_model(model, [x])``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import onnx
from onnx import helper
from onnx.backend.base import Backend, BackendRep, Device, DeviceType, namedtupledict

from .errors import InvalidArgument
from .session import Session


class FastinferBackendRep(BackendRep):
    """A prepared model: ``run(inputs)`` with a list (in the order of the model's inputs), a dict
    name -> array or a single array; returns the outputs as a named tuple."""

    def __init__(self, session: Session):
        self.session = session
        self._input_names = [i.name for i in session.get_inputs()]
        self._output_names = [o.name for o in session.get_outputs()]

    def run(self, inputs: Any, **kwargs: Any) -> tuple[Any, ...]:
        """Runs the model once; the result is indexable by position and by output name."""
        if isinstance(inputs, Mapping):
            feed = dict(inputs)
        elif isinstance(inputs, (list, tuple)):
            if len(inputs) > len(self._input_names):
                raise InvalidArgument(f"{len(inputs)} inputs given; the model takes {len(self._input_names)}: "
                                      f"{self._input_names}")
            feed = dict(zip(self._input_names, inputs))
        else:
            if len(self._input_names) != 1:
                raise InvalidArgument(f"one input given; the model takes {len(self._input_names)}: "
                                      f"{self._input_names}")
            feed = {self._input_names[0]: inputs}
        outs = self.session.run(None, feed)
        return namedtupledict("Outputs", self._output_names)(*outs)


class FastinferBackend(Backend):
    """The ONNX backend interface over :class:`fastinfer.Session` (CPU only)."""

    @classmethod
    def is_compatible(cls, model: onnx.ModelProto, device: str = "CPU", **kwargs: Any) -> bool:
        """Whether the device is supported (operator support is only known at prepare)."""
        return cls.supports_device(device)

    @classmethod
    def prepare(cls, model: Any, device: str = "CPU", **kwargs: Any) -> FastinferBackendRep:
        """Loads the model (a ModelProto, its bytes or a path). ``threads=n`` sets the threads a run
        may use."""
        if not cls.supports_device(device):
            raise InvalidArgument(f"device '{device}' is not supported; fastinfer runs on the CPU")
        return FastinferBackendRep(Session(model, threads=kwargs.get("threads")))

    @classmethod
    def run_model(cls, model: Any, inputs: Any, device: str = "CPU", **kwargs: Any) -> tuple[Any, ...]:
        """prepare + run, once."""
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node: onnx.NodeProto, inputs: Any, device: str = "CPU",
                 outputs_info: Sequence[tuple[np.dtype, tuple[int, ...]]] | None = None,
                 **kwargs: Any) -> tuple[Any, ...]:
        """Runs one node on `inputs` (in the order of the node's non-empty inputs, or a dict)."""
        names = [n for n in node.input if n]
        if isinstance(inputs, Mapping):
            feed = dict(inputs)
        else:
            if not isinstance(inputs, (list, tuple)):
                inputs = [inputs]
            if len(inputs) != len(names):
                raise InvalidArgument(f"node '{node.name or node.op_type}' has {len(names)} inputs, "
                                      f"{len(inputs)} given")
            feed = dict(zip(names, inputs))
        g_inputs = []
        for name in names:
            arr = np.asarray(feed[name])
            elem = onnx.TensorProto.STRING if arr.dtype.kind in "OUS" else helper.np_dtype_to_tensor_dtype(arr.dtype)
            g_inputs.append(helper.make_tensor_value_info(name, elem, arr.shape))
        g_outputs = []
        for i, name in enumerate(n for n in node.output if n):
            elem, shape = onnx.TensorProto.UNDEFINED, None
            if outputs_info is not None and i < len(outputs_info):
                elem = helper.np_dtype_to_tensor_dtype(np.dtype(outputs_info[i][0]))
                shape = outputs_info[i][1]
            g_outputs.append(helper.make_tensor_value_info(name, elem, shape))
        graph = helper.make_graph([node], f"run_node_{node.op_type}", g_inputs, g_outputs)
        opset = int(kwargs.get("opset_version", onnx.defs.onnx_opset_version()))
        imports = [helper.make_opsetid("", opset)]
        if node.domain and node.domain != "ai.onnx":
            imports.append(helper.make_opsetid(node.domain, 1))
        model = helper.make_model(graph, opset_imports=imports)
        return cls.run_model(model, feed, device, threads=kwargs.get("threads"))

    @classmethod
    def supports_device(cls, device: str) -> bool:
        """Only the CPU."""
        try:
            return Device(device).type == DeviceType.CPU
        except Exception:  # noqa: BLE001 - unknown device names are unsupported
            return False


is_compatible = FastinferBackend.is_compatible
prepare = FastinferBackend.prepare
run_model = FastinferBackend.run_model
run_node = FastinferBackend.run_node
supports_device = FastinferBackend.supports_device

__all__ = ["FastinferBackend", "FastinferBackendRep", "is_compatible", "prepare", "run_model", "run_node",
           "supports_device"]
