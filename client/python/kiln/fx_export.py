"""Export an ATen-level torch.fx graph to a ``kiln.v1.Graph``.

The input is a GraphModule whose call_function nodes are ATen OpOverloads, as
``make_fx`` and functorch's / torch's ``aot_function`` produce. The result
follows graph.proto:

* placeholders carry TensorMeta (dtype, device, sizes, strides, storage
  offset, requires_grad), or are SymInt / scalar inputs;
* node targets are ``"aten::<name>.<overload>"`` (``.default`` for the
  unnamed overload), taken from the OpOverload's schema;
* ``operator.getitem`` nodes disappear: consumers reference output ``k`` of
  the producer (``ValueRef.output_index``); a ``Tensor[]`` result is
  flattened into one output per tensor;
* SymInt arithmetic (``sym_size``, ``operator.mul`` on sizes, ...) is folded
  into ``sym`` arguments; Python constants, dtypes, devices, memory formats
  and layouts are inlined;
* tensor constants (``get_attr`` nodes) become ``Graph.constants`` with
  their data inline (or, with ``lift_constants``, extra placeholders);
* a Python bool given for a ``Scalar`` parameter is sent as the op receives
  it: PyTorch 1.x's bindings pass it as the integer 0/1 (so
  ``add.Scalar(bool_tensor, True)`` is int64 in eager), PyTorch 2 as a bool;
* every node lists its outputs' metadata: tensors, None, SymInts (a
  ``sym`` expression; consumers get it inlined) and Python scalars (a
  ``scalar`` kind; consumers reference it).

Metadata comes from running the graph on ``example_inputs`` when they are
given (concrete sizes), else from ``node.meta["val"]`` (fake tensors, which
may carry symbolic sizes). Anything kiln.v1 cannot carry raises
:class:`ExportError` naming the node.

The inverse, for tests and tools, is :func:`kiln.fx_import.import_graph`.
"""

from __future__ import annotations

import functools
import math
import operator
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
import torch.fx

from kiln import proto
from kiln.fx_import import import_graph  # re-exported: the inverse
from kiln.symbolic import SymbolTable, SymbolicError, is_symint, sympy_expr_of, sympy_to_proto
from kiln.symbolic import constant as sym_constant
from kiln.tensors import clone_preserving_layout, to_proto_tensor
from kiln.torch_types import (
    UnsupportedTypeError,
    device_to_proto,
    dtype_to_proto,
    layout_to_proto,
    memory_format_to_proto,
)

__all__ = [
    "ExportError",
    "GraphExporter",
    "export_graph",
    "op_target_name",
    "tensor_meta",
    "import_graph",
]


class ExportError(ValueError):
    """An FX graph (or one of its nodes) that kiln.v1 cannot represent.

    ``node`` is the FX node's name when the problem is about one node.
    """

    def __init__(self, message: str, node: Optional[torch.fx.Node] = None) -> None:
        self.node = node.name if node is not None else None
        if node is not None:
            message = f"node {node.name} ({_describe_target(node)}): {message}"
        super().__init__(message)


def _describe_target(node: torch.fx.Node) -> str:
    if node.op == "call_function":
        try:
            return op_target_name(node.target)
        except TypeError:
            return getattr(node.target, "__name__", str(node.target))
    return f"{node.op} {node.target}"


def op_target_name(op: Any) -> str:
    """``"aten::add.Tensor"`` for ``torch.ops.aten.add.Tensor`` (schema name,
    then the overload name or ``default``). Raises TypeError for anything but
    an OpOverload."""
    schema = getattr(op, "_schema", None)
    if schema is None or not hasattr(op, "overloadpacket"):
        raise TypeError(f"{op!r} is not a torch OpOverload")
    return f"{schema.name}.{schema.overload_name or 'default'}"


def _qualified_name(target: Any) -> Optional[str]:
    """"aten::sym_size" for an OpOverload or OpOverloadPacket, else None."""
    schema = getattr(target, "_schema", None)
    if schema is not None:
        return schema.name
    name = getattr(target, "_qualified_op_name", None)
    return name if isinstance(name, str) else None


