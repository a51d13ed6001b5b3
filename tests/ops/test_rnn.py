"""RNN, GRU and LSTM against onnxruntime: directions, activations with alpha/beta, clip,
sequence_lens, initial states, peepholes, input_forget, linear_before_reset, layout 1, optional
outputs, float/double, and bad shapes."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import helper
from op_helpers import assert_close, make_model, rng, run_fastinfer, run_ort

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}


def rnn_inputs(op, seq, batch, inp, hidden, ndir, layout=0, seed=0, dtype=np.float32, bias=True, lens=None,
               init=False, peep=False):
    """The input dict (ordered as the op expects, '' for absent ones) and the names list."""
    r = rng(seed)
    g = GATES[op]
    x_shape = (batch, seq, inp) if layout else (seq, batch, inp)
    h_shape = (batch, ndir, hidden) if layout else (ndir, batch, hidden)
    vals = {"X": r.standard_normal(x_shape).astype(dtype),
            "W": (r.standard_normal((ndir, g * hidden, inp)) * 0.5).astype(dtype),
            "R": (r.standard_normal((ndir, g * hidden, hidden)) * 0.5).astype(dtype)}
    names = ["X", "W", "R"]
    if bias:
        vals["B"] = r.standard_normal((ndir, 2 * g * hidden)).astype(dtype)
    names.append("B" if bias else "")
    if lens is not None:
        vals["sequence_lens"] = np.array(lens, np.int32)
    names.append("sequence_lens" if lens is not None else "")
    if init:
        vals["initial_h"] = r.standard_normal(h_shape).astype(dtype)
        if op == "LSTM":
            vals["initial_c"] = r.standard_normal(h_shape).astype(dtype)
    names.append("initial_h" if init else "")
    if op == "LSTM":
        names.append("initial_c" if init else "")
        if peep:
            vals["P"] = r.standard_normal((ndir, 3 * hidden)).astype(dtype)
        names.append("P" if peep else "")
    while names and names[-1] == "":
        names.pop()
    return vals, names


def build(op, vals, attrs, names, n_outputs=2, opset=14, output_names=None):
    """The one-node model with output types set (ORT rejects undefined ones here)."""
    m = make_model(op, vals, attrs, n_outputs, opset, input_names=names, output_names=output_names)
    elem = helper.np_dtype_to_tensor_dtype(vals["X"].dtype)
    for o in m.graph.output:
        o.type.tensor_type.elem_type = elem
    return m


def check_against_ort(op, vals, attrs, n_outputs=2, opset=14, rtol=1e-4, atol=1e-5, input_names=None,
                      output_names=None):
    """Runs both runtimes on the recurrent node and compares every output."""
    m = build(op, vals, attrs, input_names, n_outputs, opset, output_names)
    ours = run_fastinfer(m, vals)
    ref = run_ort(m, vals)
    assert len(ours) == len(ref)
    for i, (a, b) in enumerate(zip(ours, ref)):
        assert_close(a, b, rtol, atol, what=f"{op} output {i}")


def run_case(op, attrs, opset=14, rtol=1e-4, atol=1e-5, n_out=None, **kw):
    """Builds the case and compares all outputs with ORT."""
    vals, names = rnn_inputs(op, **kw)
    n = n_out if n_out is not None else (3 if op == "LSTM" else 2)
    check_against_ort(op, vals, attrs, n_outputs=n, opset=opset, rtol=rtol, atol=atol, input_names=names)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("direction", ["forward", "reverse", "bidirectional"])
def test_directions_with_states(op, direction):
    ndir = 2 if direction == "bidirectional" else 1
    run_case(op, {"hidden_size": 5, "direction": direction}, seq=7, batch=3, inp=4, hidden=5, ndir=ndir, init=True)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_sequence_lens(op):
    run_case(op, {"hidden_size": 3, "direction": "bidirectional"}, seq=5, batch=4, inp=2, hidden=3, ndir=2,
             lens=[5, 2, 1, 4], init=True, seed=1)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_layout1_matches_layout0_reference(op):
    """ORT has no layout 1: compare against its layout-0 result with the axes swapped."""
    attrs = {"hidden_size": 3, "direction": "bidirectional"}
    vals, names = rnn_inputs(op, seq=5, batch=4, inp=2, hidden=3, ndir=2, lens=[5, 2, 1, 4], init=True, seed=12)
    n = 3 if op == "LSTM" else 2
    ref = run_ort(build(op, vals, attrs, names, n), vals)
    swapped = {k: (v.swapaxes(0, 1).copy() if k in ("X", "initial_h", "initial_c") else v) for k, v in vals.items()}
    ours = run_fastinfer(build(op, swapped, dict(attrs, layout=1), names, n), swapped)
    assert_close(ours[0], ref[0].transpose(2, 0, 1, 3), 1e-4, 1e-5)
    for a, b in zip(ours[1:], ref[1:]):
        assert_close(a, b.swapaxes(0, 1), 1e-4, 1e-5)


@pytest.mark.parametrize("op", ["RNN", "GRU", "LSTM"])
def test_no_bias_and_odd_sizes(op):
    run_case(op, {"hidden_size": 17}, seq=1, batch=1, inp=33, hidden=17, ndir=1, bias=False, seed=2)


def test_activations_alpha_beta():
    run_case("RNN", {"hidden_size": 4, "direction": "bidirectional", "activations": ["LeakyRelu", "ScaledTanh"],
                     "activation_alpha": [0.3, 0.8], "activation_beta": [1.5]},
             seq=4, batch=2, inp=3, hidden=4, ndir=2, seed=3)
    run_case("GRU", {"hidden_size": 4, "activations": ["HardSigmoid", "Softsign"], "activation_alpha": [0.3],
                     "activation_beta": [0.4]}, seq=4, batch=2, inp=3, hidden=4, ndir=1, seed=4)
    run_case("LSTM", {"hidden_size": 4, "activations": ["Sigmoid", "Relu", "Affine"], "activation_alpha": [0.5],
                      "activation_beta": [0.1]}, seq=4, batch=2, inp=3, hidden=4, ndir=1, seed=5)


def test_clip():
    for op in ("RNN", "GRU", "LSTM"):
        run_case(op, {"hidden_size": 6, "clip": 0.4}, seq=3, batch=2, inp=5, hidden=6, ndir=1, seed=6, init=True)


@pytest.mark.parametrize("lbr", [0, 1])
def test_gru_linear_before_reset(lbr):
    run_case("GRU", {"hidden_size": 7, "linear_before_reset": lbr, "direction": "bidirectional"}, seq=6, batch=3,
             inp=5, hidden=7, ndir=2, init=True, seed=7)


@pytest.mark.parametrize("input_forget", [0, 1])
def test_lstm_peepholes_input_forget(input_forget):
    run_case("LSTM", {"hidden_size": 5, "input_forget": input_forget}, seq=5, batch=3, inp=4, hidden=5, ndir=1,
             init=True, peep=True, seed=8)


def test_double_and_old_opset():
    """ORT has no double GRU/LSTM: check double against our float result, and opset 7 against ORT."""
    attrs = {"hidden_size": 3, "direction": "bidirectional"}
    vals, names = rnn_inputs("GRU", seq=3, batch=2, inp=2, hidden=3, ndir=2, init=True, seed=9)
    f32 = run_fastinfer(build("GRU", vals, attrs, names), vals)
    v64 = {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in vals.items()}
    f64 = run_fastinfer(build("GRU", v64, attrs, names), v64)
    for a, b in zip(f64, f32):
        assert a.dtype == np.float64
        assert_close(a.astype(np.float32), b, 1e-5, 1e-6)
    run_case("LSTM", {"hidden_size": 3}, opset=7, seq=3, batch=2, inp=2, hidden=3, ndir=1, seed=10)


def test_threaded_matches_single_thread():
    vals, names = rnn_inputs("LSTM", seq=17, batch=3, inp=7, hidden=5, ndir=2, init=True, peep=True, seed=13)
    m = build("LSTM", vals, {"hidden_size": 5, "direction": "bidirectional"}, names, 3)
    one, four = run_fastinfer(m, vals), run_fastinfer(m, vals, threads=4)
    for a, b in zip(one, four):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_weights(dtype):
    """W, R and B as initializers (converted once at session creation)."""
    vals, names = rnn_inputs("GRU", seq=4, batch=3, inp=5, hidden=6, ndir=2, init=True, seed=14, dtype=dtype)
    attrs = {"hidden_size": 6, "direction": "bidirectional"}
    feeds = {k: v for k, v in vals.items() if k not in ("W", "R", "B")}
    consts = {k: vals[k] for k in ("W", "R", "B")}
    m = make_model("GRU", feeds, attrs, 2, 14, initializers=consts, input_names=names)
    for o in m.graph.output:
        o.type.tensor_type.elem_type = helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    ours = run_fastinfer(m, feeds)
    ref = run_fastinfer(build("GRU", vals, attrs, names), vals)
    for a, b in zip(ours, ref):
        np.testing.assert_array_equal(a, b)
    if dtype == np.float32:
        for a, b in zip(ours, run_ort(m, feeds)):
            assert_close(a, b, 1e-4, 1e-5)


def test_only_y_h_output():
    vals, names = rnn_inputs("LSTM", seq=4, batch=2, inp=3, hidden=4, ndir=1, seed=11)
    check_against_ort("LSTM", vals, {"hidden_size": 4}, opset=14, rtol=1e-4, atol=1e-5, input_names=names,
                      output_names=["", "yh"])


def test_bad_shapes_rejected():
    vals, names = rnn_inputs("GRU", seq=3, batch=2, inp=4, hidden=5, ndir=1)
    m = build("GRU", vals, {"hidden_size": 5}, names)
    bad = dict(vals, W=np.zeros((1, 15, 3), np.float32))
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, bad)
    vals, names = rnn_inputs("RNN", seq=3, batch=2, inp=4, hidden=5, ndir=1, lens=[3, 4])
    m = build("RNN", vals, {"hidden_size": 5}, names)
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(m, vals)


def test_bad_activation_rejected():
    vals, names = rnn_inputs("RNN", seq=2, batch=1, inp=2, hidden=2, ndir=1)
    m = build("RNN", vals, {"hidden_size": 2, "activations": ["Nope"]}, names)
    with pytest.raises(fastinfer.InvalidModel):
        run_fastinfer(m, vals)
