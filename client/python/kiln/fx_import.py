"""From a ``kiln.v1.Graph`` back to PyTorch: op lookup, argument decoding and
:func:`import_graph`, which rebuilds a runnable ``torch.fx.GraphModule``.

Used by tests and tools (``export -> import`` round trips) and by the PyTorch
oracle (:mod:`kiln.testing.torch_oracle`), which shares the decoding.
"""

from __future__ import annotations

import operator
from typing import Any, Callable, Dict, List, Tuple

import torch
import torch.fx

from kiln import proto
from kiln.symbolic import to_str
from kiln.tensors import from_proto_tensor
from kiln.torch_types import (
    UnsupportedTypeError,
    device_from_proto,
    dtype_from_proto,
    layout_from_proto,
    memory_format_from_proto,
)

__all__ = [
    "GraphImportError",
    "resolve_target",
    "decode_argument",
    "output_paths",
    "symbol_sources",
    "decode_constants",
    "import_graph",
]


class GraphImportError(ValueError):
    """A kiln.v1 Graph that cannot be turned back into PyTorch calls.

    Messages start with the field path, as the server's do
    (``graph.nodes[3].args[0]: ...``).
    """


def resolve_target(target: str) -> Any:
    """``"aten::add.Tensor"`` -> ``torch.ops.aten.add.Tensor``."""
    namespace, sep, rest = target.partition("::")
    name, dot, overload = rest.partition(".")
    if not sep or not dot or not namespace or not name or not overload:
        raise GraphImportError(f"malformed target {target!r}; expected 'namespace::name.overload'")
    try:
        packet = getattr(getattr(torch.ops, namespace), name)
        return getattr(packet, overload)
    except Exception:  # noqa: BLE001 - torch raises AttributeError or RuntimeError
        raise GraphImportError(f"unknown op {target!r} in torch {torch.__version__}") from None


def decode_argument(
    arg: "proto.Argument",
    ref: Callable[["proto.ValueRef"], Any],
    sym: Callable[["proto.SymExpr"], Any],
    path: str = "argument",
) -> Any:
    """The Python value of an Argument; ``ref`` and ``sym`` resolve tensor
    references and symbolic ints (to values, or to FX nodes)."""
    kind = arg.WhichOneof("value")
    try:
        if kind == "ref":
            return ref(arg.ref)
        if kind in ("int_value", "float_value", "bool_value", "string_value"):
            return getattr(arg, kind)
        if kind in ("ints", "floats", "bools"):
            return list(getattr(arg, kind).values)
        if kind == "sym":
            return sym(arg.sym)
        if kind == "dtype":
            return dtype_from_proto(arg.dtype)
        if kind == "device":
            return device_from_proto(arg.device)
        if kind == "memory_format":
            return memory_format_from_proto(arg.memory_format)
        if kind == "layout":
            return layout_from_proto(arg.layout)
        if kind == "none":
            return None
        if kind == "list":
            return [decode_argument(v, ref, sym, f"{path}[{i}]") for i, v in enumerate(arg.list.values)]
    except UnsupportedTypeError as err:
        raise GraphImportError(f"{path}: {err}") from None
    raise GraphImportError(f"{path}: no value set")


def _is_list_type(t: Any) -> bool:
    return str(t).startswith("List[") or str(t).endswith("[]")


def output_paths(op: Any, num_outputs: int) -> List[Tuple[int, ...]]:
    """Where each flattened NodeOutput sits in the op's Python result.

    ``()`` for an op returning one Tensor; ``(i,)`` for element i of a tuple
    or of a ``Tensor[]`` result; ``(i, j)`` for element j of a ``Tensor[]``
    inside a tuple. At most one ``Tensor[]`` return is supported (its length
    is what is left of ``num_outputs``).
    """
    returns = list(op._schema.returns)
    list_returns = [i for i, r in enumerate(returns) if _is_list_type(r.type)]
    if len(list_returns) > 1:
        raise GraphImportError(f"{op}: more than one list return is ambiguous")
    if len(returns) == 1 and not list_returns:
        return [()]
    if len(returns) == 1:
        return [(j,) for j in range(num_outputs)]
    list_len = num_outputs - (len(returns) - len(list_returns))
    paths: List[Tuple[int, ...]] = []
    for i, r in enumerate(returns):
        if i in list_returns:
            paths.extend((i, j) for j in range(list_len))
        else:
            paths.append((i,))
    return paths


