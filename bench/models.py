"""Benchmark models, built on demand into bench/.cache (git-ignored): nothing is downloaded.

    python bench/models.py                 # builds every model, prints their paths
    python bench/models.py resnet50 bert   # just these

The torch models come from bench/torch_models.py (needs torch: ``pip install ".[models]"``): ResNet-50,
MobileNetV2, SqueezeNet 1.1, Inception v1, DenseNet-121, a YOLOv8n-like detector, BERT-base and a
MiniLM-sized encoder. A cached file is rebuilt when the torch version or the source of a
bench/torch_*.py file changes. ``light_<name>`` are the light models the ``onnx`` package ships with its
backend tests (onnx/backend/test/data/light: real architectures, fixed batch 1, opset 9, weights made
by ConstantOfShape nodes); ``resnet_mini`` is fastinfer's built-in model (fastinfer.models, no torch).
"""

from __future__ import annotations

import glob
import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache")
TORCH_MODELS = ("resnet50", "mobilenetv2", "squeezenet", "inception_v1", "densenet121", "yolov8n",
                "bert", "minilm")
ENCODERS = ("bert", "minilm")  # dynamic batch and sequence axes


def light_dir() -> str:
    """Where the onnx package keeps its light backend-test models."""
    import onnx
    return os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light")


def light_models() -> tuple[str, ...]:
    """``light_<name>`` for each light model the installed onnx package ships (may be empty)."""
    try:
        paths = glob.glob(os.path.join(light_dir(), "light_*.onnx"))
    except ImportError:
        return ()
    return tuple(sorted(os.path.basename(p)[:-len(".onnx")] for p in paths))


def all_models() -> tuple[str, ...]:
    """Every model name :func:`model_path` knows."""
    return (*TORCH_MODELS, *light_models(), "resnet_mini")


def _source_key() -> str:
    import torch
    h = hashlib.sha256(torch.__version__.encode())
    for p in sorted(glob.glob(os.path.join(HERE, "torch_*.py"))):
        with open(p, "rb") as f:
            h.update(os.path.basename(p).encode() + f.read())
    return h.hexdigest()[:12]


def model_path(name: str, cache: str = CACHE) -> str:
    """The path of model ``name``; a built model is made in ``cache`` first if missing or stale."""
    if name.startswith("light_") and name in light_models():
        return os.path.join(light_dir(), name + ".onnx")
    if name not in TORCH_MODELS and name != "resnet_mini":
        raise KeyError(f"unknown model {name!r}; known: {', '.join(all_models())}")
    os.makedirs(cache, exist_ok=True)
    if name == "resnet_mini":
        import onnx
        from fastinfer.models import get_model
        path = os.path.join(cache, "resnet_mini.onnx")
        if not os.path.exists(path):
            onnx.save(get_model(name), path)
        return path
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SystemExit(f'{name} needs torch to be built: pip install ".[models]"') from None
    path = os.path.join(cache, f"{name}-{_source_key()}.onnx")
    if not os.path.exists(path):
        if HERE not in sys.path:
            sys.path.insert(0, HERE)
        import torch_models
        tmp = path + ".tmp"
        torch_models.export(name, tmp)
        os.replace(tmp, path)
    return path


def main(argv: list[str]) -> int:
    """Builds the models named in ``argv`` (all by default) and prints name and path."""
    for name in argv or all_models():
        print(f"{name}\t{model_path(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
