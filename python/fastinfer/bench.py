"""``fastinfer bench``: fastinfer against ONNX Runtime on one model file, in one table.

For each (batch, threads) configuration both runtimes get a session on the same file and the same
random inputs. After a warm-up they run *interleaved* in one process (fastinfer, ORT, ORT, fastinfer,
...: the one that goes first alternates), so that both see the same machine state; latencies are
medians and 90th percentiles of many runs. ONNX Runtime runs with ``intra_op_num_threads=threads``,
``inter_op_num_threads=1``, all graph optimisations and ``session.intra_op.allow_spinning=0``
(fastinfer's pool never spins), so neither runtime steals the other's cores.

Peak memory is measured in a fresh subprocess per runtime and configuration, which imports only
what it needs and makes the inputs, then resets the kernel's peak-RSS mark (``/proc/self/clear_refs``),
creates the session and runs it (warm-up plus a few runs). Its figure is the peak resident set size
reached during that time minus the resident size just before it: the memory the session itself needs,
weights, plan, arena and scratch, without the interpreter, the libraries or the inputs.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import onnx

from ._dtypes import STRING, numpy_dtype

INSTALL_HINT = 'pip install "fastinfer[bench]"'
_SEQ_WORDS = ("seq", "len", "token", "time", "step", "position")


# ---------------------------------------------------------------- inputs

@dataclass
class InputSpec:
    """One model input with every dimension resolved to a number."""

    name: str
    elem_type: int
    shape: list[int]


def graph_inputs(model: onnx.ModelProto) -> list[tuple[str, int, list[Any]]]:
    """(name, ONNX element type, dims) of each input a caller must feed; dims are ints, dim names
    (str) or None for unknown. Inputs that have an initializer (a default) are left out."""
    inits = {t.name for t in model.graph.initializer} | {t.values.name for t in model.graph.sparse_initializer}
    out = []
    for vi in model.graph.input:
        if vi.name in inits:
            continue
        tt = vi.type.tensor_type
        dims: list[Any] = []
        for d in tt.shape.dim:
            if d.HasField("dim_value"):
                dims.append(int(d.dim_value))
            else:
                dims.append(d.dim_param or None)
        out.append((vi.name, tt.elem_type, dims))
    return out


def parse_shape(text: str) -> tuple[str, list[int]]:
    """``"name=1x128"`` -> ``("name", [1, 128])``; ``"name="`` is a scalar."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise ValueError(f"--shape {text!r}: expected NAME=D1xD2x..., e.g. input_ids=1x128")
    try:
        shape = [int(d) for d in dims.lower().split("x")] if dims else []
    except ValueError:
        raise ValueError(f"--shape {text!r}: dimensions must be integers separated by 'x'") from None
    if any(d < 0 for d in shape):
        raise ValueError(f"--shape {text!r}: dimensions must be >= 0")
    return name, shape


def parse_dim(text: str) -> tuple[str, int]:
    """``"sequence=128"`` -> ``("sequence", 128)``: a value for a symbolic dimension name."""
    name, sep, value = text.rpartition("=")
    try:
        v = int(value)
    except ValueError:
        v = -1
    if not sep or not name or v < 0:
        raise ValueError(f"--dim {text!r}: expected DIM_NAME=VALUE, e.g. sequence=128")
    return name, v


def has_batch_dim(inputs: Sequence[tuple[str, int, list[Any]]], shapes: dict[str, list[int]]) -> bool:
    """True when some input not fixed by ``shapes`` has a symbolic or unknown first dimension."""
    return any(dims and not isinstance(dims[0], int) for name, _, dims in inputs if name not in shapes)


