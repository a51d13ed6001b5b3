"""The benchmark zoo of bench/ (SqueezeNet 1.1, Inception v1, DenseNet-121, the YOLOv8n-like detector,
BERT and the MiniLM-sized encoder, written in plain torch and exported by torch.onnx, opset 17):
each builds, exports, runs in fastinfer and matches ONNX Runtime within 1e-4 relative L2 at batch 1;
the encoders take several batch/sequence shapes in one session. Reduced sizes keep it fast: the CNNs
at 112x112, YOLO at 320x320, BERT with 2 layers. The torch tests are skipped where torch is not
installed (``pip install ".[models]"``); bench/run_models.py is tested on the built-in model.
"""

from __future__ import annotations

import os
import subprocess
import sys

import fastinfer
import numpy as np
import onnx
import pytest
from child_env import child_env

ort = pytest.importorskip("onnxruntime")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH_DIR = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH_DIR)

# name -> export options (reduced sizes for test speed)
CASES = {"squeezenet": {"size": 112}, "inception_v1": {"size": 112}, "densenet121": {"size": 112},
         "yolov8n": {"size": 320}, "bert": {"layers": 2}, "minilm": {}}
ENCODERS = ("bert", "minilm")


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| in float64."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def ort_session(path: str):
    """An ONNX Runtime reference session, 1 thread."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def encoder_feed(batch: int, seq: int, seed: int, pad: int = 0) -> dict[str, np.ndarray]:
    """Random token ids; the last ``pad`` positions of every other row are masked out."""
    rng = np.random.default_rng(seed)
    mask = np.ones((batch, seq), np.int64)
    if pad:
        mask[::2, seq - pad:] = 0
    return {"input_ids": rng.integers(0, 30522, (batch, seq), dtype=np.int64), "attention_mask": mask}


@pytest.fixture(scope="module", params=list(CASES))
def exported(request, tmp_path_factory) -> tuple[str, str]:
    pytest.importorskip("torch")
    import torch_models
    path = str(tmp_path_factory.mktemp("zoo") / f"{request.param}.onnx")
    torch_models.export(request.param, path, **CASES[request.param])
    return request.param, path


def test_export_is_opset17_with_dynamic_axes(exported):
    name, path = exported
    m = onnx.load(path)
    onnx.checker.check_model(m)
    assert m.opset_import[0].version == 17
    dims = {vi.name: [d.dim_param or d.dim_value for d in vi.type.tensor_type.shape.dim] for vi in m.graph.input}
    ops = {n.op_type for n in m.graph.node}
    if name in ENCODERS:
        assert dims == {"input_ids": ["batch", "sequence"], "attention_mask": ["batch", "sequence"]}
        # the plain-op attention and GELU of a typical export, nothing fused
        assert {"MatMul", "Softmax", "Erf", "LayerNormalization", "Transpose"} <= ops
        assert not ops & {"Attention", "MultiHeadAttention", "Gelu"}
    else:
        size = CASES[name]["size"]
        assert list(dims.values()) == [["batch", 3, size, size]]
        assert "Conv" in ops
    if name == "yolov8n":
        assert {"Sigmoid", "Mul", "Concat", "Reshape", "Softmax", "MaxPool", "Resize"} <= ops


def test_fastinfer_matches_onnxruntime(exported):
    name, path = exported
    sess = fastinfer.Session(path)
    ref = ort_session(path)
    if name in ENCODERS:
        feed = encoder_feed(1, 128, 0)
    else:
        size = CASES[name]["size"]
        x = np.random.default_rng(0).standard_normal((1, 3, size, size)).astype(np.float32)
        feed = {ref.get_inputs()[0].name: x}
    ours, theirs = sess.run(None, feed), ref.run(None, feed)
    assert len(ours) == len(theirs)
    for i, (a, b) in enumerate(zip(ours, theirs)):
        assert a.shape == b.shape, (name, i)
        assert np.all(np.isfinite(a)), (name, i)
        err = rel_l2(a, b)
        assert err <= 1e-4, f"{name} output {i}: relative L2 error {err:.2e}"
    if name == "yolov8n":  # 40x40 + 20x20 + 10x10 anchors at 320x320, 4 box + 80 class rows
        assert ours[0].shape == (1, 84, 2100)
        assert np.all((ours[0][:, 4:] >= 0) & (ours[0][:, 4:] <= 1))


@pytest.mark.parametrize("name", ENCODERS)
def test_encoder_dynamic_batch_and_sequence(name, tmp_path):
    pytest.importorskip("torch")
    import torch_models
    path = str(tmp_path / f"{name}.onnx")
    torch_models.export(name, path, layers=1)
    sess = fastinfer.Session(path, threads=2)
    ref = ort_session(path)
    # several shapes in one session, a padded mask, and a shape seen before (the cached plan)
    for batch, seq, pad in ((1, 128, 0), (3, 17, 5), (2, 64, 60), (1, 128, 0), (3, 17, 5)):
        feed = encoder_feed(batch, seq, seed=batch * 1000 + seq, pad=pad)
        ours, theirs = sess.run(None, feed), ref.run(None, feed)
        assert ours[0].shape == (batch, seq, torch_models.torch_bert.CONFIGS[name].hidden)
        for a, b in zip(ours, theirs):
            assert a.shape == b.shape
            assert rel_l2(a, b) <= 1e-4, (name, batch, seq)


def test_yolo_batch_two():
    pytest.importorskip("torch")
    import torch
    import torch_models
    import torch_yolo
    model = torch_yolo.YOLOv8n(size=64).eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        y = model(x)
    assert y.shape == (2, 84, 64 + 16 + 4)
    assert torch_models.image_size("yolov8n") == 640 and torch_models.image_size("resnet50") == 224


def test_run_models_quick_report(tmp_path):
    out = tmp_path / "R.md"
    out.write_text("old\n<!-- sections below are kept by run_models.py -->\n\n## Kept\n")
    env = child_env()  # the fastinfer this process imported (the dev build, or the installed one in CI)
    p = subprocess.run([sys.executable, os.path.join(BENCH_DIR, "run_models.py"), "--quick", "--models",
                        "resnet_mini", "--runs", "2", "--out", str(out)],
                       capture_output=True, text=True, env=env, timeout=300, check=False)
    assert p.returncode == 0, p.stderr[-2000:]
    text = out.read_text()
    assert "| resnet_mini | 1 | 1 | 2 |" in text
    assert text.rstrip().endswith("## Kept") and "old" not in text.splitlines()[0]
    assert "allow_spinning=0" in text


def test_run_models_rejects_unknown_model():
    p = subprocess.run([sys.executable, os.path.join(BENCH_DIR, "run_models.py"), "--models", "nope"],
                       capture_output=True, text=True, timeout=120, check=False)
    assert p.returncode == 2 and "unknown models" in p.stderr


def test_chart_without_ratios(tmp_path):
    from chart import write_chart
    assert write_chart([], str(tmp_path / "c.png")) is not None
    rows = [{"model": "m", "batch": 1, "threads": 1, "ratio": 0.9}, {"model": "m", "batch": 8, "threads": 2,
                                                                        "ratio": 1.2}]
    note = write_chart(rows, str(tmp_path / "c.png"))
    if note is None:
        assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert "matplotlib" in note


@pytest.mark.parametrize("name", ENCODERS)
def test_encoder_attention_fuses_with_dynamic_shapes(name, tmp_path):
    """The dynamic-axes export fuses into MultiHeadAttention (shape inference cannot prove the
    mask's batch; the fused kernel checks it), and a mask whose batch would enlarge the scores
    raises a clear error instead of a wrong answer."""
    pytest.importorskip("torch")
    import torch_models
    path = str(tmp_path / f"{name}.onnx")
    torch_models.export(name, path, layers=1)
    sess = fastinfer.Session(path)
    ops = {n["op_type"] for n in sess._describe_nodes()}
    assert "MultiHeadAttention" in ops and "Softmax" not in ops, ops
    feed = encoder_feed(1, 9, seed=3, pad=0)
    feed["attention_mask"] = np.concatenate([feed["attention_mask"]] * 2)  # batch 2 mask, batch 1 ids
    with pytest.raises(fastinfer.InvalidArgument, match="attention_bias"):
        sess.run(None, feed)
