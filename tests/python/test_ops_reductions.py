"""Reductions on kiln-run against PyTorch eager, per op, dtype and backend:
dim lists with negative dims, keepdim, `dtype` arguments, var/std
corrections, NaN propagation, first-index ties, 0-dim and empty tensors and
non-contiguous inputs (graphs carry eager's output types, so inference is
checked too). Known values and the calls ATen refuses are tested in
compiler/ops/reduction_ops_test.cc."""

from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Tuple

import pytest
import torch

from torch.fx.experimental.proxy_tensor import make_fx

from kiln.fx_export import export_graph
from kiln.testing.torch_oracle import make_tensor
from kiln_harness import KilnRun, check_graph
from one_node import DTYPES, check_ops, check_refused, targets

A = torch.ops.aten
FLOATS = [d for d in DTYPES if d.is_floating_point]
INTS = [d for d in DTYPES if not d.is_floating_point and d != torch.bool]
Call = Tuple[Any, Tuple[Any, ...], Dict[str, Any]]

OVERLOADS = [
    "aten::sum.default", "aten::sum.dim_IntList", "aten::mean.default", "aten::mean.dim",
    "aten::amax.default", "aten::amin.default", "aten::max.default", "aten::max.dim", "aten::min.default",
    "aten::min.dim", "aten::argmax.default", "aten::argmin.default", "aten::prod.default", "aten::prod.dim_int",
    "aten::var.default", "aten::var.dim", "aten::var.correction", "aten::std.default", "aten::std.dim",
    "aten::std.correction", "aten::any.default", "aten::any.dim", "aten::all.default", "aten::all.dim",
    # PyTorch 2 only (any.dims, all.dims) and the pointwise max/min.other.
    "aten::any.dims", "aten::all.dims", "aten::max.other", "aten::min.other",
]  # fmt: skip


def _inputs(dtype: torch.dtype) -> List[torch.Tensor]:
    """[3, 4, 5] tensors in three layouts (row-major, permuted, offset), a
    0-dim one; floats get a NaN-free and integers a tie-rich value range."""
    high = 4 if dtype in INTS else None
    x = make_tensor([3, 4, 5], dtype, seed=1, high=high)
    permuted = make_tensor([5, 3, 4], dtype, seed=2, high=high).permute(1, 2, 0)
    offset = make_tensor([3, 4, 5], dtype, layout="offset", seed=3, high=high)
    return [x, permuted, offset, make_tensor([], dtype, seed=4)]


def _with_nan(dtype: torch.dtype) -> torch.Tensor:
    x = make_tensor([3, 4], dtype, seed=5)
    x[0, 1] = x[0, 3] = x[2, 0] = math.nan
    return x


def _sum_calls(dtype: torch.dtype) -> List[Call]:
    calls: List[Call] = []
    for x in _inputs(dtype):
        calls += [(A.sum.default, (x,), {}), (A.sum.default, (x,), {"dtype": torch.float64})]
        if x.dim():
            calls += [
                (A.sum.dim_IntList, (x, [1]), {}),
                (A.sum.dim_IntList, (x, [-1, 0], True), {}),
                (A.sum.dim_IntList, (x, None, True), {}),
                (A.sum.dim_IntList, (x, [-2]), {"dtype": torch.int32}),
            ]
    calls.append((A.sum.dim_IntList, (make_tensor([0, 4], dtype), [0]), {}))
    return calls


def _prod_calls(dtype: torch.dtype) -> List[Call]:
    # Small values keep integer products in range (wrapping is tested in C++).
    x = make_tensor([3, 4], dtype, seed=6, low=-2, high=3)
    return [
        (A.prod.default, (x,), {}),
        (A.prod.dim_int, (x, 1), {}),
        (A.prod.dim_int, (x.t(), -1, True), {}),
        (A.prod.dim_int, (x, 0), {"dtype": torch.float64}),
        (A.prod.default, (make_tensor([0, 3], dtype),), {}),
    ]


