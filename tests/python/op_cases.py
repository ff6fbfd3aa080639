"""Op-test cases for every op Kiln registers, from PyTorch's own sample inputs.

For an ATen overload (``"aten::add.Tensor"``) this module produces
:class:`OpCase` objects: a one-node ``kiln.v1.Graph`` calling the op, its
inputs, and the dtype the case is filed under. The calls come from, in
order:

1. **OpInfo samples.** PyTorch's OpInfo database
   (``torch.testing._internal.common_methods_invocations``) gives sample
   inputs per dtype for ~600 torch functions. Each sample is run eagerly
   under a dispatch mode that records every ATen call it makes with
   concrete arguments (what ``make_fx`` would trace), so ``torch.softmax``
   samples yield ``aten::_softmax.default`` calls, ``nn.functional.linear``
   yields ``aten::addmm.default``, and so on. ``opinfo_index.json`` says which
   OpInfos reach which ATen overload (regenerate it with
   ``python3 tests/python/op_cases.py --write-index`` on a new torch); a
   newly registered op is therefore found without editing this file.
2. **Hand-written samples** (:data:`MANUAL_SAMPLES`) for ops no OpInfo
   reaches (the ``*_backward`` ops of training graphs, ``aten::alias``, ...).
3. **Overload transfer.** A ``.Scalar`` overload without samples of its own
   borrows its sibling's (``add.Tensor(x, y)`` -> ``add.Scalar(x, 2.5)``),
   converting tensor operands to Python scalars where the schema wants a
   Scalar and back.

Variants are added to what the samples give: the same values in other
layouts (column-major ``transposed``, every-other-element ``strided``,
storage ``offset``), and, for pointwise ops, operands of other shapes
(broadcasting, size-0 and size-1 dims, 0-dim tensors).

Every call becomes a one-node graph (placeholders for its tensors, the op,
its outputs) exported with :func:`kiln.fx_export.export_graph` from a
hand-built FX graph whose ``meta['val']`` holds the eager results. Where
ATen has no CPU kernel for float16/bfloat16 (torch 1.13), the call runs in
float32 and is rounded back, as :mod:`kiln.testing.torch_oracle` does.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import json
import pathlib
import sys
from typing import AbstractSet, Any, Callable, Dict, FrozenSet, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.fx
from torch.utils._pytree import tree_flatten, tree_map, tree_unflatten
from torch.utils._python_dispatch import TorchDispatchMode

from kiln import proto
from kiln.fx_export import export_graph, op_target_name
from kiln.fx_import import resolve_target
from kiln.tensors import clone_preserving_layout, strided_like
from kiln.testing.torch_oracle import layout_strides, make_tensor
from kiln.torch_types import ALL_DTYPES

__all__ = [
    "OpCall",
    "OpCase",
    "DtypeResult",
    "CoverageReport",
    "KILN_DTYPES",
    "MANUAL_SAMPLES",
    "load_op_db",
    "opinfo_index",
    "calls_for",
    "cases_for",
    "dtype_name",
]

HERE = pathlib.Path(__file__).resolve().parent
INDEX_PATH = HERE / "opinfo_index.json"
STUBS = HERE / "stubs"

#: The dtypes cases are made for (every dtype kiln.v1 carries).
KILN_DTYPES: Tuple[torch.dtype, ...] = ALL_DTYPES

#: Samples taken from one OpInfo for one dtype.
SAMPLES_PER_OPINFO = 8
#: Distinct direct calls kept per (op, dtype), before variants.
CALLS_PER_DTYPE = 5
#: Operand-shape variants per (pointwise op, dtype); dtypes take turns
#: through the patterns, so every pattern is tested for each op.
SHAPE_VARIANTS = 3
#: OpInfos consulted per op besides those named like it.
SECONDARY_OPINFOS = 2

_LOW_PRECISION = {torch.float16: "Half", torch.bfloat16: "BFloat16"}


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).replace("torch.", "")


# -- PyTorch's OpInfo database ----------------------------------------------------


@functools.lru_cache(maxsize=None)
def load_op_db() -> Dict[str, Any]:
    """The OpInfo database by full name (``"div.trunc_rounding"``).

    Importing it needs a module named ``expecttest``; without a real one the
    stand-in in ``stubs/`` is used. torch's test utilities parse
    ``sys.argv`` on import, so they see an empty command line.
    """
    if importlib.util.find_spec("expecttest") is None:
        sys.path.append(str(STUBS))
    argv = sys.argv
    sys.argv = argv[:1]
    try:
        from torch.testing._internal.common_methods_invocations import op_db
    finally:
        sys.argv = argv
    return {_opinfo_key(op): op for op in op_db}


def _opinfo_key(opinfo: Any) -> str:
    return opinfo.name + (f".{opinfo.variant_test_name}" if opinfo.variant_test_name else "")


def _opinfo_dtypes(opinfo: Any) -> List[torch.dtype]:
    """Kiln dtypes ATen supports for the OpInfo on CPU or CUDA (kernels CPU
    lacks in float16 are evaluated in float32 by the oracle)."""
    supported = set(opinfo.supported_dtypes("cpu")) | set(opinfo.supported_dtypes("cuda"))
    return [d for d in KILN_DTYPES if d in supported]


# -- recording the ATen calls of eager code -------------------------------------------


def _missing_low_precision_kernel(err: Exception) -> bool:
    return any(f"'{name}'" in str(err) for name in _LOW_PRECISION.values())


def call_eager(op: Any, args: Sequence[Any], kwargs: Dict[str, Any]) -> Any:
    """``op(*args, **kwargs)``; where ATen lacks a float16/bfloat16 CPU
    kernel, computed in float32 and rounded to the dtypes ATen would give
    (the result dtypes come from a meta-device call)."""
    try:
        return op(*args, **kwargs)
    except (RuntimeError, NotImplementedError) as err:
        if not _missing_low_precision_kernel(err):
            raise
    to_meta = lambda v: v.to("meta") if isinstance(v, torch.Tensor) else v  # noqa: E731
    meta = op(*tree_map(to_meta, list(args)), **tree_map(to_meta, kwargs))
    up = lambda v: v.float() if isinstance(v, torch.Tensor) and v.dtype in _LOW_PRECISION else v  # noqa: E731
    result = op(*tree_map(up, list(args)), **tree_map(up, kwargs))
    flat_meta, _ = tree_flatten(meta)
    flat, spec = tree_flatten(result)
    rounded = [
        v.to(m.dtype) if isinstance(v, torch.Tensor) and isinstance(m, torch.Tensor) and v.dtype != m.dtype else v
        for v, m in zip(flat, flat_meta)
    ]
    return tree_unflatten(rounded, spec)


def _snapshot(value: Any) -> Any:
    return tree_map(lambda v: clone_preserving_layout(v) if isinstance(v, torch.Tensor) else v, value)


class _Recorder(TorchDispatchMode):
    """Records ATen calls (op, args, kwargs) with copies of their tensor
    arguments taken before the call; only calls of ``wanted`` targets when
    that is given (copying costs more than the call)."""

    def __init__(self, wanted: Optional[AbstractSet[str]] = None) -> None:
        super().__init__()
        self.wanted = wanted
        self.calls: List[Tuple[Any, tuple, dict]] = []

    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: Optional[dict] = None) -> Any:
        kwargs = kwargs or {}
        if self.wanted is None or op_target_name(func) in self.wanted:
            self.calls.append((func, _snapshot(args), _snapshot(kwargs)))
        return call_eager(func, args, kwargs)


@dataclasses.dataclass
class OpCall:
    """One call of an ATen overload with concrete arguments."""

    op: Any  # the OpOverload
    args: tuple
    kwargs: dict
    source: str  # where it came from: "opinfo add[3]", "manual", "+transposed", ...
    # The dtype the call is filed under: the dtype its sample was made for
    # (an OpInfo sample's dtype, a hand-written sample's), not necessarily
    # its first operand's (where's condition is bool, index_select's index
    # int64).
    dtype: Optional[torch.dtype] = None

    @property
    def target(self) -> str:
        return op_target_name(self.op)

    def tensors(self) -> List[torch.Tensor]:
        leaves, _ = tree_flatten((self.args, self.kwargs))
        return [v for v in leaves if isinstance(v, torch.Tensor)]

    def signature(self) -> str:
        """Identifies calls that test the same thing (shapes, strides,
        dtypes and non-tensor arguments)."""

        def describe(v: Any) -> Any:
            if isinstance(v, torch.Tensor):
                return ("T", dtype_name(v.dtype), tuple(v.shape), v.stride(), v.storage_offset())
            return repr(v)

        return repr((self.target, tree_map(describe, (self.args, self.kwargs))))

    def with_tensors(self, fn: Callable[[torch.Tensor], torch.Tensor], source: str) -> "OpCall":
        args, kwargs = tree_map(lambda v: fn(v) if isinstance(v, torch.Tensor) else v, (self.args, self.kwargs))
        return OpCall(self.op, tuple(args), dict(kwargs), f"{self.source} {source}", self.dtype)


def record_calls(
    fn: Callable[[], Any], dtype: Optional[torch.dtype] = None, wanted: Optional[AbstractSet[str]] = None
) -> List[OpCall]:
    """The ATen calls ``fn()`` makes (of ``wanted`` targets, if given; filed
    under ``dtype``), or [] if it raises."""
    recorder = _Recorder(wanted)
    try:
        with torch.no_grad(), recorder:
            fn()
    except Exception:  # noqa: BLE001 - samples ATen rejects are not ours to test
        return []
    return [OpCall(op, args, kwargs, "", dtype) for op, args, kwargs in recorder.calls]


@functools.lru_cache(maxsize=None)
def _opinfo_calls(
    key: str, dtype: torch.dtype, limit: int = SAMPLES_PER_OPINFO, wanted: Optional[FrozenSet[str]] = None
) -> Tuple[OpCall, ...]:
    """The ATen calls (of ``wanted`` targets, if given) of the first
    ``limit`` samples of OpInfo ``key`` in ``dtype`` (deterministic: the
    samples are drawn after a fixed seed)."""
    opinfo = load_op_db()[key]
    torch.manual_seed(0)
    try:
        samples = list(opinfo.sample_inputs("cpu", dtype, requires_grad=False))[:limit]
    except Exception:  # noqa: BLE001 - some OpInfos cannot make samples for a dtype
        return ()
    calls: List[OpCall] = []
    for i, sample in enumerate(samples):
        sample_calls = record_calls(lambda: opinfo.op(sample.input, *sample.args, **sample.kwargs), dtype, wanted)
        for call in sample_calls:
            call.source = f"opinfo {key}[{i}]"
        calls.extend(sample_calls)
    return tuple(calls)


# -- the OpInfo index -------------------------------------------------------------------


def build_index() -> Dict[str, Any]:
    """Which OpInfos reach which ATen overloads: every OpInfo's first 20
    samples in float32 (or the first dtype it supports of int64, bool,
    float16 and bfloat16), recorded."""
    reached: Dict[str, set] = {}
    for key, opinfo in sorted(load_op_db().items()):
        dtypes = _opinfo_dtypes(opinfo)
        for dtype in (torch.float32, torch.int64, torch.bool, torch.float16, torch.bfloat16):
            if dtype in dtypes:
                break
        else:
            continue
        for call in _opinfo_calls(key, dtype, 20):
            reached.setdefault(call.target, set()).add(key)
    return {
        "torch_version": str(torch.__version__),
        "ops": {target: sorted(keys) for target, keys in sorted(reached.items())},
    }


@functools.lru_cache(maxsize=None)
def opinfo_index() -> Dict[str, Any]:
    """The checked-in index (see :func:`build_index`)."""
    return json.loads(INDEX_PATH.read_text())


def _bare(name: str) -> str:
    return name.split(".")[-1].strip("_").replace("native_", "")


def opinfos_for(target: str) -> Tuple[List[str], List[str]]:
    """OpInfos reaching ``target``: those named like the op (``add`` for
    ``aten::add.Tensor``, ``nn.functional.gelu`` for ``aten::gelu``), and up
    to :data:`SECONDARY_OPINFOS` others (functions that call it on the way,
    e.g. ``isclose`` for ``aten::add.Scalar``), consulted only where the
    first give no call."""
    keys = opinfo_index()["ops"].get(target, [])
    packet = target.split("::", 1)[1].split(".", 1)[0]
    db = load_op_db()

    def named_like(key: str) -> bool:
        opinfo = db.get(key)
        names = {_bare(key.split(".")[0] if "." in key and not key.startswith("nn.") else key)}
        if opinfo is not None:
            names |= {_bare(opinfo.name), _bare(opinfo.aten_name or "")}
        return _bare(packet) in names

    primary = [k for k in keys if k in db and named_like(k)]
    secondary = [k for k in keys if k in db and k not in primary][:SECONDARY_OPINFOS]
    return primary, secondary


# -- hand-written samples ----------------------------------------------------------------

Sample = Tuple[tuple, dict]
FLOATS = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
INTS = (torch.uint8, torch.int8, torch.int16, torch.int32, torch.int64)


def _t(shape: Sequence[int], dtype: torch.dtype, seed: int = 0, **kw: Any) -> torch.Tensor:
    return make_tensor(list(shape), dtype, seed=seed, **kw)


def _softmax_backward(log: bool) -> Callable[[torch.dtype], List[Sample]]:
    def samples(dtype: torch.dtype) -> List[Sample]:
        out = []
        for shape, dim in (((3, 5), 1), ((2, 3, 4), 0), ((4,), -1), ((0, 3), 1), ((2, 1), 1)):
            x = _t(shape, dtype, 1)
            y = torch.log_softmax(x.float(), dim).to(dtype) if log else torch.softmax(x.float(), dim).to(dtype)
            out.append(((_t(shape, dtype, 2), y, dim, dtype), {}))
        return out

    return samples


def _layer_norm_backward(dtype: torch.dtype) -> List[Sample]:
    out = []
    for shape, normalized, mask in (
        ((4, 6), (6,), [True, True, True]),
        ((2, 3, 4), (3, 4), [True, True, True]),
        ((3, 5), (5,), [True, False, False]),
        ((0, 5), (5,), [True, True, True]),
    ):
        x, w, b = _t(shape, dtype, 1), _t(normalized, dtype, 2), _t(normalized, dtype, 3)
        _, mean, rstd = call_eager(torch.ops.aten.native_layer_norm.default, (x, list(normalized), w, b, 1e-5), {})
        out.append(((_t(shape, dtype, 4), x, list(normalized), mean, rstd, w, b, mask), {}))
    return out


def _pointwise_backward(forward: Optional[Callable[[torch.Tensor], torch.Tensor]]) -> Callable[[torch.dtype], List[Sample]]:
    """(grad_output, output-or-input) samples for sigmoid/tanh/gelu backward."""

    def samples(dtype: torch.dtype) -> List[Sample]:
        out = []
        for shape in ((3, 4), (5,), (0, 2), (1, 1, 3)):
            x = _t(shape, dtype, 1)
            y = forward(x.float()).to(dtype) if forward is not None else x
            out.append(((_t(shape, dtype, 2), y), {}))
        return out

    return samples


def _gelu_backward(dtype: torch.dtype) -> List[Sample]:
    base = _pointwise_backward(None)(dtype)
    return base + [((args[0], args[1]), {"approximate": "tanh"}) for args, _ in base[:2]]


def _threshold_backward(dtype: torch.dtype) -> List[Sample]:
    return [
        ((_t((3, 4), dtype, 1), _t((3, 4), dtype, 2), 0), {}),
        ((_t((6,), dtype, 1), _t((6,), dtype, 2), 0.5 if dtype.is_floating_point else 1), {}),
        ((_t((0, 3), dtype, 1), _t((0, 3), dtype, 2), 0), {}),
    ]


def _nll_loss_backward(dtype: torch.dtype) -> List[Sample]:
    """Backward calls at their forward's total_weight: every reduction, with
    and without class weights and an ignore_index that hits."""
    x, t, w = _t((5, 4), dtype, 1), torch.tensor([0, 3, 1, 1, 2]), _t((4,), dtype, 2, low=0.5, high=2)
    out = []
    for reduction in (0, 1, 2):
        for weight, ignore in ((None, -100), (w, 1)):
            _, total = call_eager(torch.ops.aten.nll_loss_forward.default, (x, t, weight, reduction, ignore), {})
            grad = _t((5,) if reduction == 0 else (), dtype, 3)
            out.append(((grad, x, t, weight, reduction, ignore, total), {}))
    return out


def _var_std_default(dtype: torch.dtype) -> List[Sample]:
    """var/std.default(x) and (x, unbiased=False); OpInfo samples reach only
    the `correction` overloads."""
    return _unary(lambda x: ((x,), {}))(dtype) + _unary(lambda x: ((x, False), {}))(dtype)


def _var_std_dim(dtype: torch.dtype) -> List[Sample]:
    """var/std.dim(x, dim, unbiased, keepdim): without them the overloads
    borrow var.default's (x, unbiased) calls, which PyTorch 2 refuses."""
    return _unary(lambda x: ((x, [-1], True, x.dim() > 2), {}))(dtype) + _unary(lambda x: ((x, None, False), {}))(dtype)


