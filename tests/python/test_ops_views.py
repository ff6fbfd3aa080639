"""Views and layout ops on kiln-run against PyTorch eager.

Every view (view, _unsafe_view, reshape, _reshape_alias, permute,
transpose, t, unsqueeze, squeeze, expand, slice, select, alias, detach,
as_strided, split) and layout op (clone, _to_copy, contiguous) runs as a
one-node graph declaring eager's output metadata, for every dtype and the
oracle's input layouts (contiguous, transposed, strided, broadcast,
offset) plus size-0 and size-1 shapes: Kiln's inference must give ATen's
sizes, strides and storage offsets, and the interpreter the same values.
Where eager refuses a call (a view that needs a copy, a bad dim), kiln-run
must refuse it with the same message. Graphs traced by make_fx, with static
and symbolic sizes, go through too.
"""

from __future__ import annotations

from typing import Any, Iterator, List, Tuple

import pytest
import torch
from torch.fx.experimental.proxy_tensor import make_fx

from kiln.fx_export import export_graph
from kiln.testing.torch_oracle import LAYOUTS, make_tensor
from kiln_harness import KilnRun, check_graph
from one_node import DTYPES, check_op, check_refused, eager, one_node_graph, targets

Call = Tuple[str, Tuple[Any, ...], dict]


def _calls(x: torch.Tensor) -> Iterator[Call]:
    """View and layout calls on a [4, 6] tensor."""
    for shape in ([24], [2, 12], [3, -1, 2], [6, 4], [-1], [4, 6], [1, 24, 1]):
        yield "aten::view.default", (x, shape), {}
        yield "aten::_unsafe_view.default", (x, shape), {}
        yield "aten::reshape.default", (x, shape), {}
    yield "aten::_reshape_alias.default", (x, [6, 4], [x.stride(1), x.stride(0)]), {}
    for dims in ([1, 0], [0, 1], [-1, 0]):
        yield "aten::permute.default", (x, dims), {}
    for d0, d1 in ((0, 1), (0, -1), (1, 1)):
        yield "aten::transpose.int", (x, d0, d1), {}
    yield "aten::t.default", (x,), {}
    for d in (0, 1, 2, -1, -3):
        yield "aten::unsqueeze.default", (x, d), {}
    yield "aten::squeeze.default", (x,), {}
    yield "aten::squeeze.dim", (x, -1), {}
    for size in ([2, 4, 6], [2, -1, -1], [4, 6], [1, 1, 4, 6]):
        yield "aten::expand.default", (x, size), {}
    for dim, start, end, step in (
        (0, None, None, 1), (1, -4, None, 2), (1, -100, 100, 4), (1, 5, 2, 1), (0, 7, 9, 1),
        (0, 1, 9223372036854775807, 1), (-1, 1, -1, 3), (1, 0, 6, 5),
    ):  # fmt: skip
        yield "aten::slice.Tensor", (x, dim, start, end, step), {}
    for dim, index in ((0, 0), (0, -1), (1, 3), (1, -6)):
        yield "aten::select.int", (x, dim, index), {}
    yield "aten::alias.default", (x,), {}
    yield "aten::detach.default", (x,), {}
    yield "aten::as_strided.default", (x, [2, 2], [1, 2]), {}
    yield "aten::as_strided.default", (x, [2, 2], [2, 1], x.storage_offset() + 1), {}
    for split, dim in ((4, 1), (2, 0), (7, -1), (1, 0)):
        yield "aten::split.Tensor", (x, split, dim), {}


def _layout_calls(x: torch.Tensor) -> Iterator[Call]:
    yield "aten::clone.default", (x,), {}
    yield "aten::clone.default", (x,), {"memory_format": torch.contiguous_format}
    yield "aten::clone.default", (x,), {"memory_format": torch.preserve_format}
    yield "aten::contiguous.default", (x,), {}
    for dtype in DTYPES:
        yield "aten::_to_copy.default", (x,), {"dtype": dtype}
    yield "aten::_to_copy.default", (x,), {"memory_format": torch.contiguous_format}
    yield "aten::_to_copy.default", (x,), {"layout": torch.strided, "device": torch.device("cpu")}


