"""Data-movement ops on kiln-run against PyTorch eager: cat (legacy empty
skipping, type promotion across inputs, memory formats), split_with_sizes,
index_select, gather, embedding, embedding_dense_backward and
constant_pad_nd (negative pads crop), per dtype and input layout; index
values out of range fail at run time as in eager."""

from __future__ import annotations

import itertools
from typing import List

import pytest
import torch
import torch.nn.functional as F
from torch.fx.experimental.proxy_tensor import make_fx

from kiln.fx_export import export_graph
from kiln.testing.torch_oracle import LAYOUTS, make_tensor
from kiln_harness import KilnRun, check_graph
from one_node import DTYPES, check_op, check_refused, eager, targets


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_cat_matches_eager(kiln: KilnRun, backend: str, dtype: torch.dtype, layout: str) -> None:
    a = make_tensor((2, 3), dtype, layout=layout, seed=1)
    b = make_tensor((2, 1), dtype, layout="offset", seed=2)
    c = make_tensor((4, 3), dtype, layout="transposed", seed=3)
    empty = make_tensor((0,), dtype, seed=4)
    check_op(kiln, backend, "aten::cat.default", [a, b, a], 1)
    check_op(kiln, backend, "aten::cat.default", [a, b], -1)
    check_op(kiln, backend, "aten::cat.default", [a, c, a])
    check_op(kiln, backend, "aten::cat.default", [empty, a, empty, c], 0)
    check_op(kiln, backend, "aten::cat.default", [empty, empty], 3)  # every input skipped: no dim check
    check_op(kiln, backend, "aten::cat.default", [a])
    check_op(kiln, backend, "aten::cat.default", [make_tensor((0, 3), dtype, seed=5), a])
    check_op(kiln, backend, "aten::cat.default", [make_tensor((2, 0), dtype, seed=5), a], 1)


def test_cat_promotes_across_inputs(kiln: KilnRun, backend: str) -> None:
    for da, db in itertools.product(DTYPES, DTYPES):
        a = make_tensor((2, 2), da, seed=1)
        b = make_tensor((1, 2), db, layout="offset", seed=2)
        check_op(kiln, backend, "aten::cat.default", [a, b])
        # A skipped legacy empty tensor still takes part in the promotion.
        check_op(kiln, backend, "aten::cat.default", [make_tensor((0,), db, seed=3), a])


def test_cat_memory_formats(kiln: KilnRun, backend: str) -> None:
    x = make_tensor((2, 3, 4, 5), torch.float32, seed=1)
    cl = x.to(memory_format=torch.channels_last)
    empty = torch.zeros(0)
    for inputs in ([cl, cl], [cl, x], [x, cl], [cl, empty], [cl[:, 1:], cl], [cl.half(), cl]):
        for dim in (0, 1, 3):
            args: List[torch.Tensor] = list(inputs)
            try:
                eager("aten::cat.default", (args, dim))
            except RuntimeError:
                continue  # sizes differ along another dim
            check_op(kiln, backend, "aten::cat.default", args, dim)


def test_cat_errors_match_eager(kiln: KilnRun, backend: str) -> None:
    x = torch.zeros(2, 3)
    check_refused(kiln, backend, "aten::cat.default", [x, torch.zeros(())],
                  message="zero-dimensional tensor (at position 1) cannot be concatenated")  # fmt: skip
    check_refused(kiln, backend, "aten::cat.default", [x, torch.zeros(2)],
                  message="Tensors must have same number of dimensions: got 2 and 1")  # fmt: skip
    check_refused(kiln, backend, "aten::cat.default", [x, torch.zeros(3, 3)], 1,
                  message="Sizes of tensors must match except in dimension 1. Expected size 2 but got size 3 "
                  "for tensor number 1 in the list.")  # fmt: skip
    check_refused(kiln, backend, "aten::cat.default", [torch.zeros(0, 2), x],
                  message="Sizes of tensors must match except in dimension 0")  # fmt: skip
    check_refused(kiln, backend, "aten::cat.default", [x, x], -3, message="imension out of range")


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_split_with_sizes_matches_eager(kiln: KilnRun, backend: str, dtype: torch.dtype, layout: str) -> None:
    x = make_tensor((4, 6), dtype, layout=layout, seed=1)
    for sizes, dim in (([2, 0, 4], 1), ([1, 3], 0), ([6], -1), ([4, 2], -1)):
        check_op(kiln, backend, "aten::split_with_sizes.default", x, sizes, dim, view=True)
    check_refused(kiln, backend, "aten::split_with_sizes.default", x, [2, 3], 1,
                  message="split_with_sizes expects split_sizes to sum exactly to 6")  # fmt: skip
    check_refused(kiln, backend, "aten::split_with_sizes.default", x, [8, -2], 1,
                  message="split_with_sizes expects split_sizes have only non-negative entries")  # fmt: skip