def resolve_inputs(inputs: Sequence[tuple[str, int, list[Any]]], batch: int,
                   shapes: dict[str, list[int]] | None = None,
                   dims: dict[str, int] | None = None) -> tuple[list[InputSpec], list[str]]:
    """Gives every symbolic dimension a value. Returns the specs and notes on the guesses made.

    An input named in ``shapes`` takes that shape (its fixed dims must agree). Otherwise a dimension
    named in ``dims`` takes that value; a symbolic first dimension is the batch; other symbolic
    dimensions are 224 for the spatial dims of a 4-d input, 128 for sequence-like names, else 1.
    """
    shapes = dict(shapes or {})
    dims = dict(dims or {})
    unknown_names = set(shapes) - {n for n, _, _ in inputs}
    if unknown_names:
        raise ValueError(f"--shape names {sorted(unknown_names)} are not inputs of the model; "
                         f"its inputs are {[n for n, _, _ in inputs]}")
    specs, notes = [], []
    chosen: dict[str, int] = {}
    for name, elem, model_dims in inputs:
        if name in shapes:
            shape = shapes[name]
            if model_dims and len(model_dims) != len(shape):
                raise ValueError(f"--shape {name}: the model's input has rank {len(model_dims)}, "
                                 f"got {len(shape)} dims")
            for i, (m, s) in enumerate(zip(model_dims, shape)):
                if isinstance(m, int) and m != s:
                    raise ValueError(f"--shape {name}: dim {i} is fixed to {m} in the model, got {s}")
            specs.append(InputSpec(name, elem, list(shape)))
            continue
        shape = []
        for i, d in enumerate(model_dims):
            if isinstance(d, int):
                shape.append(d)
                continue
            if d is not None and d in dims:
                v = dims[d]
            elif d is not None and d in chosen:
                v = chosen[d]
            elif i == 0:
                v = batch
            elif len(model_dims) == 4 and i >= 2:
                v = 224
            elif d is not None and any(w in d.lower() for w in _SEQ_WORDS):
                v = 128
            else:
                v = 1
            if i != 0 and not (d is not None and d in dims) and not (d is not None and d in chosen):
                label = repr(d) if d else "unnamed"
                notes.append(f"input '{name}' dim {i} ({label}) set to {v}; override with "
                             f"--dim NAME=V or --shape {name}=...")
            if d is not None:
                chosen.setdefault(d, v)
            shape.append(v)
        specs.append(InputSpec(name, elem, shape))
    return specs, notes


def make_feed(specs: Sequence[InputSpec], seed: int = 0) -> dict[str, np.ndarray]:
    """Random inputs for ``specs``: normal floats, small non-negative integers (ones for masks)."""
    rng = np.random.default_rng(seed)
    feed = {}
    for s in specs:
        if s.elem_type == STRING:
            feed[s.name] = np.array(rng.choice(["a", "bc", "def"], size=s.shape), dtype=object)
            continue
        dt = numpy_dtype(s.elem_type)
        is_mask = "mask" in s.name.lower()
        if dt == np.bool_:
            arr = np.ones(s.shape, np.bool_) if is_mask else rng.random(s.shape) < 0.5
        elif dt.kind in "iu":
            arr = np.ones(s.shape, dt) if is_mask else rng.integers(0, 100, s.shape).astype(dt)
        else:
            arr = rng.standard_normal(s.shape).astype(np.float32).astype(dt)
        feed[s.name] = np.ascontiguousarray(arr)
    return feed


# ---------------------------------------------------------------- results

@dataclass
class RuntimeResult:
    """One runtime's figures for one configuration (times in ms, memory in MB)."""

    median_ms: float | None = None
    p90_ms: float | None = None
    mean_ms: float | None = None
    min_ms: float | None = None
    throughput: float | None = None
    create_ms: float | None = None
    peak_mb: float | None = None
    retained_mb: float | None = None
    error: str | None = None


@dataclass
class ConfigResult:
    """Both runtimes on one (batch, threads) configuration."""

    model: str
    batch: int
    threads: int
    shapes: dict[str, list[int]]
    fastinfer: RuntimeResult = field(default_factory=RuntimeResult)
    onnxruntime: RuntimeResult | None = None
    max_rel_err: float | None = None

    @property
    def ratio(self) -> float | None:
        """fastinfer median latency / ONNX Runtime median latency (below 1: fastinfer is faster)."""
        o = self.onnxruntime
        if o is None or o.median_ms is None or self.fastinfer.median_ms is None or o.median_ms <= 0:
            return None
        return self.fastinfer.median_ms / o.median_ms


