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
