"""A BERT-style encoder in plain ``torch.nn`` (the structure of Hugging Face's ``BertModel``, which is
not needed), random weights from a fixed seed, eval mode.

The attention is written as a typical BERT implementation writes it, so that ``torch.onnx.export``
emits the usual plain-op graph: Q/K/V MatMul+Add, Reshape/Transpose into heads, MatMul Q.K^T, Div by
sqrt(head size), Add of the additive mask, Softmax, MatMul with V, Transpose/Reshape back; GELU is the
erf form, LayerNorm eps 1e-12. Inputs ``input_ids`` and ``attention_mask`` (int64 [batch, sequence],
both axes dynamic); outputs ``last_hidden_state`` [batch, sequence, hidden] and ``pooler_output``
[batch, hidden] (tanh dense on the first token).

Configurations: ``bert`` (BERT-base: 12 layers, hidden 768, 12 heads, FFN 3072) and ``minilm``
(MiniLM-L6-H384: 6 layers, hidden 384, 12 heads, FFN 1536); vocabulary 30522, 512 positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn


@dataclass(frozen=True)
class EncoderConfig:
    """Sizes of one encoder."""

    layers: int
    hidden: int
    heads: int
    ffn: int
    vocab: int = 30522
    max_positions: int = 512
    type_vocab: int = 2
    eps: float = 1e-12


CONFIGS = {
    "bert": EncoderConfig(layers=12, hidden=768, heads=12, ffn=3072),
    "minilm": EncoderConfig(layers=6, hidden=384, heads=12, ffn=1536),
}
SEQUENCE = 128  # the benchmark's sequence length


class Embeddings(nn.Module):
    """Word + position + token-type (all type 0) embeddings, then LayerNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.word = nn.Embedding(cfg.vocab, cfg.hidden)
        self.position = nn.Embedding(cfg.max_positions, cfg.hidden)
        self.token_type = nn.Embedding(cfg.type_vocab, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)
        self.register_buffer("position_ids", torch.arange(cfg.max_positions).unsqueeze(0), persistent=False)
        self.register_buffer("token_type_ids", torch.zeros(1, cfg.max_positions, dtype=torch.long),
                             persistent=False)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        seq = input_ids.size(1)
        x = self.word(input_ids) + self.token_type(self.token_type_ids[:, :seq]) + self.position(
            self.position_ids[:, :seq])
        return self.norm(x)


class SelfAttention(nn.Module):
    """Multi-head self-attention with plain matmul/softmax, output dense, residual and LayerNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.heads = cfg.heads
        self.head_size = cfg.hidden // cfg.heads
        self.query = nn.Linear(cfg.hidden, cfg.hidden)
        self.key = nn.Linear(cfg.hidden, cfg.hidden)
        self.value = nn.Linear(cfg.hidden, cfg.hidden)
        self.dense = nn.Linear(cfg.hidden, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)

    def _split(self, x: torch.Tensor) -> torch.Tensor:
        b, s, _ = x.size()
        return x.view(b, s, self.heads, self.head_size).permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self._split(self.query(x)), self._split(self.key(x)), self._split(self.value(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.head_size)
        probs = torch.softmax(scores + mask, dim=-1)
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        ctx = ctx.view(ctx.size(0), ctx.size(1), self.heads * self.head_size)
        return self.norm(self.dense(ctx) + x)


class Layer(nn.Module):
    """Attention block, then the FFN (dense, GELU erf, dense) with residual and LayerNorm."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.attention = SelfAttention(cfg)
        self.intermediate = nn.Linear(cfg.hidden, cfg.ffn)
        self.output = nn.Linear(cfg.ffn, cfg.hidden)
        self.norm = nn.LayerNorm(cfg.hidden, eps=cfg.eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, mask)
        h = nn.functional.gelu(self.intermediate(x))
        return self.norm(self.output(h) + x)


class Encoder(nn.Module):
    """Embeddings, ``cfg.layers`` encoder layers and the pooler."""

    def __init__(self, cfg: EncoderConfig):
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.layers = nn.ModuleList(Layer(cfg) for _ in range(cfg.layers))
        self.pooler = nn.Linear(cfg.hidden, cfg.hidden)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # The additive mask: 0 where attended, the dtype's lowest value where masked out.
        mask = attention_mask[:, None, None, :].to(torch.float32)
        mask = (1.0 - mask) * torch.finfo(torch.float32).min
        x = self.embeddings(input_ids)
        for layer in self.layers:
            x = layer(x, mask)
        return x, torch.tanh(self.pooler(x[:, 0]))


def build(name: str, seed: int = 0, layers: int | None = None) -> Encoder:
    """The encoder ``name`` (``bert`` or ``minilm``) with random weights (``torch.manual_seed(seed)``:
    normal(0, 0.02) like BERT's initialisation, LayerNorm scales around 1), in eval mode. ``layers``
    overrides the number of layers (smaller test models)."""
    cfg = CONFIGS[name]
    if layers is not None:
        cfg = replace(cfg, layers=layers)
    torch.manual_seed(seed)
    model = Encoder(cfg)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                nn.init.normal_(m.weight, 0.0, 0.02)
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.bias, 0.0, 0.02)
            elif isinstance(m, nn.LayerNorm):
                nn.init.normal_(m.weight, 1.0, 0.1)
                nn.init.normal_(m.bias, 0.0, 0.05)
    return model.eval()


def example_inputs(batch: int = 1, seq: int = SEQUENCE, vocab: int = 30522, seed: int = 0
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids and an all-ones attention mask."""
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, vocab, (batch, seq), generator=g, dtype=torch.long),
            torch.ones(batch, seq, dtype=torch.long))


INPUT_NAMES = ["input_ids", "attention_mask"]
OUTPUT_NAMES = ["last_hidden_state", "pooler_output"]
DYNAMIC_AXES = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"},
                "last_hidden_state": {0: "batch", 1: "sequence"}, "pooler_output": {0: "batch"}}