def _index(values: List[int], dtype: torch.dtype = torch.int64, layout: str = "contiguous") -> torch.Tensor:
    t = torch.tensor(values, dtype=dtype)
    return make_tensor(list(t.shape), dtype, layout=layout).copy_(t) if t.dim() else t


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_index_ops_match_eager(kiln: KilnRun, backend: str, dtype: torch.dtype, layout: str) -> None:
    x = make_tensor((4, 5), dtype, layout=layout, seed=1)
    for index_dtype in (torch.int32, torch.int64):
        idx = _index([3, 0, 3], index_dtype, layout="strided")
        check_op(kiln, backend, "aten::index_select.default", x, 0, idx)
        check_op(kiln, backend, "aten::index_select.default", x, -1, idx)
        check_op(kiln, backend, "aten::index_select.default", x, 1, torch.tensor(4, dtype=index_dtype))
        check_op(kiln, backend, "aten::index_select.default", x, 1, torch.zeros(0, dtype=index_dtype))
        check_op(kiln, backend, "aten::embedding.default", x, _index([[3, 0], [1, 1]], index_dtype, "transposed"))
        check_op(kiln, backend, "aten::embedding.default", x, torch.tensor(2, dtype=index_dtype))
        check_op(kiln, backend, "aten::embedding.default", x, _index([0, 2], index_dtype), 0, True)
    check_op(kiln, backend, "aten::index_select.default", torch.tensor(3, dtype=dtype), 0, torch.tensor([0, 0]))
    gidx = _index([[4, 0, 1], [2, 2, 3]], layout="transposed")
    check_op(kiln, backend, "aten::gather.default", x, 1, gidx)
    check_op(kiln, backend, "aten::gather.default", x, 0, _index([[3, 0, 1, 1, 2]]))
    check_op(kiln, backend, "aten::gather.default", x, -1, _index([[4], [0], [1], [2]]), sparse_grad=True)
    check_op(kiln, backend, "aten::gather.default", x, 0, torch.zeros(0, 7, dtype=torch.int64))
    check_op(kiln, backend, "aten::gather.default", x[0], 0, torch.zeros(0, dtype=torch.uint8))
    check_op(kiln, backend, "aten::gather.default", torch.tensor(2, dtype=dtype), 0, torch.tensor([0, 0]))


def test_index_errors_match_eager(kiln: KilnRun, backend: str) -> None:
    x = make_tensor((4, 5), torch.float32, seed=1)
    check_refused(kiln, backend, "aten::index_select.default", x, 1, torch.tensor([[1]]),
                  message="index_select(): Index is supposed to be a vector")  # fmt: skip
    check_refused(kiln, backend, "aten::index_select.default", x, 1, torch.tensor([1.0]),
                  message="index_select(): Expected dtype int32 or int64 for index")  # fmt: skip
    check_refused(kiln, backend, "aten::gather.default", x, 1, torch.tensor([[1]], dtype=torch.int32),
                  message="gather(): Expected dtype int64 for index")  # fmt: skip
    check_refused(kiln, backend, "aten::gather.default", x, 1, torch.tensor([1]),
                  message="Index tensor must have the same number of dimensions as input tensor")  # fmt: skip
    check_refused(kiln, backend, "aten::gather.default", x, 0, torch.zeros(2, 6, dtype=torch.int64),
                  message="Size does not match at dimension 1 expected index [2, 6] to be smaller than self "
                  "[4, 5] apart from dimension 0")  # fmt: skip
    check_refused(kiln, backend, "aten::embedding.default", x[0], torch.tensor([1]), message="'weight' must be 2-D")
    check_refused(kiln, backend, "aten::embedding.default", x, torch.tensor([1.0]),
                  message="Expected tensor for argument #1 'indices' to have one of the following scalar types: "
                  "Long, Int; but got torch.FloatTensor instead")  # fmt: skip
    # Index values out of range: the graph converts, the run fails.
    for target, args, ok_args, message in (
        ("aten::index_select.default", (x, 1, torch.tensor([5])), (x, 1, torch.tensor([4])),
         "INDICES element is out of DATA bounds, id=5 axis_dim=5"),
        ("aten::index_select.default", (x, 1, torch.tensor([-1])), (x, 1, torch.tensor([4])),
         "INDICES element is out of DATA bounds, id=-1 axis_dim=5"),
        ("aten::gather.default", (x, 1, torch.tensor([[0, 5]])), (x, 1, torch.tensor([[0, 1]])),
         "index 5 is out of bounds for dimension 1 with size 5"),
        ("aten::gather.default", (x, 1, torch.tensor([[-1]])), (x, 1, torch.tensor([[0]])),
         "index -1 is out of bounds for dimension 1 with size 5"),
        ("aten::embedding.default", (x, torch.tensor([4])), (x, torch.tensor([3])), "index out of range in self"),
        ("aten::embedding.default", (x, torch.tensor([-1])), (x, torch.tensor([3])), "index out of range in self"),
    ):  # fmt: skip
        check_refused(kiln, backend, target, *args, message=message, declared=eager(target, ok_args))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64], ids=str)
