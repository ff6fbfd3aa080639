"""Tests of kiln.torch_types, kiln.tensors and kiln.symbolic."""

from __future__ import annotations

import pytest
import sympy
import torch

from kiln import proto
from kiln.symbolic import SymbolicError, SymbolTable, evaluate, sympy_to_proto, to_str
from kiln.tensors import clone_preserving_layout, from_proto_tensor, storage_extent, strided_like, to_proto_tensor
from kiln.testing.torch_oracle import LAYOUTS, make_tensor
from kiln.torch_types import (
    ALL_DTYPES,
    UnsupportedTypeError,
    device_from_proto,
    device_to_proto,
    dtype_from_proto,
    dtype_to_proto,
    element_size,
    layout_from_proto,
    layout_to_proto,
    memory_format_from_proto,
    memory_format_to_proto,
)

SymExpr = proto.SymExpr


def test_dtypes_round_trip() -> None:
    assert len({dtype_to_proto(d) for d in ALL_DTYPES}) == 10
    for dtype in ALL_DTYPES:
        assert dtype_from_proto(dtype_to_proto(dtype)) is dtype
        assert element_size(dtype_to_proto(dtype)) == torch.empty((), dtype=dtype).element_size()
    assert dtype_to_proto(torch.bfloat16) == proto.BFLOAT16
    with pytest.raises(UnsupportedTypeError, match="complex64"):
        dtype_to_proto(torch.complex64)
    with pytest.raises(UnsupportedTypeError):
        dtype_from_proto(proto.DTYPE_UNSPECIFIED)


def test_devices_formats_layouts() -> None:
    assert device_to_proto(torch.device("cpu")) == proto.Device(type=proto.CPU, index=0)
    assert device_to_proto(torch.device("cuda:1")) == proto.Device(type=proto.CUDA, index=1)
    assert device_from_proto(proto.Device(type=proto.CUDA, index=2)) == torch.device("cuda:2")
    with pytest.raises(UnsupportedTypeError, match="meta"):
        device_to_proto(torch.device("meta"))
    for fmt in (torch.contiguous_format, torch.channels_last, torch.channels_last_3d, torch.preserve_format):
        assert memory_format_from_proto(memory_format_to_proto(fmt)) == fmt
    assert layout_from_proto(layout_to_proto(torch.strided)) == torch.strided
    with pytest.raises(UnsupportedTypeError, match="sparse"):
        layout_to_proto(torch.sparse_coo)


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("dtype", ALL_DTYPES, ids=str)
def test_proto_tensor_round_trip(dtype: torch.dtype, layout: str) -> None:
    for shape in ([2, 3], [0, 4], [], [1, 5]):
        t = make_tensor(shape, dtype, layout=layout, seed=len(shape))
        msg = to_proto_tensor(t)
        assert list(msg.sizes) == shape and list(msg.strides) == list(t.stride())
        assert msg.storage_offset == t.storage_offset()
        assert len(msg.raw) == t.numel() * t.element_size()
        back = from_proto_tensor(msg)
        assert back.dtype == dtype and back.stride() == t.stride() and back.storage_offset() == t.storage_offset()
        assert torch.equal(back, t)


def test_proto_tensor_bytes_are_little_endian_row_major() -> None:
    t = torch.tensor([[1, 2], [3, 4]], dtype=torch.int32).t()
    assert to_proto_tensor(t).raw == bytes([1, 0, 0, 0, 3, 0, 0, 0, 2, 0, 0, 0, 4, 0, 0, 0])
    assert to_proto_tensor(torch.tensor([1.0], dtype=torch.bfloat16)).raw == b"\x80\x3f"
    assert to_proto_tensor(torch.tensor([True, False])).raw == b"\x01\x00"
    msg = to_proto_tensor(torch.ones(3))
    msg.raw = msg.raw[:-1]
    with pytest.raises(ValueError, match="11 bytes"):
        from_proto_tensor(msg)
    assert from_proto_tensor(to_proto_tensor(torch.ones(2).requires_grad_(True))).requires_grad
    # Size-1 dims with stride 0 (expand of a 1-element tensor): contiguous
    # to ATen, still not viewable as bytes.
    one = torch.tensor(2.5).expand(1, 1)
    assert one.stride() == (0, 0) and one.is_contiguous()
    assert to_proto_tensor(one).raw == to_proto_tensor(torch.tensor([[2.5]])).raw