def symbol_sources(graph: "proto.Graph") -> Dict[str, Tuple[int, str, int]]:
    """Where each symbol is bound: ``name -> (placeholder index, what, dim)``
    with ``what`` one of ``"size"``, ``"stride"``, ``"storage_offset"``,
    ``"symint"``; the first bare-SYMBOL occurrence in graph.proto's walk
    order (sizes, strides, storage offset of each placeholder in turn)."""
    sources: Dict[str, Tuple[int, str, int]] = {}

    def visit(dim: "proto.Dim", where: Tuple[int, str, int]) -> None:
        if dim.WhichOneof("value") == "expr" and dim.expr.op == proto.SymExpr.SYMBOL:
            sources.setdefault(dim.expr.symbol, where)

    for i, placeholder in enumerate(graph.placeholders):
        kind = placeholder.WhichOneof("kind")
        if kind == "tensor":
            for d, dim in enumerate(placeholder.tensor.sizes):
                visit(dim, (i, "size", d))
            for d, dim in enumerate(placeholder.tensor.strides):
                visit(dim, (i, "stride", d))
            if placeholder.tensor.HasField("storage_offset"):
                visit(placeholder.tensor.storage_offset, (i, "storage_offset", 0))
        elif kind == "symint" and placeholder.symint.expr.op == proto.SymExpr.SYMBOL:
            sources.setdefault(placeholder.symint.expr.symbol, (i, "symint", 0))
    return sources


_SYM_OPS: Dict[int, Callable[..., Any]] = {
    proto.SymExpr.ADD: operator.add,
    proto.SymExpr.SUB: operator.sub,
    proto.SymExpr.MUL: operator.mul,
    proto.SymExpr.FLOOR_DIV: operator.floordiv,
    proto.SymExpr.MOD: operator.mod,
    proto.SymExpr.MIN: min,
    proto.SymExpr.MAX: max,
    # Boolean relations (SymBool arguments).
    proto.SymExpr.AND: operator.and_,
    proto.SymExpr.OR: operator.or_,
}
# Relations take exactly two operands.
_SYM_RELATIONS: Dict[int, Callable[..., Any]] = {
    proto.SymExpr.EQ: operator.eq,
    proto.SymExpr.NE: operator.ne,
    proto.SymExpr.LT: operator.lt,
    proto.SymExpr.LE: operator.le,
    proto.SymExpr.GT: operator.gt,
    proto.SymExpr.GE: operator.ge,
}


