"""Per-node profiles of a Session made with ``profile=True``: a Chrome-trace JSON in the format
ONNX Runtime's profiler writes (load it in chrome://tracing or Perfetto), and a summary by node."""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class NodeTime:
    """Total time one node took over the profiled runs."""

    name: str
    op_type: str
    total_ms: float
    calls: int
    share: float  # fraction of all node time


def chrome_trace(events: list[tuple], path: str | None = None) -> str:
    """Writes events [(run, node, op, start_us, dur_us)] as Chrome-trace JSON; returns the path."""
    if path is None:
        path = os.path.abspath(f"fastinfer_profile_{time.strftime('%Y-%m-%d_%H-%M-%S')}.json")
    trace = [{"cat": "Node", "name": f"{node}_kernel_time", "ph": "X", "pid": os.getpid(), "tid": 0,
              "ts": round(start, 3), "dur": round(dur, 3), "args": {"op_name": op, "run": run}}
             for run, node, op, start, dur in events]
    with open(path, "w") as f:
        json.dump(trace, f)
    return path


def summarize(events: list[tuple], top: int | None = None) -> list[NodeTime]:
    """Nodes by total time, largest first."""
    total: dict[str, list] = {}
    for _, node, op, _, dur in events:
        t = total.setdefault(node, [op, 0.0, 0])
        t[1] += dur
        t[2] += 1
    all_us = sum(t[1] for t in total.values()) or 1.0
    rows = [NodeTime(name, op, us / 1e3, calls, us / all_us) for name, (op, us, calls) in total.items()]
    rows.sort(key=lambda r: -r.total_ms)
    return rows[:top] if top else rows