def _mean_calls(dtype: torch.dtype) -> List[Call]:
    calls: List[Call] = []
    for x in _inputs(dtype):
        calls.append((A.mean.dim, (x, [0] if x.dim() else []), {"dtype": torch.float64}))
        if dtype in FLOATS:
            calls.append((A.mean.default, (x,), {}))
            if x.dim():
                calls += [(A.mean.dim, (x, [1, -1], True), {}), (A.mean.dim, (x, None), {})]
    if dtype in FLOATS:
        calls.append((A.mean.dim, (make_tensor([0, 3], dtype), [0]), {}))
    return calls


def _extreme_calls(dtype: torch.dtype) -> List[Call]:
    calls: List[Call] = []
    xs = _inputs(dtype) + ([_with_nan(dtype)] if dtype in FLOATS else [])
    for x in xs:
        calls += [(A.max.default, (x,), {}), (A.min.default, (x,), {})]
        calls += [(A.amax.default, (x,), {}), (A.amin.default, (x, [], True), {})]
        dims = [0, -1] if x.dim() else [0]
        for d in dims:
            calls += [(A.max.dim, (x, d), {}), (A.min.dim, (x, d, True), {})]
            calls += [(A.amax.default, (x, [d]), {}), (A.amin.default, (x, [d], True), {})]
            if dtype != torch.bool:
                calls += [(A.argmax.default, (x, d), {}), (A.argmin.default, (x, d, True), {})]
        if dtype != torch.bool:
            calls += [(A.argmax.default, (x,), {}), (A.argmin.default, (x, None, True), {})]
    empty = make_tensor([0, 3], dtype)
    calls += [(A.amax.default, (empty, [1]), {}), (A.max.dim, (empty, 1), {})]
    return calls


def _var_calls(dtype: torch.dtype) -> List[Call]:
    calls: List[Call] = []
    for x in _inputs(dtype):
        for op in (A.var, A.std):
            calls += [(op.default, (x,), {}), (op.default, (x, False), {})]
            calls += [(op.correction, (x, None), {"correction": 0})]
            if x.dim():
                calls += [
                    (op.dim, (x, [1], True, True), {}),
                    (op.dim, (x, [0, -1], False), {}),
                    (op.correction, (x, [-1]), {"correction": 2, "keepdim": True}),
                    (op.correction, (x, [0, 2]), {"correction": 1}),
                ]
    # More correction than elements: inf / NaN, as ATen gives.
    calls.append((A.var.correction, (make_tensor([2, 1], dtype), [1]), {"correction": 1}))
    return calls


def _any_all_calls(dtype: torch.dtype) -> List[Call]:
    calls: List[Call] = []
    xs = _inputs(dtype) + ([_with_nan(dtype)] if dtype in FLOATS else [])
    xs.append(make_tensor([3, 4], dtype, seed=7, low=0, high=2))  # many zeros
    for x in xs:
        for op in (A.any, A.all):
            calls.append((op.default, (x,), {}))
            if x.dim():
                calls += [(op.dim, (x, 1), {}), (op.dim, (x, -1, True), {})]
    calls += [(A.any.default, (make_tensor([0], dtype),), {}), (A.all.dim, (make_tensor([2, 0], dtype), 1), {})]
    return calls


def _max_other_calls(dtype: torch.dtype) -> List[Call]:
    x, y = make_tensor([3, 4], dtype, seed=8), make_tensor([4], dtype, seed=9)
    calls: List[Call] = [(A.max.other, (x, y), {}), (A.min.other, (x.t(), x.t()), {})]
    if dtype in FLOATS:
        calls.append((A.max.other, (_with_nan(dtype), x), {}))
    return calls


