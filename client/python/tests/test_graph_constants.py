"""Tensor constants (``Graph.constants``): the exporter writes ``get_attr``
tensors there with their data, the importer and the PyTorch oracle read them
back, and ``lift_constants`` still turns them into placeholders."""

from __future__ import annotations

from typing import Any, List

import pytest
import torch
import torch.fx
from torch.fx.experimental.proxy_tensor import make_fx

from kiln import proto
from kiln.fx_export import ExportError, GraphExporter, export_graph, tensor_meta
from kiln.fx_import import GraphImportError, decode_constants, import_graph
from kiln.tensors import from_proto_tensor, to_proto_tensor
from kiln.testing.torch_oracle import OracleError, assert_outputs_close, evaluate, make_tensor


def _serialized(graph: "proto.Graph") -> bytes:
    return graph.SerializeToString(deterministic=True)


def _scale_and_shift() -> Any:
    scale = torch.tensor([1.0, -2.0, 0.5])
    shift = make_tensor([3, 4], torch.float32, layout="transposed", seed=7)  # strides (1, 3)
    mask = torch.tensor([True, False, True])
    return (lambda x: (torch.where(mask, x * scale, x), x[:, None] + shift)), (scale, shift, mask)


def test_get_attr_tensors_become_graph_constants() -> None:
    fn, (scale, shift, mask) = _scale_and_shift()
    x = make_tensor([3], torch.float32, seed=1)
    gm = make_fx(fn)(x)
    exporter = GraphExporter(gm)
    graph = exporter.export([x])
    assert exporter.lifted_constants == []
    assert [p.name for p in graph.placeholders] == ["x_1"]
    assert len(graph.constants) == 3
    by_name = {c.name: from_proto_tensor(c.value) for c in graph.constants}
    values = sorted(by_name.values(), key=lambda t: (t.dim(), t.dtype == torch.bool))
    # Data, dtype and layout travel as they are.
    assert torch.equal(values[0], scale) and torch.equal(values[1], mask) and values[1].dtype == torch.bool
    assert torch.equal(values[2], shift) and values[2].stride() == shift.stride() == (1, 3)
    # Nodes reference constants by name, like placeholders.
    refs = {a.ref.node for n in graph.nodes for a in n.args if a.WhichOneof("value") == "ref"}
    assert set(by_name) <= refs
    expected = list(fn(x))
    assert_outputs_close(evaluate(graph, [x]), expected, rtol=0, atol=0)
    imported = import_graph(graph)
    assert_outputs_close(imported(x), expected, rtol=0, atol=0)
    # Re-exporting the imported module gives the same graph, constants included.
    assert _serialized(export_graph(imported, [x])) == _serialized(graph)


def test_constants_without_example_inputs() -> None:
    """Metadata from meta['val'] (fake values); constants still carry data."""
    x = make_tensor([2, 3], torch.float32, seed=2)
    const = make_tensor([3], torch.float32, seed=5)
    g = torch.fx.Graph()
    ph = g.placeholder("x")
    ph.meta["val"] = torch.empty(2, 3)
    c = g.get_attr("c")
    node = g.call_function(torch.ops.aten.add.Tensor, (ph, c))
    node.meta["val"] = torch.empty(2, 3)
    g.output(node)
    root = torch.nn.Module()
    root.c = const
    graph = export_graph(torch.fx.GraphModule(root, g))
    assert [c.name for c in graph.constants] == ["c"]
    assert torch.equal(from_proto_tensor(graph.constants[0].value), const)
    assert_outputs_close(evaluate(graph, [x]), [x + const], rtol=0, atol=0)


def test_lift_constants_keeps_placeholders() -> None:
    fn, _ = _scale_and_shift()
    x = make_tensor([3], torch.float32, seed=3)
    exporter = GraphExporter(make_fx(fn)(x), lift_constants=True)
    graph = exporter.export([x])
    assert not graph.constants
    assert len(graph.placeholders) == 1 + len(exporter.lifted_constants) == 4
    assert_outputs_close(evaluate(graph, [x] + exporter.lifted_constants), list(fn(x)))