# Calls whose result is a size (an int or SymInt) computed from sizes: they
# are folded into `sym` arguments instead of becoming nodes.
_SIZE_OPS = {
    "aten::sym_size",
    "aten::sym_stride",
    "aten::sym_numel",
    "aten::sym_storage_offset",
    "aten::size",
    "aten::stride",
    "aten::numel",
    "aten::storage_offset",
}
_SIZE_FUNCTIONS = {
    operator.add,
    operator.sub,
    operator.mul,
    operator.floordiv,
    operator.mod,
    operator.neg,
    operator.pos,
    min,
    max,
    math.floor,
    math.ceil,
}
for _name in ("sym_min", "sym_max", "sym_int"):
    if hasattr(torch, _name):
        _SIZE_FUNCTIONS.add(getattr(torch, _name))


@functools.lru_cache(maxsize=None)
def _bool_scalar_binds_as_int() -> bool:
    """Whether this torch's op bindings turn a Python bool given for a
    ``Scalar`` parameter into an integer (PyTorch 1.x checks for int first,
    and bool is an int subclass): then the op computes with 0/1 and promotes
    a bool tensor to int64, and the exported graph must say so."""
    try:
        return torch.ops.aten.add.Scalar(torch.tensor([True]), True).dtype == torch.int64
    except RuntimeError:  # pragma: no cover - depends on the torch build
        return False


def _is_size_call(node: torch.fx.Node) -> bool:
    if node.op != "call_function":
        return False
    if _qualified_name(node.target) in _SIZE_OPS:
        return True
    try:
        return node.target in _SIZE_FUNCTIONS
    except TypeError:  # unhashable target
        return False


class _Ref:
    """Output ``index`` of graph value ``name`` (a placeholder or node)."""

    __slots__ = ("name", "index")

    def __init__(self, name: str, index: int) -> None:
        self.name, self.index = name, index


class _Inline:
    """A value that consumers get inlined (a folded size, a constant input)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


def _leaves(value: Any) -> List[Any]:
    """The leaves of nested lists, tuples and dicts (values, in key order)."""
    if isinstance(value, (list, tuple)):
        return [leaf for v in value for leaf in _leaves(v)]
    if isinstance(value, dict):
        return [leaf for k in value for leaf in _leaves(value[k])]
    return [value]


def _fetch_attr(gm: torch.nn.Module, target: str) -> Any:
    obj: Any = gm
    for part in target.split("."):
        obj = getattr(obj, part)
    return obj


def _is_symbool(value: Any) -> bool:
    """A torch SymBool (torch 2.x; torch 1.13 has none)."""
    cls = getattr(torch, "SymBool", None)
    return (isinstance(cls, type) and isinstance(value, cls)) or type(value).__name__ == "SymBool"


def _is_fake(t: torch.Tensor) -> bool:
    """A tensor without data: a FakeTensor or a meta tensor."""
    return t.device.type == "meta" or type(t).__name__ == "FakeTensor"


def _run_concrete(gm: torch.fx.GraphModule, inputs: Sequence[Any]) -> Dict[torch.fx.Node, Any]:
    """Runs the graph node by node (no pytree input processing) on copies of
    ``inputs``; returns every node's value."""
    env: Dict[torch.fx.Node, Any] = {}
    it = iter(inputs)
    with torch.no_grad():
        for node in gm.graph.nodes:
            if node.op == "placeholder":
                value = next(it)
                env[node] = clone_preserving_layout(value) if isinstance(value, torch.Tensor) else value
            elif node.op == "get_attr":
                value = _fetch_attr(gm, node.target)
                # A copy: an op that mutates a constant must not change the module.
                env[node] = clone_preserving_layout(value) if isinstance(value, torch.Tensor) else value
            elif node.op == "call_function":
                args = torch.fx.node.map_arg(node.args, env.__getitem__)
                kwargs = torch.fx.node.map_arg(node.kwargs, env.__getitem__)
                try:
                    env[node] = node.target(*args, **kwargs)
                except Exception as err:  # noqa: BLE001 - reported with the node
                    raise ExportError(f"failed to run on the example inputs: {err}", node) from err
            elif node.op != "output":
                raise AssertionError(f"{node.op} nodes are rejected before running")
    return env


