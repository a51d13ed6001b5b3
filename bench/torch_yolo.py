"""A YOLOv8n-like detector in plain ``torch.nn`` (the layer structure of Ultralytics' YOLOv8n, which is
not needed), random weights from a fixed seed, eval mode.

Backbone: Conv (Conv2d + BN + SiLU) stride-2 stages with C2f blocks (split, bottlenecks, concat),
SPPF (three chained 5x5 max pools, concat). Neck: PAN (nearest 2x upsample + concat top-down, strided
conv + concat bottom-up). Head: decoupled box (4 x 16 DFL bins) and class (80) branches per level,
concatenated and reshaped to [batch, 144, anchors], then the inference decode as Ultralytics exports
it: DFL softmax + 1x1 conv expectation, distance-to-box against constant anchor points, stride scaling,
class sigmoid, one output ``output0`` [batch, 84, anchors] (8400 anchors at 640x640).
Input ``images`` [batch, 3, size, size] with a dynamic batch axis; the anchors are constants made for
``size`` (the exported model has a fixed spatial size, as Ultralytics' export does).
"""

from __future__ import annotations

import torch
from torch import nn

SIZE = 640
NUM_CLASSES = 80
REG_MAX = 16
STRIDES = (8, 16, 32)


class Conv(nn.Module):
    """Conv2d (no bias, 'same' padding) + BatchNorm (eps 1e-3) + SiLU."""

    def __init__(self, cin: int, cout: int, k: int = 1, s: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3, momentum=0.03)
        self.act = nn.SiLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.bn(self.conv(x)))


class Bottleneck(nn.Module):
    """Two 3x3 Convs, with a residual add when ``shortcut``."""

    def __init__(self, c: int, shortcut: bool):
        super().__init__()
        self.cv1 = Conv(c, c, 3)
        self.cv2 = Conv(c, c, 3)
        self.add = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.cv2(self.cv1(x))
        return x + y if self.add else y


class C2f(nn.Module):
    """CSP block, 2 convolutions: 1x1 to 2c, split in two, n bottlenecks chained on the second half,
    every intermediate concatenated, 1x1 to ``cout``."""

    def __init__(self, cin: int, cout: int, n: int = 1, shortcut: bool = False):
        super().__init__()
        self.c = cout // 2
        self.cv1 = Conv(cin, 2 * self.c, 1)
        self.cv2 = Conv((2 + n) * self.c, cout, 1)
        self.m = nn.ModuleList(Bottleneck(self.c, shortcut) for _ in range(n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = list(self.cv1(x).split((self.c, self.c), 1))
        for m in self.m:
            y.append(m(y[-1]))
        return self.cv2(torch.cat(y, 1))


class SPPF(nn.Module):
    """Spatial pyramid pooling, fast: 1x1 halving, three chained 5x5/1 max pools, concat of four, 1x1."""

    def __init__(self, cin: int, cout: int, k: int = 5):
        super().__init__()
        c = cin // 2
        self.cv1 = Conv(cin, c, 1)
        self.cv2 = Conv(c * 4, cout, 1)
        self.m = nn.MaxPool2d(k, 1, k // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = [self.cv1(x)]
        for _ in range(3):
            y.append(self.m(y[-1]))
        return self.cv2(torch.cat(y, 1))


def make_anchors(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Anchor centres [2, A] (grid units, +0.5) and their strides [1, A] for a ``size`` input."""
    points, strides = [], []
    for s in STRIDES:
        n = size // s
        ys, xs = torch.meshgrid(torch.arange(n) + 0.5, torch.arange(n) + 0.5, indexing="ij")
        points.append(torch.stack((xs, ys), -1).view(-1, 2))
        strides.append(torch.full((n * n, 1), float(s)))
    return torch.cat(points).T.contiguous(), torch.cat(strides).T.contiguous()


class Detect(nn.Module):
    """Decoupled head per level (box: 2 Conv + 1x1 to 4*16; class: 2 Conv + 1x1 to 80) and decode."""

    def __init__(self, ch: tuple[int, ...], size: int, nc: int = NUM_CLASSES):
        super().__init__()
        self.nc, self.no = nc, nc + 4 * REG_MAX
        c2, c3 = max(16, ch[0] // 4, 4 * REG_MAX), max(ch[0], min(nc, 100))
        self.cv2 = nn.ModuleList(nn.Sequential(Conv(c, c2, 3), Conv(c2, c2, 3), nn.Conv2d(c2, 4 * REG_MAX, 1))
                                 for c in ch)
        self.cv3 = nn.ModuleList(nn.Sequential(Conv(c, c3, 3), Conv(c3, c3, 3), nn.Conv2d(c3, nc, 1))
                                 for c in ch)
        self.dfl = nn.Conv2d(REG_MAX, 1, 1, bias=False).requires_grad_(False)
        self.dfl.weight.data[:] = torch.arange(REG_MAX, dtype=torch.float32).view(1, REG_MAX, 1, 1)
        anchors, strides = make_anchors(size)
        self.register_buffer("anchors", anchors, persistent=False)
        self.register_buffer("strides", strides, persistent=False)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        b = xs[0].shape[0]
        x = torch.cat([torch.cat((cv2(x), cv3(x)), 1).view(b, self.no, -1)
                       for x, cv2, cv3 in zip(xs, self.cv2, self.cv3)], 2)
        box, cls = x.split((4 * REG_MAX, self.nc), 1)
        a = box.shape[2]
        # DFL: expectation of a softmax over 16 bins, as a 1x1 conv with weights 0..15
        dist = self.dfl(box.view(b, 4, REG_MAX, a).transpose(2, 1).softmax(1)).view(b, 4, a)
        lt, rb = dist.chunk(2, 1)
        x1y1, x2y2 = self.anchors.unsqueeze(0) - lt, self.anchors.unsqueeze(0) + rb
        dbox = torch.cat(((x1y1 + x2y2) / 2, x2y2 - x1y1), 1) * self.strides
        return torch.cat((dbox, cls.sigmoid()), 1)


class YOLOv8n(nn.Module):
    """YOLOv8n layout (width 0.25, depth 0.33): channels 16-32-64-128-256, C2f repeats 1-2-2-1."""

    def __init__(self, size: int = SIZE):
        super().__init__()
        self.b0, self.b1 = Conv(3, 16, 3, 2), Conv(16, 32, 3, 2)
        self.b2 = C2f(32, 32, 1, True)
        self.b3, self.b4 = Conv(32, 64, 3, 2), C2f(64, 64, 2, True)
        self.b5, self.b6 = Conv(64, 128, 3, 2), C2f(128, 128, 2, True)
        self.b7, self.b8 = Conv(128, 256, 3, 2), C2f(256, 256, 1, True)
        self.b9 = SPPF(256, 256)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")
        self.h12 = C2f(384, 128)
        self.h15 = C2f(192, 64)
        self.h16, self.h18 = Conv(64, 64, 3, 2), C2f(192, 128)
        self.h19, self.h21 = Conv(128, 128, 3, 2), C2f(384, 256)
        self.detect = Detect((64, 128, 256), size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.b4(self.b3(self.b2(self.b1(self.b0(x)))))
        p4 = self.b6(self.b5(p3))
        p5 = self.b9(self.b8(self.b7(p4)))
        h12 = self.h12(torch.cat((self.up(p5), p4), 1))
        h15 = self.h15(torch.cat((self.up(h12), p3), 1))
        h18 = self.h18(torch.cat((self.h16(h15), h12), 1))
        h21 = self.h21(torch.cat((self.h19(h18), p5), 1))
        return self.detect([h15, h18, h21])