def _embedding_dense_backward(dtype: torch.dtype) -> List[Sample]:
    out = []
    for idx_shape, num, pad, scale in (((4,), 6, -1, False), ((2, 3), 5, 1, False), ((3,), 4, -1, True), ((0,), 3, -1, False)):
        idx = torch.randint(0, num, idx_shape, generator=torch.Generator().manual_seed(3))
        out.append(((_t(list(idx_shape) + [4], dtype, 1), idx, num, pad, scale), {}))
    return out


def _scalar_tensor(dtype: torch.dtype) -> List[Sample]:
    value = True if dtype == torch.bool else (3 if not dtype.is_floating_point else -2.5)
    return [((value,), {"dtype": dtype}), ((value,), {"dtype": dtype, "device": torch.device("cpu")})]


def _arange(dtype: torch.dtype) -> List[Sample]:
    if dtype.is_floating_point:
        return [((5,), {"dtype": dtype}), ((0.5, 3.0, 0.25), {"dtype": dtype}), ((0,), {"dtype": dtype})]
    return [((7,), {"dtype": dtype}), ((2, 9), {"dtype": dtype}), ((1, 10, 3), {"dtype": dtype})]


def _arange_start(dtype: torch.dtype) -> List[Sample]:
    return [((2, 9), {"dtype": dtype}), ((-3, 4), {"dtype": dtype})] if dtype != torch.uint8 else [((2, 9), {"dtype": dtype})]