def test_embedding_dense_backward_matches_eager(kiln: KilnRun, backend: str, dtype: torch.dtype) -> None:
    for idx_shape, num, pad, scale, layout in (
        ((4,), 6, -1, False, "contiguous"),
        ((2, 3), 5, 1, False, "transposed"),
        ((3,), 4, -1, True, "offset"),
        ((6,), 3, 0, True, "strided"),
        ((0,), 3, -1, False, "contiguous"),
    ):  # fmt: skip
        idx = torch.randint(0, num, idx_shape, generator=torch.Generator().manual_seed(num))
        if len(idx_shape) == 1 and idx_shape[0] > 2:
            idx[1] = idx[0]  # repeated rows accumulate
        grad = make_tensor(list(idx_shape) + [4], dtype, layout=layout, seed=num)
        for index in (idx, idx.to(torch.int32)):
            check_op(kiln, backend, "aten::embedding_dense_backward.default", grad, index, num, pad, scale)
    check_refused(kiln, backend, "aten::embedding_dense_backward.default", torch.zeros(3, 3),
                  torch.tensor([[1, 2], [1, 0]]), 5, -1, False,
                  message="shape '[4, 3]' is invalid for input of size 9")  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_constant_pad_nd_matches_eager(kiln: KilnRun, backend: str, dtype: torch.dtype, layout: str) -> None:
    x = make_tensor((4, 6), dtype, layout=layout, seed=1)
    value = True if dtype == torch.bool else 3
    for pad in ([1, 1], [1, 1, 2, 2], [-1, -1], [0, 0], [-4, -2], [1, -2], [-2, 3, 2, -1], [0, 0, -4, 0], []):
        check_op(kiln, backend, "aten::constant_pad_nd.default", x, pad, value)
        check_op(kiln, backend, "aten::constant_pad_nd.default", x, pad)
    cl = make_tensor((1, 3, 4, 5), dtype, seed=2).to(memory_format=torch.channels_last)
    check_op(kiln, backend, "aten::constant_pad_nd.default", cl, [1, 1])
    check_op(kiln, backend, "aten::constant_pad_nd.default", cl, [-1, 0, 0, -1])
    check_op(kiln, backend, "aten::constant_pad_nd.default", make_tensor((), dtype), [])


def test_constant_pad_nd_errors_match_eager(kiln: KilnRun, backend: str) -> None:
    x = torch.zeros(4, 6)
    check_refused(kiln, backend, "aten::constant_pad_nd.default", x, [1, 1, 2],
                  message="Length of pad must be even but instead it equals 3")  # fmt: skip
    check_refused(kiln, backend, "aten::constant_pad_nd.default", x, [1, 1, 2, 2, 3, 3],
                  message="Length of pad should be no more than twice the number of dimensions of the input")
    check_refused(kiln, backend, "aten::constant_pad_nd.default", torch.zeros(2), [3, -4],
                  message="start (0) + length (-2) exceeds dimension size (2).")  # fmt: skip
    check_refused(kiln, backend, "aten::constant_pad_nd.default", x.to(torch.uint8), [1, 1], 300,
                  message="without overflow")  # fmt: skip
    # Cropping only never uses the value: no overflow check.
    check_op(kiln, backend, "aten::constant_pad_nd.default", x.to(torch.uint8), [-1, 0], 300)


def _lookup(weight: torch.Tensor, idx: torch.Tensor, x: torch.Tensor) -> tuple:
    rows = F.embedding(idx, weight)
    padded = F.pad(x, (1, -1, -1, 2), value=0.5)
    picked = torch.gather(x, 1, idx[:, :2].clamp(max=x.shape[1] - 1))
    first, rest = torch.split(x, [1, x.shape[0] - 1])
    return torch.cat([rows.reshape(-1, weight.shape[1]), weight]), padded, picked, torch.cat([rest, first]), \
        torch.index_select(weight, 0, idx.reshape(-1))


def test_traced_data_movement(kiln: KilnRun, backend: str) -> None:
    weight = make_tensor((6, 3), torch.float32, layout="transposed", seed=1)
    idx = torch.tensor([[5, 0, 2], [1, 1, 4]])
    x = make_tensor((4, 5), torch.float32, layout="offset", seed=2)
    graph = export_graph(make_fx(_lookup)(weight, idx, x), [weight, idx, x])
    assert {"aten::embedding.default", "aten::constant_pad_nd.default", "aten::gather.default",
            "aten::split_with_sizes.default", "aten::cat.default",
            "aten::index_select.default"} <= set(targets(graph)), targets(graph)  # fmt: skip
    check_graph(kiln, graph, [weight, idx, x], backend=backend)
