"""Runs ``fastinfer bench`` on ResNet-50 and MobileNetV2 (batch 1 and 8, threads 1 and 2) and writes
bench/RESULTS.md: the machine, the exact commands and one table per model.

    pip install ".[bench,models]"
    python bench/run_models.py                      # all models, 30 runs each, writes bench/RESULTS.md
    python bench/run_models.py --models mobilenetv2 --runs 10 --out /tmp/r.md
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from models import CACHE, TORCH_MODELS, model_path

TITLES = {"resnet50": "ResNet-50", "mobilenetv2": "MobileNetV2", "resnet_mini": "resnet_mini (built-in)"}


def run_one(name: str, args: argparse.Namespace) -> dict:
    """Runs the benchmark of one model in a subprocess; returns command, output, JSON and exit code."""
    path = model_path(name)
    out_json = os.path.join(CACHE, f"results-{name}.json")
    bench_args = ["bench", os.path.relpath(path, os.getcwd()), "--name", name,
                  "--batch", *map(str, args.batch), "--threads", *map(str, args.threads),
                  "--runs", str(args.runs), "--warmup", str(args.warmup)]
    cmd = [sys.executable, "-m", "fastinfer.cli", *bench_args, "--markdown", "--json", out_json]
    print(f"$ fastinfer {shlex.join(bench_args)}", file=sys.stderr, flush=True)
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    print(p.stdout, file=sys.stderr)
    data = None
    if os.path.exists(out_json):
        with open(out_json) as f:
            data = json.load(f)
        os.remove(out_json)
    return {"name": name, "command": "fastinfer " + shlex.join(bench_args), "stdout": p.stdout,
            "rc": p.returncode, "json": data}


def render(results: list[dict], args: argparse.Namespace) -> str:
    """RESULTS.md from the runs."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    h = next((r["json"]["header"] for r in results if r["json"]), {})
    lines = [
        "# Benchmark results",
        "",
        f"Measured {now} by `python bench/run_models.py {shlex.join(sys.argv[1:])}`".rstrip() + ".",
        "",
        "To reproduce: `pip install \".[bench,models]\" && python bench/run_models.py` (builds the models into",
        "bench/.cache with torch, random weights from `torch.manual_seed(0)`, then runs the commands below).",
        "",
        "## Machine",
        "",
        (f"- CPU: {h.get('cpu', '?')}, {h.get('logical_cores', '?')} logical cores; "
         f"features: {', '.join(h.get('cpu_features', [])) or 'none'}; fastinfer ISA: {h.get('isa', '?')}"),
        (f"- fastinfer {h.get('fastinfer', '?')}, onnxruntime {h.get('onnxruntime', '?')}, "
         f"onnx {h.get('onnx', '?')}, numpy {h.get('numpy', '?')}, Python {h.get('python', '?')}"),
        f"- {h.get('platform', '?')}; load average at start: {h.get('load_avg_1m_at_start', '?')}",
        "",
        "## Method",
        "",
        "Both runtimes run in one process on the same file and inputs, interleaved (the one that goes",
        "first alternates), after a warm-up; latencies are the median and 90th percentile of the timed",
        "runs. ONNX Runtime: intra_op_num_threads = threads, inter_op_num_threads = 1, ORT_ENABLE_ALL,",
        "`session.intra_op.allow_spinning=0`. Peak MB: the peak RSS growth over session creation and",
        "runs, measured in a separate process per runtime. fi/ort below 1 means fastinfer is faster.",
        "",
    ]
    for r in results:
        lines += [f"## {TITLES.get(r['name'], r['name'])}", "", "```", r["command"], "```", "",
                  "(run_models.py adds `--markdown --json FILE` to print this table and keep the raw figures.)",
                  ""]
        table = [ln for ln in r["stdout"].splitlines() if ln.startswith("|")]
        if table:
            lines += table + [""]
        failures = [ln for ln in r["stdout"].splitlines() if " failed (batch/threads " in ln or ln.startswith("note:")]
        if failures:
            lines += [f"- {ln}" for ln in failures] + [""]
        if r["rc"] != 0:
            lines += [(f"The run exited with code {r['rc']}: the figures above are incomplete. To be filled "
                       "by running `python bench/run_models.py` once every operator is there."), ""]
    return "\n".join(lines).rstrip() + "\n"


KEEP_MARKER = "<!-- sections below are kept by run_models.py -->"


def main() -> int:
    """Runs the benchmarks and writes the results file."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=list(TORCH_MODELS), help="default: resnet50 mobilenetv2")
    p.add_argument("--batch", type=int, nargs="+", default=[1, 8])
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    p.add_argument("--runs", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--out", default=os.path.join(HERE, "RESULTS.md"))
    args = p.parse_args()
    results = [run_one(name, args) for name in args.models]
    kept = ""  # sections written by hand after KEEP_MARKER survive a re-run
    if os.path.exists(args.out):
        with open(args.out) as f:
            old = f.read()
        if KEEP_MARKER in old:
            kept = "\n" + old[old.index(KEEP_MARKER):]
    with open(args.out, "w") as f:
        f.write(render(results, args) + kept)
    print(f"wrote {args.out}", file=sys.stderr)
    return max(r["rc"] for r in results)


if __name__ == "__main__":
    sys.exit(main())