def rel_l2(a: np.ndarray, b: np.ndarray) -> float:
    """||a - b|| / ||b|| (0 when both are zero; inf on a shape mismatch)."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return float("inf")
    if a.dtype == object or b.dtype == object:
        return 0.0 if np.array_equal(a, b) else 1.0
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    diff = a64 - b64
    if not np.all(np.isfinite(diff)):
        same = np.array_equal(a64, b64, equal_nan=True)
        return 0.0 if same else float("inf")
    den = float(np.linalg.norm(b64))
    num = float(np.linalg.norm(diff))
    if den == 0.0:
        return 0.0 if num == 0.0 else float("inf")
    return num / den


def max_rel_err(outs_a: Sequence[np.ndarray], outs_b: Sequence[np.ndarray]) -> float:
    """The largest :func:`rel_l2` over corresponding outputs."""
    if len(outs_a) != len(outs_b):
        return float("inf")
    return max((rel_l2(a, b) for a, b in zip(outs_a, outs_b)), default=0.0)


def _stats(times_ns: Sequence[int], batch: int, res: RuntimeResult) -> None:
    ms = np.asarray(times_ns, dtype=np.float64) / 1e6
    res.median_ms = float(np.median(ms))
    res.p90_ms = float(np.percentile(ms, 90))
    res.mean_ms = float(ms.mean())
    res.min_ms = float(ms.min())
    res.throughput = batch * 1000.0 / res.median_ms if res.median_ms > 0 else None


# ---------------------------------------------------------------- progress

class Progress:
    """A one-line progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool | None = None, width: int = 30):
        self.total = max(1, total)
        self.done = 0
        self.width = width
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._last = 0.0

    def step(self, label: str, n: int = 1) -> None:
        """Advances by ``n`` and redraws (at most 20 times a second)."""
        self.done = min(self.total, self.done + n)
        now = time.monotonic()
        if not self.enabled or (now - self._last < 0.05 and self.done < self.total):
            return
        self._last = now
        frac = self.done / self.total
        fill = round(frac * self.width)
        bar = "#" * fill + "." * (self.width - fill)
        sys.stderr.write(f"\r[{bar}] {frac * 100:5.1f}% {label[:60]:<60}")
        sys.stderr.flush()

    def close(self) -> None:
        """Erases the bar."""
        if self.enabled:
            sys.stderr.write("\r" + " " * (self.width + 70) + "\r")
            sys.stderr.flush()


# ---------------------------------------------------------------- sessions

def import_onnxruntime() -> Any | None:
    """The onnxruntime module, or None when it is not installed."""
    try:
        import onnxruntime
    except ImportError:
        return None
    return onnxruntime


def make_ort_session(ort: Any, path: str, threads: int) -> Any:
    """An ONNX Runtime CPU session set up for a fair A/B run (see the module docstring)."""
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def make_fastinfer_session(path: str, threads: int) -> Any:
    """A fastinfer session on ``path`` with ``threads`` threads."""
    from .session import Session
    return Session(path, threads=threads)


def _error_text(e: BaseException) -> str:
    text = f"{type(e).__name__}: {e}"
    return text if len(text) < 2000 else text[:2000] + "..."


# ---------------------------------------------------------------- memory (subprocess)