def _arange_start_step(dtype: torch.dtype) -> List[Sample]:
    if dtype.is_floating_point:
        return [((0.5, 3.0, 0.25), {"dtype": dtype}), ((4, 0, -1), {"dtype": dtype})]
    return [((1, 10, 3), {"dtype": dtype}), ((0, 0, 1), {"dtype": dtype})]


def _unary(fn: Callable[[torch.Tensor], Sample]) -> Callable[[torch.dtype], List[Sample]]:
    def samples(dtype: torch.dtype) -> List[Sample]:
        return [fn(_t(shape, dtype, 1)) for shape in ((3, 4), (2, 3, 4), (0, 4), (1,))]

    return samples


def _where_scalar(kind: str) -> Callable[[torch.dtype], List[Sample]]:
    def samples(dtype: torch.dtype) -> List[Sample]:
        value = True if dtype == torch.bool else (2.5 if dtype.is_floating_point else 3)
        out = []
        for shape, other_shape in (((3, 4), (3, 4)), ((3, 1), (4,)), ((0, 2), (2,))):
            cond = _t(shape, torch.bool, 5)
            x = _t(other_shape, dtype, 1)
            if kind == "ScalarOther":
                out.append(((cond, x, value), {}))
            elif kind == "ScalarSelf":
                out.append(((cond, value, x), {}))
            else:
                out.append(((cond, value, -value if dtype != torch.bool else False), {}))
        return out

    return samples


