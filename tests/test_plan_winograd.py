"""The Winograd memory budget (graph pass plan_winograd): which 3x3 stride-1 convs store
Winograd transformed weights, F(4,3) or F(2,3), most output tiles first, while the extra bytes stay
within conv.winograd_budget x the model's constant bytes; the others run the compact form (W's
taps); results stay ORT's whatever the budget."""

from __future__ import annotations

import fastinfer
import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper
from op_helpers import run_ort

R = np.random.default_rng(23)


def pooled_model(m1: int, m2: int, m3: int, c: int, hw: int, pool: int, batch: int | str = 1):
    """conv1 c->m1 at hw x hw, a pool x pool max pool, conv2 m1->m2, conv3 m2->m3, all 3x3 pad 1,
    with ReLUs between."""
    shapes = {"w1": (m1, c, 3, 3), "w2": (m2, m1, 3, 3), "w3": (m3, m2, 3, 3)}
    inits = [numpy_helper.from_array((R.standard_normal(s) / np.sqrt(s[1] * 9)).astype(np.float32), k)
             for k, s in shapes.items()]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1] * 4, name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[pool, pool], strides=[pool, pool]),
             helper.make_node("Conv", ["p1", "w2"], ["c2"], pads=[1] * 4, name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"]),
             helper.make_node("Conv", ["r2", "w3"], ["y"], pads=[1] * 4, name="conv3")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, c, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


def three_layer_model(batch: int | str = 1):
    """conv1 16->16 at 56x56 (196 tiles, 9 KB of weights), then a 4x4 max pool to 14x14, conv2
    16->192 (16 tiles, 108 KB) and conv3 192->256 (16 tiles, 1.7 MB)."""
    return pooled_model(16, 192, 256, 16, 56, 4, batch)


def kernels(model, **config) -> dict[str, str]:
    sess = fastinfer.Session(model, threads=1, config={k.replace("_", ".", 1): v for k, v in config.items()})
    return {n["name"]: n["kernel"] for n in sess._describe_nodes() if n["name"].startswith("conv")}


def forms(model, **config) -> dict[str, str]:
    """Each conv's Winograd form: "F4" / "F2" (transformed weights stored), "compact" (W's taps)."""
    out = {}
    for name, k in kernels(model, **config).items():
        assert k.startswith("winograd") or config.get("conv_winograd") == "0", (name, k)
        out[name] = "compact" if "compact" in k else "F2" if "F(2,3)" in k else "F4" if "F(4,3)" in k else k
    return out


def winograd_layers(model, **config) -> list[str]:
    """The layers whose transformed weights are stored (the others run the compact form)."""
    return [name for name, f in forms(model, **config).items() if f in ("F4", "F2")]


# Weights: 9,216 + 110,592 + 1,769,472 bytes (1.89 MB). Extra bytes: F(4,3) (3x W) 27.6 KB, 332 KB,
# 5.3 MB; conv3's F(2,3) (7/9 W) 1.38 MB. conv3 (192 x 256 channels, under 256 x 256) prefers F(4,3).
@pytest.mark.parametrize(("budget", "expect"), [
    ("0", ["compact"] * 3),            # no budget: the compact form everywhere
    ("0.1", ["F4", "F4", "F2"]),       # 0.19 MB, but the 4 MiB floor: conv1 (most tiles), conv2, then
                                       # conv3's F(4,3) 5.3 MB does not fit, its F(2,3) 1.38 MB does
    ("0.5", ["F4", "F4", "F2"]),
    ("2.5", ["F4", "F4", "F2"]),       # 4.7 MB: conv3's F(4,3) does not fit
    ("3.1", ["F4", "F4", "F4"]),       # 5.9 MB: all three
    ("inf", ["F4", "F4", "F4"]),
])
def test_budget_picks_forms_by_tiles(budget, expect):
    got = forms(three_layer_model(), conv_winograd_budget=budget)
    assert [got[n] for n in ("conv1", "conv2", "conv3")] == expect


def wide_model(batch: int | str = 1, hw: int = 7):
    """Two 256->256 3x3 convs (pad 1, 2.36 MB of weights each) with a ReLU between: ResNet-50's
    late layers."""
    w = [numpy_helper.from_array((R.standard_normal((256, 256, 3, 3)) / 48).astype(np.float32), f"w{i}")
         for i in (1, 2)]
    nodes = [helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1] * 4, name="conv1"),
             helper.make_node("Relu", ["c1"], ["r1"]),
             helper.make_node("Conv", ["r1", "w2"], ["y"], pads=[1] * 4, name="conv2")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 256, hw, hw])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], w)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.mark.parametrize(("batch", "hw", "budget", "expect"), [
    (1, 7, "1", ("F2", "F2")),             # 4 tiles, 256 x 256: F(2,3) preferred (1.83 MB each, 4.7 MB budget)
    (1, 7, "0.5", ("F2", "compact")),      # the 3 MiB floor: room for one
    ("N", 14, "inf", ("F2", "F2")),        # 16 tiles (a symbolic batch counts 1): preferred whatever the budget
    (1, 7, "0", ("compact", "compact")),   # no budget, no stored form
    (8, 7, "inf", ("F4", "F4")),           # 32 tiles: F(4,3)
    (8, 7, "1", ("F2", "F2")),             # F(4,3)'s 7 MB each do not fit, F(2,3)'s do
    (8, 28, "0.5", ("compact", "compact")),  # 128 tiles: the compact F(4,3) rather than a stored F(2,3)
])
def test_wide_layers_take_f23(batch, hw, budget, expect):
    got = forms(wide_model(batch, hw), conv_winograd_budget=budget)
    assert (got["conv1"], got["conv2"]) == expect