def _rss_kb(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Resets the kernel's peak-RSS mark of this process (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _identity_model() -> onnx.ModelProto:
    from onnx import TensorProto, helper
    g = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "identity",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _memory_worker(spec: dict) -> dict:
    """Runs in a fresh process: imports one runtime, makes the inputs, then measures that runtime's
    session creation and runs. Returns peak and retained RSS growth in MB and the creation time."""
    specs = [InputSpec(**s) for s in spec["inputs"]]
    feed = make_feed(specs, spec["seed"])
    runtime, path, threads = spec["runtime"], spec["model"], spec["threads"]
    if runtime == "onnxruntime":
        ort = import_onnxruntime()
        if ort is None:
            raise ImportError("onnxruntime is not installed")
        make = lambda p: make_ort_session(ort, p, threads)
    else:
        make = lambda p: make_fastinfer_session(p, threads)
    # The library's one-time set-up (global environment, thread pools, allocators) is not the
    # session's cost: a throw-away session on a one-node model pays it first.
    with tempfile.TemporaryDirectory() as tmp:
        tiny = os.path.join(tmp, "identity.onnx")
        onnx.save(_identity_model(), tiny)
        make(tiny).run(None, {"x": np.zeros((1,), np.float32)})
    import gc
    gc.collect()
    reset = _reset_peak_rss()
    before = _rss_kb("VmRSS")
    method = "VmHWM after clear_refs" if reset and before is not None else "ru_maxrss (peak since start)"
    if before is None:
        before = 0
    t0 = time.perf_counter()
    sess = make(path)
    create_ms = (time.perf_counter() - t0) * 1e3
    for _ in range(spec["warmup"] + spec["runs"]):
        sess.run(None, feed)
    if method.startswith("VmHWM"):
        peak = _rss_kb("VmHWM") or 0
    else:
        import resource
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        if sys.platform == "darwin":
            peak //= 1024
    now = _rss_kb("VmRSS") or peak
    return {"peak_mb": max(0, peak - before) / 1024.0, "retained_mb": max(0, now - before) / 1024.0,
            "create_ms": create_ms, "method": method}


def measure_memory(runtime: str, path: str, specs: Sequence[InputSpec], threads: int,
                   warmup: int = 2, runs: int = 3, seed: int = 0, timeout: float = 900.0) -> dict:
    """Runs :func:`_memory_worker` in a subprocess; returns its dict, or ``{"error": ...}``."""
    spec = {"runtime": runtime, "model": path, "threads": threads, "warmup": warmup, "runs": runs,
            "seed": seed, "inputs": [asdict(s) for s in specs]}
    cmd = [sys.executable, "-m", "fastinfer.bench", "--memory-worker", json.dumps(spec)]
    try:
        p = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"memory measurement timed out after {timeout:.0f} s"}
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("{")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"memory worker failed (exit {p.returncode}): {tail[0]}"}
    return json.loads(lines[-1])


# ---------------------------------------------------------------- the benchmark

@dataclass
class BenchReport:
    """The header (machine, versions, settings) and one row per configuration."""

    header: dict
    rows: list[ConfigResult]
    notes: list[str]

    def to_json(self) -> dict:
        """A JSON-ready dict."""
        rows = []
        for r in self.rows:
            d = asdict(r)
            d["ratio"] = r.ratio
            rows.append(d)
        return {"header": self.header, "rows": rows, "notes": self.notes}

    @property
    def failed(self) -> bool:
        """True when a runtime failed on some configuration or fastinfer's outputs disagree."""
        for r in self.rows:
            if r.fastinfer.error or (r.onnxruntime is not None and r.onnxruntime.error):
                return True
        return False