def _empty_strided(dtype: torch.dtype) -> List[Sample]:
    return [
        (([2, 3], [1, 2]), {"dtype": dtype}),
        (([2, 2, 3], [1, 6, 2]), {"dtype": dtype}),
        (([0, 3], [3, 1]), {"dtype": dtype}),
    ]


def _copy(dtype: torch.dtype) -> List[Sample]:
    out = []
    for dst_shape, src_shape, src_dtype in (
        ((3, 4), (3, 4), dtype),
        ((3, 4), (4,), dtype),
        ((2, 3), (2, 3), torch.float32),
        ((0, 3), (0, 3), dtype),
    ):
        out.append(((_t(dst_shape, dtype, 1), _t(src_shape, src_dtype, 2)), {}))
    return out


#: Ops no OpInfo sample reaches (or reaches too rarely): target ->
#: (dtypes, samples(dtype)). Each sample is (args, kwargs).
MANUAL_SAMPLES: Dict[str, Tuple[Sequence[torch.dtype], Callable[[torch.dtype], List[Sample]]]] = {
    "aten::_softmax_backward_data.default": (FLOATS, _softmax_backward(log=False)),
    "aten::_log_softmax_backward_data.default": (FLOATS, _softmax_backward(log=True)),
    "aten::native_layer_norm_backward.default": (FLOATS, _layer_norm_backward),
    "aten::threshold_backward.default": (FLOATS + INTS, _threshold_backward),
    "aten::sigmoid_backward.default": (FLOATS, _pointwise_backward(torch.sigmoid)),
    "aten::tanh_backward.default": (FLOATS, _pointwise_backward(torch.tanh)),
    "aten::gelu_backward.default": (FLOATS, _gelu_backward),
    "aten::nll_loss_backward.default": (FLOATS, _nll_loss_backward),
    "aten::var.default": (FLOATS, _var_std_default),
    "aten::std.default": (FLOATS, _var_std_default),
    "aten::var.dim": (FLOATS, _var_std_dim),
    "aten::std.dim": (FLOATS, _var_std_dim),
    "aten::embedding_dense_backward.default": (FLOATS, _embedding_dense_backward),
    "aten::scalar_tensor.default": (KILN_DTYPES, _scalar_tensor),
    "aten::arange.default": (FLOATS + INTS, _arange),
    "aten::arange.start": (FLOATS + INTS, _arange_start),
    "aten::arange.start_step": (FLOATS + INTS, _arange_start_step),
    "aten::alias.default": (KILN_DTYPES, _unary(lambda x: ((x,), {}))),
    "aten::lift_fresh_copy.default": (KILN_DTYPES, _unary(lambda x: ((x.t() if x.dim() == 2 else x,), {}))),
    "aten::reshape.default": (KILN_DTYPES, _unary(lambda x: ((x, [-1]), {}))),
    "aten::contiguous.default": (KILN_DTYPES, _unary(lambda x: ((x.t() if x.dim() == 2 else x,), {}))),
    "aten::where.ScalarOther": (KILN_DTYPES, _where_scalar("ScalarOther")),
    "aten::where.ScalarSelf": (KILN_DTYPES, _where_scalar("ScalarSelf")),
    "aten::where.Scalar": (KILN_DTYPES, _where_scalar("Scalar")),
    "aten::copy_.default": (KILN_DTYPES, _copy),
    "aten::empty_strided.default": (KILN_DTYPES, _empty_strided),
}


