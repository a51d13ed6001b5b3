"""SqueezeNet 1.1, Inception v1 (GoogLeNet, without the auxiliary heads) and DenseNet-121 as plain
``torch.nn`` modules, following torchvision's definitions (torchvision is not needed). Built and
exported by bench/torch_models.py.
"""

from __future__ import annotations

import torch
from torch import nn

# ---------------------------------------------------------------- SqueezeNet 1.1


class Fire(nn.Module):
    """1x1 squeeze (ReLU), then 1x1 and 3x3 expands (ReLU) concatenated."""

    def __init__(self, cin: int, squeeze: int, e1: int, e3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(cin, squeeze, 1)
        self.expand1 = nn.Conv2d(squeeze, e1, 1)
        self.expand3 = nn.Conv2d(squeeze, e3, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.squeeze(x))
        return torch.cat((self.relu(self.expand1(x)), self.relu(self.expand3(x))), 1)


class SqueezeNet11(nn.Module):
    """SqueezeNet 1.1: 3x3/2 stem, ceil-mode 3x3/2 max pools, 8 Fire modules, 1x1 conv classifier
    with ReLU and global average pooling."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 3, stride=2), nn.ReLU(inplace=True), pool(),
            Fire(64, 16, 64, 64), Fire(128, 16, 64, 64), pool(),
            Fire(128, 32, 128, 128), Fire(256, 32, 128, 128), pool(),
            Fire(256, 48, 192, 192), Fire(384, 48, 192, 192), Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256))
        self.final = nn.Conv2d(512, num_classes, 1)
        self.classifier = nn.Sequential(nn.Dropout(0.5), self.final, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if m is self.final:
                    nn.init.normal_(m.weight, 0.0, 0.01)
                else:
                    nn.init.kaiming_uniform_(m.weight)
                nn.init.uniform_(m.bias, 0.0, 0.05)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


# ---------------------------------------------------------------- Inception v1 (GoogLeNet)


class BasicConv2d(nn.Module):
    """Conv (no bias) + BN (eps 1e-3) + ReLU."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: int = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.bn(self.conv(x)))


class Inception(nn.Module):
    """Four branches concatenated: 1x1; 1x1 -> 3x3; 1x1 -> 3x3 (torchvision's kernel size for the
    '5x5' branch); 3x3/1 ceil-mode max pool -> 1x1."""

    def __init__(self, cin: int, ch1: int, ch3r: int, ch3: int, ch5r: int, ch5: int, pool_proj: int):
        super().__init__()
        self.b1 = BasicConv2d(cin, ch1, 1)
        self.b2 = nn.Sequential(BasicConv2d(cin, ch3r, 1), BasicConv2d(ch3r, ch3, 3, padding=1))
        self.b3 = nn.Sequential(BasicConv2d(cin, ch5r, 1), BasicConv2d(ch5r, ch5, 3, padding=1))
        self.b4 = nn.Sequential(nn.MaxPool2d(3, 1, 1, ceil_mode=True), BasicConv2d(cin, pool_proj, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.b1(x), self.b2(x), self.b3(x), self.b4(x)), 1)


class GoogLeNet(nn.Module):
    """Inception v1: 7x7/2 stem, 1x1 and 3x3 convs, nine Inception modules with ceil-mode max pools,
    global average pool, dropout, fc. No auxiliary classifiers, no input transform."""

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        pool = lambda: nn.MaxPool2d(3, 2, ceil_mode=True)
        self.stem = nn.Sequential(BasicConv2d(3, 64, 7, 2, 3), pool(), BasicConv2d(64, 64, 1),
                                  BasicConv2d(64, 192, 3, padding=1), pool())
        self.body = nn.Sequential(
            Inception(192, 64, 96, 128, 16, 32, 32), Inception(256, 128, 128, 192, 32, 96, 64), pool(),
            Inception(480, 192, 96, 208, 16, 48, 64), Inception(512, 160, 112, 224, 24, 64, 64),
            Inception(512, 128, 128, 256, 24, 64, 64), Inception(512, 112, 144, 288, 32, 64, 64),
            Inception(528, 256, 160, 320, 32, 128, 128), nn.MaxPool2d(2, 2, ceil_mode=True),
            Inception(832, 256, 160, 320, 32, 128, 128), Inception(832, 384, 192, 384, 48, 128, 128))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(1024, num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01 if m is self.fc else 0.1, a=-2, b=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.body(self.stem(x))), 1)
        return self.fc(self.dropout(x))


# ---------------------------------------------------------------- DenseNet-121


class DenseLayer(nn.Module):
    """Pre-activation bottleneck: BN-ReLU-1x1 (4k) -BN-ReLU-3x3 (k); its output is concatenated."""

    def __init__(self, cin: int, growth: int, bn_size: int):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, bn_size * growth, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(bn_size * growth)
        self.conv2 = nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(torch.relu(self.norm1(x)))
        return torch.cat((x, self.conv2(torch.relu(self.norm2(y)))), 1)


class Transition(nn.Sequential):
    """BN-ReLU-1x1 conv halving the channels, 2x2/2 average pool."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, cout, 1, bias=False),
                         nn.AvgPool2d(2, 2))


class DenseNet121(nn.Module):
    """DenseNet-121: growth 32, blocks (6, 12, 24, 16), bottleneck width 4, 64-channel 7x7/2 stem."""

    def __init__(self, num_classes: int = 1000, growth: int = 32, blocks: tuple[int, ...] = (6, 12, 24, 16),
                 init_features: int = 64, bn_size: int = 4):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, init_features, 7, 2, 3, bias=False),
                                   nn.BatchNorm2d(init_features), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1)]
        c = init_features
        for i, n in enumerate(blocks):
            for _ in range(n):
                layers.append(DenseLayer(c, growth, bn_size))
                c += growth
            if i != len(blocks) - 1:
                layers.append(Transition(c, c // 2))
                c //= 2
        layers += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(c, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.bias, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))