def environment(compare: bool) -> dict:
    """CPU, ISA and versions for the table's header."""
    from . import __version__
    from . import cpu_info as _cpu_info
    info = _cpu_info()
    feats = [k for k in ("avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "avx512bf16")
             if info.get(k)]
    env = {
        "cpu": info.get("brand", "").strip() or platform.processor() or "unknown",
        "isa": info.get("isa", "?"),
        "cpu_features": feats,
        "logical_cores": os.cpu_count(),
        "fastinfer": __version__,
        "onnxruntime": None,
        "onnx": onnx.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "fastinfer_isa_env": os.environ.get("FASTINFER_ISA"),
    }
    if hasattr(os, "getloadavg"):
        env["load_avg_1m_at_start"] = round(os.getloadavg()[0], 2)
    if compare:
        ort = import_onnxruntime()
        env["onnxruntime"] = ort.__version__ if ort else None
    return env


def _time_config(path: str, specs: list[InputSpec], batch: int, threads: int, runs: int, warmup: int,
                 seed: int, ort: Any | None, row: ConfigResult, progress: Progress) -> None:
    feed = make_feed(specs, seed)
    label = f"{row.model} batch {batch} threads {threads}"
    # Each runtime creates its session twice, in the order fi, ort, ort, fi, and the faster creation
    # counts: neither pays alone for a cold file cache or first-touch allocations.
    makers = {"fastinfer": (lambda: make_fastinfer_session(path, threads), row.fastinfer)}
    if ort is not None:
        makers["onnxruntime"] = (lambda: make_ort_session(ort, path, threads), row.onnxruntime)
    sessions: dict[str, Any] = {}
    order = list(makers) + list(makers)[::-1]
    for name in order:
        make, res = makers[name]
        if res.error:
            continue
        try:
            sessions.pop(name, None)
            t0 = time.perf_counter()
            sessions[name] = make()
            ms = (time.perf_counter() - t0) * 1e3
            res.create_ms = ms if res.create_ms is None else min(res.create_ms, ms)
        except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
            res.error = _error_text(e)
            sessions.pop(name, None)
    fi_sess, ort_sess = sessions.get("fastinfer"), sessions.get("onnxruntime")
    runners = []
    if fi_sess is not None:
        runners.append(("fastinfer", fi_sess, row.fastinfer))
    if ort_sess is not None:
        runners.append(("onnxruntime", ort_sess, row.onnxruntime))
    first: dict[str, list[np.ndarray]] = {}
    times: dict[str, list[int]] = {name: [] for name, _, _ in runners}
    for it in range(warmup + runs):
        order = runners if it % 2 == 0 else runners[::-1]
        for name, sess, res in order:
            if res.error:
                continue
            try:
                t0 = time.perf_counter_ns()
                outs = sess.run(None, feed)
                t1 = time.perf_counter_ns()
            except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
                res.error = _error_text(e)
                continue
            if it == 0:
                first[name] = [np.asarray(o) for o in outs]
            if it >= warmup:
                times[name].append(t1 - t0)
        progress.step(label)
    for name, _, res in runners:
        if not res.error and times[name]:
            _stats(times[name], batch, res)
    if "fastinfer" in first and "onnxruntime" in first:
        row.max_rel_err = max_rel_err(first["fastinfer"], first["onnxruntime"])
    del fi_sess, ort_sess


def benchmark(model_path: str, batches: Sequence[int] = (1,), threads: Sequence[int] = (1,),
              runs: int = 30, warmup: int = 5, shapes: dict[str, list[int]] | None = None,
              dims: dict[str, int] | None = None, compare: bool = True, memory: bool = True,
              seed: int = 0, model_name: str | None = None, progress: bool | None = None) -> BenchReport:
    """Benchmarks fastinfer (and ONNX Runtime when ``compare`` and it is installed) on ``model_path``
    for every (batch, threads) pair. See the module docstring for the method."""
    if runs < 1 or warmup < 0:
        raise ValueError("runs must be >= 1 and warmup >= 0")
    if any(b < 1 for b in batches) or any(t < 1 for t in threads):
        raise ValueError("batch sizes and thread counts must be >= 1")
    try:
        model = onnx.load(model_path, load_external_data=False)
    except Exception as e:  # noqa: BLE001 - any failure is reported, not raised
        raise ValueError(f"{model_path} is not a valid ONNX model: {e}") from None
    inputs = graph_inputs(model)
    del model
    notes: list[str] = []
    ort = import_onnxruntime() if compare else None
    if compare and ort is None:
        notes.append(f"onnxruntime is not installed, so only fastinfer runs; to compare: {INSTALL_HINT}")
    batches = list(batches)
    if not has_batch_dim(inputs, shapes or {}):
        if len(batches) > 1 or batches[0] != 1:
            notes.append("the model has no symbolic batch dimension: --batch is ignored")
        batches = [batches[0]]
    name = model_name or os.path.splitext(os.path.basename(model_path))[0]
    header = environment(compare and ort is not None)
    header.update({"model": name, "model_path": os.path.abspath(model_path), "runs": runs,
                   "warmup": warmup, "seed": seed, "interleaved": True,
                   "ort_settings": "intra_op=threads inter_op=1 sequential ORT_ENABLE_ALL allow_spinning=0"})
    configs = [(b, t) for b in batches for t in threads]
    per_cfg = warmup + runs + ((2 if ort else 1) if memory else 0)
    bar = Progress(len(configs) * per_cfg, enabled=progress)
    rows = []
    try:
        for b, t in configs:
            specs, guess_notes = resolve_inputs(inputs, b, shapes, dims)
            for n in guess_notes:
                if n not in notes:
                    notes.append(n)
            row = ConfigResult(name, b, t, {s.name: s.shape for s in specs})
            if ort is not None:
                row.onnxruntime = RuntimeResult()
            _time_config(model_path, specs, b, t, runs, warmup, seed, ort, row, bar)
            if memory:
                for rt, res in (("fastinfer", row.fastinfer), ("onnxruntime", row.onnxruntime)):
                    if res is None:
                        continue
                    bar.step(f"{name} batch {b} threads {t}: {rt} memory")
                    if res.error:
                        continue
                    m = measure_memory(rt, model_path, specs, t, seed=seed)
                    if "error" in m:
                        notes.append(f"{rt} batch {b} threads {t}: {m['error']}")
                    else:
                        res.peak_mb, res.retained_mb = m["peak_mb"], m["retained_mb"]
                        header["memory_method"] = m["method"]
            rows.append(row)
    finally:
        bar.close()
    return BenchReport(header, rows, notes)


# ---------------------------------------------------------------- output

def _f(v: float | None, fmt: str) -> str:
    return "-" if v is None else format(v, fmt)


def _ms(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v:.4f}" if v < 1 else f"{v:.2f}" if v < 1000 else f"{v:.0f}"


def _err(v: float | None) -> str:
    if v is None:
        return "-"
    return "inf" if v == float("inf") else f"{v:.1e}"


def table_rows(report: BenchReport) -> tuple[list[str], list[list[str]]]:
    """Column titles and cells of the result table."""
    compare = any(r.onnxruntime is not None for r in report.rows)
    cols = ["model", "batch", "threads", "fi med ms", "fi p90 ms"]
    if compare:
        cols += ["ort med ms", "ort p90 ms"]
    cols += ["fi items/s"] + (["ort items/s", "fi/ort"] if compare else [])
    cols += ["fi peak MB"] + (["ort peak MB"] if compare else [])
    cols += ["fi create ms"] + (["ort create ms", "max rel err"] if compare else [])
    cells = []
    for r in report.rows:
        fi, o = r.fastinfer, r.onnxruntime or RuntimeResult()
        row = [r.model, str(r.batch), str(r.threads), _ms(fi.median_ms), _ms(fi.p90_ms)]
        if compare:
            row += [_ms(o.median_ms), _ms(o.p90_ms)]
        row += [_f(fi.throughput, ".1f" if (fi.throughput or 0) < 1000 else ".0f")]
        if compare:
            row += [_f(o.throughput, ".1f" if (o.throughput or 0) < 1000 else ".0f"), _f(r.ratio, ".2f")]
        row += [_f(fi.peak_mb, ".1f")] + ([_f(o.peak_mb, ".1f")] if compare else [])
        row += [_f(fi.create_ms, ".0f")]
        if compare:
            row += [_f(o.create_ms, ".0f"), _err(r.max_rel_err)]
        cells.append(row)
    return cols, cells


def format_table(report: BenchReport, markdown: bool = False) -> str:
    """The result table as aligned text, or as a Markdown table."""
    cols, cells = table_rows(report)
    if markdown:
        lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
        lines += ["| " + " | ".join(c) + " |" for c in cells]
        return "\n".join(lines)
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(cols)]
    fmt = lambda row: "  ".join(x.rjust(w) if i else x.ljust(w)
                                for i, (x, w) in enumerate(zip(row, widths)))
    return "\n".join([fmt(cols), fmt(["-" * w for w in widths])] + [fmt(r) for r in cells])


