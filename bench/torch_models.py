"""The benchmark models in plain ``torch.nn`` with random weights from a fixed seed, and their ONNX
export (torch's TorchScript-based exporter, ``dynamo=False``, opset 17).

ResNet-50 and MobileNetV2 are defined here (the standard definitions, as in torchvision, which is not
needed); SqueezeNet 1.1, Inception v1 and DenseNet-121 in torch_cnns.py, the YOLOv8n-like detector in
torch_yolo.py, BERT-base and the MiniLM-sized encoder in torch_bert.py. ``export(name, path)`` writes
one of ``MODELS``. BatchNorm running statistics are calibrated on random data first, so that the
exported normalisation is not the identity.
"""

from __future__ import annotations

import warnings

import torch
import torch_bert
import torch_cnns
import torch_yolo
from torch import nn

OPSET = 17


# ---------------------------------------------------------------- ResNet-50 (v1.5: stride on the 3x3)

class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (strided), 1x1 expand (x4), each with BN; shortcut projected when needed."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or inplanes != out:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        return self.relu(y + identity)


class ResNet50(nn.Module):
    """ResNet-50: 7x7/2 stem, 3x3/2 max pool, bottleneck stages [3, 4, 6, 3], average pool, fc."""

    def __init__(self, num_classes: int = 1000, layers: tuple[int, ...] = (3, 4, 6, 3)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        inplanes, stages = 64, []
        for i, (planes, blocks) in enumerate(zip((64, 128, 256, 512), layers)):
            stride = 1 if i == 0 else 2
            mods = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * Bottleneck.expansion
            mods += [Bottleneck(inplanes, planes) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*mods))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------- MobileNetV2

def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class ConvBNReLU6(nn.Sequential):
    """Conv (no bias) + BN + ReLU6, 'same' padding."""

    def __init__(self, cin: int, cout: int, k: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """1x1 expand (ReLU6), 3x3 depthwise (ReLU6), 1x1 linear project; residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = round(cin * expand_ratio)
        self.use_res = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            layers.append(ConvBNReLU6(cin, hidden, k=1))
        layers += [ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_res else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2 (width 1.0): 32-ch stem, 17 inverted residual blocks, 1280-ch head, dropout, fc."""

    SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                (6, 160, 3, 2), (6, 320, 1, 1))  # expand ratio t, channels c, repeats n, stride s

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0):
        super().__init__()
        cin = _make_divisible(32 * width_mult)
        last = _make_divisible(1280 * max(1.0, width_mult))
        feats: list[nn.Module] = [ConvBNReLU6(3, cin, stride=2)]
        for t, c, n, s in self.SETTINGS:
            cout = _make_divisible(c * width_mult)
            for i in range(n):
                feats.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        feats.append(ConvBNReLU6(cin, last, k=1))
        self.features = nn.Sequential(*feats)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(last, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


# ---------------------------------------------------------------- building and export

IMAGE_MODELS = {"resnet50": ResNet50, "mobilenetv2": MobileNetV2, "squeezenet": torch_cnns.SqueezeNet11,
                "inception_v1": torch_cnns.GoogLeNet, "densenet121": torch_cnns.DenseNet121,
                "yolov8n": torch_yolo.YOLOv8n}
ENCODERS = tuple(torch_bert.CONFIGS)  # bert, minilm
MODELS = (*IMAGE_MODELS, *ENCODERS)


def image_size(name: str, size: int | None = None) -> int:
    """The input resolution of image model ``name``: ``size``, else 640 for YOLO and 224 for the others."""
    return size or (torch_yolo.SIZE if name == "yolov8n" else 224)


def build(name: str, seed: int = 0, size: int | None = None, layers: int | None = None) -> nn.Module:
    """The model ``name`` with random weights (``torch.manual_seed(seed)``) in eval mode. For the CNNs,
    BatchNorm statistics are calibrated on one random batch (the resolution matters little). ``size``:
    the input resolution of the image models (YOLO: a multiple of 32, its anchors are made for it);
    ``layers``: the encoders' number of layers (smaller test models)."""
    if name in ENCODERS:
        return torch_bert.build(name, seed, layers)
    if name not in IMAGE_MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    torch.manual_seed(seed)
    model = IMAGE_MODELS[name](size=image_size(name, size)) if name == "yolov8n" else IMAGE_MODELS[name]()
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = None  # cumulative average over the calibration batches
            nn.init.uniform_(m.weight, 0.5, 1.5)
            nn.init.normal_(m.bias, 0.0, 0.1)
    model.train()
    with torch.no_grad():
        s = image_size(name, size)  # YOLO's anchors are made for its size; the others take any size
        model(torch.randn(1, 3, s, s) if name == "yolov8n" else torch.randn(4, 3, 112, 112))
    return model.eval()


def export(name: str, path: str, seed: int = 0, size: int | None = None, layers: int | None = None) -> str:
    """Writes the model ``name`` as ONNX to ``path`` with the TorchScript-based exporter
    (``torch.onnx.export(..., dynamo=False)``), opset 17, constant folding on; returns ``path``.

    Image models: input ``input`` [batch, 3, size, size] (``images`` for YOLO; ``size`` 224, YOLO 640),
    output ``logits`` [batch, 1000] (``output0`` [batch, 84, 8400]), dynamic batch. Encoders: inputs
    ``input_ids`` and ``attention_mask`` [batch, sequence] (int64), outputs ``last_hidden_state`` and
    ``pooler_output``, dynamic batch and sequence."""
    model = build(name, seed, size, layers)
    if name in ENCODERS:
        args = torch_bert.example_inputs(1, torch_bert.SEQUENCE)
        inputs, outputs, axes = torch_bert.INPUT_NAMES, torch_bert.OUTPUT_NAMES, torch_bert.DYNAMIC_AXES
    else:
        s = image_size(name, size)
        args = (torch.randn(1, 3, s, s),)
        inputs, outputs = (["images"], ["output0"]) if name == "yolov8n" else (["input"], ["logits"])
        axes = {inputs[0]: {0: "batch"}, outputs[0]: {0: "batch"}}
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the legacy exporter is what we want here
        torch.onnx.export(model, args, path, opset_version=OPSET, input_names=inputs, output_names=outputs,
                          dynamic_axes=axes, do_constant_folding=True, dynamo=False)
    return path
