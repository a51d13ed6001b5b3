"""One BERT-base encoder layer (hidden 768, 12 heads, FFN 3072, seq 128, batch 1) exported from
torch by both exporters: fastinfer with and without its graph passes vs ONNX Runtime (all
optimisations, spinning off), in one process, interleaved runs, medians.

    PYTHONPATH=python:tests python bench/bert_layer.py [reps] [threads]
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings

import fastinfer
import numpy as np
import onnxruntime as ort
from fusion_models import export_layer, have_dynamo_exporter


def _ort(model: bytes, threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def main(reps: int = 30, threads: int = 1) -> None:
    """Print a markdown table of median ms and ratios."""
    print(f"threads={threads}, reps={reps}")
    print("| export | gelu | fastinfer no passes ms | fastinfer ms | ORT ms | ratio before | ratio after |")
    print("|---|---|---|---|---|---|---|")
    x = np.random.default_rng(0).standard_normal((1, 128, 768)).astype(np.float32)
    exporters = [False, True] if have_dynamo_exporter() else [False]
    for dynamo in exporters:
        for gelu, manual in (("erf", False), ("tanh_manual", True)):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = export_layer(dynamo, hidden=768, heads=12, ffn=3072, seq=128, batch=1, gelu=gelu,
                                 manual_ln=manual).SerializeToString()
            sessions = {"plain": fastinfer.Session(m, threads=threads, optimize=False),
                        "fused": fastinfer.Session(m, threads=threads), "ort": _ort(m, threads)}
            ref = sessions["ort"].run(None, {"x": x})[0]
            for k in ("plain", "fused"):
                err = float(np.abs(sessions[k].run(None, {"x": x})[0] - ref).max())
                assert err < 1e-3, (k, err)
            times: dict[str, list[float]] = {k: [] for k in sessions}
            for _ in range(reps):
                for k, s in sessions.items():
                    t = time.perf_counter()
                    s.run(None, {"x": x})
                    times[k].append((time.perf_counter() - t) * 1e3)
            med = {k: statistics.median(v) for k, v in times.items()}
            name = "dynamo" if dynamo else "torchscript"
            print(f"| {name} | {gelu}{' + manual LN' if manual else ''} | {med['plain']:.2f} | {med['fused']:.2f} | "
                  f"{med['ort']:.2f} | {med['plain'] / med['ort']:.2f} | {med['fused'] / med['ort']:.2f} |")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