def format_header(report: BenchReport) -> str:
    """Machine, versions and settings, a few lines."""
    h = report.header
    feats = ",".join(h["cpu_features"]) or "none"
    lines = [
        (f"CPU: {h['cpu']} ({h['logical_cores']} logical cores); fastinfer ISA: {h['isa']} "
         f"(CPU features: {feats})"),
        (f"fastinfer {h['fastinfer']}, onnxruntime {h['onnxruntime'] or 'not used'}, onnx {h['onnx']}, "
         f"numpy {h['numpy']}, Python {h['python']}"),
        f"model: {h['model_path']}; {h['runs']} runs after {h['warmup']} warm-up, interleaved, seed {h['seed']}",
    ]
    if h.get("onnxruntime"):
        lines.append(f"ONNX Runtime: {h['ort_settings']}")
    if h.get("load_avg_1m_at_start") is not None:
        lines.append(f"load average (1 min) at start: {h['load_avg_1m_at_start']}")
    shapes = {}
    for r in report.rows:
        shapes.setdefault(r.batch, r.shapes)
    for b, s in shapes.items():
        lines.append(f"inputs at batch {b}: " + ", ".join(f"{k}={'x'.join(map(str, v)) or 'scalar'}"
                                                          for k, v in s.items()))
    return "\n".join(lines)


