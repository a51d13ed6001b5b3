"""Built-in models, made in code with ``onnx.helper`` from a fixed seed: nothing is downloaded.

``get_model(name)`` returns an ``onnx.ModelProto``; ``list_models()`` names them. They serve as the
default model of ``fastinfer bench`` and as test models.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8


class _Builder:
    """Accumulates nodes and initializers of one graph, drawing weights from one seeded generator."""

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self._count: dict[str, int] = {}

    def name(self, prefix: str) -> str:
        i = self._count.get(prefix, 0)
        self._count[prefix] = i + 1
        return f"{prefix}{i}"

    def const(self, prefix: str, arr: np.ndarray) -> str:
        n = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), n))
        return n

    def node(self, op: str, inputs: list[str], prefix: str, **attrs) -> str:
        out = self.name(prefix)
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    def conv_bn(self, x: str, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True,
                group: int = 1) -> str:
        """Conv (He-normal weights, no bias) + BatchNormalization (+ Relu)."""
        fan_in = cin // group * k * k
        w = self.rng.standard_normal((cout, cin // group, k, k)) * np.sqrt(2.0 / fan_in)
        p = k // 2
        y = self.node("Conv", [x, self.const("conv_w", w)], "conv", kernel_shape=[k, k],
                      strides=[stride, stride], pads=[p, p, p, p], group=group)
        scale = self.rng.uniform(0.5, 1.5, cout)
        bias = self.rng.normal(0.0, 0.1, cout)
        mean = self.rng.normal(0.0, 0.1, cout)
        var = self.rng.uniform(0.5, 1.5, cout)
        y = self.node("BatchNormalization", [y, self.const("bn_scale", scale), self.const("bn_bias", bias),
                                             self.const("bn_mean", mean), self.const("bn_var", var)],
                      "bn", epsilon=1e-5)
        return self.node("Relu", [y], "relu") if relu else y

    def shortcut(self, x: str, cin: int, cout: int, stride: int) -> str:
        """Identity, or a strided 1x1 projection + BN when the shape changes."""
        if cin == cout and stride == 1:
            return x
        return self.conv_bn(x, cin, cout, 1, stride, relu=False)

    def basic_block(self, x: str, cin: int, cout: int, stride: int) -> str:
        """ResNet basic block: 3x3 conv-BN-ReLU, 3x3 conv-BN, + shortcut, ReLU."""
        y = self.conv_bn(x, cin, cout, 3, stride)
        y = self.conv_bn(y, cout, cout, 3, 1, relu=False)
        y = self.node("Add", [y, self.shortcut(x, cin, cout, stride)], "add")
        return self.node("Relu", [y], "relu")

    def bottleneck_block(self, x: str, cin: int, mid: int, cout: int, stride: int) -> str:
        """ResNet bottleneck block: 1x1 reduce, 3x3 (strided), 1x1 expand, + shortcut, ReLU."""
        y = self.conv_bn(x, cin, mid, 1, 1)
        y = self.conv_bn(y, mid, mid, 3, stride)
        y = self.conv_bn(y, mid, cout, 1, 1, relu=False)
        y = self.node("Add", [y, self.shortcut(x, cin, cout, stride)], "add")
        return self.node("Relu", [y], "relu")


def resnet_mini(seed: int = 0, num_classes: int = 1000) -> onnx.ModelProto:
    """A small ResNet: input ``[N,3,224,224]`` float32 (symbolic batch ``N``), output ``[N,1000]`` logits.

    Stem: 7x7/2 conv (32 ch) + BN + ReLU + 3x3/2 MaxPool. Then a basic block (32 ch, 56x56), a strided
    basic block (64 ch, 28x28), a strided bottleneck block (128 ch, 14x14), a strided basic block
    (256 ch, 7x7) and a bottleneck block; every strided block has a 1x1 projection shortcut.
    GlobalAveragePool, Flatten, Gemm. About 0.5 GFLOP a picture (a few ms on one core).
    """
    b = _Builder(seed)
    x = "input"
    y = b.conv_bn(x, 3, 32, 7, 2)
    y = b.node("MaxPool", [y], "pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    y = b.basic_block(y, 32, 32, 1)
    y = b.basic_block(y, 32, 64, 2)
    y = b.bottleneck_block(y, 64, 32, 128, 2)
    y = b.basic_block(y, 128, 256, 2)
    y = b.bottleneck_block(y, 256, 64, 256, 1)
    y = b.node("GlobalAveragePool", [y], "gap")
    y = b.node("Flatten", [y], "flatten", axis=1)
    w = b.rng.standard_normal((num_classes, 256)) / np.sqrt(256.0)
    bias = b.rng.normal(0.0, 0.01, num_classes)
    b.nodes.append(helper.make_node("Gemm", [y, b.const("fc_w", w), b.const("fc_b", bias)], ["logits"],
                                    name="fc", transB=1))
    graph = helper.make_graph(
        b.nodes, "resnet_mini",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", num_classes])],
        b.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="fastinfer.models", ir_version=IR_VERSION)
    model.doc_string = f"fastinfer built-in resnet_mini: random weights (seed {seed})"
    onnx.checker.check_model(model)
    return model


_REGISTRY: dict[str, Callable[[], onnx.ModelProto]] = {
    "resnet_mini": resnet_mini,
}

DEFAULT_MODEL = "resnet_mini"


def list_models() -> list[str]:
    """Names of the built-in models."""
    return sorted(_REGISTRY)


def get_model(name: str) -> onnx.ModelProto:
    """The built-in model ``name`` as an ``onnx.ModelProto`` (same weights on every call)."""
    try:
        make = _REGISTRY[name]
    except KeyError:
        raise KeyError(f"no built-in model named {name!r}; the built-ins are {list_models()}") from None
    return make()


__all__ = ["DEFAULT_MODEL", "get_model", "list_models", "resnet_mini"]