def _manual_calls(target: str, dtype: torch.dtype) -> List[OpCall]:
    entry = MANUAL_SAMPLES.get(target)
    if entry is None or dtype not in entry[0]:
        return []
    op = resolve_target(target)
    return [
        OpCall(op, tuple(args), dict(kwargs), f"manual[{i}]", dtype) for i, (args, kwargs) in enumerate(entry[1](dtype))
    ]


# -- overload transfer -------------------------------------------------------------------


def _is_scalar_type(t: Any) -> bool:
    """Scalar, int, float or bool, optional or not (torch 1.13 prints
    ``Scalar`` as ``number`` and ``Scalar?`` as ``Optional[number]``)."""
    name = str(t)
    if name.startswith("Optional[") and name.endswith("]"):
        name = name[len("Optional[") : -1]
    return name.rstrip("?") in ("number", "Scalar", "float", "int", "bool")


def siblings(target: str) -> List[str]:
    """The other functional overloads of ``target``'s op (no ``out=`` or
    in-place variants, no named-tensor ones): ``aten::add.Tensor`` for
    ``aten::add.Scalar``."""
    namespace, rest = target.split("::", 1)
    packet_name, overload = rest.split(".", 1)
    packet = getattr(getattr(torch.ops, namespace), packet_name)
    out = []
    for name in packet.overloads():
        schema = getattr(packet, name)._schema
        if name == overload or "name" in name.lower() or any(a.is_out for a in schema.arguments):
            continue
        if not any("Tensor" in str(a.type) for a in schema.arguments):
            continue  # Python-number overloads (aten::add.int)
        if schema.is_mutable != resolve_target(target)._schema.is_mutable:
            continue
        out.append(f"{namespace}::{packet_name}.{name}")
    return out