def _run_or_refuse(kiln: KilnRun, backend: str, call: Call, *, view: bool) -> None:
    """Eager's result when it has one, else eager's refusal, on kiln-run."""
    target, args, kwargs = call
    try:
        eager(target, args, kwargs)
    except RuntimeError as err:
        message = str(err).split("\n")[0][:60]
        check_refused(kiln, backend, target, *args, message=message, **kwargs)
        return
    check_op(kiln, backend, target, *args, view=view, **kwargs)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_views_match_eager(kiln: KilnRun, backend: str, dtype: torch.dtype, layout: str) -> None:
    x = make_tensor((4, 6), dtype, layout=layout, seed=1)
    for call in _calls(x):
        _run_or_refuse(kiln, backend, call, view=True)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_layout_ops_match_eager(kiln: KilnRun, backend: str, dtype: torch.dtype, layout: str) -> None:
    x = make_tensor((4, 6), dtype, layout=layout, seed=2)
    for target, args, kwargs in _layout_calls(x):
        check_op(kiln, backend, target, *args, **kwargs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64, torch.bool, torch.bfloat16], ids=str)
@pytest.mark.parametrize(
    "shape,layout",
    [((1, 3, 1), "contiguous"), ((1, 3, 1), "offset"), ((2, 0, 3), "contiguous"), ((0,), "contiguous"),
     ((), "contiguous"), ((1,), "contiguous"), ((3, 1, 2), "transposed"), ((2, 1, 4), "strided")],
)  # fmt: skip
def test_views_on_size_0_and_size_1_dims(
    kiln: KilnRun, backend: str, dtype: torch.dtype, shape: Tuple[int, ...], layout: str
) -> None:
    x = make_tensor(shape, dtype, layout=layout, seed=3)
    rank = x.dim()
    numel = x.numel()
    calls: List[Call] = [
        ("aten::squeeze.default", (x,), {}),
        ("aten::view.default", (x, [-1]), {}),
        ("aten::reshape.default", (x, [numel, 1]), {}),
        ("aten::unsqueeze.default", (x, 0), {}),
        ("aten::unsqueeze.default", (x, -1), {}),
        ("aten::alias.default", (x,), {}),
        ("aten::expand.default", (x, [2] + list(shape)), {}),
        ("aten::clone.default", (x,), {}),
        ("aten::contiguous.default", (x,), {}),
        ("aten::_to_copy.default", (x,), {"dtype": torch.float64}),
    ]
    for d in range(-max(rank, 1), max(rank, 1)):
        calls.append(("aten::squeeze.dim", (x, d), {}))
        calls.append(("aten::transpose.int", (x, d, 0), {}))
    if rank > 0:
        calls += [
            ("aten::slice.Tensor", (x, 0, 0, 1), {}),
            ("aten::slice.Tensor", (x, -1, 1, None, 2), {}),
            ("aten::permute.default", (x, list(reversed(range(rank)))), {}),
            ("aten::split.Tensor", (x, 1, 0), {}),
        ]
    if rank <= 2:
        calls.append(("aten::t.default", (x,), {}))
    if rank > 0 and shape[0] > 0:
        calls.append(("aten::select.int", (x, 0, -1), {}))
    for call in calls:
        _run_or_refuse(kiln, backend, call, view=call[0] not in ("aten::clone.default", "aten::_to_copy.default"))


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "strided"])
def test_squeeze_dims_matches_chained_squeeze(kiln: KilnRun, backend: str, layout: str) -> None:
    # aten::squeeze.dims is torch 2.x's; eager 1.13 gets it as squeeze.dim
    # applied from the last named dim to the first.
    x = make_tensor((1, 3, 1, 2), torch.float32, layout=layout, seed=4)
    for dims in ([0, 2], [-2], [1, 0], [], [3, -4]):
        expected = x
        for d in sorted({d % x.dim() for d in dims}, reverse=True):
            expected = expected.squeeze(d)
        check_op(kiln, backend, "aten::squeeze.dims", x, dims, expected=[expected], view=True)