def test_self_overlapping_layouts() -> None:
    """as_strided views that overlap themselves come back from the wire when
    the elements sharing a location agree (they always do for real views)."""
    base = torch.arange(5.0)
    view = base.as_strided([2, 2, 2], [1, 1, 1])
    back = from_proto_tensor(to_proto_tensor(view))
    assert back.stride() == (1, 1, 1) and torch.equal(back, view)
    flags = torch.tensor([True, False, True]).as_strided([2, 2], [1, 1])
    assert torch.equal(from_proto_tensor(to_proto_tensor(flags)), flags)
    with pytest.raises(ValueError, match="elements sharing a location differ"):
        strided_like(torch.arange(4.0).reshape(2, 2), [2, 2], [1, 1])


def test_strided_layouts() -> None:
    assert storage_extent([2, 3], [3, 1], 4) == 10
    assert storage_extent([0, 3], [3, 1], 4) == 4
    values = torch.arange(6.0).reshape(2, 3)
    t = strided_like(values, [2, 3], [1, 2], 1)
    assert t.stride() == (1, 2) and t.storage_offset() == 1 and torch.equal(t, values)
    b = strided_like(values, [2, 3], [0, 1])
    assert torch.equal(b[1], values[0])  # stride 0 takes index 0
    with pytest.raises(ValueError, match="overlaps itself"):
        strided_like(values, [2, 3], [1, 1])
    with pytest.raises(ValueError, match="sizes"):
        strided_like(values, [3, 2], [2, 1])
    view = torch.arange(20.0)[3:].as_strided([2, 2], [5, 2], 4)
    copy = clone_preserving_layout(view)
    assert copy.stride() == view.stride() and copy.storage_offset() == 4 and torch.equal(copy, view)
    assert copy.data_ptr() != view.data_ptr()  # a storage of its own


def _sym(name: str) -> "SymExpr":
    return SymExpr(op=SymExpr.SYMBOL, symbol=name)


def _c(v: int) -> "SymExpr":
    return SymExpr(op=SymExpr.CONSTANT, constant=v)


def test_sympy_conversion() -> None:
    a, b = sympy.symbols("a b", integer=True, positive=True)
    table = SymbolTable()
    FloorDiv = sympy.Function("FloorDiv")
    CeilDiv = sympy.Function("CeilDiv")
    ModularIndexing = sympy.Function("ModularIndexing")
    bindings_by_sym = {a: 7, b: 3}

    def check(expr: object, want: object) -> None:
        msg = sympy_to_proto(expr, table)
        bindings = {name: bindings_by_sym[sym] for name, sym in table.names.items()}
        assert evaluate(msg, bindings) == want, to_str(msg)

    check(a * b + 1, 22)
    check(a - 2 * b, 1)
    check(a**2, 49)
    check(FloorDiv(a, b), 2)
    check(CeilDiv(a, b), 3)
    check(ModularIndexing(a, 2, b), 0)
    check(sympy.Mod(a, b), 1)
    check(sympy.Min(a, b), 3)
    check(sympy.Max(a, b, 9), 9)
    check(sympy.Eq(a, 7), True)
    check(sympy.Ne(a, 7), False)
    check(sympy.Lt(b, a), True)
    check(sympy.And(sympy.Ge(a, 2), sympy.Le(b, 2)), False)
    check(sympy.Or(sympy.Gt(a, 2), sympy.Le(b, 2)), True)
    check(sympy.Not(sympy.Eq(a, b)), True)
    assert list(table.names) == ["s0", "s1"] and table.names["s0"] == a  # first appearance
    with pytest.raises(SymbolicError, match="non-integer"):
        sympy_to_proto(a / 2, table)
    with pytest.raises(SymbolicError, match="no kiln.v1 SymExpr form"):
        sympy_to_proto(sympy.Function("Weird")(a), table)


def test_evaluate_python_semantics() -> None:
    div = SymExpr(op=SymExpr.FLOOR_DIV, operands=[_c(-7), _c(2)])
    mod = SymExpr(op=SymExpr.MOD, operands=[_c(-7), _c(2)])
    mod_neg = SymExpr(op=SymExpr.MOD, operands=[_c(7), _c(-2)])
    assert (evaluate(div, {}), evaluate(mod, {}), evaluate(mod_neg, {})) == (-4, 1, -1)
    with pytest.raises(SymbolicError, match="division by zero"):
        evaluate(SymExpr(op=SymExpr.FLOOR_DIV, operands=[_c(1), _c(0)]), {})
    with pytest.raises(SymbolicError, match="s9 is not bound"):
        evaluate(_sym("s9"), {})
    with pytest.raises(SymbolicError, match="SUB with 3 operands"):
        evaluate(SymExpr(op=SymExpr.SUB, operands=[_c(1), _c(2), _c(3)]), {})
    expr = SymExpr(op=SymExpr.ADD, operands=[SymExpr(op=SymExpr.MUL, operands=[_sym("s0"), _c(4)]), _c(1)])
    assert evaluate(expr, {"s0": 5}) == 21
    assert to_str(expr) == "(s0*4) + 1"