def _transfer(call: OpCall, target_op: Any) -> Optional[OpCall]:
    """``call``'s arguments passed to a sibling overload: tensors become
    Python scalars where it takes a Scalar (their first element, or a small
    constant for an empty tensor) and Python scalars become 0-dim tensors
    where it takes a Tensor. None when they do not fit."""
    schema = target_op._schema
    positional = [a for a in schema.arguments if not a.kwarg_only]
    if len(call.args) > len(positional):
        return None
    args = list(call.args)
    for i, (value, arg) in enumerate(zip(args, positional)):
        if value is None and not str(arg.type).startswith("Optional"):
            return None  # var.correction(x, None) is no var.default(x, unbiased=None)
        if isinstance(value, bool) and not _is_scalar_type(arg.type):
            return None  # var.default(x, False) is no var.dim(x, dim=False)
        if isinstance(value, torch.Tensor) and _is_scalar_type(arg.type):
            if value.numel() == 0:
                args[i] = True if value.dtype == torch.bool else 2
            else:
                args[i] = value.reshape(-1)[0].item()
        elif isinstance(value, (bool, int, float)) and str(arg.type) == "Tensor":
            args[i] = torch.tensor(value)
    kwargs = {k: v for k, v in call.kwargs.items() if any(a.name == k for a in schema.arguments)}
    for a in schema.arguments:
        if a.kwarg_only and a.name not in kwargs and not a.has_default_value() and str(a.type).startswith("Optional"):
            kwargs[a.name] = None  # `str? rounding_mode` has no default
    return OpCall(target_op, tuple(args), kwargs, f"{call.source} as {schema.overload_name or 'default'}", call.dtype)


# -- variants -----------------------------------------------------------------------------


def _relayout(t: torch.Tensor, layout: str) -> torch.Tensor:
    strides, offset = layout_strides(list(t.shape), layout)
    return strided_like(t.detach().contiguous(), list(t.shape), strides, offset)


def _layout_variant(call: OpCall, layout: str) -> Optional[OpCall]:
    """The same values in another layout (column-major ``transposed`` for
    rank >= 2, every-other-element ``strided`` or storage ``offset`` for rank
    >= 1), or None when that changes no input's layout."""
    min_rank = 2 if layout == "transposed" else 1
    changed = [False]

    def relayout(t: torch.Tensor) -> torch.Tensor:
        if t.dim() < min_rank or t.numel() <= 1:
            return t
        changed[0] = True
        return _relayout(t, layout)

    variant = call.with_tensors(relayout, f"+{layout}")
    return variant if changed[0] else None


def _layout_variants(calls: Sequence[OpCall]) -> List[OpCall]:
    """Each layout applied to the first call it changes."""
    out = []
    for layout in ("transposed", "strided", "offset"):
        for call in calls:
            variant = _layout_variant(call, layout)
            if variant is not None:
                out.append(variant)
                break
    return out


# Operand shapes for pointwise ops, by number of tensor operands: broadcasting,
# size-0 and size-1 dims, 0-dim tensors.
_POINTWISE_SHAPES: Dict[int, List[List[Tuple[int, ...]]]] = {
    1: [[(0,)], [(2, 0, 3)], [(1,)], [(1, 1, 5)], [()]],
    2: [[(4, 1), (1, 3)], [(0, 3), (3,)], [(), (2, 3)], [(2, 1, 3), (1,)], [(1, 1), (0, 1)], [(5,), ()]],
    3: [[(2, 1, 3), (4, 1), (3,)], [(0, 2), (2,), ()], [(1,), (3, 1), (1, 4)]],
}


def _shape_variants(call: OpCall, count: int, rotate: int) -> List[OpCall]:
    """Pointwise operands replaced by random tensors of other shapes (same
    dtypes): ``count`` patterns of :data:`_POINTWISE_SHAPES`, starting at
    pattern ``rotate`` (so that different dtypes get different ones)."""
    tensors = call.tensors()
    patterns = _POINTWISE_SHAPES.get(len(tensors), [])
    out = []
    for i in range(min(count, len(patterns))):
        k = (i + rotate) % len(patterns)
        shapes = patterns[k]
        it = iter(zip(shapes, range(len(shapes))))

        def reshape(t: torch.Tensor) -> torch.Tensor:
            shape, j = next(it)
            return _t(shape, t.dtype, seed=10 * k + j)

        out.append(call.with_tensors(reshape, f"+shapes{[list(s) for s in shapes]}"))
    return out


def _scalar_operand_variant(call: OpCall) -> Optional[OpCall]:
    """The last Tensor operand after the first replaced by a Python number,
    as ``make_fx`` traces ``x + 2`` (``aten::add.Tensor(x, 2)``: a wrapped
    number, which broadcasts and promotes like a scalar). None when the
    call has no such operand."""
    positional = [a for a in call.op._schema.arguments if not a.kwarg_only]
    index = None
    for i, (value, arg) in enumerate(zip(call.args, positional)):
        if i > 0 and isinstance(value, torch.Tensor) and str(arg.type) == "Tensor":
            index = i
    if index is None:
        return None
    t = call.args[index]
    value = t.reshape(-1)[0].item() if t.numel() else 2
    if t.dtype == torch.bool:
        value = bool(value)
    elif t.is_floating_point():
        value = float(value)
    args = list(call.args)
    args[index] = value
    return OpCall(call.op, tuple(args), dict(call.kwargs), f"{call.source} +python-scalar", call.dtype)


# -- one-node graphs -----------------------------------------------------------------------


@dataclasses.dataclass
class OpCase:
    """A one-node graph for an op call, with its inputs."""

    call: OpCall
    graph: "proto.Graph"
    inputs: List[torch.Tensor]

    @property
    def name(self) -> str:
        return self.call.source

    def describe(self) -> str:
        shapes = ", ".join(f"{dtype_name(t.dtype)}{list(t.shape)}" for t in self.inputs)
        return f"{self.call.source} ({shapes})"