FAMILIES: Dict[str, Tuple[Callable[[torch.dtype], List[Call]], Tuple[torch.dtype, ...]]] = {
    "sum": (_sum_calls, DTYPES),
    "prod": (_prod_calls, DTYPES),
    "mean": (_mean_calls, DTYPES),
    "max_min_argmax": (_extreme_calls, DTYPES),
    "var_std": (_var_calls, FLOATS),
    "any_all": (_any_all_calls, DTYPES),
    "max_min_other": (_max_other_calls, DTYPES),
}


def test_every_overload_is_registered(kiln: KilnRun) -> None:
    ops = kiln.ops()
    missing = [op for op in OVERLOADS if op not in ops]
    assert not missing, missing
    for op in OVERLOADS:
        expected = "pointwise" if op.endswith(".other") else "reduction"
        assert ops[op].category == expected, op


@pytest.mark.parametrize("family", FAMILIES)
def test_matches_eager(family: str, backend: str, kiln: KilnRun) -> None:
    # Every dtype's calls in one batch: a compiling backend compiles them
    # together. Sums reassociate: Kiln accumulates in double, ATen in a
    # cascade.
    make_calls, dtypes = FAMILIES[family]
    calls = [call for dtype in dtypes for call in make_calls(dtype)]
    check_ops(kiln, backend, calls, opmath=True, scale=4.0)


def test_traced_reductions(backend: str, kiln: KilnRun) -> None:
    def fn(x: torch.Tensor, i: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        values, indices = x.max(dim=1, keepdim=True)
        return (
            (x - values).exp().sum(-1),
            indices,
            x.var(dim=0, unbiased=False),
            x.std(dim=(0, 1)),
            x.argmin(),
            torch.prod(i, 1),
            (i > 2).any(dim=0),
            (x > -1).all(),
            x.mean(dim=-1, dtype=torch.float64),
        )

    x = make_tensor([4, 6], torch.float32, seed=10)
    i = make_tensor([4, 3], torch.int64, seed=11, low=-2, high=3)
    inputs = [x, i]
    graph = export_graph(make_fx(fn)(*inputs), inputs)
    missing = set(["aten::max.dim", "aten::var.correction", "aten::argmin.default", "aten::prod.dim_int"]) - set(targets(graph))
    assert not missing, f"the trace lacks {sorted(missing)}"
    check_graph(kiln, graph, inputs, backend=backend, scale=4.0)


def test_refuses_what_aten_refuses(backend: str, kiln: KilnRun) -> None:
    """Same refusals as eager, with a message fragment both give."""
    x, i, empty = make_tensor([2, 3], torch.float32), make_tensor([3], torch.int32), make_tensor([0, 3], torch.float32)
    refused = [
        ("aten::mean.default", (i,), {}, "could not infer output dtype"),
        ("aten::mean.dim", (x, [0]), {"dtype": torch.int64}, "Optional dtype must be either a floating point"),
        ("aten::var.correction", (i, None), {"correction": 1}, "std and var only support floating point and complex dtypes"),
        ("aten::std.default", (i.bool(),), {}, "std and var only support floating point and complex dtypes"),
        ("aten::sum.dim_IntList", (x, [1, -1]), {}, "dim 1 appears multiple times in the list of dims"),
        ("aten::amax.default", (x, [2]), {}, "dimension out of range (expected to be in range of [-2, 1], but got 2)"),
        ("aten::max.dim", (x, -3), {}, "dimension out of range (expected to be in range of [-2, 1], but got -3)"),
        ("aten::amin.default", (empty, [0]), {}, "Expected reduction dim 0 to have non-zero size"),
        ("aten::max.dim", (empty, 0), {}, "Expected reduction dim 0 to have non-zero size"),
        ("aten::max.default", (empty,), {}, "max(): Expected reduction dim"),
        ("aten::argmin.default", (empty,), {}, "argmin(): Expected reduction dim"),
    ]
    for target, args, kwargs, message in refused:
        check_refused(kiln, backend, target, *args, message=message, **kwargs)