def test_channels_last_layouts(kiln: KilnRun, backend: str) -> None:
    x = make_tensor((2, 3, 4, 5), torch.float32, seed=5).to(memory_format=torch.channels_last)
    cropped = x[:, :, :, ::2]
    for t in (x, cropped):
        check_op(kiln, backend, "aten::clone.default", t)
        check_op(kiln, backend, "aten::clone.default", t, memory_format=torch.contiguous_format)
        check_op(kiln, backend, "aten::_to_copy.default", t, dtype=torch.float16)
        check_op(kiln, backend, "aten::contiguous.default", t)
        check_op(kiln, backend, "aten::contiguous.default", t, memory_format=torch.channels_last)
        check_op(kiln, backend, "aten::reshape.default", t, [2, -1])
    y = make_tensor((2, 3, 4, 5), torch.float32, seed=6)
    check_op(kiln, backend, "aten::clone.default", y, memory_format=torch.channels_last)
    check_op(kiln, backend, "aten::contiguous.default", y, memory_format=torch.channels_last)
    check_op(kiln, backend, "aten::contiguous.default", y, memory_format=torch.preserve_format, view=True)


def test_errors_match_eager(kiln: KilnRun, backend: str) -> None:
    x = make_tensor((4, 6), torch.float32, seed=7)
    xt = make_tensor((4, 6), torch.float32, layout="transposed", seed=7)
    cases = [
        ("aten::view.default", (xt, [24]), "view size is not compatible with input tensor's size and stride"),
        ("aten::view.default", (x, [5, -1]), "shape '[5, -1]' is invalid for input of size 24"),
        ("aten::view.default", (x, [-1, -1]), "only one dimension can be inferred"),
        ("aten::view.default", (x, [-2, 12]), "invalid shape dimension -2"),
        ("aten::view.default", (torch.empty(0, 3), [-1, 0]), "cannot reshape tensor of 0 elements"),
        ("aten::_unsafe_view.default", (xt, [2, 12]), "view size is not compatible"),
        ("aten::reshape.default", (x, [7, -1]), "shape '[7, -1]' is invalid for input of size 24"),
        ("aten::permute.default", (x, [1, 1]), "permute(): duplicate dims are not allowed."),
        ("aten::permute.default", (x, [1]), "number of dimensions in the tensor input does not match"),
        ("aten::permute.default", (x, [2, 0]), "imension out of range (expected to be in range of [-2, 1]"),
        ("aten::transpose.int", (x, 0, 2), "imension out of range"),
        ("aten::t.default", (torch.zeros(2, 3, 4),), "t() expects a tensor with <= 2 dimensions, but self is 3D"),
        ("aten::unsqueeze.default", (x, 3), "imension out of range (expected to be in range of [-3, 2]"),
        ("aten::squeeze.dim", (x, 2), "imension out of range"),
        ("aten::expand.default", (x, [4, 7]), "The expanded size of the tensor (7) must match the existing size (6)"),
        ("aten::expand.default", (x, [-1, 4, 6]), "isn't allowed in a leading, non-existing dimension 0"),
        ("aten::expand.default", (x, [6]), "must be greater or equal to the number of dimensions in the tensor"),
        ("aten::slice.Tensor", (x, 1, 2, 5, 0), "slice step must be positive"),
        ("aten::slice.Tensor", (torch.zeros(()), 0, 0, 1), "slice() cannot be applied to a 0-dim tensor."),
        ("aten::select.int", (x, 1, 6), "select(): index 6 out of range for tensor of size [4, 6] at dimension 1"),
        ("aten::select.int", (x, 1, -7), "select(): index -7 out of range"),
        ("aten::select.int", (torch.zeros(()), 0, 0), "select() cannot be applied to a 0-dim tensor."),
        ("aten::as_strided.default", (x, [2, 2], [1, -2]), "Negative strides are not supported at the moment"),
        ("aten::as_strided.default", (x, [2, 2], [1]), "mismatch in length of strides and shape"),
        ("aten::split.Tensor", (x, -1, 1), "split expects split_size be non-negative, but got split_size=-1"),
        ("aten::split.Tensor", (x, 0, 1), "split_size can only be 0 if dimension size is 0"),
        ("aten::split.Tensor", (torch.zeros(()), 1), "split expects at least a 1-dimensional tensor"),
    ]
    for target, args, message in cases:
        check_refused(kiln, backend, target, *args, message=message)
    check_refused(
        kiln, backend, "aten::clone.default", x, memory_format=torch.channels_last,
        message="required rank 4 tensor to use channels_last format",
    )  # fmt: skip
    check_refused(
        kiln, backend, "aten::contiguous.default", xt, memory_format=torch.preserve_format,
        message="preserve memory format is unsupported by the contiguous operator",
    )  # fmt: skip