def format_errors(report: BenchReport) -> str:
    """One line per runtime and distinct error, naming the configurations it hit."""
    seen: dict[tuple[str, str], list[str]] = {}
    for r in report.rows:
        for name, res in (("fastinfer", r.fastinfer), ("onnxruntime", r.onnxruntime)):
            if res is not None and res.error:
                seen.setdefault((name, res.error), []).append(f"{r.batch}/{r.threads}")
    return "\n".join(f"{name} failed (batch/threads {', '.join(cfgs)}): {err}"
                     for (name, err), cfgs in seen.items())


def resolve_model(arg: str | None, workdir: str) -> tuple[str, str]:
    """A model argument (a file, or a built-in's name; None: the default built-in) -> (path, name).
    Built-ins are written into ``workdir``."""
    from . import models
    if arg is not None and os.path.exists(arg):
        return arg, os.path.splitext(os.path.basename(arg))[0]
    name = arg or models.DEFAULT_MODEL
    if name not in models.list_models():
        raise FileNotFoundError(f"{arg!r} is neither a model file nor a built-in model "
                                f"(built-ins: {', '.join(models.list_models())})")
    path = os.path.join(workdir, name + ".onnx")
    onnx.save(models.get_model(name), path)
    return path, name


def profile_model(model_path: str, batch: int, threads: int, runs: int, warmup: int,
                  shapes: dict[str, list[int]] | None = None, dims: dict[str, int] | None = None,
                  seed: int = 0, top: int = 15) -> str:
    """Runs fastinfer with per-node profiling on one configuration; returns a table of the nodes
    that took the most time (ms per run, share of all node time) and the time per operator type."""
    from . import Session

    model = onnx.load(model_path, load_external_data=False)
    specs, _ = resolve_inputs(graph_inputs(model), batch, shapes, dims)
    del model
    feed = make_feed(specs, seed)
    sess = Session(model_path, threads=threads, profile=True)
    for _ in range(warmup):
        sess.run(None, feed)
    sess.end_profiling(os.devnull)  # drop the warm-up runs
    for _ in range(runs):
        sess.run(None, feed)
    rows = sess.profile_summary()
    by_op: dict[str, float] = {}
    for r in rows:
        by_op[r.op_type] = by_op.get(r.op_type, 0.0) + r.total_ms
    total = sum(by_op.values()) or 1.0
    title = f"fastinfer profile: batch {batch}, threads {threads}, {runs} runs; node time per run {total / runs:.3f} ms"
    lines = [title, "", f"{'node':40s} {'op':22s} {'ms/run':>9s} {'share':>7s}"]
    for r in rows[:top]:
        lines.append(f"{r.name[:40]:40s} {r.op_type[:22]:22s} {r.total_ms / runs:9.3f} {100 * r.share:6.1f}%")
    lines += ["", f"{'op type':40s} {'':22s} {'ms/run':>9s} {'share':>7s}"]
    for op, ms in sorted(by_op.items(), key=lambda kv: -kv[1]):
        lines.append(f"{op[:40]:40s} {'':22s} {ms / runs:9.3f} {100 * ms / total:6.1f}%")
    return "\n".join(lines)


