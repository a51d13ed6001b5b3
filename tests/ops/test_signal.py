"""Signal ops (DFT, STFT, window functions, MelWeightMatrix) against ONNX Runtime."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from op_helpers import check_against_ort as check
from op_helpers import make_model, rng, run_fastinfer

F32 = np.float32
I64 = np.int64


def _x(shape, dtype=F32, seed=0):
    return rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("n", [1, 3, 8, 17])
@pytest.mark.parametrize("complex_in", [False, True])
@pytest.mark.parametrize("onesided", [0, 1])
def test_dft17_forward(n, complex_in, onesided):
    if complex_in and onesided:
        pytest.skip("onesided needs a real input")
    x = _x((2, n, 3, 2 if complex_in else 1))
    check("DFT", {"x": x}, {"axis": 1, "onesided": onesided}, opset=17, rtol=1e-4, atol=1e-4)


def test_dft17_length_and_inverse():
    x = _x((3, 7, 2))
    for length in [4, 7, 12]:
        check("DFT", {"x": x}, {"axis": 1}, opset=17, initializers={"n": np.array(length, I64)},
              rtol=1e-4, atol=1e-4)
    check("DFT", {"x": x}, {"axis": 1, "inverse": 1}, opset=17, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("axis", [1, 2, -2])
def test_dft20_axis_input(axis):
    x = _x((2, 5, 6, 2), seed=1)
    check("DFT", {"x": x}, {}, opset=20, initializers={"axis": np.array(axis, I64)},
          input_names=["x", "", "axis"], rtol=1e-4, atol=1e-4)


def test_dft20_default_axis_double():
    check("DFT", {"x": _x((4, 9, 1), np.float64)}, {"onesided": 1}, opset=20, rtol=1e-9, atol=1e-9)


def test_dft_irfft():
    """Inverse one-sided transform gives back the real signal (checked by a round trip)."""
    sig = _x((2, 10, 1), np.float64, seed=4)
    spec = np.fft.rfft(sig[..., 0], axis=1)
    x = np.stack([spec.real, spec.imag], -1)
    model = make_model("DFT", {"x": x}, {"inverse": 1, "onesided": 1}, opset=20)
    (y,) = run_fastinfer(model, {"x": x})
    np.testing.assert_allclose(y, sig, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("window", [False, True])
@pytest.mark.parametrize("onesided", [0, 1])
def test_stft(window, onesided):
    x = _x((2, 64, 1), seed=2)
    inits = {"step": np.array(8, I64)}
    names = ["x", "step"]
    if window:
        inits["w"] = np.hanning(16).astype(F32)
        names.append("w")
    else:
        inits["len"] = np.array(16, I64)
        names += ["", "len"]
    check("STFT", {"x": x}, {"onesided": onesided}, opset=17, initializers=inits, input_names=names,
          rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
@pytest.mark.parametrize("periodic", [0, 1])
@pytest.mark.parametrize("size", [2, 7, 16])
def test_windows(op, periodic, size):
    model = make_model(op, {}, {"periodic": periodic}, opset=17, initializers={"n": np.array(size, I64)})
    from op_helpers import assert_close, run_ort
    (ours,) = run_fastinfer(model, {})
    (ref,) = run_ort(model, {})
    assert_close(ours, ref, 1e-5, 1e-6, what=op)


def test_window_output_datatype():
    model = make_model("HannWindow", {}, {"output_datatype": 11}, opset=17, initializers={"n": np.array(5, I64)})
    (ours,) = run_fastinfer(model, {})
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(5) / 5), atol=1e-12)


def test_mel_weight_matrix():
    inits = {"bins": np.array(8, I64), "dft": np.array(64, I64), "rate": np.array(16000, I64),
             "lo": np.array(0, F32), "hi": np.array(8000, F32)}
    model = make_model("MelWeightMatrix", {}, {}, opset=17, initializers=inits)
    (ours,) = run_fastinfer(model, {})
    from onnx.reference import ReferenceEvaluator
    (ref,) = ReferenceEvaluator(model).run(None, {})
    assert ours.shape == (33, 8)
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-6)


def test_signal_errors():
    x = _x((2, 5, 3))
    model = make_model("DFT", {"x": x}, {"axis": 1}, opset=17)
    with pytest.raises(fastinfer.InvalidArgument):  # last dim must be 1 or 2
        run_fastinfer(model, {"x": x})
    x = _x((2, 5, 1))
    model = make_model("DFT", {"x": x}, {"axis": 2}, opset=17)
    with pytest.raises(fastinfer.InvalidArgument):  # axis is the complex dim
        run_fastinfer(model, {"x": x})
    x = _x((1, 8, 1))
    model = make_model("STFT", {"x": x}, {}, opset=17, initializers={"s": np.array(0, I64)})
    with pytest.raises(fastinfer.InvalidArgument):  # zero frame_step
        run_fastinfer(model, {"x": x})
    model = make_model("HannWindow", {}, {}, opset=17, initializers={"n": np.array(-3, I64)})
    with pytest.raises(fastinfer.InvalidArgument):
        run_fastinfer(model, {})


@pytest.mark.parametrize("n", [64, 65, 100, 127, 256, 1000])
@pytest.mark.parametrize("inverse", [0, 1])
def test_dft_long_against_numpy(n, inverse):
    """Power-of-two, short and Bluestein plans agree with numpy.fft."""
    g = rng(n)
    sig = g.standard_normal((3, n)) + 1j * g.standard_normal((3, n))
    x = np.stack([sig.real, sig.imag], -1)
    model = make_model("DFT", {"x": x}, {"axis": 1, "inverse": inverse}, opset=17)
    (y,) = run_fastinfer(model, {"x": x}, threads=2)
    ref = np.fft.ifft(sig, axis=1) if inverse else np.fft.fft(sig, axis=1)
    np.testing.assert_allclose(y[..., 0] + 1j * y[..., 1], ref, rtol=1e-9, atol=1e-9)


def test_scalar_inputs_fed_at_run_time():
    """0-d arrays fed as inputs keep rank 0 (they used to arrive as shape [1])."""
    x = _x((2, 6, 1))
    axis = np.array(1, I64)
    model = make_model("DFT", {"x": x, "axis": axis}, {}, opset=20, input_names=["x", "", "axis"])
    (ours,) = run_fastinfer(model, {"x": x, "axis": axis})
    np.testing.assert_allclose(ours[..., 0] + 1j * ours[..., 1], np.fft.fft(x[..., 0], axis=1), rtol=1e-5, atol=1e-5)