class _Importer:
    def __init__(self, graph: "proto.Graph") -> None:
        self.pgraph = graph
        self.g = torch.fx.Graph()
        self.values: Dict[str, torch.fx.Node] = {}
        self.paths: Dict[str, List[Tuple[int, ...]]] = {}
        self.getitems: Dict[Tuple[str, int], torch.fx.Node] = {}
        self.symbol_nodes: Dict[str, Any] = {}
        self.placeholder_nodes: List[torch.fx.Node] = []
        self.sources = symbol_sources(graph)

    def ref(self, r: "proto.ValueRef", path: str) -> torch.fx.Node:
        if r.node not in self.values:
            raise GraphImportError(f"{path}: references {r.node!r}, which is not an earlier placeholder or node")
        paths = self.paths.get(r.node, [()])
        if not 0 <= r.output_index < len(paths):
            raise GraphImportError(f"{path}: {r.node} has no output {r.output_index}")
        item_path = paths[r.output_index]
        node = self.values[r.node]
        if not item_path:
            return node
        key = (r.node, r.output_index)
        if key not in self.getitems:
            for index in item_path:
                node = self.g.call_function(operator.getitem, (node, index))
            self.getitems[key] = node
        return self.getitems[key]

    def sym(self, e: "proto.SymExpr", path: str) -> Any:
        op = e.op
        if op == proto.SymExpr.CONSTANT:
            return int(e.constant)
        if op == proto.SymExpr.BOOL_CONSTANT:
            return bool(e.bool_value)
        if op == proto.SymExpr.SYMBOL:
            return self.symbol(e.symbol, path)
        operands = [self.sym(o, path) for o in e.operands]
        if op == proto.SymExpr.NEG and len(operands) == 1:
            return self.g.call_function(operator.neg, (operands[0],))
        if op == proto.SymExpr.NOT and len(operands) == 1:
            return self.g.call_function(operator.not_, (operands[0],))
        if op in _SYM_RELATIONS and len(operands) == 2:
            return self.g.call_function(_SYM_RELATIONS[op], tuple(operands))
        fn = _SYM_OPS.get(op)
        if fn is None or len(operands) < 2:
            raise GraphImportError(f"{path}: {to_str(e)} is not an integer or boolean expression")
        result = operands[0]
        for o in operands[1:]:
            result = self.g.call_function(fn, (result, o))
        return result

    def symbol(self, name: str, path: str) -> Any:
        if name not in self.symbol_nodes:
            if name not in self.sources:
                raise GraphImportError(f"{path}: symbol {name} is not bound by any placeholder")
            index, what, dim = self.sources[name]
            ph = self.placeholder_nodes[index]
            if what == "symint":
                self.symbol_nodes[name] = ph
            elif what == "storage_offset":
                self.symbol_nodes[name] = self.g.call_method("storage_offset", (ph,))
            else:
                self.symbol_nodes[name] = self.g.call_method(what, (ph, dim))
        return self.symbol_nodes[name]

    def decode(self, arg: "proto.Argument", path: str) -> Any:
        return decode_argument(arg, lambda r: self.ref(r, path), lambda e: self.sym(e, path), path)

    def run(self) -> torch.fx.GraphModule:
        for i, placeholder in enumerate(self.pgraph.placeholders):
            if placeholder.name in self.values:
                raise GraphImportError(f"graph.placeholders[{i}]: duplicate name {placeholder.name!r}")
            node = self.g.placeholder(placeholder.name)
            self.values[placeholder.name] = node
            self.placeholder_nodes.append(node)
        root = torch.nn.Module()
        for i, value in enumerate(decode_constants(self.pgraph)):
            name = self.pgraph.constants[i].name
            if name in self.values:
                raise GraphImportError(f"graph.constants[{i}]: duplicate name {name!r}")
            # The attribute gets a name of our own (constant names need not be
            # identifiers); the node keeps the constant's, so re-exporting
            # gives the same graph.
            attr = f"_kiln_constant{i}"
            setattr(root, attr, value)
            self.values[name] = self.g.create_node("get_attr", attr, name=name)
        for i, pnode in enumerate(self.pgraph.nodes):
            path = f"graph.nodes[{i}] ({pnode.target})"
            if pnode.name in self.values:
                raise GraphImportError(f"{path}: duplicate name {pnode.name!r}")
            try:
                op = resolve_target(pnode.target)
            except GraphImportError as err:
                raise GraphImportError(f"{path}: {err}") from None
            args = tuple(self.decode(a, f"{path}.args[{j}]") for j, a in enumerate(pnode.args))
            kwargs = {kw.name: self.decode(kw.value, f"{path}.kwargs[{kw.name}]") for kw in pnode.kwargs}
            node = self.g.create_node("call_function", op, args, kwargs, name=pnode.name)
            self.values[pnode.name] = node
            self.paths[pnode.name] = output_paths(op, len(pnode.outputs))
            for k, out in enumerate(pnode.outputs):
                # A bare symbol no placeholder binds (data-dependent `u0`) is
                # this output's value.
                expr = out.sym if out.WhichOneof("kind") == "sym" else None
                if expr is not None and expr.op == proto.SymExpr.SYMBOL and expr.symbol not in self.sources:
                    self.symbol_nodes.setdefault(expr.symbol, self.ref(proto.ValueRef(node=pnode.name, output_index=k), path))
        outputs = [self.decode(a, f"graph.outputs[{i}]") for i, a in enumerate(self.pgraph.outputs)]
        self.g.output(outputs)
        self.g.lint()
        return torch.fx.GraphModule(root, self.g)


def decode_constants(graph: "proto.Graph") -> List[torch.Tensor]:
    """The values of ``graph.constants``, in order, with their sizes,
    strides and storage offset (fresh tensors on every call)."""
    values = []
    for i, constant in enumerate(graph.constants):
        try:
            values.append(from_proto_tensor(constant.value))
        except (ValueError, UnsupportedTypeError) as err:
            raise GraphImportError(f"graph.constants[{i}] ({constant.name}).value: {err}") from None
    return values


def import_graph(graph: "proto.Graph") -> torch.fx.GraphModule:
    """A GraphModule computing ``graph`` with ATen ops.

    Call it with one value per placeholder; it returns the list of the
    graph's outputs. ``graph.constants`` become attributes of the module,
    read by ``get_attr`` nodes named like the constants. Multi-output nodes get ``operator.getitem`` nodes again;
    symbols are read from the inputs that bind them (``x.size(d)``, a SymInt
    input) and SymExpr arguments become ``operator`` arithmetic on them.
    """
    return _Importer(graph).run()
