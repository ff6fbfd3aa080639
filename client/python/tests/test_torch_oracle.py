"""Tests of kiln.testing.torch_oracle: evaluation, inputs, comparisons."""

from __future__ import annotations

import math
from typing import Any, List

import pytest
import torch
import torch.nn.functional as F
from torch.fx.experimental.proxy_tensor import make_fx

from kiln import proto
from kiln.fx_export import export_graph
from kiln.testing.torch_oracle import (
    LAYOUTS,
    OracleError,
    TorchOracle,
    assert_close,
    assert_outputs_close,
    bind_symbols,
    evaluate,
    layout_strides,
    make_inputs,
    make_tensor,
    tolerances,
)
from kiln.torch_types import ALL_DTYPES, FLOATING_DTYPES


def _add_graph(dtype: int = proto.FLOAT32) -> Any:
    """out = mm(x, y) + x over [2, 2] tensors, written by hand."""
    graph = proto.Graph()
    for name in ("x", "y"):
        meta = graph.placeholders.add(name=name).tensor
        meta.dtype = dtype
        meta.device.type = proto.CPU
        meta.sizes.add(static_size=2)
        meta.sizes.add(static_size=2)
        meta.strides.add(static_size=2)
        meta.strides.add(static_size=1)
    mm = graph.nodes.add(name="mm", target="aten::mm.default")
    mm.args.add().ref.node = "x"
    mm.args.add().ref.node = "y"
    mm.outputs.add().tensor.CopyFrom(graph.placeholders[0].tensor)
    add = graph.nodes.add(name="add", target="aten::add.Tensor")
    add.args.add().ref.node = "mm"
    add.args.add().ref.node = "x"
    add.outputs.add().tensor.CopyFrom(graph.placeholders[0].tensor)
    graph.outputs.add().ref.node = "add"
    return graph


def test_evaluates_a_hand_written_graph() -> None:
    x, y = torch.randn(2, 2), torch.randn(2, 2)
    (out,) = evaluate(_add_graph(), [x, y])
    assert_close(out, x @ y + x)


def test_errors_name_the_node_or_input() -> None:
    graph = _add_graph()
    x, y = torch.randn(2, 2), torch.randn(2, 2)
    with pytest.raises(OracleError, match="2 placeholders, got 1 inputs"):
        evaluate(graph, [x])
    with pytest.raises(OracleError, match=r"graph.placeholders\[1\] \(y\): dtype is torch.float64"):
        evaluate(graph, [x, y.double()])
    with pytest.raises(OracleError, match=r"placeholders\[0\] \(x\): sizes are \[3, 2\]"):
        evaluate(graph, [torch.randn(3, 2), y])
    with pytest.raises(OracleError, match=r"placeholders\[0\] \(x\): strides are \[1, 2\]"):
        evaluate(graph, [x.t(), y])
    evaluate(graph, [x.t(), y], check_strides=False)

    bad = proto.Graph()
    bad.CopyFrom(graph)
    bad.nodes[0].outputs[0].tensor.sizes[0].static_size = 5
    with pytest.raises(OracleError, match=r"graph.nodes\[0\] \(aten::mm.default\).outputs\[0\]: sizes are \[2, 2\], graph says \[5, 2\]"):
        evaluate(bad, [x, y])
    bad.CopyFrom(graph)
    bad.nodes[0].outputs[0].tensor.dtype = proto.INT64
    with pytest.raises(OracleError, match=r"nodes\[0\].*dtype is torch.float32, graph says torch.int64"):
        evaluate(bad, [x, y])
    bad.CopyFrom(graph)
    bad.nodes[1].args[1].ref.node = "later"
    with pytest.raises(OracleError, match=r"nodes\[1\] \(aten::add.Tensor\).args\[1\]: references 'later'"):
        evaluate(bad, [x, y])
    bad.CopyFrom(graph)
    bad.nodes[1].args[1].ref.output_index = 1
    with pytest.raises(OracleError, match="x has no output 1"):
        evaluate(bad, [x, y])
    bad.CopyFrom(graph)
    bad.nodes[0].target = "aten::mm.nope"
    with pytest.raises(OracleError, match=r"nodes\[0\].*unknown op 'aten::mm.nope'"):
        evaluate(bad, [x, y])
    bad.CopyFrom(graph)
    del bad.nodes[0].args[1]
    with pytest.raises(OracleError, match=r"nodes\[0\] \(aten::mm.default\): \w+Error"):
        evaluate(bad, [x, y])