class _GraphHolder(torch.nn.Module):
    """What export_graph reads of a GraphModule: its ``graph`` (building a
    real GraphModule generates Python code, which costs more than the rest
    of a case)."""

    def __init__(self, graph: torch.fx.Graph) -> None:
        super().__init__()
        self.graph = graph


def build_case(call: OpCall) -> Optional[OpCase]:
    """The one-node graph of ``call``, or None when eager PyTorch rejects the
    call (then it is not a valid test of the op)."""
    leaves, spec = tree_flatten((call.args, call.kwargs))
    inputs = [v for v in leaves if isinstance(v, torch.Tensor)]
    try:
        result = call_eager(call.op, *_snapshot((call.args, call.kwargs)))
    except Exception:  # noqa: BLE001 - ATen rejects it
        return None
    g = torch.fx.Graph()
    placeholders = []
    for i, t in enumerate(inputs):
        node = g.placeholder(f"x{i}")
        node.meta["val"] = t
        placeholders.append(node)
    it = iter(placeholders)
    fx_args, fx_kwargs = tree_unflatten([next(it) if isinstance(v, torch.Tensor) else v for v in leaves], spec)
    node = g.call_function(call.op, tuple(fx_args), dict(fx_kwargs))
    node.meta["val"] = result
    g.output(node)
    try:
        graph = export_graph(_GraphHolder(g))
    except Exception:  # noqa: BLE001 - e.g. an op returning a Python scalar
        return None
    return OpCase(call, graph, inputs)


# -- all cases of an op ------------------------------------------------------------------


def calls_for(target: str, dtype: torch.dtype, *, transfer: bool = True) -> List[OpCall]:
    """Up to :data:`CALLS_PER_DTYPE` distinct calls of ``target`` filed under
    ``dtype``, from the first of these sources that gives any:
    hand-written samples and the OpInfos named like the op; with
    ``transfer``, calls of its :func:`siblings` (from those same sources)
    transferred to ``target``; the secondary OpInfos that reach it."""
    calls: List[OpCall] = []
    seen = set()

    def add(call: OpCall) -> None:
        if call.target != target or call.dtype != dtype:
            return
        sig = call.signature()
        if sig not in seen and len(calls) < CALLS_PER_DTYPE:
            seen.add(sig)
            calls.append(call)

    db = load_op_db()
    primary, secondary = opinfos_for(target)

    def from_opinfos(keys: Sequence[str]) -> None:
        for key in keys:
            if dtype in _opinfo_dtypes(db[key]):
                for call in _opinfo_calls(key, dtype, wanted=frozenset([target])):
                    add(call)

    for call in _manual_calls(target, dtype):
        add(call)
    from_opinfos(primary)
    if not calls and transfer:
        op = resolve_target(target)
        for sibling in siblings(target):
            for call in calls_for(sibling, dtype, transfer=False):
                moved = _transfer(call, op)
                if moved is not None:
                    add(moved)
    if not calls:
        from_opinfos(secondary)
    return calls


def candidate_dtypes(target: str, *, transfer: bool = True) -> List[torch.dtype]:
    """The dtypes some source may file a call of ``target`` under."""
    dtypes = set()
    if target in MANUAL_SAMPLES:
        dtypes |= set(MANUAL_SAMPLES[target][0])
    db = load_op_db()
    for keys in opinfos_for(target):
        for key in keys:
            dtypes |= set(_opinfo_dtypes(db[key]))
    if transfer:
        for sibling in siblings(target):
            dtypes |= set(candidate_dtypes(sibling, transfer=False))
    return [d for d in KILN_DTYPES if d in dtypes]


def cases_for(target: str, dtype: torch.dtype, *, pointwise: bool) -> Iterator[OpCase]:
    """The cases of ``target`` in ``dtype``: its direct calls, one call in
    each other layout, and for pointwise ops :data:`SHAPE_VARIANTS` shape
    variants of the first call and the same call with a Python number for a
    Tensor operand; each as a one-node graph. Calls eager PyTorch rejects
    are left out."""
    calls = calls_for(target, dtype)
    variants = _layout_variants(calls)
    if pointwise and calls:
        variants.extend(_shape_variants(calls[0], SHAPE_VARIANTS, rotate=SHAPE_VARIANTS * KILN_DTYPES.index(dtype)))
        scalar = _scalar_operand_variant(calls[0])
        if scalar is not None:
            variants.append(scalar)
    for call in calls + variants:
        case = build_case(call)
        if case is not None:
            yield case


def opmath_expected(case: OpCase, expected: Sequence[Any]) -> Optional[List[Any]]:
    """The case's results computed with float16/bfloat16 operands in
    float32 and rounded once to the dtypes ``expected`` has: what ATen's
    CUDA kernels (and Kiln's, which compute in float32 "opmath") give, where
    ATen's CPU kernels may round intermediate steps (bfloat16 ``mm``
    accumulates in bfloat16). None when no operand is low precision or the
    op rejects float32 operands."""
    if not any(t.dtype in _LOW_PRECISION for t in case.inputs):
        return None
    up = lambda v: v.float() if isinstance(v, torch.Tensor) and v.dtype in _LOW_PRECISION else v  # noqa: E731
    call = case.call
    try:
        result = call.op(*tree_map(up, _snapshot(list(call.args))), **tree_map(up, _snapshot(call.kwargs)))
    except Exception:  # noqa: BLE001 - mixed-dtype rules reject float32
        return None
    flat = [v for v in tree_flatten(result)[0]]
    if len(flat) != len(expected):
        return None
    return [
        v.to(e.dtype) if isinstance(v, torch.Tensor) and isinstance(e, torch.Tensor) else v
        for v, e in zip(flat, expected)
    ]


