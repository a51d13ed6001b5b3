"""The benchmark model zoo in one command: fastinfer against ONNX Runtime on every model of
bench/models.py (batch 1 and 8, 1 and 2 threads), written to bench/RESULTS.md with a bar chart
(bench/results.png).

    pip install ".[bench,models]"
    python bench/run_models.py                                  # everything (~30-40 min on 2 cores)
    python bench/run_models.py --models bert,minilm --batch 1 --threads 1
    python bench/run_models.py --quick                          # a few runs of batch 1, 1 thread

Each model runs in its own subprocess (a crash is reported, not fatal) through
``fastinfer.bench.benchmark``: both runtimes in one process on the same file and inputs, interleaved,
warm-up first, medians; ONNX Runtime with ``session.intra_op.allow_spinning=0``; peak RSS of each
runtime in a fresh subprocess. Configurations whose timed runs would take longer than ``--budget``
seconds get fewer runs (at least ``--min-runs``); the table says how many. For the encoders (dynamic
batch and sequence) it also measures the first call with a new input shape against the steady state.
``--quick`` writes bench/.cache/RESULTS-quick.md instead of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # numpy's idle BLAS threads would spin beside the runs

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from models import CACHE, ENCODERS, all_models, model_path

THREAD_SPEEDUP = 0.6  # guess of the 2-thread time over the 1-thread time, to plan the run counts
DYNAMIC_SHAPES = ((1, 32), (1, 64), (1, 100), (2, 128), (4, 64))  # new (batch, sequence) after 1x128


# ---------------------------------------------------------------- worker (one model, subprocess)

def _estimate(rows: list[dict], batch: int, threads: int) -> float | None:
    """Seconds for one interleaved iteration (fastinfer + ORT) of a config, from the measured ones."""
    best = None
    for r in rows:
        fi, o = r["fastinfer"]["median_ms"], (r["onnxruntime"] or {}).get("median_ms")
        if fi is None:
            continue
        it = (fi + (o or 0.0)) / 1e3 * batch / r["batch"] * THREAD_SPEEDUP ** (
            (threads > 1) - (r["threads"] > 1))
        best = it if best is None else max(best, it)
    return best


def _encoder_feed(inputs: list, batch: int, seq: int, seed: int) -> dict:
    from fastinfer.bench import make_feed, resolve_inputs
    specs, _ = resolve_inputs(inputs, batch, dims={"batch": batch, "sequence": seq})
    return make_feed(specs, seed)


def measure_dynamic(path: str, threads: int, shapes=DYNAMIC_SHAPES, runs: int = 10, reps: int = 5) -> dict:
    """The first call with a new input shape (planning it) against the steady state, both runtimes in
    one process, interleaved, after a warm-up at batch 1, sequence 128. For each (batch, seq) of
    ``shapes`` the first calls are taken at ``reps`` new sequence lengths around seq (seq-2 ... seq+2:
    each is new to both sessions) and their median is set against the median of ``runs`` steady calls
    at seq. Ends with a call at 1x128 again (a shape seen before)."""
    import numpy as np
    import onnx
    from fastinfer.bench import (
        graph_inputs,
        import_onnxruntime,
        make_fastinfer_session,
        make_ort_session,
        max_rel_err,
    )
    inputs = graph_inputs(onnx.load(path, load_external_data=False))
    ort = import_onnxruntime()
    sessions = [("fastinfer", make_fastinfer_session(path, threads)),
                ("onnxruntime", make_ort_session(ort, path, threads))]
    base = _encoder_feed(inputs, 1, 128, 0)
    for _ in range(3):
        for _, s in sessions:
            s.run(None, base)
    rows, worst, k = [], 0.0, 0
    for b, seq in shapes:
        first: dict[str, list[float]] = {n: [] for n, _ in sessions}
        for length in [seq + j - reps // 2 for j in range(reps)]:
            feed = _encoder_feed(inputs, b, length, k)
            outs = {}
            for name, s in (sessions if k % 2 == 0 else sessions[::-1]):
                t0 = time.perf_counter_ns()
                outs[name] = s.run(None, feed)
                first[name].append((time.perf_counter_ns() - t0) / 1e6)
            k += 1
            worst = max(worst, max_rel_err([np.asarray(o) for o in outs["fastinfer"]],
                                           [np.asarray(o) for o in outs["onnxruntime"]]))
        feed = _encoder_feed(inputs, b, seq, 0)
        steady: dict[str, list[float]] = {n: [] for n, _ in sessions}
        for it in range(runs):
            for name, s in (sessions if it % 2 == 0 else sessions[::-1]):
                t0 = time.perf_counter_ns()
                s.run(None, feed)
                steady[name].append((time.perf_counter_ns() - t0) / 1e6)
        row: dict = {"shape": [b, seq]}
        for name, _ in sessions:
            row[f"{name}_first_ms"] = float(np.median(first[name]))
            row[f"{name}_steady_ms"] = float(np.median(steady[name]))
        rows.append(row)
    back = {}
    for name, s in sessions:
        t0 = time.perf_counter_ns()
        s.run(None, base)
        back[name] = (time.perf_counter_ns() - t0) / 1e6
    return {"threads": threads, "runs": runs, "reps": reps, "rows": rows, "back_to_1x128_ms": back,
            "max_rel_err": worst}


def worker(spec: dict) -> None:
    """Benchmarks one model (every config, then the dynamic shapes for an encoder) and writes the
    JSON to ``spec["out"]`` after each step, so that a crash keeps what was measured."""
    from fastinfer.bench import benchmark
    res: dict = {"name": spec["name"], "header": None, "rows": [], "notes": [], "dynamic": None}

    def save() -> None:
        with open(spec["out"], "w") as f:
            json.dump(res, f)

    for b in spec["batch"]:
        for t in spec["threads"]:
            est = _estimate(res["rows"], b, t)
            runs, warmup = spec["runs"], spec["warmup"]
            if est is not None and est * runs > spec["budget"]:
                runs = max(spec["min_runs"], int(spec["budget"] / est))
            if est is not None and est * warmup > spec["budget"] / 4:
                warmup = 1
            memory = spec["memory"] and t == spec["threads"][0]
            print(f"  {spec['name']} batch {b} threads {t}: {runs} runs, {warmup} warm-up"
                  f"{', memory' if memory else ''}", file=sys.stderr, flush=True)
            dims = {"sequence": 128} if spec["name"] in ENCODERS else None
            rep = benchmark(spec["path"], [b], [t], runs=runs, warmup=warmup, memory=memory, dims=dims,
                            model_name=spec["name"], progress=False).to_json()
            res["header"] = res["header"] or rep["header"]
            for row in rep["rows"]:
                row.update(runs=runs, warmup=warmup)
                res["rows"].append(row)
            res["notes"] += [n for n in rep["notes"] if n not in res["notes"]]
            save()
    if spec["dynamic"]:
        print(f"  {spec['name']}: dynamic shapes", file=sys.stderr, flush=True)
        res["dynamic"] = measure_dynamic(spec["path"], spec["threads"][0], runs=spec["dynamic_runs"],
                                         reps=spec["dynamic_reps"])
        save()


def run_model(name: str, args: argparse.Namespace) -> dict:
    """Runs :func:`worker` for ``name`` in a subprocess; returns its results (with ``error`` set when
    the subprocess failed)."""
    t0 = time.time()
    try:
        path = model_path(name)
    except Exception as e:  # noqa: BLE001 - a model that cannot be built is reported
        return {"name": name, "rows": [], "error": f"building the model failed: {type(e).__name__}: {e}"}
    build_s = time.time() - t0
    batches = args.batch if not name.startswith("light_") else [b for b in args.batch if b == 1]
    if not batches:
        return {"name": name, "rows": [], "skipped": "fixed batch 1 (no batch 1 requested)"}
    fd, out = tempfile.mkstemp(suffix=".json", prefix=f"bench-{name}-")
    os.close(fd)
    spec = {"name": name, "path": path, "batch": batches, "threads": args.threads, "runs": args.runs,
            "warmup": args.warmup, "min_runs": args.min_runs, "budget": args.budget,
            "memory": not args.no_memory, "dynamic": name in ENCODERS and not args.no_dynamic,
            "dynamic_runs": 3 if args.quick else 10, "dynamic_reps": 2 if args.quick else 5, "out": out}
    print(f"{name}: {_display_path(path)}", file=sys.stderr, flush=True)
    p = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--worker", json.dumps(spec)],
                         stderr=subprocess.PIPE, text=True)
    tail: list[str] = []
    for line in p.stderr:  # shown as it comes, the last lines kept for the report
        sys.stderr.write(line)
        if line.strip():
            tail = (tail + [line.strip()])[-3:]
    p.wait()
    res = {"name": name, "rows": []}
    try:
        with open(out) as f:
            res = json.load(f) or res
    except (OSError, ValueError):
        pass
    os.remove(out)
    res.update(path=path, build_s=build_s, total_s=time.time() - t0)
    if p.returncode != 0:
        res["error"] = f"the benchmark process exited with code {p.returncode}: " + " / ".join(tail)
    return res


# ---------------------------------------------------------------- report

def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    a = abs(v)
    return f"{v:.3f}" if a < 1 else f"{v:.2f}" if a < 100 else f"{v:.1f}" if a < 1000 else f"{v:.0f}"


def _num(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _err(v: float | None) -> str:
    return "-" if v is None else "inf" if v == float("inf") else f"{v:.1e}"


def flat_rows(results: list[dict]) -> list[dict]:
    """One dict per (model, batch, threads) row with the figures of both runtimes."""
    out = []
    for r in results:
        for row in r.get("rows", []):
            fi, o = row["fastinfer"], row["onnxruntime"] or {}
            out.append({"model": r["name"], "batch": row["batch"], "threads": row["threads"],
                        "runs": row["runs"], "fi": fi, "ort": o, "ratio": row.get("ratio"),
                        "err": row.get("max_rel_err")})
    return out


def summary_table(rows: list[dict]) -> list[str]:
    """The Markdown table of every configuration."""
    lines = [("| model | batch | threads | runs | fi median ms | ORT median ms | fi/ORT | rel L2 vs ORT "
             "| fi peak MB | ORT peak MB | fi create ms | ORT create ms |"),
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        fi, o = r["fi"], r["ort"]
        ratio = _num(r["ratio"], ".2f")
        if r["ratio"] is not None and r["ratio"] > 0.95:
            ratio = f"**{ratio}**"
        lines.append(f"| {r['model']} | {r['batch']} | {r['threads']} | {r['runs']} | {_ms(fi.get('median_ms'))} "
                     f"| {_ms(o.get('median_ms'))} | {ratio} | {_err(r['err'])} | {_num(fi.get('peak_mb'), '.1f')} "
                     f"| {_num(o.get('peak_mb'), '.1f')} | {_num(fi.get('create_ms'), '.0f')} "
                     f"| {_num(o.get('create_ms'), '.0f')} |")
    return lines


def dynamic_table(results: list[dict]) -> list[str]:
    """The first-call-with-a-new-shape table of the encoders."""
    lines = []
    for r in results:
        d = r.get("dynamic")
        if not d:
            continue
        lines += [(f"**{r['name']}**, {d['threads']} thread(s): first call = median over {d['reps']} new "
                   f"sequence lengths around seq, steady = median of {d['runs']} runs at seq; largest rel L2 "
                   f"vs ORT over the new shapes: {_err(d['max_rel_err'])}."), "",
                  ("| new shape (batch x seq) | fi first call ms | fi steady ms | fi first - steady "
                  "| ORT first call ms | ORT steady ms | ORT first - steady |"),
                  "|---|---|---|---|---|---|---|"]
        for row in d["rows"]:
            ff, fs = row["fastinfer_first_ms"], row["fastinfer_steady_ms"]
            of, os_ = row["onnxruntime_first_ms"], row["onnxruntime_steady_ms"]
            lines.append(f"| {row['shape'][0]}x{row['shape'][1]} | {_ms(ff)} | {_ms(fs)} | {_ms(ff - fs)} "
                         f"| {_ms(of)} | {_ms(os_)} | {_ms(of - os_)} |")
        back = d["back_to_1x128_ms"]
        lines += ["", (f"Back to 1x128 (seen before) after these shapes: fastinfer {_ms(back['fastinfer'])} ms, "
                      f"ORT {_ms(back['onnxruntime'])} ms."), ""]
    return lines


def _display_path(path: str | None) -> str:
    if not path:
        return "?"
    rel = os.path.relpath(path, os.getcwd())
    if not rel.startswith(".."):
        return rel
    i = path.find(os.sep + "onnx" + os.sep)
    return "$(python -c 'import onnx,os;print(os.path.dirname(onnx.__file__))')" + path[i + 5:] if i >= 0 else path


def _config_command(r: dict) -> str:
    path = _display_path(r.get("path"))
    cfg = sorted({(row["batch"], row["threads"]) for row in r.get("rows", [])})
    bs = sorted({b for b, _ in cfg}) or [1]
    ts = sorted({t for _, t in cfg}) or [1]
    return (f"fastinfer bench {path} --name {r['name']} --batch {' '.join(map(str, bs))} "
            f"--threads {' '.join(map(str, ts))} --runs 20")


def render(results: list[dict], args: argparse.Namespace, elapsed_s: float, chart: str | None,
           chart_note: str | None) -> str:
    """RESULTS.md from the runs."""
    now = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    h = next((r["header"] for r in results if r.get("header")), {})
    rows = flat_rows(results)
    cmd = f"python bench/run_models.py {shlex.join(sys.argv[1:])}".rstrip()
    lines = [
        "# Benchmark results", "",
        f"Measured {now} by `{cmd}` ({elapsed_s / 60:.1f} min in all).", "",
        "To reproduce: `pip install \".[bench,models]\" && python bench/run_models.py` (builds the models into",
        "bench/.cache with torch, random weights from `torch.manual_seed(0)`; the `light_*` models are the ones",
        "the onnx package ships in onnx/backend/test/data/light, fixed batch 1). One model:",
        "`python bench/run_models.py --models bert --batch 1 --threads 1`; while developing: `--quick`.", "",
        "## Machine", "",
        (f"- CPU: {h.get('cpu', '?')}, {h.get('logical_cores', '?')} logical cores; "
         f"features: {', '.join(h.get('cpu_features', [])) or 'none'}; fastinfer ISA: {h.get('isa', '?')}"),
        (f"- fastinfer {h.get('fastinfer', '?')}, onnxruntime {h.get('onnxruntime', '?')}, "
         f"onnx {h.get('onnx', '?')}, numpy {h.get('numpy', '?')}, Python {h.get('python', '?')}, "
         f"torch {_torch_version()} (export)"),
        f"- {h.get('platform', '?')}; load average at start: {h.get('load_avg_1m_at_start', '?')}", "",
        "## Method", "",
        "Each model runs in its own process with `fastinfer.bench.benchmark` (what `fastinfer bench` runs):",
        "both runtimes on the same file and the same random inputs, interleaved (the one that goes first",
        f"alternates), after a warm-up of {args.warmup} run(s) (1 for slow configurations); latencies are medians of",
        (f"{args.runs} timed runs, fewer where they would take over {args.budget:.0f} s (at least {args.min_runs}: "
        "the runs column)."),
        "ONNX Runtime: intra_op_num_threads = threads, inter_op_num_threads = 1, ORT_ENABLE_ALL,",
        "`session.intra_op.allow_spinning=0`. fi/ORT below 1: fastinfer is faster (**bold**: above the",
        "issue's 0.95). rel L2: ||fi - ORT|| / ||ORT|| of the first call's outputs (largest over outputs).",
        "Peak MB: peak RSS growth over session creation and 5 runs, in a fresh process per runtime",
        f"({h.get('memory_method', 'VmHWM after clear_refs')}), measured at {args.threads[0]} thread(s) for each",
        "batch size. Create ms: the faster of two session creations per runtime in the benchmark process (made fi, ORT, ORT, fi).", "",
        "## Results", "",
    ]
    if chart:
        lines += [f"![fastinfer / ONNX Runtime latency ratio]({chart})", ""]
    elif chart_note:
        lines += [f"(No chart: {chart_note}.)", ""]
    lines += summary_table(rows) + [""]
    dyn = dynamic_table(results)
    if dyn:
        lines += ["## Dynamic shapes: the first call with a new shape", "",
                  "After a warm-up at batch 1, sequence 128, each new (batch, sequence) is run once (the first call:",
                  "fastinfer plans the shape and caches the plan) and then steadily; the difference is the",
                  "planning cost (ONNX Runtime's first call with a new shape has its own allocation cost).",
                  ""] + dyn
    problems = []
    for r in results:
        if r.get("error"):
            problems.append(f"- **{r['name']}**: {r['error']}")
        for row in r.get("rows", []):
            for rt in ("fastinfer", "onnxruntime"):
                e = (row.get(rt) or {}).get("error")
                if e:
                    problems.append(f"- **{r['name']}** batch {row['batch']} threads {row['threads']}, {rt}: `{e}`")
        problems += [f"- {r['name']}: {n}" for n in r.get("notes", []) if "batch is ignored" not in n]
    if problems:
        lines += ["## Failures and notes", ""] + problems + [""]
    lines += ["## Per model", "",
              ("The equivalent `fastinfer bench` command (20 runs) and the time the model took here "
              "(building or exporting it included)."), "",
              "| model | command | time |", "|---|---|---|"]
    for r in results:
        lines.append(f"| {r['name']} | `{_config_command(r)}` | {r.get('total_s', 0) / 60:.1f} min |")
    return "\n".join(lines).rstrip() + "\n"


def _torch_version() -> str:
    try:
        import torch
        return torch.__version__
    except ImportError:
        return "not installed"


KEEP_MARKER = "<!-- sections below are kept by run_models.py -->"


def _csv(text: str) -> list[str]:
    return [x for x in text.replace(",", " ").split() if x]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", nargs="+", default=None,
                   help=f"comma- or space-separated; default: every model ({', '.join(all_models()[:-1])})")
    p.add_argument("--batch", type=int, nargs="+", default=None, help="default: 1 8 (--quick: 1)")
    p.add_argument("--threads", type=int, nargs="+", default=None, help="default: 1 2 (--quick: 1)")
    p.add_argument("--runs", type=int, default=None, help="timed runs per configuration (default 20)")
    p.add_argument("--min-runs", type=int, default=None, help="fewest runs of a slow configuration (10)")
    p.add_argument("--warmup", type=int, default=None, help="default 3")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds of timed runs per configuration before the run count is cut (40)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-RSS subprocesses")
    p.add_argument("--no-dynamic", action="store_true", help="skip the encoders' new-shape measurement")
    p.add_argument("--quick", action="store_true",
                   help="5 runs, 1 warm-up, batch 1, 1 thread, no memory; writes bench/.cache/RESULTS-quick.md")
    p.add_argument("--out", default=None, help="default bench/RESULTS.md (the chart goes beside it)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    q = a.quick
    a.batch = a.batch or ([1] if q else [1, 8])
    a.threads = a.threads or ([1] if q else [1, 2])
    a.runs = a.runs or (5 if q else 20)
    a.min_runs = min(a.runs, a.min_runs or (3 if q else 10))
    a.warmup = a.warmup if a.warmup is not None else (1 if q else 3)
    a.budget = a.budget or (15.0 if q else 40.0)
    a.no_memory = a.no_memory or q
    a.out = a.out or (os.path.join(CACHE, "RESULTS-quick.md") if q else os.path.join(HERE, "RESULTS.md"))
    a.models = [m for text in a.models or [] for m in _csv(text)] or [m for m in all_models() if m != "resnet_mini"]
    unknown = [m for m in a.models if m not in all_models()]
    if unknown:
        p.error(f"unknown models {unknown}; known: {', '.join(all_models())}")
    if min(a.batch) < 1 or min(a.threads) < 1 or a.runs < 1 or a.warmup < 0:
        p.error("batch, threads and runs must be >= 1, warmup >= 0")
    return a


def write_report(results: list[dict], args: argparse.Namespace, elapsed_s: float, done: bool) -> str:
    """Writes the results file (keeping the hand-written sections after KEEP_MARKER), the chart beside
    it and the raw results as JSON (bench/.cache/results.json for bench/RESULTS.md, else beside the
    report); returns a line saying what was written."""
    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    os.makedirs(CACHE, exist_ok=True)
    # The raw results go beside the cache for the default report, beside any other report file
    # (so a test's or a partial run's report does not overwrite the full sweep's).
    default = os.path.basename(out) == "RESULTS.md"
    raw = os.path.join(CACHE, "results.json") if default else os.path.splitext(out)[0] + ".json"
    with open(raw, "w") as f:
        json.dump(results, f, indent=1)
    from chart import write_chart
    stem = "results" if os.path.basename(out) == "RESULTS.md" else os.path.splitext(os.path.basename(out))[0]
    png = os.path.join(os.path.dirname(out), stem + ".png")
    note = write_chart(flat_rows(results), png)
    kept = ""
    if os.path.exists(out):
        with open(out) as f:
            old = f.read()
        if KEEP_MARKER in old:
            kept = "\n" + old[old.index(KEEP_MARKER):]
    text = render(results, args, elapsed_s, None if note else os.path.basename(png), note)
    if not done:
        missing = [m for m in args.models if m not in {r["name"] for r in results}]
        text += f"\n(In progress: {', '.join(missing)} still to run.)\n"
    with open(out, "w") as f:
        f.write(text + kept)
    return f"wrote {args.out}" + (f" and {png}" if not note else f" (no chart: {note})")


def main(argv: list[str] | None = None) -> int:
    """Runs the benchmarks, rewriting the results file and the chart after each model (an interrupted
    sweep leaves the models done so far)."""
    args = parse_args(argv)
    if args.worker:
        worker(json.loads(args.worker))
        return 0
    t0 = time.time()
    results: list[dict] = []
    for i, name in enumerate(args.models):
        results.append(run_model(name, args))
        r = results[-1]
        print(f"{name}: {r.get('total_s', 0):.0f} s" + (f"; {r['error']}" if r.get("error") else ""),
              file=sys.stderr, flush=True)
        msg = write_report(results, args, time.time() - t0, done=i == len(args.models) - 1)
    print(msg, file=sys.stderr)
    failed = any(r.get("error") or any(row["fastinfer"].get("error") for row in r.get("rows", []))
                 for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