def tensor_meta(t: torch.Tensor, symbols: Optional[SymbolTable] = None) -> "proto.TensorMeta":
    """The TensorMeta of a real or fake tensor. Symbolic sizes, strides and
    offsets need a ``symbols`` table to name their symbols."""
    meta = proto.TensorMeta(
        dtype=dtype_to_proto(t.dtype),
        device=device_to_proto(t.device),
        requires_grad=bool(t.requires_grad),
    )
    table = symbols if symbols is not None else SymbolTable()
    for size in t.shape:
        meta.sizes.append(_dim(size, table))
    for stride in t.stride():
        meta.strides.append(_dim(stride, table))
    offset = _dim(t.storage_offset(), table)
    if offset.WhichOneof("value") != "static_size" or offset.static_size != 0:
        meta.storage_offset.CopyFrom(offset)
    return meta


def _sym_or_int(value: Any, table: SymbolTable) -> Union[int, "proto.SymExpr"]:
    """An int, or the SymExpr of a SymInt (a bare constant becomes an int)."""
    if is_symint(value):
        _record_hints(value, table)
        expr = sympy_to_proto(sympy_expr_of(value), table)
        if expr.op == proto.SymExpr.CONSTANT:
            return int(expr.constant)
        return expr
    return int(value)


def _record_hints(value: Any, table: SymbolTable) -> None:
    """Remembers the trace-time values of the symbols behind ``value``."""
    node = getattr(value, "node", None)
    shape_env = getattr(node, "shape_env", None)
    if shape_env is None and hasattr(value, "get_pyobj"):  # torch 1.13
        shape_env = getattr(value.get_pyobj(), "shape_env", None)
    if shape_env is None:  # torch 1.13's PySymInt
        shape_env = getattr(value, "shape_env", None)
    var_to_val = getattr(shape_env, "var_to_val", None) or {}
    try:
        free = sympy_expr_of(value).free_symbols
    except Exception:  # noqa: BLE001 - hints are best effort
        return
    for sym in free:
        if sym in var_to_val:
            table.hints[table.name(sym)] = int(var_to_val[sym])


def _dim(value: Any, table: SymbolTable) -> "proto.Dim":
    v = _sym_or_int(value, table)
    if isinstance(v, int):
        return proto.Dim(static_size=v)
    return proto.Dim(expr=v)


