"""Benchmark models, built on demand into bench/.cache (git-ignored): nothing is downloaded.

    python bench/models.py                 # builds every model, prints their paths
    python bench/models.py resnet50        # just one

ResNet-50 and MobileNetV2 come from bench/torch_models.py (needs torch: ``pip install ".[models]"``);
``resnet_mini`` is fastinfer's built-in model (fastinfer.models, no torch). A cached file is rebuilt
when the torch version or the source of torch_models.py changes.
"""

from __future__ import annotations

import hashlib
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, ".cache")
TORCH_MODELS = ("resnet50", "mobilenetv2")
ALL_MODELS = (*TORCH_MODELS, "resnet_mini")


def _source_key() -> str:
    import torch
    with open(os.path.join(HERE, "torch_models.py"), "rb") as f:
        src = f.read()
    return hashlib.sha256(src + torch.__version__.encode()).hexdigest()[:12]


def model_path(name: str, cache: str = CACHE) -> str:
    """The path of model ``name`` in ``cache``, built first if it is missing or stale."""
    if name not in ALL_MODELS:
        raise KeyError(f"unknown model {name!r}; known: {', '.join(ALL_MODELS)}")
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
        sys.path.insert(0, HERE)
        import torch_models
        tmp = path + ".tmp"
        torch_models.export(name, tmp)
        os.replace(tmp, path)
    return path


def main(argv: list[str]) -> int:
    """Builds the models named in ``argv`` (all by default) and prints name and path."""
    for name in argv or ALL_MODELS:
        print(f"{name}\t{model_path(name)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