def has_sources(target: str, *, transfer: bool = True) -> bool:
    """Whether any OpInfo or hand-written sample can reach ``target`` (or,
    with ``transfer``, one of its siblings)."""
    if target in MANUAL_SAMPLES or any(opinfos_for(target)):
        return True
    return transfer and any(has_sources(s, transfer=False) for s in siblings(target))


# -- the coverage report ------------------------------------------------------------------


@dataclasses.dataclass
class DtypeResult:
    """How one op fared in one dtype on one backend."""

    status: str  # "pass", "xfail" (only expected failures), "FAIL", "none" (no cases)
    cases: int = 0
    failed: int = 0
    detail: str = ""  # the first (unexpected, else expected) failure


class CoverageReport:
    """Op x dtype results per backend, rendered as Markdown tables.

    Filled by test_op_coverage.py; the conftest writes it at the end of the
    session and prints :meth:`summary`.
    """

    def __init__(self) -> None:
        self.issue_ops: Dict[str, List[str]] = {}  # family -> overloads the issue names
        self.registered: Dict[str, str] = {}  # op -> category
        self.results: Dict[str, Dict[str, Dict[str, DtypeResult]]] = {}  # backend -> op -> dtype -> result
        self.path: Optional[str] = None  # where the table was written

    def record(self, backend: str, op: str, results: Dict[str, DtypeResult]) -> None:
        self.results.setdefault(backend, {})[op] = results

    def _cell(self, result: Optional[DtypeResult]) -> str:
        if result is None or result.status == "none":
            return "·"
        if result.status == "pass":
            return f"✓{result.cases}"
        if result.status == "xfail":
            return f"xf {result.failed}/{result.cases}"
        return f"**✗ {result.failed}/{result.cases}**"

    def markdown(self) -> str:
        dtypes = [dtype_name(d) for d in KILN_DTYPES]
        lines = [
            "# Op coverage: kiln-run against PyTorch eager",
            "",
            "Cells: ✓N all N cases match; `xf F/N` F of N cases fail, all on the expected-failure",
            "list; **✗ F/N** unexpected failures; · no case in that dtype (ATen has no",
            "kernel, or no sample reaches it). `missing`: not in kiln-run's registry.",
            "",
        ]
        issue = {op for ops in self.issue_ops.values() for op in ops}
        extra = sorted(op for op in self.registered if op not in issue)
        families = list(self.issue_ops.items()) + ([("registered, not in the issue's list", extra)] if extra else [])
        for backend, by_op in sorted(self.results.items()):
            lines += [f"## Backend `{backend}`", ""]
            for family, ops in families:
                lines += [f"### {family}", "", "| op | " + " | ".join(dtypes) + " |", "|---" * (len(dtypes) + 1) + "|"]
                for op in ops:
                    if op not in self.registered:
                        lines.append(f"| `{op}` | missing" + " |" * len(dtypes))
                        continue
                    row = by_op.get(op)
                    if row is None:
                        lines.append(f"| `{op}` | not run" + " |" * len(dtypes))
                        continue
                    lines.append(f"| `{op}` | " + " | ".join(self._cell(row.get(d)) for d in dtypes) + " |")
                lines.append("")
            failures = [
                (op, d, r) for op, row in sorted(by_op.items()) for d, r in row.items() if r.status in ("FAIL", "xfail")
            ]
            if failures:
                lines += ["### First failure per op and dtype", ""]
                for op, d, r in failures:
                    tag = "unexpected" if r.status == "FAIL" else "expected"
                    lines.append(f"- `{op}` {d} ({tag}): {r.detail}")
                lines.append("")
        return "\n".join(lines)

    def summary(self) -> List[str]:
        out = []
        issue = [op for ops in self.issue_ops.values() for op in ops]
        missing = [op for op in issue if op not in self.registered]
        for backend, by_op in sorted(self.results.items()):
            counts = {"pass": 0, "xfail": 0, "FAIL": 0}
            for row in by_op.values():
                statuses = {r.status for r in row.values()}
                key = "FAIL" if "FAIL" in statuses else "xfail" if "xfail" in statuses else "pass"
                counts[key] += 1
            cases = sum(r.cases for row in by_op.values() for r in row.values())
            out.append(
                f"op coverage on {backend}: {len(by_op)} ops, {cases} cases: {counts['pass']} ops match eager in "
                f"every dtype, {counts['xfail']} with expected failures only, {counts['FAIL']} failing"
            )
        if issue:
            out.append(f"issue op list: {len(issue) - len(missing)} of {len(issue)} overloads registered")
        return out


def main(argv: Sequence[str]) -> int:
    if list(argv) != ["--write-index"]:
        print("usage: python3 tests/python/op_cases.py --write-index", file=sys.stderr)
        return 2
    index = build_index()
    INDEX_PATH.write_text(json.dumps(index, indent=1, sort_keys=True) + "\n")
    print(f"wrote {INDEX_PATH}: {len(index['ops'])} ATen overloads")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