def test_training_graph_with_a_constant() -> None:
    """aot_function keeps tensor constants as get_attr in both graphs."""
    if int(torch.__version__.split(".")[0]) >= 2:
        pytest.skip(
            "PyTorch 2's aot_function traces with FakeTensors and refuses a closure-captured real "
            "tensor; constants from make_fx are tested above"
        )
    functorch_compile = pytest.importorskip("functorch.compile")
    bias = torch.tensor([0.5, -1.0, 2.0])
    graphs: List[Any] = []

    def compiler(gm: torch.fx.GraphModule, inputs: List[torch.Tensor]) -> Any:
        graphs.append(export_graph(gm, inputs))
        return gm

    fn = functorch_compile.aot_function(lambda x: ((x + bias).sin() * bias).sum(), compiler, compiler)
    x = make_tensor([3], torch.float32, seed=4).requires_grad_(True)
    fn(x).backward()
    assert graphs and all(len(g.constants) >= 1 for g in graphs[:1])


def test_constants_are_decoded_afresh() -> None:
    """An op that mutates a constant (copy_) changes neither the graph nor
    the next evaluation."""
    const = torch.zeros(3)
    g = torch.fx.Graph()
    x = g.placeholder("x")
    c = g.get_attr("c")
    g.output(g.call_function(torch.ops.aten.copy_.default, (c, x)))
    root = torch.nn.Module()
    root.c = const
    graph = export_graph(torch.fx.GraphModule(root, g), [torch.ones(3)])
    for value in (1.0, 2.0):
        assert evaluate(graph, [torch.full([3], value)])[0].tolist() == [value] * 3
    assert decode_constants(graph)[0].tolist() == [0.0, 0.0, 0.0]
    assert const.tolist() == [0.0, 0.0, 0.0]


def test_constant_names_need_not_be_identifiers() -> None:
    graph = proto.Graph()
    graph.placeholders.add(name="x").tensor.CopyFrom(tensor_meta(torch.empty(2)))
    graph.constants.add(name="weights.0").value.CopyFrom(to_proto_tensor(torch.tensor([3.0, 4.0])))
    node = graph.nodes.add(name="mul", target="aten::mul.Tensor")
    node.args.add().ref.node = "x"
    node.args.add().ref.node = "weights.0"
    node.outputs.add().tensor.CopyFrom(graph.placeholders[0].tensor)
    graph.outputs.add().ref.node = "mul"
    x = torch.tensor([1.0, 2.0])
    assert evaluate(graph, [x])[0].tolist() == [3.0, 8.0]
    assert import_graph(graph)(x)[0].tolist() == [3.0, 8.0]


def test_constant_errors() -> None:
    g = torch.fx.Graph()
    g.output(g.get_attr("k"))
    root = torch.nn.Module()
    root.k = 3  # not a tensor
    with pytest.raises(ExportError, match=r"node k \(get_attr k\): get_attr of a int"):
        export_graph(torch.fx.GraphModule(root, g), [])
    root.k = torch.empty(2, device="meta")
    with pytest.raises(ExportError, match="fake tensor \\(no data\\); pass lift_constants=True"):
        export_graph(torch.fx.GraphModule(root, g), [])
    root.k = torch.ones(2)
    graph = export_graph(torch.fx.GraphModule(root, g), [])
    graph.constants[0].value.raw = b"\x00"
    with pytest.raises(OracleError, match=r"graph.constants\[0\] \(k\).value: raw has 1 bytes"):
        evaluate(graph, [])
    with pytest.raises(GraphImportError, match=r"graph.constants\[0\] \(k\)"):
        import_graph(graph)
    graph.constants[0].value.CopyFrom(to_proto_tensor(torch.ones(2)))
    graph.constants.add(name="k").value.CopyFrom(to_proto_tensor(torch.ones(2)))
    with pytest.raises(OracleError, match=r"graph.constants\[1\]: duplicate name 'k'"):
        evaluate(graph, [])