def test_inputs_are_not_mutated_unless_asked() -> None:
    graph = proto.Graph()
    meta = graph.placeholders.add(name="x").tensor
    meta.dtype, meta.device.type = proto.FLOAT32, proto.CPU
    meta.sizes.add(static_size=3)
    meta.strides.add(static_size=1)
    node = graph.nodes.add(name="add_", target="aten::add_.Scalar")
    node.args.add().ref.node = "x"
    node.args.add().int_value = 1
    node.outputs.add().tensor.CopyFrom(meta)
    graph.outputs.add().ref.node = "add_"
    x = torch.zeros(3)
    (out,) = evaluate(graph, [x])
    assert out.tolist() == [1.0, 1.0, 1.0] and x.tolist() == [0.0, 0.0, 0.0]
    evaluate(graph, [x], clone_inputs=False)
    assert x.tolist() == [1.0, 1.0, 1.0]


def test_upcasts_low_precision_only_where_aten_lacks_a_kernel() -> None:
    x = make_tensor([4, 5], torch.float16, seed=3)
    graph = export_graph(make_fx(lambda x: torch.tanh(x) + 1, tracing_mode="fake")(x))
    oracle = TorchOracle()
    (out,) = oracle.run(graph, [x])
    assert out.dtype == torch.float16
    assert_close(out, torch.tanh(x.float()).half() + 1)
    try:
        torch.tanh(x)
        native = True
    except RuntimeError:
        native = False
    assert oracle.upcast_nodes == ([] if native else ["tanh"])
    if not native:
        with pytest.raises(OracleError, match=r"nodes\[0\] \(aten::tanh.default\).*Half"):
            evaluate(graph, [x], upcast_low_precision=False)


def test_opmath_rounds_once_per_op() -> None:
    """opmath=True computes every low-precision op in float32 and rounds its
    result, but leaves views and mutations alone."""
    x = make_tensor([6, 5], torch.bfloat16, seed=4)
    graph = export_graph(make_fx(lambda x: (F.gelu(x) @ x.t(), x.t()))(x), [x])
    oracle = TorchOracle(opmath=True)
    gelu_mm, view = oracle.run(graph, [x])
    expected = (F.gelu(x.float()).bfloat16().float() @ x.float().t()).bfloat16()
    assert torch.equal(gelu_mm, expected) and gelu_mm.dtype == torch.bfloat16
    assert torch.equal(view, x.t())
    assert sorted(oracle.upcast_nodes) == ["gelu", "mm"]


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("shape", [[], [1], [0, 3], [2, 1, 4], [3, 5]])
def test_make_tensor_layouts(layout: str, shape: List[int]) -> None:
    t = make_tensor(shape, torch.float32, layout=layout, seed=1)
    strides, offset = layout_strides(shape, layout)
    assert list(t.shape) == shape
    assert list(t.stride()) == strides and t.storage_offset() == offset
    if len(shape) >= 2 and t.numel() > 1:
        assert not t.is_contiguous() or layout in ("contiguous", "offset")
    if layout == "broadcast" and shape and shape[0] > 1:
        assert torch.equal(t[0], t[1])  # stride 0: rows share storage


@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_make_tensor_values_per_dtype(dtype: torch.dtype) -> None:
    t = make_tensor([64], dtype, seed=7)
    assert t.dtype == dtype
    assert torch.equal(t, make_tensor([64], dtype, seed=7))  # deterministic
    if dtype == torch.bool:
        assert 0 < int(t.sum()) < 64
    elif dtype in FLOATING_DTYPES:
        assert float(t.min()) >= -3 and float(t.max()) <= 3 and len(set(t.tolist())) > 32
    else:
        low = 0 if dtype == torch.uint8 else -9
        assert int(t.min()) >= low and int(t.max()) <= 9
    bounded = make_tensor([64], dtype, seed=7, low=1, high=2)
    if dtype != torch.bool:
        assert float(bounded.min()) >= 1 and float(bounded.max()) <= 2