class GraphExporter:
    """Converts one GraphModule; see :func:`export_graph` for the options.

    After :meth:`export`, ``symbols`` names the sympy symbols of a symbolic
    graph (``s0 -> sympy symbol``, with ``symbols.hints``), and
    ``lifted_constants`` lists the tensors that ``lift_constants`` turned
    into trailing placeholders, in placeholder order (empty when tensor
    constants went into ``Graph.constants``).
    """

    def __init__(
        self,
        gm: torch.fx.GraphModule,
        *,
        lift_constants: bool = False,
        include_stack_traces: bool = False,
        include_fx_code: bool = False,
    ) -> None:
        self.gm = gm
        self.lift_constants = lift_constants
        self.include_stack_traces = include_stack_traces
        self.include_fx_code = include_fx_code
        self.symbols = SymbolTable()
        self.lifted_constants: List[torch.Tensor] = []
        self._struct: Dict[torch.fx.Node, Any] = {}

    # -- values --------------------------------------------------------------

    def _check_nodes(self) -> None:
        """Rejects non-ATen nodes before anything runs, first one first."""
        for node in self.gm.graph.nodes:
            if node.op in ("call_module", "call_method"):
                raise ExportError(
                    "not an ATen-level graph (call_module / call_method nodes); "
                    "trace with make_fx or aot_function",
                    node,
                )
            if node.op != "call_function" or node.target is operator.getitem or _is_size_call(node):
                continue
            try:
                op_target_name(node.target)
            except TypeError:
                raise ExportError(
                    "target is not an ATen OpOverload; trace with make_fx or aot_function "
                    "so that every call is an ATen op",
                    node,
                ) from None

    def _values(self, example_inputs: Optional[Sequence[Any]]) -> Dict[torch.fx.Node, Any]:
        nodes = list(self.gm.graph.nodes)
        placeholders = [n for n in nodes if n.op == "placeholder"]
        if example_inputs is not None:
            flat = _leaves(list(example_inputs))
            if len(flat) != len(placeholders):
                raise ExportError(
                    f"got {len(flat)} example inputs (flattened) for {len(placeholders)} placeholders"
                )
            env = _run_concrete(self.gm, flat)
            # Placeholders keep the caller's tensors: their requires_grad and
            # storage offset are what the graph is traced for; constants are
            # the module's own (the run used copies).
            for node, value in zip(placeholders, flat):
                env[node] = value
            for node in nodes:
                if node.op == "get_attr":
                    env[node] = _fetch_attr(self.gm, node.target)
            return env
        env = {}
        for node in nodes:
            if node.op in ("output",):
                continue
            if node.op == "get_attr":
                env[node] = _fetch_attr(self.gm, node.target)
            elif "val" in node.meta:
                env[node] = node.meta["val"]
            elif node.op == "call_function" and node.target is operator.getitem:
                continue  # taken from the producer
            elif node.op == "call_function" and not getattr(getattr(node.target, "_schema", None), "returns", True):
                env[node] = None  # an op without results (a runtime assertion)
            else:
                raise ExportError(
                    "has no meta['val'] (fake value); pass example_inputs to export_graph", node
                )
        return env

    # -- arguments -----------------------------------------------------------

    def _argument(self, value: Any, node: torch.fx.Node, where: str) -> "proto.Argument":
        if isinstance(value, torch.fx.Node):
            if value not in self._struct:
                raise ExportError(f"{where}: references {value.name}, which was not exported", node)
            return self._struct_argument(self._struct[value], node, where)
        if isinstance(value, _Ref):
            return proto.Argument(ref=proto.ValueRef(node=value.name, output_index=value.index))
        if value is None:
            return proto.Argument(none=proto.NoneValue())
        if isinstance(value, bool):
            return proto.Argument(bool_value=value)
        if isinstance(value, int):
            return proto.Argument(int_value=value)
        if isinstance(value, float):
            return proto.Argument(float_value=value)
        if isinstance(value, str):
            return proto.Argument(string_value=value)
        if is_symint(value) or isinstance(value, proto.SymExpr):
            v = value if isinstance(value, proto.SymExpr) else self._sym(value, node)
            return proto.Argument(int_value=v) if isinstance(v, int) else proto.Argument(sym=v)
        if _is_symbool(value):
            # A SymBool (torch 2.x, e.g. aten::_assert_scalar's argument): a
            # boolean SymExpr; a constant one is a plain bool.
            try:
                _record_hints(value, self.symbols)
                expr = sympy_to_proto(sympy_expr_of(value), self.symbols)
            except SymbolicError as err:
                raise ExportError(f"{where}: {err}", node) from None
            if expr.op == proto.SymExpr.BOOL_CONSTANT:
                return proto.Argument(bool_value=expr.bool_value)
            return proto.Argument(sym=expr)
        try:
            if isinstance(value, torch.dtype):
                return proto.Argument(dtype=dtype_to_proto(value))
            if isinstance(value, torch.device):
                return proto.Argument(device=device_to_proto(value))
            if isinstance(value, torch.memory_format):
                return proto.Argument(memory_format=memory_format_to_proto(value))
            if isinstance(value, torch.layout):
                return proto.Argument(layout=layout_to_proto(value))
        except UnsupportedTypeError as err:
            raise ExportError(f"{where}: {err}", node) from None
        if isinstance(value, (list, tuple)):
            return self._list_argument(value, node, where)
        if isinstance(value, torch.Tensor):
            raise ExportError(
                f"{where}: a tensor constant inside the arguments; kiln.v1 arguments "
                "cannot hold tensors (make it a graph input)",
                node,
            )
        raise ExportError(f"{where}: unsupported argument {value!r} of type {type(value).__name__}", node)

    def _list_argument(self, values: Sequence[Any], node: torch.fx.Node, where: str) -> "proto.Argument":
        # Canonical forms first (graph.proto rule 4): homogeneous int, float
        # or bool lists, and [] as an empty int list.
        if all(isinstance(v, bool) for v in values) and values:
            return proto.Argument(bools=proto.BoolList(values=list(values)))
        if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            return proto.Argument(ints=proto.IntList(values=list(values)))
        if all(isinstance(v, float) for v in values):
            return proto.Argument(floats=proto.FloatList(values=list(values)))
        items = [self._argument(v, node, f"{where}[{i}]") for i, v in enumerate(values)]
        if all(a.WhichOneof("value") == "int_value" for a in items):
            return proto.Argument(ints=proto.IntList(values=[a.int_value for a in items]))
        return proto.Argument(list=proto.ArgumentList(values=items))

    def _struct_argument(self, struct: Any, node: torch.fx.Node, where: str) -> "proto.Argument":
        if isinstance(struct, _Ref):
            return self._argument(struct, node, where)
        if isinstance(struct, _Inline):
            return self._argument(struct.value, node, where)
        if struct is None:
            return proto.Argument(none=proto.NoneValue())
        if isinstance(struct, (list, tuple)):
            items = [self._struct_argument(s, node, f"{where}[{i}]") for i, s in enumerate(struct)]
            return proto.Argument(list=proto.ArgumentList(values=items))
        raise AssertionError(f"unexpected structure {struct!r}")

    def _sym(self, value: Any, node: Optional[torch.fx.Node]) -> Union[int, "proto.SymExpr"]:
        try:
            return _sym_or_int(value, self.symbols)
        except SymbolicError as err:
            raise ExportError(str(err), node) from None

    def _constant(self, value: torch.Tensor, node: torch.fx.Node) -> "proto.Tensor":
        """A constant's value with its data inline (sizes, strides and
        storage offset as the attribute has them)."""
        if _is_fake(value):
            raise ExportError(
                "the tensor constant is a fake tensor (no data); pass lift_constants=True "
                "to make it a graph input",
                node,
            )
        try:
            return to_proto_tensor(value.detach())
        except UnsupportedTypeError as err:
            raise ExportError(f"constant: {err}", node) from None

    def _meta(self, value: torch.Tensor, node: torch.fx.Node, what: str) -> "proto.TensorMeta":
        try:
            return tensor_meta(value, self.symbols)
        except (UnsupportedTypeError, SymbolicError) as err:
            raise ExportError(f"{what}: {err}", node) from None

    # -- graph ---------------------------------------------------------------

    def export(self, example_inputs: Optional[Sequence[Any]] = None) -> "proto.Graph":
        """Builds the Graph; see :func:`export_graph`."""
        self._check_nodes()
        env = self._values(example_inputs)
        graph = proto.Graph()
        lifted: List[Tuple[torch.fx.Node, torch.Tensor]] = []
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                self._placeholder(graph, node, env[node])
            elif node.op == "get_attr":
                lifted.append((node, env[node]))
        # Tensor constants, in get_attr order: Graph.constants (with their
        # data), or placeholders after the real inputs with lift_constants.
        for node, value in lifted:
            if not isinstance(value, torch.Tensor):
                raise ExportError(
                    f"get_attr of a {type(value).__name__}; only tensor attributes can be constants", node
                )
            if self.lift_constants:
                placeholder = graph.placeholders.add(name=node.name)
                placeholder.tensor.CopyFrom(self._meta(value, node, "constant"))
                self.lifted_constants.append(value)
            else:
                graph.constants.add(name=node.name).value.CopyFrom(self._constant(value, node))
            self._struct[node] = _Ref(node.name, 0)
        for node in self.gm.graph.nodes:
            if node.op == "call_function":
                self._call(graph, node, env)
            elif node.op == "output":
                self._outputs(graph, node)
            elif node.op not in ("placeholder", "get_attr"):
                raise ExportError(
                    "not an ATen-level graph (call_module / call_method nodes); "
                    "trace with make_fx or aot_function",
                    node,
                )
        graph.debug["producer"] = "kiln.fx_export"
        graph.debug["torch_version"] = str(torch.__version__)
        if self.include_fx_code:
            graph.debug["fx_code"] = self.gm.code
        return graph

    def _placeholder(self, graph: "proto.Graph", node: torch.fx.Node, value: Any) -> None:
        placeholder = graph.placeholders.add(name=node.name)
        if isinstance(value, torch.Tensor):
            placeholder.tensor.CopyFrom(self._meta(value, node, "input"))
            self._struct[node] = _Ref(node.name, 0)
        elif is_symint(value):
            v = self._sym(value, node)
            if isinstance(v, int):
                raise ExportError(f"SymInt input specialized to the constant {v}", node)
            placeholder.symint.expr.CopyFrom(v)
            self._struct[node] = _Inline(v)
        elif isinstance(value, (bool, int, float)):
            if isinstance(value, bool):
                placeholder.scalar.kind = proto.SCALAR_KIND_BOOL
            elif isinstance(value, int):
                placeholder.scalar.kind = proto.SCALAR_KIND_INT
            else:
                placeholder.scalar.kind = proto.SCALAR_KIND_FLOAT
            self._struct[node] = _Ref(node.name, 0)
        elif value is None or isinstance(value, str):
            # Never reaches a kernel: consumers get the value inlined.
            placeholder.scalar.kind = proto.SCALAR_KIND_NONE if value is None else proto.SCALAR_KIND_STRING
            self._struct[node] = _Inline(value)
        else:
            raise ExportError(f"input of unsupported type {type(value).__name__}", node)

    def _call(self, graph: "proto.Graph", node: torch.fx.Node, env: Mapping[torch.fx.Node, Any]) -> None:
        if node.target is operator.getitem:
            self._getitem(node)
            return
        value = env.get(node)
        if _is_size_call(node) and not isinstance(value, torch.Tensor):
            if isinstance(value, bool) or not (isinstance(value, int) or is_symint(value)):
                raise ExportError(f"size arithmetic produced {type(value).__name__}, not an int", node)
            self._struct[node] = _Inline(self._sym(value, node))
            return
        try:
            target = op_target_name(node.target)
        except TypeError:
            raise ExportError(
                "target is not an ATen OpOverload; trace with make_fx or aot_function "
                "so that every call is an ATen op",
                node,
            ) from None
        out = graph.nodes.add(name=node.name, target=target)
        schema_args = list(node.target._schema.arguments)
        scalar_params = {a.name for a in schema_args if isinstance(a.type, torch.NumberType)}

        def bound(arg: Any, name: Optional[str]) -> Any:
            if isinstance(arg, bool) and name in scalar_params and _bool_scalar_binds_as_int():
                return int(arg)
            return arg

        for i, arg in enumerate(node.args):
            name = schema_args[i].name if i < len(schema_args) else None
            out.args.append(self._argument(bound(arg, name), node, f"args[{i}]"))
        for key, arg in node.kwargs.items():
            out.kwargs.add(name=key).value.CopyFrom(self._argument(bound(arg, key), node, f"kwargs[{key}]"))
        if self.include_stack_traces and node.meta.get("stack_trace"):
            out.stack_trace = node.meta["stack_trace"]
        counter = [0]

        def visit(v: Any, path: str) -> Any:
            if isinstance(v, torch.Tensor):
                out.outputs.add().tensor.CopyFrom(self._meta(v, node, f"output {path}"))
                counter[0] += 1
                return _Ref(node.name, counter[0] - 1)
            if v is None:
                out.outputs.add().none.SetInParent()
                counter[0] += 1
                return None
            if isinstance(v, (list, tuple)):
                return [visit(x, f"{path}[{i}]") for i, x in enumerate(v)]
            if is_symint(v):
                # A SymInt result (an unbacked `u0` binds a data-dependent
                # symbol); consumers get the expression inlined.
                expr = self._sym(v, node)
                out.outputs.add().sym.CopyFrom(expr if isinstance(expr, proto.SymExpr) else sym_constant(expr))
                counter[0] += 1
                return _Inline(expr)
            if isinstance(v, (bool, int, float)):
                # A Python scalar (aten::_local_scalar_dense); consumers read
                # it at run time through a ValueRef.
                kind = (
                    proto.SCALAR_KIND_BOOL
                    if isinstance(v, bool)
                    else proto.SCALAR_KIND_INT
                    if isinstance(v, int)
                    else proto.SCALAR_KIND_FLOAT
                )
                out.outputs.add().scalar = kind
                counter[0] += 1
                return _Ref(node.name, counter[0] - 1)
            raise ExportError(
                f"output {path} is a {type(v).__name__}; kiln.v1 node outputs are tensors, "
                "SymInts, Python scalars or None",
                node,
            )

        if isinstance(value, (list, tuple)):
            self._struct[node] = [visit(v, f"[{i}]") for i, v in enumerate(value)]
        elif value is None and len(node.target._schema.returns) == 0:
            self._struct[node] = []  # no results (e.g. an assertion op)
        else:
            self._struct[node] = visit(value, "[0]")

    def _getitem(self, node: torch.fx.Node) -> None:
        source, index = node.args
        struct = self._struct.get(source) if isinstance(source, torch.fx.Node) else None
        if not isinstance(struct, list) or not isinstance(index, int):
            raise ExportError(f"getitem on {source} with index {index!r} is not a tuple element", node)
        try:
            self._struct[node] = struct[index]
        except IndexError:
            raise ExportError(f"index {index} out of range for {len(struct)} results", node) from None

    def _outputs(self, graph: "proto.Graph", node: torch.fx.Node) -> None:
        leaves: List[Any] = []

        def flatten(v: Any) -> None:
            if isinstance(v, torch.fx.Node):
                struct = self._struct.get(v)
                if isinstance(struct, list):
                    for s in struct:
                        flatten(s)
                    return
            if isinstance(v, (list, tuple)):
                for x in v:
                    flatten(x)
                return
            if isinstance(v, dict):
                for x in _leaves(v):
                    flatten(x)
                return
            leaves.append(v)

        flatten(node.args[0])
        for i, leaf in enumerate(leaves):
            graph.outputs.append(self._argument(leaf, node, f"outputs[{i}]"))


