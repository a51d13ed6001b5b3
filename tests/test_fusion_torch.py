"""The transformer fusion passes on encoder layers exported from torch by both exporters
(TorchScript at its default opset and at opset 14, and dynamo): every LayerNorm, GELU, bias and
residual pattern must fuse, and the result must match ONNX Runtime and fastinfer without passes."""

from __future__ import annotations

import functools
import warnings

import numpy as np
import onnx
import pytest
from fusion_models import export_layer, have_dynamo_exporter, torch
from op_helpers import rng
from test_fusion_passes import check

pytestmark = pytest.mark.skipif(torch is None, reason="needs torch")

CASES = [(e, g, ln) for e in ("torchscript", "torchscript14") for g in ("erf", "tanh", "erf_manual", "tanh_manual")
         for ln in (False, True)]
CASES += [("dynamo", "erf", False), ("dynamo", "tanh", True), ("dynamo", "erf_manual", True),
          ("dynamo", "tanh_manual", False)]


@functools.cache
def _export(dynamo, gelu, manual_ln, opset):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return export_layer(dynamo, gelu=gelu, manual_ln=manual_ln, opset=opset).SerializeToString()


@pytest.mark.parametrize("exporter,gelu,manual_ln", CASES)
def test_torch_encoder_layer_fuses(exporter, gelu, manual_ln):
    """The whole layer becomes MatMulBias + SkipLayerNormalization around one fused attention node."""
    if exporter == "dynamo" and not have_dynamo_exporter():
        pytest.skip("the dynamo exporter needs onnxscript")
    model = onnx.load_from_string(_export(exporter == "dynamo", gelu, manual_ln,
                                          14 if exporter == "torchscript14" else None))
    feeds = {"x": rng(12).standard_normal((2, 7, 32)).astype(np.float32)}
    absent = ["ReduceMean", "Erf", "Tanh", "Pow", "Sqrt", "Add", "Mul", "LayerNormalization", "Gelu", "FastGelu"]
    ops = check(model, feeds, present=["MatMulBias", "SkipLayerNormalization", "MultiHeadAttention"],
                absent=absent + ["Softmax", "Transpose"])
    assert ops <= {"MatMulBias", "SkipLayerNormalization", "MultiHeadAttention"}


@pytest.mark.parametrize("gelu", ["erf", "tanh_manual"])
def test_symbolic_batch_and_sequence_still_fuse(gelu):
    """With symbolic sizes, the scores + mask broadcast gives the attention's output sizes of its
    own in shape inference; the fused attention node's inference gives it the query's, so the
    residual Add + LayerNorm after the output projection still becomes SkipLayerNormalization."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = export_layer(False, gelu=gelu, dynamic=True)
    absent = ["ReduceMean", "Erf", "Tanh", "Pow", "Sqrt", "Add", "Mul", "LayerNormalization", "Gelu", "FastGelu"]
    for b, s in ((2, 7), (3, 5)):
        r = rng(13)
        feeds = {"x": r.standard_normal((b, s, 32)).astype(np.float32),
                 "mask": np.where(r.random((b, 1, 1, s)) > 0.3, 0.0, -10000.0).astype(np.float32)}
        ops = check(model, feeds, present=["MatMulBias", "SkipLayerNormalization", "MultiHeadAttention"],
                    absent=absent + ["Softmax", "Transpose"])
        assert ops <= {"MatMulBias", "SkipLayerNormalization", "MultiHeadAttention"}