def test_make_inputs_follow_placeholders() -> None:
    x = make_tensor([3, 4], torch.float32, layout="transposed")
    y = make_tensor([2, 5], torch.bfloat16, layout="offset")
    z = make_tensor([4, 3], torch.int64, layout="broadcast")
    graph = export_graph(make_fx(lambda x, y, z: (x + 1, y * 2, z - 1))(x, y, z), [x, y, z])
    inputs = make_inputs(graph, seed=5)
    for made, original in zip(inputs, (x, y, z)):
        assert made.dtype == original.dtype and made.shape == original.shape
        assert made.stride() == original.stride() and made.storage_offset() == original.storage_offset()
    assert_outputs_close(evaluate(graph, inputs), [inputs[0] + 1, inputs[1] * 2, inputs[2] - 1])


def test_symbols_bind_from_inputs() -> None:
    graph = proto.Graph()
    meta = graph.placeholders.add(name="x").tensor
    meta.dtype, meta.device.type = proto.FLOAT32, proto.CPU
    meta.sizes.add().expr.CopyFrom(proto.SymExpr(op=proto.SymExpr.SYMBOL, symbol="s0"))
    meta.sizes.add(static_size=2)
    meta.strides.add(static_size=2)
    meta.strides.add(static_size=1)
    graph.placeholders.add(name="n").symint.expr.CopyFrom(proto.SymExpr(op=proto.SymExpr.SYMBOL, symbol="s1"))
    x = torch.randn(5, 2)
    assert bind_symbols(graph, [x, 7]) == {"s0": 5, "s1": 7}
    made = make_inputs(graph, symbols={"s0": 3, "s1": 4})
    assert list(made[0].shape) == [3, 2] and made[1] == 4
    with pytest.raises(OracleError, match=r"sizes\[0\]: s0: symbol s0 is not bound"):
        make_inputs(graph)


def test_tolerances() -> None:
    assert tolerances(torch.int32) == (0.0, 0.0) and tolerances(torch.bool) == (0.0, 0.0)
    rtol16, _ = tolerances(torch.float16)
    rtol32, _ = tolerances(torch.float32)
    rtol64, _ = tolerances(torch.float64)
    assert tolerances(torch.bfloat16)[0] > rtol16 > rtol32 > rtol64 > 0
    assert tolerances(torch.float32, scale=10)[0] == pytest.approx(10 * rtol32)


def test_assert_close() -> None:
    a = torch.tensor([1.0, 2.0, float("nan"), float("inf")])
    assert_close(a, a.clone())
    assert_close(a + 1e-7, a)
    with pytest.raises(AssertionError, match=r"1 of 4 elements .*worst at \(1,\): 2\.09999"):
        assert_close(torch.tensor([1.0, 2.1, float("nan"), float("inf")]), a)
    with pytest.raises(AssertionError, match="1 of 4"):
        assert_close(torch.tensor([1.0, 2.0, 0.0, float("inf")]), a)  # NaN moved
    with pytest.raises(AssertionError, match="1 of 4"):
        assert_close(torch.tensor([1.0, 2.0, float("nan"), -math.inf]), a)
    with pytest.raises(AssertionError, match="1 of 4"):
        assert_close(a, a.clone(), equal_nan=False)
    assert_close(torch.tensor([1.0, 2.1]), torch.tensor([1.0, 2.0]), rtol=0.1)
    with pytest.raises(AssertionError, match="dtype torch.float64, expected torch.float32"):
        assert_close(a.double(), a)
    assert_close(a.double(), a, check_dtype=False)
    with pytest.raises(AssertionError, match=r"shape \[2, 2\], expected \[4\]"):
        assert_close(a.reshape(2, 2), a)
    with pytest.raises(AssertionError, match=r"1 of 3 elements differ; first at \(2,\): 4 vs expected 3"):
        assert_close(torch.tensor([1, 2, 4]), torch.tensor([1, 2, 3]))
    with pytest.raises(AssertionError, match="expected None"):
        assert_close(torch.zeros(1), None)
    assert_close(None, None)
    with pytest.raises(AssertionError, match="strides"):
        assert_close(torch.zeros(2, 3).t(), torch.zeros(3, 2), check_strides=True)
    x16 = torch.tensor([1.0, 100.0], dtype=torch.float16)
    assert_close(x16 + torch.tensor([0.0, 0.0625], dtype=torch.float16), x16)  # within 1e-3 rel
    with pytest.raises(AssertionError, match="outputs\\[1\\]"):
        assert_outputs_close([torch.ones(1), torch.ones(1)], [torch.ones(1), torch.zeros(1)])
    with pytest.raises(AssertionError, match="1 outputs, expected 2"):
        assert_outputs_close([torch.ones(1)], [torch.ones(1), None])