def test_nchw_convs_never_take_f23(monkeypatch):
    """F(2,3) is channels-last only: with the layout pass off, a layer F(4,3) does not fit is left out."""
    monkeypatch.setenv("FASTINFER_LAYOUT", "nchw")
    sess = fastinfer.Session(wide_model(), threads=1)
    ks = [n["kernel"] for n in sess._describe_nodes() if n["name"].startswith("conv")]
    assert len(ks) == 2 and not any("F(2,3)" in k for k in ks), ks


@pytest.mark.parametrize("threads", [1, 2])
def test_f23_layers_match_ort(threads):
    model = wide_model(2, 7)
    x = R.standard_normal((2, 256, 7, 7)).astype(np.float32)
    want = run_ort(model, {"x": x})[0]
    sess = fastinfer.Session(model, threads=threads, config={"conv.winograd_budget": "1"})
    assert set(forms(model, conv_winograd_budget="1").values()) == {"F2"}
    for _ in range(2):
        np.testing.assert_allclose(sess.run(None, {"x": x})[0], want, rtol=1e-4, atol=1e-4)


def test_default_budget_and_symbolic_batch():
    """The default (0.5) takes what fits; a symbolic batch counts as 1 (same choice as batch 1)."""
    assert forms(three_layer_model()) == {"conv1": "F4", "conv2": "F4", "conv3": "F2"}
    assert forms(three_layer_model("N")) == {"conv1": "F4", "conv2": "F4", "conv3": "F2"}
    # At batch 8 conv2 and conv3 have 128 tiles each: conv1 (1568) first, then the smaller conv2;
    # conv3 runs the compact form (at 128 tiles it beats a stored F(2,3)).
    assert forms(three_layer_model(8), conv_winograd_budget="2.5") == {"conv1": "F4", "conv2": "F4",
                                                                       "conv3": "compact"}


def test_forced_modes_and_off():
    """Forced Winograd keeps the budget's choice of form; off runs im2row whatever the budget."""
    model = three_layer_model()
    assert forms(model, conv_winograd="4", conv_winograd_budget="0.5") == {"conv1": "F4", "conv2": "F4", "conv3": "F2"}
    assert forms(model, conv_winograd="4", conv_winograd_budget="0") == dict.fromkeys(("conv1", "conv2", "conv3"),
                                                                                      "compact")
    assert forms(model, conv_winograd="2", conv_winograd_budget="0") == dict.fromkeys(("conv1", "conv2", "conv3"), "F2")
    assert all("im2row GEMM" in k and not k.startswith("winograd")
               for k in kernels(model, conv_winograd="0", conv_winograd_budget="inf").values())


@pytest.mark.parametrize("threads", [1, 2])
def test_outputs_match_ort_whatever_the_budget(threads):
    model = three_layer_model(2)
    x = R.standard_normal((2, 16, 56, 56)).astype(np.float32)
    want = run_ort(model, {"x": x})[0]
    for budget in ("0", "0.5", "inf"):
        sess = fastinfer.Session(model, threads=threads, config={"conv.winograd_budget": budget})
        for _ in range(2):  # the first call traces, the second runs on the plan
            got = sess.run(None, {"x": x})[0]
            np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("bad", ["-1", "lots", "", "nan"])
def test_bad_budget_raises(bad, monkeypatch):
    monkeypatch.delenv("FASTINFER_WINOGRAD_BUDGET", raising=False)
    with pytest.raises(fastinfer.InvalidArgument, match="winograd_budget"):
        fastinfer.Session(three_layer_model(), config={"conv.winograd_budget": bad})


def test_environment_variable_sets_the_budget(monkeypatch):
    monkeypatch.setenv("FASTINFER_WINOGRAD_BUDGET", "inf")
    assert winograd_layers(three_layer_model()) == ["conv1", "conv2", "conv3"]
    monkeypatch.setenv("FASTINFER_WINOGRAD_BUDGET", "0")
    assert winograd_layers(three_layer_model()) == []


def floor_model():
    """conv1 96->128 at 28x28 (49 tiles), a 2x2 max pool, conv2 and conv3 128->128 at 14x14 (16
    tiles each): 1.6 MB of weights, so the 3 MiB floor is the budget."""
    return pooled_model(128, 128, 128, 96, 28, 2)


def test_small_layers_get_f23_before_f43_upgrades():
    """Every small layer first gets F(2,3) (the floor), then F(4,3) replaces it, most tiles first,
    while the budget lasts. Extra bytes: F(4,3) 1.33 MB (conv1), 1.77 MB (conv2, conv3); F(2,3)
    0.34 MB, 0.46 MB. Taking F(4,3) greedily (conv1, conv2) would leave 0.05 MB of the 3 MiB: conv3
    would get no stored form at all."""
    model = floor_model()
    assert forms(model) == {"conv1": "F4", "conv2": "F2", "conv3": "F2"}
    x = R.standard_normal((1, 96, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(fastinfer.Session(model, threads=1).run(None, {"x": x})[0],
                               run_ort(model, {"x": x})[0], rtol=1e-4, atol=1e-4)
