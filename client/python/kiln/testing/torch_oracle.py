"""The PyTorch oracle: evaluate a ``kiln.v1.Graph`` with PyTorch eager.

Every node is dispatched to ``torch.ops.<namespace>.<name>.<overload>`` with
its decoded arguments, so the result is exactly what ATen computes for the
graph; Kiln's compiled results are compared against it. Also here: random
inputs per dtype and layout (non-contiguous, transposed, broadcast, offset,
size-0 and size-1 dims), inputs matching a graph's placeholders, and
comparisons with per-dtype tolerances.

Typical differential test::

    graph = export_graph(make_fx(fn)(*args), args)
    inputs = make_inputs(graph, seed=0)
    expected = evaluate(graph, inputs)
    actual = run_on_kiln(graph, inputs)
    assert_outputs_close(actual, expected)
"""

from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch

from kiln import proto
from kiln.fx_import import GraphImportError, decode_argument, decode_constants, resolve_target, symbol_sources
from kiln.symbolic import SymbolicError, to_str
from kiln.symbolic import evaluate as evaluate_symexpr
from kiln.tensors import clone_preserving_layout, strided_like
from kiln.torch_types import FLOATING_DTYPES, UnsupportedTypeError, device_from_proto, dtype_from_proto

__all__ = [
    "OracleError",
    "TorchOracle",
    "evaluate",
    "bind_symbols",
    "LAYOUTS",
    "layout_strides",
    "make_tensor",
    "make_inputs",
    "tolerances",
    "assert_close",
    "assert_outputs_close",
]

Shape = Sequence[int]


class OracleError(ValueError):
    """The graph or the inputs are not what the oracle can evaluate; the
    message starts with the field path (``graph.nodes[3] (aten::mm.default)``)."""


# -- evaluation ---------------------------------------------------------------


def _dim_value(dim: "proto.Dim", symbols: Mapping[str, int], path: str) -> int:
    if dim.WhichOneof("value") == "expr":
        try:
            return int(evaluate_symexpr(dim.expr, symbols))
        except SymbolicError as err:
            raise OracleError(f"{path}: {to_str(dim.expr)}: {err}") from None
    return int(dim.static_size)


def concrete_layout(
    meta: "proto.TensorMeta", symbols: Mapping[str, int], path: str = "meta"
) -> Tuple[List[int], List[int], int]:
    """(sizes, strides, storage offset) of a TensorMeta under ``symbols``."""
    sizes = [_dim_value(d, symbols, f"{path}.sizes[{i}]") for i, d in enumerate(meta.sizes)]
    strides = [_dim_value(d, symbols, f"{path}.strides[{i}]") for i, d in enumerate(meta.strides)]
    offset = _dim_value(meta.storage_offset, symbols, f"{path}.storage_offset") if meta.HasField("storage_offset") else 0
    return sizes, strides, offset


def bind_symbols(graph: "proto.Graph", inputs: Sequence[Any]) -> Dict[str, int]:
    """Symbol values from the inputs that bind them (graph.proto's walk)."""
    bindings: Dict[str, int] = {}
    for name, (index, what, dim) in symbol_sources(graph).items():
        value = inputs[index]
        if what == "symint":
            bindings[name] = int(value)
        elif what == "size":
            bindings[name] = int(value.shape[dim])
        elif what == "stride":
            bindings[name] = int(value.stride(dim))
        else:
            bindings[name] = int(value.storage_offset())
    return bindings


def _check_meta(value: Any, meta: "proto.TensorMeta", symbols: Mapping[str, int], path: str, strides: bool) -> None:
    if not isinstance(value, torch.Tensor):
        raise OracleError(f"{path}: expected a tensor, got {type(value).__name__}")
    try:
        dtype = dtype_from_proto(meta.dtype)
    except UnsupportedTypeError as err:
        raise OracleError(f"{path}: {err}") from None
    if value.dtype != dtype:
        raise OracleError(f"{path}: dtype is {value.dtype}, graph says {dtype}")
    sizes, want_strides, offset = concrete_layout(meta, symbols, path)
    if list(value.shape) != sizes:
        raise OracleError(f"{path}: sizes are {list(value.shape)}, graph says {sizes}")
    if strides and value.numel() > 1:
        # Strides of size-1 dims carry no information; ATen itself is loose there.
        got = [s for s, n in zip(value.stride(), sizes) if n != 1]
        want = [s for s, n in zip(want_strides, sizes) if n != 1]
        if got != want:
            raise OracleError(f"{path}: strides are {list(value.stride())}, graph says {want_strides}")


