"""Non-tensor node outputs (graph.proto's NodeOutput.sym and .scalar): a
data-dependent SymInt that binds a symbol for later nodes, and Python
scalars that later nodes reference."""

from __future__ import annotations

import pytest
import torch

from kiln import proto
from kiln.fx_export import tensor_meta
from kiln.fx_import import import_graph
from kiln.symbolic import symbol
from kiln.testing.torch_oracle import OracleError, evaluate


def _unbacked_graph() -> "proto.Graph":
    """n = x.item() (an int, bound as u0); full([u0], 1.5)."""
    graph = proto.Graph()
    graph.placeholders.add(name="x").tensor.CopyFrom(tensor_meta(torch.tensor(3)))
    item = graph.nodes.add(name="item", target="aten::_local_scalar_dense.default")
    item.args.add().ref.node = "x"
    item.outputs.add().sym.CopyFrom(symbol("u0"))
    full = graph.nodes.add(name="full", target="aten::full.default")
    size = full.args.add().list.values.add()
    size.sym.CopyFrom(symbol("u0"))
    full.args.add().float_value = 1.5
    meta = tensor_meta(torch.empty(1))
    meta.sizes[0].Clear()
    meta.sizes[0].expr.CopyFrom(symbol("u0"))
    full.outputs.add().tensor.CopyFrom(meta)
    graph.outputs.add().ref.node = "full"
    return graph


def test_sym_output_binds_a_data_dependent_symbol() -> None:
    graph = _unbacked_graph()
    for n in (3, 0):
        (out,) = evaluate(graph, [torch.tensor(n)])
        assert out.tolist() == [1.5] * n
        assert import_graph(graph)(torch.tensor(n))[0].tolist() == [1.5] * n


def test_sym_output_must_agree_once_bound() -> None:
    graph = _unbacked_graph()
    second = graph.nodes.add(name="again", target="aten::_local_scalar_dense.default")
    second.args.add().ref.node = "x"
    second.outputs.add().sym.CopyFrom(symbol("u0"))  # already bound: a check
    assert evaluate(graph, [torch.tensor(2)])[0].tolist() == [1.5, 1.5]
    graph.nodes[2].args[0].ref.node = "full"  # 1-element tensor holding 1.5: a float
    with pytest.raises(OracleError, match=r"nodes\[2\].*outputs\[0\]: produced a float, graph says SymInt u0"):
        evaluate(graph, [torch.tensor(1)])


def test_scalar_output_kind_is_checked() -> None:
    graph = proto.Graph()
    graph.placeholders.add(name="x").tensor.CopyFrom(tensor_meta(torch.tensor(2.0)))
    item = graph.nodes.add(name="item", target="aten::_local_scalar_dense.default")
    item.args.add().ref.node = "x"
    item.outputs.add().scalar = proto.SCALAR_KIND_FLOAT
    graph.outputs.add().ref.node = "item"
    assert evaluate(graph, [torch.tensor(2.0)]) == [2.0]
    item.outputs[0].scalar = proto.SCALAR_KIND_BOOL
    with pytest.raises(OracleError, match=r"outputs\[0\]: produced a float, graph says bool"):
        evaluate(graph, [torch.tensor(2.0)])


def test_symbool_arguments() -> None:
    """A boolean SymExpr where the schema takes a bool (graph.proto's SymBool
    `sym` argument): sum(x, [1], keepdim=(s0 == 3))."""
    x = torch.ones(3, 2)
    graph = proto.Graph()
    meta = tensor_meta(x)
    meta.sizes[0].Clear()
    meta.sizes[0].expr.CopyFrom(symbol("s0"))
    meta.strides[0].static_size = 2
    graph.placeholders.add(name="x").tensor.CopyFrom(meta)
    node = graph.nodes.add(name="sum", target="aten::sum.dim_IntList")
    node.args.add().ref.node = "x"
    node.args.add().ints.values.append(1)
    keepdim = node.args.add().sym
    keepdim.op = proto.SymExpr.EQ
    keepdim.operands.add().CopyFrom(symbol("s0"))
    keepdim.operands.add().CopyFrom(proto.SymExpr(op=proto.SymExpr.CONSTANT, constant=3))
    out = tensor_meta(torch.empty(3, 1))
    out.sizes[0].Clear()
    out.sizes[0].expr.CopyFrom(symbol("s0"))
    node.outputs.add().tensor.CopyFrom(out)
    graph.outputs.add().ref.node = "sum"
    (result,) = evaluate(graph, [x])
    assert result.shape == (3, 1) and result.flatten().tolist() == [2.0] * 3
    assert import_graph(graph)(x)[0].shape == (3, 1)
    # s0 = 4: keepdim is False, which the declared [s0, 1] then contradicts.
    with pytest.raises(OracleError, match=r"sizes are \[4\], graph says \[4, 1\]"):
        evaluate(graph, [torch.ones(4, 2)])
    assert import_graph(graph)(torch.ones(4, 2))[0].shape == (4,)


def test_symbool_export() -> None:
    """The exporter's SymBool path (torch 2.x has torch.SymBool; 1.13 has
    none, so a stand-in with the same shape: ``.node.expr``)."""
    sympy = pytest.importorskip("sympy")
    from kiln.fx_export import GraphExporter

    s = sympy.Symbol("s7", integer=True)

    class SymBool:  # noqa: D401 - named like torch's class on purpose
        def __init__(self, expr: object) -> None:
            self.node = type("Node", (), {"expr": expr})()

    g = torch.fx.Graph()
    x = g.placeholder("x")
    x.meta["val"] = torch.ones(2)
    node = g.call_function(torch.ops.aten.sum.dim_IntList, (x, [0], SymBool(sympy.Eq(s, 2))))
    node.meta["val"] = torch.ones(1)
    g.output(node)
    exporter = GraphExporter(_holder(g))
    arg = exporter.export().nodes[0].args[2]
    assert arg.WhichOneof("value") == "sym" and arg.sym.op == proto.SymExpr.EQ
    assert exporter.symbols.names["s0"] == s
    g2 = torch.fx.Graph()
    y = g2.placeholder("x")
    y.meta["val"] = torch.ones(2)
    n2 = g2.call_function(torch.ops.aten.sum.dim_IntList, (y, [0], SymBool(sympy.true)))
    n2.meta["val"] = torch.ones(1)
    g2.output(n2)
    assert GraphExporter(_holder(g2)).export().nodes[0].args[2].bool_value is True


def _holder(graph: torch.fx.Graph) -> torch.nn.Module:
    """What the exporter reads of a GraphModule (a real one would generate
    Python code, which the stand-in SymBool cannot be part of)."""
    module = torch.nn.Module()
    module.graph = graph
    return module
