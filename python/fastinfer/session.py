"""The Python API: fastinfer.Session, and the ONNX Runtime-shaped InferenceSession."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from ._dtypes import STRING, code_of, from_core, to_core, type_string
from ._import import ModelLike, import_model
from .errors import InvalidArgument
from .profiling import NodeTime, chrome_trace, summarize


@dataclass(frozen=True)
class NodeArg:
    """An input or output as ONNX Runtime describes it."""

    name: str
    type: str
    shape: list  # ints, with symbolic dims as strings and unknown ones as None

    def __repr__(self) -> str:
        return f"NodeArg(name={self.name!r}, type={self.type!r}, shape={self.shape!r})"


@dataclass
class ModelMetadata:
    producer_name: str = ""
    graph_name: str = ""
    domain: str = ""
    description: str = ""
    graph_description: str = ""
    version: int = 0
    custom_metadata_map: dict = field(default_factory=dict)


class ThreadPool:
    """A pool of worker threads that several sessions may share (``Session(..., pool=p)``)."""

    def __init__(self, num_threads: int):
        if num_threads < 1:
            raise InvalidArgument("num_threads must be at least 1")
        self._pool = _core.ThreadPool(int(num_threads))

    @property
    def num_threads(self) -> int:
        return self._pool.num_threads


def _node_arg(info: dict) -> NodeArg:
    shape: list | None = None
    if info["has_shape"]:
        shape = [d if d >= 0 else (p or None) for d, p in zip(info["dims"], info["dim_params"])]
    return NodeArg(info["name"], type_string(info["dtype"]), shape if shape is not None else [])


class Session:
    """Runs an ONNX model with fastinfer's own kernels.

    ``Session(model)`` takes a path, the model's bytes or an ``onnx.ModelProto``.
    ``threads`` is the number of threads a run may use (default: all cores); ``pool`` shares a
    :class:`ThreadPool` between sessions; ``optimize=False`` skips the graph passes (folding, fusion);
    ``profile=True`` records every node's time (``profile_summary()``, ``end_profiling()``).
    ``config`` holds string session configuration entries, like ONNX Runtime's
    ``SessionOptions.add_session_config_entry`` (e.g. ``{"conv.winograd": "0"}``).
    ``run(x)`` takes one array and returns one array (or a
    list when the model has several outputs); ``run(None, {"name": x})`` is ONNX Runtime's call.
    A session may be run from many Python threads at once; the GIL is released while it runs.
    """

    def __init__(self, model: ModelLike, threads: int | None = None, pool: ThreadPool | None = None,
                 providers: Sequence[Any] | None = None, optimize: bool = True, profile: bool = False,
                 config: Mapping[str, str] | None = None):
        _check_providers(providers)
        if threads is not None and threads < 1:
            raise InvalidArgument("threads must be at least 1")
        entries = {}
        for key, value in (config or {}).items():
            if not isinstance(key, str) or not isinstance(value, str):
                raise InvalidArgument(f"config entries must be strings, got {key!r}: {value!r}")
            entries[key] = value
        graph, self._proto_meta = import_model(model, optimize=optimize, config=entries, read_proto=_metadata)
        self._sess = _core.Session(graph, num_threads=int(threads or 0), pool=pool._pool if pool else None,
                                   profile=bool(profile))
        self._profile_events: list[tuple] = []
        all_inputs = graph.inputs()
        self._input_infos = all_inputs
        self._input_index = {d["name"]: i for i, d in enumerate(all_inputs)}
        self._input_codes = [d["dtype"] for d in all_inputs]
        self._required = [d["name"] for d in all_inputs if not d["has_default"]]
        self._inputs = [_node_arg(d) for d in all_inputs if not d["has_default"]]
        self._outputs = [_node_arg(d) for d in graph.outputs()]
        self._output_index = {o.name: i for i, o in enumerate(self._outputs)}
        self._graph = graph

    # ---- metadata ----
    def get_inputs(self) -> list[NodeArg]:
        return list(self._inputs)

    def get_outputs(self) -> list[NodeArg]:
        return list(self._outputs)

    def get_modelmeta(self) -> ModelMetadata:
        return self._proto_meta

    def get_providers(self) -> list[str]:
        return ["CPUExecutionProvider"]

    def _describe_nodes(self) -> list[dict]:
        """The graph as it runs, after the graph passes: one dict per node in execution order with
        ``name``, ``op_type``, ``domain``, ``kernel`` (what the kernel runs, e.g. its GEMM
        microkernel), ``layout`` (empty: the op's ONNX layout), ``outputs`` (inferred type dicts:
        ``name``, ``dtype``, ``has_shape``, ``dims``, ``dim_params``) and ``flops`` (an estimate,
        -1 when the shapes it needs are unknown)."""
        return self._graph.describe_nodes()

    @property
    def threads(self) -> int:
        return self._sess.num_threads

    # ---- profiling (sessions made with profile=True) ----
    def _take_events(self) -> list[tuple]:
        self._profile_events.extend(self._sess.take_profile())
        return self._profile_events

    def profile_summary(self, top: int | None = None) -> list[NodeTime]:
        """Nodes by total time over the runs so far, largest first."""
        return summarize(self._take_events(), top)

    def end_profiling(self, path: str | None = None) -> str:
        """Writes the runs so far as Chrome-trace JSON (ONNX Runtime's profile format), forgets
        them, and returns the file's path."""
        out = chrome_trace(self._take_events(), path)
        self._profile_events = []
        return out

    # ---- running ----
    def run(self, output_names: Any = None, input_feed: Mapping[str, Any] | None = None,
            run_options: Any = None) -> Any:
        """``run(x)`` -> array (or list for several outputs); ``run(names, feed)`` -> list."""
        if input_feed is None and not (output_names is None or isinstance(output_names, (list, tuple))
                                       and all(isinstance(n, str) for n in output_names)):
            if isinstance(output_names, Mapping):
                outs = self._run(output_names)
                return outs
            if len(self._required) != 1:
                raise InvalidArgument(
                    f"run(x) needs a model with exactly one input; this one has {len(self._required)}: "
                    f"{self._required}. Use run(None, {{name: array}})")
            outs = self._run({self._required[0]: output_names})
            return outs[0] if len(outs) == 1 else outs
        if input_feed is None:
            raise InvalidArgument("run(output_names, input_feed): input_feed is missing")
        outs = self._run(input_feed)
        if output_names is None:
            return outs
        picked = []
        for name in output_names:
            i = self._output_index.get(name)
            if i is None:
                raise InvalidArgument(f"unknown output name '{name}'; the model's outputs are "
                                      f"{[o.name for o in self._outputs]}")
            picked.append(outs[i])
        return picked

    def _run(self, feed: Mapping[str, Any]) -> list[np.ndarray]:
        if not isinstance(feed, Mapping):
            raise InvalidArgument(f"input_feed must be a dict of name -> array, got {type(feed).__name__}")
        args: list[Any] = [None] * len(self._input_infos)
        for name, value in feed.items():
            i = self._input_index.get(name)
            if i is None:
                raise InvalidArgument(f"unknown input name '{name}'; the model's inputs are {self._required}")
            args[i] = self._convert(i, value)
        for name in self._required:
            if args[self._input_index[name]] is None:
                raise InvalidArgument(f"input '{name}' was not given")
        results = self._sess.run(args)
        return [from_core(code, arr) for code, arr in results]

    def _convert(self, i: int, value: Any) -> tuple[int, np.ndarray]:
        want = self._input_codes[i]
        arr = value if isinstance(value, np.ndarray) else np.asarray(value)
        if want == STRING:
            if arr.dtype.kind not in "OUS":
                raise InvalidArgument(
                    f"input '{self._input_infos[i]['name']}' expects strings, got {arr.dtype}")
            return to_core(arr, STRING)
        code = code_of(arr)
        if want and code != want:
            raise InvalidArgument(
                f"input '{self._input_infos[i]['name']}' expects {type_string(want)}, got numpy {arr.dtype} "
                f"({type_string(code)})")
        return to_core(arr, code)


class SessionOptions:
    """The subset of onnxruntime.SessionOptions that fastinfer honours or accepts."""

    def __init__(self) -> None:
        self.intra_op_num_threads = 0
        self.inter_op_num_threads = 0
        self.graph_optimization_level = None
        self.log_severity_level = 2
        self.enable_profiling = False
        self.execution_mode = None
        self._config: dict[str, str] = {}

    def add_session_config_entry(self, key: str, value: str) -> None:
        """Sets a configuration entry that kernels read when the session is created."""
        self._config[str(key)] = str(value)

    def get_session_config_entry(self, key: str) -> str:
        return self._config[key]


class InferenceSession(Session):
    """Drop-in for ``onnxruntime.InferenceSession``: ``run(output_names, input_feed)`` -> list."""

    def __init__(self, path_or_bytes: ModelLike, sess_options: SessionOptions | None = None,
                 providers: Sequence[Any] | None = None, provider_options: Any = None, **kwargs: Any):
        threads = None
        optimize = True
        if sess_options is not None:
            if sess_options.intra_op_num_threads:
                threads = int(sess_options.intra_op_num_threads)
            level = sess_options.graph_optimization_level
            optimize = level is None or int(level) != 0  # ORT_DISABLE_ALL is 0
        profile = bool(sess_options is not None and sess_options.enable_profiling)
        config = dict(sess_options._config) if sess_options is not None else None
        super().__init__(path_or_bytes, threads=threads, providers=providers, optimize=optimize, profile=profile,
                         config=config)

    def run(self, output_names: Sequence[str] | None, input_feed: Mapping[str, Any],
            run_options: Any = None) -> list[np.ndarray]:
        return super().run(list(output_names) if output_names is not None else None, input_feed)


def _check_providers(providers: Sequence[Any] | None) -> None:
    if not providers:
        return
    names = [p[0] if isinstance(p, tuple) else p for p in providers]
    known = {"cpu", "CPUExecutionProvider"}
    if not any(n in known for n in names):
        raise InvalidArgument(f"providers {names}: this build of fastinfer runs on the CPU only")


def _metadata(proto: Any) -> ModelMetadata:
    return ModelMetadata(
        producer_name=proto.producer_name,
        graph_name=proto.graph.name,
        domain=proto.domain,
        description=proto.doc_string,
        graph_description=proto.graph.doc_string,
        version=int(proto.model_version),
        custom_metadata_map={p.key: p.value for p in proto.metadata_props},
    )