def _bind_or_check(expr: "proto.SymExpr", value: Any, symbols: Dict[str, int], path: str) -> None:
    """A node's SymInt output: a bare symbol not bound yet (a data-dependent
    ``u0``) is bound to ``value``; anything else must evaluate to it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise OracleError(f"{path}: produced a {type(value).__name__}, graph says SymInt {to_str(expr)}")
    if expr.op == proto.SymExpr.SYMBOL and expr.symbol not in symbols:
        symbols[expr.symbol] = value
        return
    try:
        want = int(evaluate_symexpr(expr, symbols))
    except SymbolicError as err:
        raise OracleError(f"{path}: {to_str(expr)}: {err}") from None
    if want != value:
        raise OracleError(f"{path}: produced {value}, graph says {to_str(expr)} = {want}")


_SCALAR_TYPES = {proto.SCALAR_KIND_INT: int, proto.SCALAR_KIND_FLOAT: float, proto.SCALAR_KIND_BOOL: bool}


def _check_scalar(value: Any, kind: int, path: str) -> None:
    want = _SCALAR_TYPES.get(kind)
    if want is None:
        raise OracleError(f"{path}: scalar kind {proto.ScalarKind.Name(kind)} cannot be a node output")
    got = type(value)
    if got is not want and not (want is float and got is int):
        raise OracleError(f"{path}: produced a {got.__name__}, graph says {want.__name__}")


def _flatten(result: Any) -> List[Any]:
    if isinstance(result, (list, tuple)):
        flat: List[Any] = []
        for r in result:
            flat.extend(_flatten(r))
        return flat
    return [result]


_LOW_PRECISION = {torch.float16: "Half", torch.bfloat16: "BFloat16"}


def _map_tensors(value: Any, fn: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return fn(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_map_tensors(v, fn) for v in value)
    if isinstance(value, dict):
        return {k: _map_tensors(v, fn) for k, v in value.items()}
    return value


def _is_opmath_candidate(op: Any, args: Any) -> bool:
    """An op with a float16/bfloat16 operand that computes new values (not a
    view, not mutating its arguments)."""
    schema = op._schema
    if schema.is_mutable or any(r.alias_info is not None for r in schema.returns):
        return False
    found: List[torch.dtype] = []
    _map_tensors(args, lambda t: found.append(t.dtype))
    return any(d in _LOW_PRECISION for d in found)


def _missing_low_precision_kernel(err: Exception, args: Any) -> bool:
    """Whether ``err`` is ATen lacking a float16/bfloat16 kernel for a dtype
    that occurs among ``args`` (common on CPU in older torch releases)."""
    found: List[torch.dtype] = []
    _map_tensors(args, lambda t: found.append(t.dtype))
    text = str(err)
    return any(f"'{name}'" in text for dtype, name in _LOW_PRECISION.items() if dtype in found)


class TorchOracle:
    """Evaluates kiln.v1 Graphs with PyTorch eager, node by node.

    Options:
      check_meta: compare each input and node output with the graph's
        TensorMeta (dtype, sizes and, with ``check_strides``, strides); a
        difference raises :class:`OracleError` naming the node.
      clone_inputs: run on copies (same layout) so that ops mutating graph
        inputs (``copy_``) leave the caller's tensors alone.
      upcast_low_precision: where ATen has no float16/bfloat16 kernel for an
        op on this device (torch 1.13's CPU lacks many float16 ones), run the
        op in float32 and round the results that the graph declares float16 /
        bfloat16 back, as ATen's own CUDA kernels compute (float32 "opmath").
        The nodes evaluated that way are listed in ``upcast_nodes``.
      opmath: evaluate *every* op with float16/bfloat16 operands that way,
        not only those CPU lacks: the reference for compiled kernels that
        compute in float32 and round once per op, where ATen's CPU kernels
        sometimes round intermediate steps (bfloat16 GELU, matmul
        accumulation). Views and ops that mutate their arguments run as
        they are.

    Not thread-safe (``upcast_nodes`` is per run); make one per thread.
    """

    def __init__(
        self,
        *,
        check_meta: bool = True,
        check_strides: bool = True,
        clone_inputs: bool = True,
        upcast_low_precision: bool = True,
        opmath: bool = False,
    ) -> None:
        self.check_meta = check_meta
        self.check_strides = check_strides
        self.clone_inputs = clone_inputs
        self.upcast_low_precision = upcast_low_precision
        self.opmath = opmath
        self.upcast_nodes: List[str] = []

    def run(self, graph: "proto.Graph", inputs: Sequence[Any]) -> List[Any]:
        """Runs ``graph`` on ``inputs`` (one value per placeholder: a tensor,
        an int for a SymInt, a Python scalar); returns its outputs in order.
        ``graph.constants`` are decoded afresh for every run, so an op that
        mutates one leaves the graph alone."""
        self.upcast_nodes = []
        if len(inputs) != len(graph.placeholders):
            raise OracleError(f"graph has {len(graph.placeholders)} placeholders, got {len(inputs)} inputs")
        symbols = bind_symbols(graph, inputs)
        values: Dict[str, List[Any]] = {}
        for i, (placeholder, value) in enumerate(zip(graph.placeholders, inputs)):
            path = f"graph.placeholders[{i}] ({placeholder.name})"
            if placeholder.WhichOneof("kind") == "tensor":
                if self.check_meta:
                    _check_meta(value, placeholder.tensor, symbols, path, self.check_strides)
                if self.clone_inputs and isinstance(value, torch.Tensor):
                    value = clone_preserving_layout(value)
            values[placeholder.name] = [value]
        try:
            constants = decode_constants(graph)
        except GraphImportError as err:
            raise OracleError(str(err)) from None
        for i, (constant, value) in enumerate(zip(graph.constants, constants)):
            if constant.name in values:
                raise OracleError(f"graph.constants[{i}]: duplicate name {constant.name!r}")
            values[constant.name] = [value]

        def ref(r: "proto.ValueRef", path: str) -> Any:
            outs = values.get(r.node)
            if outs is None:
                raise OracleError(f"{path}: references {r.node!r}, which is not an earlier placeholder or node")
            if not 0 <= r.output_index < len(outs):
                raise OracleError(f"{path}: {r.node} has no output {r.output_index}")
            return outs[r.output_index]

        def sym(e: "proto.SymExpr", path: str) -> Union[int, bool]:
            try:
                value = evaluate_symexpr(e, symbols)
            except SymbolicError as err:
                raise OracleError(f"{path}: {to_str(e)}: {err}") from None
            return value if isinstance(value, bool) else int(value)  # a SymBool stays a bool

        def decode(arg: "proto.Argument", path: str) -> Any:
            try:
                return decode_argument(arg, lambda r: ref(r, path), lambda e: sym(e, path), path)
            except GraphImportError as err:
                raise OracleError(str(err)) from None

        with torch.no_grad():
            for i, node in enumerate(graph.nodes):
                path = f"graph.nodes[{i}] ({node.target})"
                if node.name in values:
                    raise OracleError(f"{path}: duplicate name {node.name!r}")
                try:
                    op = resolve_target(node.target)
                except GraphImportError as err:
                    raise OracleError(f"{path}: {err}") from None
                args = [decode(a, f"{path}.args[{j}]") for j, a in enumerate(node.args)]
                kwargs = {kw.name: decode(kw.value, f"{path}.kwargs[{kw.name}]") for kw in node.kwargs}
                flat = self._call(op, args, kwargs, node, path)
                if self.check_meta and len(flat) != len(node.outputs):
                    raise OracleError(f"{path}: produced {len(flat)} outputs, graph says {len(node.outputs)}")
                for k, (value, out) in enumerate(zip(flat, node.outputs)):
                    where = f"{path}.outputs[{k}]"
                    kind = out.WhichOneof("kind")
                    if kind == "sym":
                        _bind_or_check(out.sym, value, symbols, where)
                    elif not self.check_meta:
                        continue
                    elif kind == "scalar":
                        _check_scalar(value, out.scalar, where)
                    elif kind == "none":
                        if value is not None:
                            raise OracleError(f"{where}: produced a {type(value).__name__}, graph says None")
                    else:
                        _check_meta(value, out.tensor, symbols, where, self.check_strides)
                values[node.name] = flat
        return [decode(a, f"graph.outputs[{i}]") for i, a in enumerate(graph.outputs)]

    def _call(self, op: Any, args: List[Any], kwargs: Dict[str, Any], node: "proto.Node", path: str) -> List[Any]:
        if self.opmath and _is_opmath_candidate(op, (args, kwargs)):
            return self._upcast_call(op, args, kwargs, node, path)
        try:
            result = op(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - ATen's errors, with the node
            if not (self.upcast_low_precision and _missing_low_precision_kernel(err, (args, kwargs))):
                raise OracleError(f"{path}: {type(err).__name__}: {err}") from err
            result = self._upcast_call(op, args, kwargs, node, path)
        return [] if not op._schema.returns else _flatten(result)

    def _upcast_call(self, op: Any, args: List[Any], kwargs: Dict[str, Any], node: "proto.Node", path: str) -> Any:
        def up(t: torch.Tensor) -> torch.Tensor:
            return t.to(torch.float32) if t.dtype in _LOW_PRECISION else t

        try:
            result = op(*_map_tensors(args, up), **_map_tensors(kwargs, up))
        except Exception as err:  # noqa: BLE001
            raise OracleError(f"{path}: {type(err).__name__} (also in float32): {err}") from err
        flat = [] if not op._schema.returns else _flatten(result)
        declared = [
            dtype_from_proto(o.tensor.dtype) if o.WhichOneof("kind") == "tensor" else None for o in node.outputs
        ]
        if len(declared) != len(flat):
            raise OracleError(f"{path}: produced {len(flat)} outputs, graph says {len(node.outputs)}")
        self.upcast_nodes.append(node.name)
        return [
            v.to(d) if isinstance(v, torch.Tensor) and d in _LOW_PRECISION and v.dtype != d else v
            for v, d in zip(flat, declared)
        ]


def evaluate(
    graph: "proto.Graph",
    inputs: Sequence[Any],
    *,
    check_meta: bool = True,
    check_strides: bool = True,
    clone_inputs: bool = True,
    upcast_low_precision: bool = True,
    opmath: bool = False,
) -> List[Any]:
    """Runs ``graph`` with PyTorch eager; returns its outputs in order.
    The options are :class:`TorchOracle`'s."""
    oracle = TorchOracle(
        check_meta=check_meta,
        check_strides=check_strides,
        clone_inputs=clone_inputs,
        upcast_low_precision=upcast_low_precision,
        opmath=opmath,
    )
    return oracle.run(graph, inputs)


# -- inputs -------------------------------------------------------------------

#: Layouts :func:`make_tensor` can produce.
LAYOUTS = ("contiguous", "transposed", "strided", "broadcast", "offset")


def _contiguous_strides(shape: Shape) -> List[int]:
    strides, running = [], 1
    for size in reversed(list(shape)):
        strides.append(running)
        running *= max(size, 1)
    return list(reversed(strides))


def layout_strides(shape: Shape, layout: str) -> Tuple[List[int], int]:
    """(strides, storage offset) of a ``layout`` for ``shape``:

    * ``contiguous``: row-major;
    * ``transposed``: column-major (the dims reversed, as ``x.t()`` / ``x.mT``);
    * ``strided``: every other element of the last dim (``x[..., ::2]``);
    * ``broadcast``: dim 0 has stride 0 (``x[:1].expand(shape)``);
    * ``offset``: row-major starting 3 elements into the storage.

    Rank-0 tensors are always contiguous.
    """
    shape = list(shape)
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; expected one of {LAYOUTS}")
    if not shape or layout == "contiguous":
        return _contiguous_strides(shape), 0
    if layout == "transposed":
        return list(reversed(_contiguous_strides(list(reversed(shape))))), 0
    if layout == "strided":
        wide = shape[:-1] + [shape[-1] * 2]
        strides = _contiguous_strides(wide)
        strides[-1] = 2
        return strides, 0
    if layout == "broadcast":
        strides = _contiguous_strides(shape)
        strides[0] = 0
        return strides, 0
    return _contiguous_strides(shape), 3


def _random_values(
    shape: Shape, dtype: torch.dtype, generator: torch.Generator, low: Optional[float], high: Optional[float]
) -> torch.Tensor:
    if dtype == torch.bool:
        return torch.rand(shape, generator=generator, dtype=torch.float64) < 0.5
    if dtype in FLOATING_DTYPES:
        lo = -3.0 if low is None else low
        hi = 3.0 if high is None else high
        values = torch.rand(shape, generator=generator, dtype=torch.float64) * (hi - lo) + lo
        return values.to(dtype)
    info = torch.iinfo(dtype)
    lo = max(info.min, -9 if low is None else int(math.ceil(low)))
    hi = min(info.max + 1, 10 if high is None else int(math.floor(high)))
    if dtype == torch.uint8 and low is None:
        lo = 0
    return torch.randint(lo, hi, tuple(shape), generator=generator, dtype=torch.int64).to(dtype)


def make_tensor(
    shape: Shape,
    dtype: torch.dtype,
    *,
    layout: str = "contiguous",
    seed: int = 0,
    low: Optional[float] = None,
    high: Optional[float] = None,
    device: Union[str, torch.device] = "cpu",
    strides: Optional[Sequence[int]] = None,
    storage_offset: int = 0,
) -> torch.Tensor:
    """A random tensor of ``shape`` and ``dtype`` with the given layout.

    Values are uniform in [low, high): floats default to [-3, 3), integers to
    [-9, 10) ([0, 10) for uint8), bools are fair coin flips. They come from a
    float64/int64 draw with ``seed`` and are then cast, so the same seed
    gives the same numbers for every float dtype (up to rounding). Explicit
    ``strides`` / ``storage_offset`` override ``layout``.
    """
    generator = torch.Generator().manual_seed(seed)
    values = _random_values(list(shape), dtype, generator, low, high)
    if strides is None:
        strides, storage_offset = layout_strides(shape, layout)
    return strided_like(values.to(device), list(shape), list(strides), storage_offset)


def make_inputs(
    graph: "proto.Graph",
    *,
    seed: int = 0,
    symbols: Optional[Mapping[str, int]] = None,
    low: Optional[float] = None,
    high: Optional[float] = None,
    scalars: Optional[Mapping[str, Any]] = None,
) -> List[Any]:
    """Random inputs matching the graph's placeholders, with each tensor's
    exact strides and storage offset. Symbolic dims need ``symbols``
    (``{"s0": 5}``); SymInt placeholders that are a bare symbol get its value;
    scalar placeholders take ``scalars[name]`` (default 2, 0.5 or True)."""
    symbols = dict(symbols or {})
    out: List[Any] = []
    for i, placeholder in enumerate(graph.placeholders):
        path = f"graph.placeholders[{i}] ({placeholder.name})"
        kind = placeholder.WhichOneof("kind")
        if kind == "tensor":
            meta = placeholder.tensor
            sizes, strides, offset = concrete_layout(meta, symbols, path)
            try:
                dtype = dtype_from_proto(meta.dtype)
                device = device_from_proto(meta.device)
            except UnsupportedTypeError as err:
                raise OracleError(f"{path}: {err}") from None
            out.append(
                make_tensor(
                    sizes, dtype, seed=seed + i, low=low, high=high, device=device, strides=strides, storage_offset=offset
                )
            )
        elif kind == "symint":
            try:
                out.append(int(evaluate_symexpr(placeholder.symint.expr, symbols)))
            except SymbolicError as err:
                raise OracleError(f"{path}: {err}") from None
        else:
            defaults = {
                proto.SCALAR_KIND_INT: 2,
                proto.SCALAR_KIND_FLOAT: 0.5,
                proto.SCALAR_KIND_BOOL: True,
                proto.SCALAR_KIND_STRING: "",
                proto.SCALAR_KIND_NONE: None,
            }
            out.append((scalars or {}).get(placeholder.name, defaults.get(placeholder.scalar.kind)))
    return out


# -- comparison ---------------------------------------------------------------

# torch.testing.assert_close's defaults: ~ a few ulps of each dtype.
_TOLERANCES = {
    torch.float16: (1e-3, 1e-5),
    torch.bfloat16: (1.6e-2, 1e-5),
    torch.float32: (1.3e-6, 1e-5),
    torch.float64: (1e-7, 1e-7),
}


def tolerances(dtype: torch.dtype, scale: float = 1.0) -> Tuple[float, float]:
    """(rtol, atol) for comparing results of ``dtype``: ATen's test defaults
    (torch.testing) times ``scale``; (0, 0) for integers and bool. Compiled
    kernels that reassociate reductions or keep pointwise chains in float32
    need a ``scale`` above 1 for float16/bfloat16/long reductions."""
    rtol, atol = _TOLERANCES.get(dtype, (0.0, 0.0))
    return rtol * scale, atol * scale


def _index(flat_index: int, shape: Sequence[int]) -> Tuple[int, ...]:
    idx = []
    for size in reversed(list(shape)):
        idx.append(flat_index % size)
        flat_index //= size
    return tuple(reversed(idx))


def assert_close(
    actual: Any,
    expected: Any,
    *,
    rtol: Optional[float] = None,
    atol: Optional[float] = None,
    scale: float = 1.0,
    equal_nan: bool = True,
    check_dtype: bool = True,
    check_strides: bool = False,
    name: str = "output",
) -> None:
    """Raises AssertionError unless ``actual`` matches ``expected``:
    same shape (and dtype, and strides if asked), integers and bools equal,
    floats within ``|a - e| <= atol + rtol * |e|`` (defaults from
    :func:`tolerances`), NaNs in the same places, infinities equal. The
    message says how many elements differ and where the worst one is."""
    if expected is None or not isinstance(expected, torch.Tensor):
        if isinstance(actual, torch.Tensor) or actual != expected:
            raise AssertionError(f"{name}: expected {expected!r}, got {actual!r}")
        return
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{name}: expected a tensor, got {type(actual).__name__}")
    if check_dtype and actual.dtype != expected.dtype:
        raise AssertionError(f"{name}: dtype {actual.dtype}, expected {expected.dtype}")
    if actual.shape != expected.shape:
        raise AssertionError(f"{name}: shape {list(actual.shape)}, expected {list(expected.shape)}")
    if check_strides and actual.numel() > 1 and actual.stride() != expected.stride():
        raise AssertionError(f"{name}: strides {actual.stride()}, expected {expected.stride()}")
    default_rtol, default_atol = tolerances(expected.dtype, scale)
    rtol = default_rtol if rtol is None else rtol
    atol = default_atol if atol is None else atol
    a = actual.detach().cpu()
    e = expected.detach().cpu()
    if not e.is_floating_point():
        bad = a.to(torch.int64) != e.to(torch.int64)
        if bool(bad.any()):
            k = int(bad.reshape(-1).nonzero()[0])
            raise AssertionError(
                f"{name}: {int(bad.sum())} of {e.numel()} elements differ; first at "
                f"{_index(k, e.shape)}: {a.reshape(-1)[k].item()} vs expected {e.reshape(-1)[k].item()}"
            )
        return
    a, e = a.to(torch.float64), e.to(torch.float64)
    a_nan, e_nan = torch.isnan(a), torch.isnan(e)
    nan_bad = (a_nan != e_nan) if equal_nan else (a_nan | e_nan)
    infinite = torch.isinf(a) | torch.isinf(e)
    inf_bad = infinite & (a != e) & ~(a_nan | e_nan)
    finite = ~(a_nan | e_nan | infinite)
    zeros = torch.zeros_like(a)
    diff = torch.where(finite, (a - e).abs(), zeros)
    allowed = atol + rtol * torch.where(finite, e.abs(), zeros)
    bad = nan_bad | inf_bad | (finite & (diff > allowed))
    diff = torch.where(nan_bad | inf_bad, torch.full_like(diff, math.inf), diff)
    if bool(bad.any()):
        n = int(bad.sum())
        worst = int(torch.where(bad, diff, torch.full_like(diff, -1.0)).reshape(-1).argmax())
        rel = diff / e.abs().clamp_min(torch.finfo(torch.float64).tiny)
        raise AssertionError(
            f"{name}: {n} of {e.numel()} elements ({100.0 * n / e.numel():.1f}%) differ beyond "
            f"rtol={rtol:g} atol={atol:g}; worst at {_index(worst, e.shape)}: {a.reshape(-1)[worst].item()!r} "
            f"vs expected {e.reshape(-1)[worst].item()!r} (abs diff {diff.reshape(-1)[worst].item():.3g}, "
            f"rel diff {rel.reshape(-1)[worst].item():.3g})"
        )


def assert_outputs_close(actual: Sequence[Any], expected: Sequence[Any], **kwargs: Any) -> None:
    """:func:`assert_close` for each output of a graph; None must match None."""
    if len(actual) != len(expected):
        raise AssertionError(f"{len(actual)} outputs, expected {len(expected)}")
    for i, (a, e) in enumerate(zip(actual, expected)):
        assert_close(a, e, name=f"outputs[{i}]", **kwargs)