def test_as_strided_reaching_past_the_storage_fails_at_run_time(kiln: KilnRun, backend: str) -> None:
    x = make_tensor((4, 6), torch.float32, seed=8)
    declared = torch.zeros(100).as_strided([20, 2], [1, 4], 1)
    graph, inputs = one_node_graph("aten::as_strided.default", (x, [20, 2], [1, 4], 1), {}, [declared])
    with pytest.raises(RuntimeError):  # eager refuses too (setStorage out of bounds)
        eager("aten::as_strided.default", (x, [20, 2], [1, 4], 1))
    with pytest.raises(Exception, match="reaches outside a storage"):
        kiln.run(graph, inputs, backend=backend)


def _attention_heads(x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    b, s, e = x.shape
    q = x.reshape(b, s, 2, e // 2).transpose(1, 2)
    flat = q.reshape(b * 2, s, e // 2)
    first, second = torch.split(x, [e // 2, e - e // 2], dim=-1)
    return flat, q.contiguous(), first.t() if first.dim() == 2 else first.permute(2, 0, 1), second[:, 1:, ::2]


def _indexing(x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    y = x[1:, None, ::2].expand(-1, 3, -1)
    return y, y.squeeze(), x[-1], x.unsqueeze(-1).to(torch.float64), x.t().clone(), x.detach()


@pytest.mark.parametrize("fn", [_attention_heads, _indexing])
@pytest.mark.parametrize("layout", ["contiguous", "transposed", "offset"])
def test_traced_functions(kiln: KilnRun, backend: str, fn: Any, layout: str) -> None:
    shape = (2, 5, 8) if fn is _attention_heads else (5, 6)
    x = make_tensor(shape, torch.float32, layout=layout, seed=9)
    graph = export_graph(make_fx(fn)(x), [x])
    assert set(targets(graph)) <= {
        "aten::view.default", "aten::transpose.int", "aten::_reshape_alias.default", "aten::clone.default",
        "aten::_unsafe_view.default", "aten::split_with_sizes.default", "aten::permute.default",
        "aten::slice.Tensor", "aten::unsqueeze.default", "aten::expand.default", "aten::squeeze.default",
        "aten::select.int", "aten::_to_copy.default", "aten::t.default", "aten::detach.default",
        "aten::reshape.default",
    }, targets(graph)  # fmt: skip
    check_graph(kiln, graph, [x], backend=backend)


def _symbolic(x: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    t = x.t()
    return (
        torch.ops.aten.slice.Tensor(t, 1, 1),
        t.unsqueeze(0).expand(2, -1, -1),
        torch.cat([x, y]),
        x.transpose(0, 1).clone(),
        y.permute(1, 0),
        torch.ops.aten.slice.Tensor(x, 0, -2),
        x.view(-1),
        torch.ops.aten.slice.Tensor(x, 1, 0, 9223372036854775807, 2),
        t.contiguous(),
        x.unsqueeze(0).squeeze(0).unsqueeze(1),
        x.t().to(torch.float64),
    )


def test_symbolic_sizes(kiln: KilnRun, backend: str) -> None:
    """One graph with symbolic sizes serves every size."""
    gm = make_fx(_symbolic, tracing_mode="symbolic")(torch.randn(6, 4), torch.randn(3, 4))
    graph = export_graph(gm)
    assert any(p.tensor.sizes[0].WhichOneof("value") == "expr" for p in graph.placeholders)
    for rows in (2, 5, 9):
        x = make_tensor((rows, 4), torch.float32, seed=rows)
        y = make_tensor((3, 4), torch.float32, seed=rows + 1)
        check_graph(kiln, graph, [x, y], backend=backend)
