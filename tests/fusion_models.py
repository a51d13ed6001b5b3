"""Small BERT-style encoder layers in plain torch, exported to ONNX by both torch exporters, for
the fusion-pass tests and the transformer-layer benchmark."""

from __future__ import annotations

import io
import math

import onnx

try:
    import torch
    from torch import nn
except ImportError:  # pragma: no cover
    torch = None
    nn = None


def have_dynamo_exporter() -> bool:
    """Whether torch.onnx.export(dynamo=True) can run here (it needs onnxscript)."""
    if torch is None:
        return False
    try:
        import onnxscript  # noqa: F401
    except ImportError:
        return False
    return True


if torch is not None:

    class ManualLayerNorm(nn.Module):
        """LayerNorm written out: (x - mean) / sqrt(var + eps) * gamma + beta."""

        def __init__(self, d: int, eps: float = 1e-12):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(d) + 0.1 * torch.randn(d))
            self.bias = nn.Parameter(0.1 * torch.randn(d))
            self.eps = eps

        def forward(self, x):
            u = x.mean(-1, keepdim=True)
            s = (x - u).pow(2).mean(-1, keepdim=True)
            x = (x - u) / torch.sqrt(s + self.eps)
            return self.weight * x + self.bias

    class EncoderLayer(nn.Module):
        """One BERT encoder layer: self-attention (written out with matmuls and softmax), residual +
        LayerNorm, GELU MLP, residual + LayerNorm. gelu: 'erf' | 'tanh' | 'erf_manual' |
        'tanh_manual'; manual_ln: LayerNorm written out with ReduceMean/Pow/Sqrt."""

        def __init__(self, hidden: int = 32, heads: int = 4, ffn: int = 64, gelu: str = "erf",
                     manual_ln: bool = False):
            super().__init__()
            self.h, self.dh = heads, hidden // heads
            self.q, self.k, self.v = nn.Linear(hidden, hidden), nn.Linear(hidden, hidden), nn.Linear(hidden, hidden)
            self.o = nn.Linear(hidden, hidden)
            self.fc1, self.fc2 = nn.Linear(hidden, ffn), nn.Linear(ffn, hidden)
            if manual_ln:
                self.ln1, self.ln2 = ManualLayerNorm(hidden), ManualLayerNorm(hidden)
            else:
                self.ln1, self.ln2 = nn.LayerNorm(hidden, eps=1e-12), nn.LayerNorm(hidden, eps=1e-12)
                with torch.no_grad():
                    for ln in (self.ln1, self.ln2):
                        ln.weight.add_(0.1 * torch.randn(hidden))
                        ln.bias.add_(0.1 * torch.randn(hidden))
            self.gelu = gelu

        def act(self, x):
            if self.gelu == "erf":
                return torch.nn.functional.gelu(x)
            if self.gelu == "tanh":
                return torch.nn.functional.gelu(x, approximate="tanh")
            if self.gelu == "erf_manual":
                return x * 0.5 * (1.0 + torch.erf(x / math.sqrt(2.0)))
            return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))

        def forward(self, x, mask=None):
            b, s, d = x.shape
            q = self.q(x).view(b, s, self.h, self.dh).transpose(1, 2)
            k = self.k(x).view(b, s, self.h, self.dh).transpose(1, 2)
            v = self.v(x).view(b, s, self.h, self.dh).transpose(1, 2)
            scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.dh)
            att = torch.softmax(scores if mask is None else scores + mask, dim=-1)
            ctx = torch.matmul(att, v).transpose(1, 2)
            if mask is not None:  # the merged heads' sizes read off the context itself, as HF's BERT does
                b, s = ctx.shape[0], ctx.shape[1]
            ctx = ctx.reshape(b, s, d)
            x = self.ln1(x + self.o(ctx))
            return self.ln2(x + self.fc2(self.act(self.fc1(x))))


def export_layer(dynamo: bool, hidden: int = 32, heads: int = 4, ffn: int = 64, seq: int = 7, batch: int = 2,
                 gelu: str = "erf", manual_ln: bool = False, seed: int = 0, opset: int | None = None,
                 dynamic: bool = False) -> onnx.ModelProto:
    """The EncoderLayer exported by the TorchScript exporter (dynamo=False) or the dynamo one.
    ``dynamic`` (TorchScript): an additive mask input [batch, 1, 1, sequence] as well, and every
    size but the hidden one symbolic, the mask's under names of its own, and the attention's
    merged heads reshaped to the context's own sizes (as in HF's BERT, whose hidden states, made by
    adding embeddings, get sizes shape inference cannot tie to its mask's)."""
    torch.manual_seed(seed)
    m = EncoderLayer(hidden, heads, ffn, gelu, manual_ln).eval()
    x = torch.randn(batch, seq, hidden)
    f = io.BytesIO()
    kw = {"opset_version": opset} if opset else {}
    with torch.no_grad():
        if dynamo:
            prog = torch.onnx.export(m, (x,), dynamo=True, input_names=["x"], output_names=["y"], **kw)
            return prog.model_proto
        if dynamic:
            kw["dynamic_axes"] = {"x": {0: "batch", 1: "sequence"}, "mask": {0: "mask_batch", 3: "mask_sequence"},
                                  "y": {0: "batch", 1: "sequence"}}
            torch.onnx.export(m, (x, torch.zeros(batch, 1, 1, seq)), f, dynamo=False, input_names=["x", "mask"],
                              output_names=["y"], **kw)
        else:
            torch.onnx.export(m, (x,), f, dynamo=False, input_names=["x"], output_names=["y"], **kw)
    return onnx.load_from_string(f.getvalue())