def export_graph(
    gm: torch.fx.GraphModule,
    example_inputs: Optional[Sequence[Any]] = None,
    *,
    lift_constants: bool = False,
    include_stack_traces: bool = False,
    include_fx_code: bool = False,
) -> "proto.Graph":
    """Exports an ATen-level GraphModule to a ``kiln.v1.Graph``.

    Args:
      gm: from ``make_fx`` or an ``aot_function`` compiler hook.
      example_inputs: one value per placeholder (nested structures are
        flattened). The graph runs on copies of them to get every node's
        metadata; without them ``node.meta["val"]`` is used, and symbolic
        sizes become SymExprs over symbols named ``s0, s1, ...``.
      lift_constants: turn tensor constants (``get_attr`` nodes, e.g. the
        ``_tensor_constant0`` of ``x * torch.tensor([1., 2.])``) into extra
        placeholders after the real inputs (use :class:`GraphExporter` to get
        their values); by default they go into ``Graph.constants`` with
        their data inline and are referenced by name like placeholders.
      include_stack_traces: copy ``node.meta["stack_trace"]`` into
        ``Node.stack_trace``.
      include_fx_code: put the printed FX code in ``debug["fx_code"]``.

    Raises:
      ExportError: naming the node, for anything kiln.v1 cannot carry.
    """
    exporter = GraphExporter(
        gm,
        lift_constants=lift_constants,
        include_stack_traces=include_stack_traces,
        include_fx_code=include_fx_code,
    )
    return exporter.export(example_inputs)