def run_cli(args: Any) -> int:
    """``fastinfer bench`` with parsed arguments (see :mod:`fastinfer.cli`); returns the exit code."""
    try:
        shapes = dict(parse_shape(s) for s in args.shape or [])
        dims = dict(parse_dim(s) for s in args.dim or [])
    except ValueError as e:
        print(f"fastinfer bench: {e}", file=sys.stderr)
        return 2
    compare = args.compare == "onnxruntime"
    if compare and import_onnxruntime() is None:
        print(f"onnxruntime is not installed: running fastinfer only. To compare, install it with\n"
              f"    {INSTALL_HINT}", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="fastinfer-bench-") as tmp:
        try:
            path, name = resolve_model(args.model, tmp)
        except FileNotFoundError as e:
            print(f"fastinfer bench: {e}", file=sys.stderr)
            return 2
        try:
            report = benchmark(path, args.batch, args.threads, args.runs, args.warmup, shapes, dims,
                               compare=compare, memory=not args.no_memory, seed=args.seed,
                               model_name=getattr(args, "name", None) or name,
                               progress=False if args.no_progress else None)
        except ValueError as e:
            print(f"fastinfer bench: {e}", file=sys.stderr)
            return 2
        if not (args.model and os.path.exists(args.model)):
            report.header["model_path"] = f"built-in {name} (fastinfer.models.get_model({name!r}))"
    print(format_header(report))
    print()
    print(format_table(report, markdown=args.markdown))
    if report.header.get("memory_method"):
        print(f"\npeak MB: peak RSS growth over session creation and runs, in a subprocess per runtime "
              f"({report.header['memory_method']}). fi/ort: median latency ratio, below 1 = fastinfer faster. "
              f"max rel err: largest ||fi - ort|| / ||ort|| over the outputs. create ms: the faster of two "
              f"session creations per runtime, made in the order fi, ort, ort, fi.")
    for n in report.notes:
        print(f"note: {n}")
    errs = format_errors(report)
    if errs:
        print(errs)
    if getattr(args, "profile", False):
        with tempfile.TemporaryDirectory(prefix="fastinfer-bench-") as tmp:
            path, _ = resolve_model(args.model, tmp)
            print()
            print(profile_model(path, args.batch[0], args.threads[0], args.runs, args.warmup, shapes, dims,
                                seed=args.seed))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report.to_json(), f, indent=2)
    return 1 if report.failed else 0


def _worker_main(argv: Sequence[str]) -> int:
    if len(argv) != 2 or argv[0] != "--memory-worker":
        print("usage: python -m fastinfer.bench --memory-worker SPEC_JSON (internal); "
              "use `fastinfer bench`", file=sys.stderr)
        return 2
    print(json.dumps(_memory_worker(json.loads(argv[1]))))
    return 0


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
